"""Helpers for the ledger's gRPC tests: callers (the gateway's identity metadata), request
builders, a funding stack on SQLite or a fresh PostgreSQL database, and direct looks at
the database behind the service."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from ijh.funding.v1 import funding_pb2 as f
from ijh.funding.v1 import funding_pb2_grpc
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from services.funding.storage import tables as t
from services.shared.caller import signed_metadata
from services.shared.caller_assertion import CallerKeys
from services.shared.nats_server import NatsServer
from tests.funding.storage.ledger_support import PG_URL, business_id
from tests.stack import Stack, start_stack

HELSINKI = "0201256-6"
ESPOO = business_id(2_011_111)
COMPANY = business_id(1_234_567)
CRITERIA = ("novelty", "expected_impact", "market_dialogue_and_end_user_involvement",
            "feasibility_and_commitment", "reference_and_export_value")


@dataclass(frozen=True)
class Caller:
    subject: str
    role: str
    business_id: str = ""

    def metadata(self, keys: CallerKeys, method: str,
                 request_id: str = "") -> tuple[tuple[str, str], ...]:
        """The identity metadata the gateway would send for ``method``, signed."""
        return signed_metadata(keys, f"/ijh.funding.v1.FundingService/{method}",
                               self.subject, self.role, self.business_id, request_id)


AGENCY = Caller("anna@hel.fi", "agency", HELSINKI)
OTHER_AGENCY = Caller("eero@espoo.fi", "agency", ESPOO)
COMPANY_AGENCY = Caller("cfo@company.fi", "agency", COMPANY)
OFFICER_A = Caller("officer-a", "officer")
OFFICER_B = Caller("officer-b", "officer")
ANALYST = Caller("analyst-1", "analyst")


def rid() -> str:
    return uuid.uuid4().hex


def grant_request(business: str = HELSINKI, title: str = "Planning a PCP",
                  request_id: str | None = None) -> f.CreateApplicationRequest:
    return f.CreateApplicationRequest(
        request_id=request_id or rid(), kind=f.APPLICATION_KIND_IJH_GRANT, title=title,
        applicant=f.Applicant(kind="contracting_authority", business_id=business,
                              name="City"),
        sector="health", branch="STM", procurement_kind="pre_commercial_procurement",
        cost_lines=[f.CostLine(category="own_personnel", salary_cents=4_200_000,
                               working_time_share="0.6", indirect_cost_rate="0.25"),
                    f.CostLine(category="purchased_expert_services", amount_cents=2_480_000,
                               vat_cents=595_200)])


def guarantee_request(business: str = COMPANY, amount_cents: int = 1_000_000_00,
                      sector: str = "health", branch: str = "STM",
                      request_id: str | None = None) -> f.CreateApplicationRequest:
    return f.CreateApplicationRequest(
        request_id=request_id or rid(), kind=f.APPLICATION_KIND_GUARANTEE,
        title="Guarantee for a pilot", sector=sector, branch=branch,
        applicant=f.Applicant(kind="company", business_id=business, name="Oy Pilotti Ab"),
        guarantee=f.GuaranteeTerms(amount_cents=amount_cents, guarantee_rate="0.5",
                                   cap_cents=10_000_000_00, fee_rate="0.01", term_months=60,
                                   rating_class="BBB"))


def good_scores() -> list[f.CriterionScore]:
    return [f.CriterionScore(criterion=c, score="4") for c in CRITERIA]


class Ledger:
    """The FundingService stub with a caller per call, signed as the gateway signs it
    with ``keys`` (the gateway's keys of the stack)."""

    def __init__(self, channel: grpc.aio.Channel, keys: CallerKeys):
        self.stub = funding_pb2_grpc.FundingServiceStub(channel)
        self.keys = keys

    async def call(self, method: str, request, caller: Caller | None, timeout: float = 20.0):
        metadata = caller.metadata(self.keys, method) if caller else ()
        return await getattr(self.stub, method)(request, metadata=metadata, timeout=timeout)

    async def to_scored(self, create: f.CreateApplicationRequest, creator: Caller = AGENCY,
                        scorer: Caller = OFFICER_A) -> str:
        """Create, submit and score; returns the application's name."""
        app = (await self.call("CreateApplication", create, creator)).application
        await self.call("SubmitApplication",
                        f.SubmitApplicationRequest(request_id=rid(), name=app.name), creator)
        await self.call("RecordScores", f.RecordScoresRequest(
            request_id=rid(), name=app.name, scores=good_scores()), scorer)
        return app.name


def bad_fields(error: grpc.aio.AioRpcError) -> set[str]:
    status = rpc_status.from_call(error)
    bad = error_details_pb2.BadRequest()
    assert status is not None and status.details[0].Unpack(bad)
    return {v.field for v in bad.field_violations}


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo | None:
    """The status's ErrorInfo detail, if it has one."""
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    return None


def retry_delay_seconds(error: grpc.aio.AioRpcError) -> float | None:
    """The status's RetryInfo delay, if it has one."""
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        retry = error_details_pb2.RetryInfo()
        if detail.Unpack(retry):
            return retry.retry_delay.ToTimedelta().total_seconds()
    return None


def precondition_failure(error: grpc.aio.AioRpcError) -> error_details_pb2.PreconditionFailure:
    status = rpc_status.from_call(error)
    failure = error_details_pb2.PreconditionFailure()
    assert status is not None and status.details[0].Unpack(failure)
    return failure


def precondition_types(error: grpc.aio.AioRpcError) -> set[str]:
    return {v.type for v in precondition_failure(error).violations}


@contextlib.contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test run (dropped afterwards)."""
    name = "ijh_t_" + uuid.uuid4().hex[:12]
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def postgres_available() -> bool:
    try:
        engine = create_engine(PG_URL)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


def sqlite_url(var_dir: Path) -> str:
    return f"sqlite+pysqlite:///{var_dir / 'funding.sqlite3'}"


def start_funding_stack(nats: NatsServer, var_dir: Path, database_url: str = "") -> Stack:
    extra = {"IJH_DATABASE_URL": database_url} if database_url else {}
    return start_stack(nats, var_dir, extra_env=extra)


def row_counts(url: str) -> dict[str, int]:
    """Rows per ledger table (for "nothing was written")."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {table.name: conn.execute(select(func.count()).select_from(table))
                    .scalar_one() for table in (t.applications, t.audit_log, t.outbox,
                                                t.requests, t.scores)}
    finally:
        engine.dispose()
