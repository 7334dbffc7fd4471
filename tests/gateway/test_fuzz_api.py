"""Property-based fuzzing of every public RPC through the real gateway.

One stack per module (real nats-server, risk, funding and gateway processes, the
development PKI: TLS and real bearer tokens). For each unary method, requests are drawn
two ways (:mod:`tests.gateway.proto_strategies`): a valid request (from ``examples/``, or
built here for the ledger and the fund) mutated one to three fields at a time, since most
bugs hide one field away from a valid request; and whole requests generated from the
method's input descriptor. Each is sent with the token of a role allowed to call the
method, and the answer must keep the project's promise for bad input:

- its status is one the method may answer (OK, INVALID_ARGUMENT, PERMISSION_DENIED,
  FAILED_PRECONDITION, RESOURCE_EXHAUSTED, OUT_OF_RANGE; NOT_FOUND where it names a
  resource, ALREADY_EXISTS where it carries a request_id), never UNKNOWN or INTERNAL,
  and never RESOURCE_EXHAUSTED ``RATE_LIMITED`` (this stack's rate limit is set far above
  what the fuzzing sends, so a rate refusal would hide an answer);
- no Python traceback or exception name in its message or details;
- INVALID_ARGUMENT carries a ``google.rpc.BadRequest`` with at least one field violation,
  and each violation's field path names a field of the request (an index within the
  list the request sent);
- an OK answer carries no NaN or infinite figure, and an operation a
  StartPortfolioSimulation accepted ends with neither INTERNAL or UNKNOWN nor
  INVALID_ARGUMENT: a simulation that cannot run is refused by the start itself (waited
  for a few seconds, then cancelled);
- a refused write left nothing behind: the ledger's tables (the stack's SQLite file,
  read-only) hold the same rows, applications and fund row as before, and, for
  CreateApplication, ListApplications counts as many applications as before.

Values lean on the edges (NaN, ±inf, -0.0, int64 extremes, empty, long, control and
non-ASCII strings, unknown enum numbers, lists past their ``max_items``); field hints put
domain values where a generic one would stop at the first rule: business IDs with good
and bad check digits, impossible dates, decimal strings, application and operation names,
page tokens shaped like the real ones. Methods acting on an application get one in the
state they act on, made through the gateway and made again once the fuzzing moved it on
(each with a company, sector and branch of its own, so no de minimis ceiling or
concentration limit of earlier examples refuses it).

The client-streaming SimulatePortfolio gets streams cut from the same simulation
(mutated, or its options generated): one message, chunks, no options message, options
again in a later message, options alone, an empty stream, rows one past the stack's
bound (``IJH_MAX_GUARANTEES`` set to 300 here, so that is cheap to send), a message past
the gateway's size limit. The status that ends it keeps the promise above (a field path
may name a field of any one message: the gateway checks each on its own), and no
progress or result carries NaN; a stream still running after two seconds is cancelled by
the client. The simulations (streamed and started) are drawn with each method and with
models past one of a method's requirements (two factors, Student-t, Beta LGD, several
years with fees, a certain default, tiny PDs under high loadings, gamma variances at the
bound).

Bytes that may not parse as the request at all (cut, changed, wrapped in garbage, random)
are sent to every method, with and without a token: the token is checked first, then
bytes that do not parse are refused INVALID_ARGUMENT ``REQUEST_UNDECODABLE`` naming the
message, with the request id (never UNKNOWN with an exception's name); bytes that parse
keep the promise above.

Callers with a role the method does not allow are refused PERMISSION_DENIED
``ROLE_NOT_ALLOWED`` whatever the request holds, and an agency naming another business
``NOT_OWNER``. A fuzzed application the ledger accepts is driven through its life cycle
(submit, score, approve, activate, claim) with valid calls, each of which must keep the
same promise.

Bounded for CI: derandomized (the same examples every run), no example database, no
deadline, ``FUZZ_EXAMPLES`` examples per method (default 100; 3 for GetFundStatus and
GetExposure, which take no fields; a sixth of it for the wrong roles, half for the life
cycle). About 50 s on two cores. To fuzz deeper, or other examples, locally::

    FUZZ_EXAMPLES=500 .venv/bin/python -m pytest tests/gateway/test_fuzz_api.py
    FUZZ_SEED=7 FUZZ_EXAMPLES=400 .venv/bin/python -m pytest tests/gateway/test_fuzz_api.py

``FUZZ_SEED`` replaces the derandomized choice with a seeded random one (reproducible with
the same seed). A failure names the method, the token, what was mutated and the request
as JSON; the services' logs (with the incident of an INTERNAL) are under the test's
``fuzz-var`` directory.
"""

from __future__ import annotations

import base64
import functools
import itertools
import math
import os
import re
import sqlite3
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from ijh.funding.v1 import funding_pb2 as f
from ijh.funding.v1 import funding_pb2_grpc
from ijh.risk.v1 import risk_pb2 as r
from ijh.risk.v1 import risk_pb2_grpc

from services.gateway import policy
from services.gateway.dev_pki import DEMO_CALLERS
from services.shared.business_id import business_id_check_digit
from services.shared.nats_server import NatsServer
from tests.gateway.proto_strategies import (
    EDGE_STRINGS,
    ProtoStrategies,
    is_map,
    is_repeated,
    non_finite_doubles,
    resolve_field_path,
)
from tests.stack import Stack, start_stack

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
FUZZ_SEED = os.environ.get("FUZZ_SEED")
CALL_TIMEOUT = 30.0
MAX_GUARANTEES = 300  # the stack's IJH_MAX_GUARANTEES
STREAM_SECONDS = 2.0  # an accepted stream still running then is cancelled by the client
MAX_REQUEST_BYTES = 4 * 1024 * 1024  # the gateway's default IJH_GATEWAY_MAX_REQUEST_BYTES

HELSINKI, COMPANY = "0201256-6", "1234567-1"
# The business ID whose kind the fuzz corrects: none of the applications uses it, so a
# mutated kind cannot turn the other cases' approvals into BENEFICIARY_KIND refusals.
CORRECTED = "1572860-0"
CRITERIA = ("novelty", "expected_impact", "market_dialogue_and_end_user_involvement",
            "feasibility_and_commitment", "reference_and_export_value")
C = grpc.StatusCode


def fuzz_settings(examples: int):
    """Bounded, reproducible Hypothesis settings (``FUZZ_SEED``: another fixed draw)."""
    def apply(test):
        test = settings(max_examples=examples, derandomize=FUZZ_SEED is None, deadline=None,
                        database=None, print_blob=False,
                        suppress_health_check=list(HealthCheck))(test)
        return seed(int(FUZZ_SEED))(test) if FUZZ_SEED is not None else test
    return apply


# ---------------------------------------------------------------- the stack

@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory):
    nats = NatsServer(tmp_path_factory.mktemp("fuzz-nats")).start()
    try:
        # The door's rate limit far above the fuzzing's pace: a RATE_LIMITED answer would
        # stand in for the answer under test, so it is made impossible, not tolerated.
        # A low bound on a portfolio's rows: a stream past it is cheap to send.
        stack = start_stack(nats, tmp_path_factory.mktemp("fuzz-var"), extra_env={
            "IJH_GATEWAY_RATE_PER_SECOND": "100000", "IJH_GATEWAY_RATE_BURST": "100000",
            "IJH_MAX_GUARANTEES": str(MAX_GUARANTEES)})
    except BaseException:
        nats.stop()
        raise
    yield stack
    stack.stop()
    nats.stop()


ROLE_TOKENS = {"agency": ("agency", "company"), "officer": ("officer", "officer2"),
               "analyst": ("analyst",), "admin": ("admin",)}


class Api:
    """Stubs to the gateway per demo token, the ledger's database, and the ledger's
    applications in each state for the methods that act on one."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self._channels: dict[str | None, grpc.Channel] = {}
        self.db = stack.var_dir / "funding.sqlite3"
        self._targets: dict[str, str] = {}
        self.operation = ""  # a finished portfolio-simulation operation

    def stub(self, service: str, token: str):
        if token not in self._channels:
            self._channels[token] = grpc.secure_channel(
                self.stack.gateway.address, self.stack.gateway_credentials(token))
        channel = self._channels[token]
        return (funding_pb2_grpc.FundingServiceStub(channel) if service == "funding"
                else risk_pb2_grpc.RiskServiceStub(channel))

    def raw_channel(self) -> grpc.Channel:
        """TLS to the gateway with no token of its own: a call sends its metadata."""
        if None not in self._channels:
            self._channels[None] = grpc.secure_channel(
                self.stack.gateway.address, self.stack.gateway_credentials())
        return self._channels[None]

    def call(self, method: str, request: Message, token: str):
        """(response, None) or (None, the RpcError)."""
        service = "funding" if method in FUNDING_METHODS else "risk"
        rpc = getattr(self.stub(service, token), method)
        try:
            return rpc(request, timeout=CALL_TIMEOUT), None
        except grpc.RpcError as error:
            return None, error

    def ok(self, method: str, request: Message, token: str):
        response, error = self.call(method, request, token)
        assert error is None, f"{method}: {error.code()} {error.details()}"
        return response

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()

    # ---- the ledger's state ---------------------------------------------------------

    def snapshot(self) -> dict[str, object]:
        """The ledger as a refused write must leave it: row counts of every table, and
        every application and the fund row as stored (the outbox's rows change as the
        relay sends them: counted only)."""
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10) as db:
            tables = [name for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' AND name != 'alembic_version'")]
            counts = {name: db.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                      for name in tables}
            applications = db.execute("SELECT * FROM applications ORDER BY id").fetchall()
            fund = db.execute("SELECT * FROM fund").fetchall()
        return {"counts": counts, "applications": applications, "fund": fund}

    def state_of(self, name: str) -> str | None:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10) as db:
            row = db.execute("SELECT state FROM applications WHERE id = ?",
                             (int(name.rsplit("/", 1)[1]),)).fetchone()
        return row[0] if row else None

    def application_count(self) -> int:
        """How many applications ListApplications shows an officer (every page)."""
        count, token = 0, ""
        while True:
            page = self.ok("ListApplications",
                           f.ListApplicationsRequest(page_size=500, page_token=token),
                           "officer")
            count += len(page.applications)
            token = page.next_page_token
            if not token:
                return count

    # ---- applications in a given state ---------------------------------------------

    def target(self, state: str) -> str:
        """An application now in ``state`` (draft, submitted, scored, approved, active):
        the one used before while it still is, else a new one taken there."""
        name = self._targets.get(state)
        if name is None or self.state_of(name) != state:
            # A company and a sector of its own, and the next branch: the fuzzing's own
            # approvals and de minimis aid never fill the de minimis ceiling or a
            # concentration limit that this application's approval must meet.
            create = guarantee_request()
            number = next(TARGET_NUMBERS)
            create.applicant.business_id = next(FRESH_BUSINESS_IDS)
            create.sector = f"fuzz target {number}"
            create.branch = BRANCH_CODES[number % len(BRANCH_CODES)]
            name = self._targets[state] = self.drive(create, state)
        return name

    def drive(self, create: f.CreateApplicationRequest, state: str) -> str:
        """Create ``create`` (as officer2) and take it to ``state`` with valid calls; its
        name."""
        name = self.ok("CreateApplication", create, "officer2").application.name
        for method, request, token in LIFE_CYCLE[:LIFE_CYCLE_STATES.index(state)]:
            self.ok(method, request(name), token)
        return name


def agency_token(business_id: str) -> str:
    for name in ROLE_TOKENS["agency"]:
        if DEMO_CALLERS[name].get("business_id") == business_id:
            return name
    return "agency"


def rid() -> str:
    return f"fuzz-{uuid.uuid4().hex}"


def guarantee_request() -> f.CreateApplicationRequest:
    return f.CreateApplicationRequest(
        request_id=rid(), kind=f.APPLICATION_KIND_GUARANTEE, title="Guarantee for a pilot",
        sector="health", branch="STM",
        applicant=f.Applicant(kind="company", business_id=COMPANY, name="Oy Pilotti Ab"),
        guarantee=f.GuaranteeTerms(amount_cents=10_000_000, guarantee_rate="0.5",
                                   cap_cents=5_000_000, fee_rate="0.01", term_months=60,
                                   rating_class="BBB"))


def grant_application_request() -> f.CreateApplicationRequest:
    return f.CreateApplicationRequest(
        request_id=rid(), kind=f.APPLICATION_KIND_IJH_GRANT, title="Planning a PCP",
        applicant=f.Applicant(kind="contracting_authority", business_id=HELSINKI,
                              name="City of Helsinki"),
        sector="health", branch="STM", procurement_kind="pre_commercial_procurement",
        cost_lines=[f.CostLine(category="own_personnel", salary_cents=4_200_000,
                               working_time_share="0.6", indirect_cost_rate="0.25"),
                    f.CostLine(category="purchased_expert_services", amount_cents=2_480_000,
                               vat_cents=595_200)])


def good_scores() -> list[f.CriterionScore]:
    return [f.CriterionScore(criterion=c, score="4") for c in CRITERIA]


LIFE_CYCLE = [  # (method, request of the application's name, token) from draft on, for
    # an application officer2 created (officer decides: the four-eyes rule)
    ("SubmitApplication", lambda n: f.SubmitApplicationRequest(request_id=rid(), name=n),
     "officer2"),
    ("RecordScores", lambda n: f.RecordScoresRequest(request_id=rid(), name=n,
                                                     scores=good_scores()), "officer2"),
    ("DecideApplication", lambda n: f.DecideApplicationRequest(
        request_id=rid(), name=n, decision=f.DECISION_APPROVE, reason="sound"), "officer"),
    ("ActivateGuarantee", lambda n: f.ActivateGuaranteeRequest(request_id=rid(), name=n),
     "officer"),
]
LIFE_CYCLE_STATES = ["draft", "submitted", "scored", "approved", "active"]


@pytest.fixture(scope="module")
def api(fuzz_stack):
    api = Api(fuzz_stack)
    # A finished operation for GetOperation, WaitOperation and CancelOperation.
    started = api.ok("StartPortfolioSimulation", _start(), "analyst")
    api.operation = started.operation.name
    api.ok("WaitOperation", r.WaitOperationRequest(name=api.operation, timeout_seconds=20),
           "analyst")
    yield api
    api.close()


# ---------------------------------------------------------------- domain values

def _with_check_digit(body: int) -> str | None:
    """The business ID of a 7-digit body, or None when no valid one exists."""
    check = business_id_check_digit(f"{body:07d}")
    return None if check is None else f"{body:07d}-{check}"


TARGET_NUMBERS = itertools.count()
BRANCH_CODES = ("VNK", "UM", "OM", "SM", "PLM", "VM", "OKM", "MMM", "LVM", "TEM", "STM", "YM")
FRESH_BUSINESS_IDS = (_with_check_digit(n) for n in itertools.count(3_000_000)
                      if _with_check_digit(n) is not None)


BUSINESS_IDS = st.one_of(
    st.sampled_from([HELSINKI, COMPANY, "0112038-9", "0201256-5", "1234567-0", "0000000-0",
                     "201256-6", "02012566", "0201256-6\n", " 0201256-6", "0201256-6 ",
                     "０２０１２５６-６", "0201256—6", "", "9999999-9", "1234567-1-1",
                     "1111111-1"]),
    st.integers(0, 9_999_999).map(lambda n: _with_check_digit(n) or f"{n:07d}-1"),
    st.tuples(st.integers(0, 9_999_999), st.integers(0, 9)).map(
        lambda p: f"{p[0]:07d}-{p[1]}"))
DATES = st.one_of(
    st.sampled_from(["2026-03-02", "2024-02-29", "2023-02-29", "2026-02-30", "2026-13-01",
                     "2026-00-10", "2026-01-00", "0000-01-01", "0001-01-01", "1900-01-01",
                     "1970-01-01", "2000-01-01", "2100-12-31", "9999-12-31", "2026-04-31",
                     "2026-3-2", "", "2026-03-02T00:00:00", "20260302", "2026-03-02\n"]),
    st.dates().map(lambda d: d.isoformat()))
DECIMALS = st.one_of(
    st.sampled_from(["0", "0.0", "0.5", "1", "1.0", "1.00000", "0.25", "0.3", "0.01", "0.6",
                     "0.99999999999999999999", "1.0000000000000000001", "2", "5", "5.5",
                     "4.5", "3.25", "10", "0." + "0" * 40 + "1", "9" * 40, "9" * 33,
                     "0" * 40 + ".5", "1e5", "NaN", "Infinity", "-0.5", "+0.5", ".5", "5.",
                     "", "0x10", "١", "0,5", "0.5\n"]),
    st.decimals(min_value=0, max_value=10, places=3).map(str))
REQUEST_IDS = st.one_of(
    st.uuids().map(lambda u: f"fuzz-{u.hex}"),
    st.sampled_from(["", " ", "fuzz-fixed-1", "fuzz-fixed-2", "x" * 200, "x" * 201, "\x00",
                     "é" * 200, "😀" * 200, "😀" * 51]))


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


# Page tokens: garbage, and the shapes of the real ones (base64 of JSON for the ledger,
# of "<create time> <name>" for operations) with edge values inside.
PAGE_TOKENS = st.one_of(
    st.sampled_from(["", "abc", "0", "-1", "99999999999999999999", "eyJ9", "MTA=",
                     "x" * 1000, "\x00", "null", "{}", "=" * 8, "operations/x", "bm9uZQ",
                     "%%%%"]),
    st.sampled_from([_b64(text) for text in (
        '{"after": -1, "filter": ""}', '{"after": 1e400, "filter": ""}',
        '{"after": NaN, "filter": ""}', '{"after": Infinity}', '{"after": 2147483648}',
        '{"after": "12", "filter": ""}', '{"after": null}', '{"after": 1.5, "filter": 7}',
        '{"after": [1]}', '"after"', "[" * 100_000, '{"after": 1, "filter": {}}',
        "2026-01-01T00:00:00Z operations/x", " ", "a b c", "\ud7ff \u0000")]),
    st.text(max_size=30), st.binary(max_size=30).map(
        lambda b: base64.urlsafe_b64encode(b).decode()))
APPLICATION_NAMES = st.sampled_from([
    "applications/0", "applications/-1", "applications/01", "applications/2147483647",
    "applications/2147483648", "applications/99999999999999999999", "applications/1/x",
    "applications/", "applications/ 1", "applications/１", "application/1",
    "applications/1\n", "", "applications/1.0", "applications/1e3"])
OPERATION_NAMES = st.sampled_from([
    "operations/", "operations/" + "0" * 32, "operations/" + "g" * 32, "operations/*",
    "operations/>", "operations/a.b", "operations/..", "ops/x", "operations/" + "f" * 200,
    "operations/" + "ABCDEF0123456789" * 2, "", "operations/a b", "operations/\x00",
    "operations/" + "0" * 31 + "\n"])
SCENARIOS = st.sampled_from([-(2**63), -1, 0, 1, 2, 100, 1024, 2000, 2_000_001,
                             50_000_001, 10**12, 2**63 - 1])
SMALL_COUNTS = st.sampled_from([-(2**31), -1, 0, 1, 2, 3, 20, 50, 51, 1000, 1001,
                                2**31 - 1])
KINDS = st.sampled_from(["company", "contracting_authority",
                         "special_sectors_contracting_entity", "research_organisation",
                         "other", "Company", "", "x" * 65])
PROCUREMENT_KINDS = st.sampled_from(["new_product_or_service", "pre_commercial_procurement",
                                     "catalyst_procurement", "innovation_partnership", "",
                                     "PCP", "x" * 65])
CATEGORIES = st.sampled_from(["own_personnel", "purchased_expert_services", "procurement",
                              "equipment", "travel", "other", "champagne", "",
                              "OWN_PERSONNEL", "x" * 65])
BRANCHES = st.sampled_from(["VNK", "UM", "OM", "SM", "PLM", "VM", "OKM", "MMM", "LVM", "TEM",
                            "STM", "YM", "tem", "", "XYZ", "STMM", "ＳＴＭ"])
SECTORS = st.sampled_from(["health", "energy", "Energy", " energy ", "", " ", "x" * 101,
                           "ｈｅａｌｔｈ", "\u200b", "transport"])
RATINGS = st.sampled_from(["AAA", "AA", "A", "BBB", "BB", "B", "CCC", "", "D", "ZZZ",
                           "bbb", "x" * 9])


@functools.cache
def _hints() -> dict[str, st.SearchStrategy]:
    """Field hints: domain values where a generic value would stop at the first rule.
    Field names alone where they mean one thing in both APIs; full names otherwise."""
    # Names of the stack's own resources are drawn as placeholders ("@scored": an
    # application now scored), put in by _named() after the draw: what is drawn does not
    # depend on the stack's state, so Hypothesis can replay and shrink an example.
    app_names = st.one_of(APPLICATION_NAMES, st.sampled_from(
        [f"@{state}" for state in LIFE_CYCLE_STATES]),
        st.integers(1, 10**6).map(lambda n: f"applications/{n}"))
    op_names = st.one_of(OPERATION_NAMES, st.just("@operation"))
    hints: dict[str, st.SearchStrategy] = {
        "business_id": BUSINESS_IDS, "applicant_business_id": BUSINESS_IDS,
        "reference_date": DATES, "granted_on": DATES,
        "working_time_share": DECIMALS, "indirect_cost_rate": DECIMALS,
        "ijh.funding.v1.GuaranteeTerms.guarantee_rate": DECIMALS,
        "ijh.funding.v1.GuaranteeTerms.fee_rate": DECIMALS,
        "ijh.funding.v1.CriterionScore.score": DECIMALS,
        "ijh.funding.v1.CriterionScore.criterion": st.one_of(
            st.sampled_from(CRITERIA), st.sampled_from(EDGE_STRINGS[:12])),
        "request_id": REQUEST_IDS, "page_token": PAGE_TOKENS,
        "ijh.funding.v1.Applicant.kind": KINDS, "procurement_kind": PROCUREMENT_KINDS,
        "category": CATEGORIES, "branch": BRANCHES, "sector": SECTORS,
        "rating_class": RATINGS, "rule_set": st.sampled_from(["", "ijh", "fund", "IJH", "x"]),
        "scenario_count": SCENARIOS, "page_size": SMALL_COUNTS,
        "suppliers": SMALL_COUNTS, "top_guarantees": SMALL_COUNTS,
        "histogram_bins": SMALL_COUNTS, "horizon_years": SMALL_COUNTS,
        "factor_index": SMALL_COUNTS, "term_months": st.sampled_from(
            [-1, 0, 1, 12, 60, 360, 361, 2**31 - 1]),
        "timeout_seconds": st.sampled_from([0.0, -0.0, -1.0, 0.001, 0.2, float("nan"),
                                            float("inf"), 1e308, 5e-324]),
    }
    for message in ("GetApplicationRequest", "SubmitApplicationRequest",
                    "RecordScoresRequest", "DecideApplicationRequest",
                    "ActivateGuaranteeRequest", "RecordClaimRequest",
                    "ExpireGuaranteeRequest"):
        hints[f"ijh.funding.v1.{message}.name"] = app_names
    for message in ("GetOperationRequest", "WaitOperationRequest", "CancelOperationRequest"):
        hints[f"ijh.risk.v1.{message}.name"] = op_names
    return hints


# ---------------------------------------------------------------- valid requests

def _example(name: str, message: type[Message]) -> Message:
    return json_format.Parse((ROOT / "examples" / name).read_text(), message())


def _estimate() -> r.EstimateProcurementRiskRequest:
    request = _example("procurement_risk.json", r.EstimateProcurementRiskRequest)
    request.simulation.scenario_count = 2_000
    return request


def _guarantee_evaluation() -> r.EvaluateProcurementGuaranteeRequest:
    estimate = _estimate()
    return r.EvaluateProcurementGuaranteeRequest(
        model=estimate.model, simulation=estimate.simulation, levels=[0.95, 0.99],
        terms=r.GuaranteeTerms(covered_loss=r.COVERED_LOSS_COST_OVERRUN, guarantee_rate=0.5,
                               cap_cents=10_000_000, deductible_cents=1_000_000))


def _book(count: int = 12) -> list[r.Guarantee]:
    sectors = ("health", "energy", "transport")
    return [r.Guarantee(id=f"G{i:03d}", exposure_cents=5_000_000 + 250_000 * i,
                        probability_of_default=0.01 + 0.002 * i, loss_given_default=0.45,
                        guarantee_rate=0.5, deductible_cents=10_000 * (i % 3), fee_rate=0.005,
                        sector=sectors[i % 3], branch=("STM", "TEM", "LVM")[i % 3],
                        counterparty_kind=r.COUNTERPARTY_KIND_COMPANY)
            for i in range(count)]


def _dependence() -> r.Dependence:
    return r.Dependence(
        factor_correlation=[1.0, 0.5, 0.5, 1.0], copula=r.COPULA_GAUSSIAN,
        sector_loadings=[r.SectorLoading(sector="health", factor_index=0, loading=0.3),
                         r.SectorLoading(sector="energy", factor_index=1, loading=0.45),
                         r.SectorLoading(sector="transport", factor_index=0, loading=0.35)])


def _portfolio_options() -> r.PortfolioSimulationOptions:
    return r.PortfolioSimulationOptions(scenario_count=4096, seed=2017,
                                        method=r.PORTFOLIO_METHOD_MONTE_CARLO,
                                        levels=[0.99, 0.999], top_guarantees=5)


def _incremental() -> r.EvaluateIncrementalRiskRequest:
    return r.EvaluateIncrementalRiskRequest(
        portfolio=_book(), candidate=_book(13)[-1], dependence=_dependence(),
        fund=r.FundTerms(capital_cents=2_000_000_000, horizon_years=3),
        simulation=_portfolio_options())


PORTFOLIO_METHODS = st.sampled_from([
    r.PORTFOLIO_METHOD_MONTE_CARLO, r.PORTFOLIO_METHOD_UNSPECIFIED,
    r.PORTFOLIO_METHOD_IMPORTANCE_SAMPLING, r.PORTFOLIO_METHOD_SEMI_ANALYTIC,
    r.PORTFOLIO_METHOD_CREDITRISKPLUS])
LAWS = (r.PORTFOLIO_METHOD_SEMI_ANALYTIC, r.PORTFOLIO_METHOD_CREDITRISKPLUS)


def _two_factors(s: r.SimulatePortfolioRequest) -> None:
    s.dependence.CopyFrom(_dependence())


def _student_t(s: r.SimulatePortfolioRequest) -> None:
    s.dependence.copula = r.COPULA_STUDENT_T
    s.dependence.degrees_of_freedom = 5


def _beta_lgd(s: r.SimulatePortfolioRequest) -> None:
    s.guarantees[3].loss_given_default_std = 0.1


def _years_with_fees(s: r.SimulatePortfolioRequest) -> None:
    s.fund.horizon_years = 3  # the book's fee rates make fee income


def _certain_default(s: r.SimulatePortfolioRequest) -> None:
    s.guarantees[5].probability_of_default = 1.0


def _tiny_pds_high_loadings(s: r.SimulatePortfolioRequest) -> None:
    for g in s.guarantees:
        g.probability_of_default = 1e-9
    for loading in s.dependence.sector_loadings:
        loading.loading = 0.95


def _large_gamma_variances(s: r.SimulatePortfolioRequest) -> None:
    factors = max(1, math.isqrt(len(s.dependence.factor_correlation)))
    s.dependence.creditriskplus_sector_variances[:] = [1e6] * factors


#: Models a valid start is made with: as it is, mostly, or past one of a method's
#: requirements (each is a valid model that some method cannot run).
MODEL_VARIANTS = st.sampled_from([None, None, None, _two_factors, _student_t, _beta_lgd,
                                  _years_with_fees, _certain_default,
                                  _tiny_pds_high_loadings, _large_gamma_variances])


def _start(method: int = r.PORTFOLIO_METHOD_MONTE_CARLO,
           variant: Callable[[r.SimulatePortfolioRequest], None] | None = None
           ) -> r.StartPortfolioSimulationRequest:
    """A valid start with ``method``: a law (semi-analytic, CreditRisk+) on a model it
    runs (one factor, one year: fees over several years make exhaustion path-dependent),
    then changed by ``variant`` (one of MODEL_VARIANTS)."""
    options = _portfolio_options()
    options.method = method
    dependence = _dependence()
    if method in LAWS:
        del dependence.factor_correlation[:]
        for loading in dependence.sector_loadings:
            loading.factor_index = 0
    start = r.StartPortfolioSimulationRequest(
        request_id=rid(), simulation=r.SimulatePortfolioRequest(
            fund=r.FundTerms(capital_cents=2_000_000_000,
                             horizon_years=1 if method in LAWS else 2,
                             portfolio_cap_rate=0.2),
            dependence=dependence, simulation=options, guarantees=_book()))
    if variant is not None:
        variant(start.simulation)
    return start


def _drawn_start(draw) -> r.StartPortfolioSimulationRequest:
    return _start(draw(PORTFOLIO_METHODS, label="method"), draw(MODEL_VARIANTS, label="model"))


def _score_application() -> f.ScoreApplicationRequest:
    return f.ScoreApplicationRequest(reference_date="2026-03-02", score_sheets=[
        f.ScoreSheet(officer_id=officer, scores=[
            f.CriterionScore(criterion=c, score=score) for c in CRITERIA])
        for officer, score in (("officer-a", "4"), ("officer-b", "3.5"))])


@dataclass
class Case:
    """One method under fuzzing: its valid request (made fresh for each example, naming
    the application it acts on) and what it may answer."""

    method: str
    valid: Callable[[Api, Callable], Message]
    codes: frozenset[C] = frozenset()
    writes: bool = False  # a ledger write: a refusal must leave the ledger as it was
    examples: int = EXAMPLES
    owner_field: str = field(init=False, default="")

    def __post_init__(self):
        rule = policy.POLICY[path_of(self.method)]
        self.owner_field = rule.owner_field
        self.roles = sorted(role.value for role in rule.roles)


BASE_CODES = frozenset({C.OK, C.INVALID_ARGUMENT, C.PERMISSION_DENIED, C.FAILED_PRECONDITION,
                        C.RESOURCE_EXHAUSTED, C.OUT_OF_RANGE})
NAMED = frozenset({C.NOT_FOUND})
IDEMPOTENT_WRITE = frozenset({C.NOT_FOUND, C.ALREADY_EXISTS})

FUNDING_METHODS = {m.name for m in f.DESCRIPTOR.services_by_name["FundingService"].methods}


def path_of(method: str) -> str:
    service = (f.DESCRIPTOR.services_by_name["FundingService"] if method in FUNDING_METHODS
               else r.DESCRIPTOR.services_by_name["RiskService"])
    return f"/{service.full_name}/{method}"


def _on(state: str, build: Callable[[str], Message]):
    return lambda api, draw: build(api.target(state))


CASES = [
    Case("ComputeGrant", lambda api, draw: _example("grant.json", f.ComputeGrantRequest)),
    Case("ScoreApplication", lambda api, draw: _score_application()),
    Case("ListParameters", lambda api, draw: f.ListParametersRequest(
        reference_date="2026-03-02", rule_set=draw(st.sampled_from(["ijh", "fund"])))),
    Case("CreateApplication", lambda api, draw: draw(st.sampled_from(
        [guarantee_request, grant_application_request]))(), IDEMPOTENT_WRITE, writes=True),
    Case("GetApplication", _on("scored", lambda n: f.GetApplicationRequest(
        name=n, include_history=True)), NAMED),
    Case("ListApplications", lambda api, draw: f.ListApplicationsRequest(
        state=f.APPLICATION_STATE_DRAFT, kind=f.APPLICATION_KIND_GUARANTEE,
        applicant_business_id=COMPANY, page_size=5)),
    Case("SubmitApplication", _on("draft", lambda n: f.SubmitApplicationRequest(
        request_id=rid(), name=n, reason="ready")), IDEMPOTENT_WRITE, writes=True),
    Case("RecordScores", _on("submitted", lambda n: f.RecordScoresRequest(
        request_id=rid(), name=n, scores=good_scores(), reason="scored")),
        IDEMPOTENT_WRITE, writes=True),
    Case("DecideApplication", _on("scored", lambda n: f.DecideApplicationRequest(
        request_id=rid(), name=n, decision=f.DECISION_APPROVE, reason="sound plan")),
        IDEMPOTENT_WRITE, writes=True),
    Case("ActivateGuarantee", _on("approved", lambda n: f.ActivateGuaranteeRequest(
        request_id=rid(), name=n, reason="signed")), IDEMPOTENT_WRITE, writes=True),
    Case("RecordClaim", _on("active", lambda n: f.RecordClaimRequest(
        request_id=rid(), name=n, amount_cents=100_000, reason="default")),
        IDEMPOTENT_WRITE, writes=True),
    Case("ExpireGuarantee", _on("active", lambda n: f.ExpireGuaranteeRequest(
        request_id=rid(), name=n, reason="term ended")), IDEMPOTENT_WRITE, writes=True),
    Case("RecordDeMinimisAid", lambda api, draw: f.RecordDeMinimisAidRequest(
        request_id=rid(), business_id=COMPANY, granted_on="2025-06-01", amount_cents=50_000,
        reference="Business Finland decision 123/2025"), IDEMPOTENT_WRITE, writes=True),
    Case("GetDeMinimisRegister", lambda api, draw: f.GetDeMinimisRegisterRequest(
        business_id=COMPANY)),
    Case("CorrectDeMinimisAid", lambda api, draw: f.CorrectDeMinimisAidRequest(
        request_id=rid(), business_id=COMPANY, aid_id=1, reason="typed 2052 for 2025"),
        IDEMPOTENT_WRITE, writes=True),
    Case("CorrectBeneficiaryKind", lambda api, draw: f.CorrectBeneficiaryKindRequest(
        request_id=rid(), business_id=CORRECTED, kind=f.BENEFICIARY_KIND_COMPANY,
        reason="trade register extract"), IDEMPOTENT_WRITE, writes=True),
    Case("GetFundStatus", lambda api, draw: f.GetFundStatusRequest(), examples=3),
    Case("GetExposure", lambda api, draw: f.GetExposureRequest(), examples=3),
    Case("EstimateProcurementRisk", lambda api, draw: _estimate()),
    Case("EvaluateProcurementGuarantee", lambda api, draw: _guarantee_evaluation()),
    Case("EvaluateIncrementalRisk", lambda api, draw: _incremental()),
    Case("StartPortfolioSimulation", lambda api, draw: _drawn_start(draw),
         frozenset({C.ALREADY_EXISTS})),
    Case("GetOperation", lambda api, draw: r.GetOperationRequest(name=api.operation), NAMED),
    Case("ListOperations", lambda api, draw: r.ListOperationsRequest(page_size=5)),
    Case("WaitOperation", lambda api, draw: r.WaitOperationRequest(
        name=api.operation, timeout_seconds=0.2), NAMED),
    Case("CancelOperation", lambda api, draw: r.CancelOperationRequest(name=api.operation),
         NAMED),
]
CASE_BY_METHOD = {case.method: case for case in CASES}


def test_every_public_method_is_fuzzed():
    methods = [m for s in (f.DESCRIPTOR.services_by_name["FundingService"],
                           r.DESCRIPTOR.services_by_name["RiskService"]) for m in s.methods]
    unary = {m.name for m in methods if not (m.client_streaming or m.server_streaming)}
    assert unary == set(CASE_BY_METHOD)
    assert {m.name for m in methods if m.client_streaming or m.server_streaming} \
        == {STREAM_CASE.method}  # test_fuzzed_portfolio_streams_get_a_clear_answer


# ---------------------------------------------------------------- the answer's checks

_TRACEBACK = re.compile(
    r'Traceback \(most recent call last\)|File "[^"]+", line \d+|'
    r"\b(KeyError|TypeError|AttributeError|IndexError|ZeroDivisionError|OverflowError|"
    r"ValueError|RuntimeError|AssertionError|NameError|UnboundLocalError|RecursionError|"
    r"DecimalException|InvalidOperation|IntegrityError|OperationalError|sqlalchemy|"
    r"sqlite3|psycopg|numpy|Exception)\b")

_DETAIL_TYPES = (error_details_pb2.BadRequest, error_details_pb2.ErrorInfo,
                 error_details_pb2.PreconditionFailure, error_details_pb2.ResourceInfo,
                 error_details_pb2.QuotaFailure, error_details_pb2.RetryInfo)


def _details(status: status_pb2.Status | None) -> dict[str, Message]:
    found = {}
    for any_detail in status.details if status else ():
        for kind in _DETAIL_TYPES:
            detail = kind()
            if any_detail.Unpack(detail):
                found[kind.DESCRIPTOR.name] = detail
    return found


def _texts(message: Message) -> list[str]:
    """Every string inside ``message`` (map values included)."""
    texts = []
    for fd, value in message.ListFields():
        values = (value.values() if is_map(fd) else value if is_repeated(fd) else [value])
        for v in values:
            if isinstance(v, str):
                texts.append(v)
            elif isinstance(v, Message):
                texts += _texts(v)
    return texts


def check_answer(case: Case, request: Message, response, error, what: str,
                 others: Sequence[Message] = ()) -> None:
    """The promise for one answer (see the module docstring). A violation's field may
    also name a field of one of ``others`` (a stream's messages, where the gateway checks
    each message on its own)."""
    if error is None:
        bad = non_finite_doubles(response)
        assert not bad, f"{what}: OK with non-finite figures {bad[:5]}"
        return
    code = error.code()
    message = error.details() or ""
    allowed = BASE_CODES | case.codes
    assert code in allowed, f"{what}: {code.name} not among {sorted(c.name for c in allowed)}: " \
                            f"{message[:300]}"
    try:
        status = rpc_status.from_call(error)
    except ValueError as exc:  # the rich status contradicts the call's own
        raise AssertionError(f"{what}: {code.name} with a google.rpc.Status of another "
                             f"code: {exc}") from None
    details = _details(status)
    for text in [message, *(t for d in details.values() for t in _texts(d))]:
        assert not _TRACEBACK.search(text), f"{what}: {code.name} shows code: {text[:300]}"
    if code == C.RESOURCE_EXHAUSTED:
        info = details.get("ErrorInfo")
        assert info is None or info.reason != "RATE_LIMITED", f"{what}: rate limited"
    if code == C.INVALID_ARGUMENT:
        bad = details.get("BadRequest")
        assert bad is not None and bad.field_violations, \
            f"{what}: INVALID_ARGUMENT without BadRequest field violations: {message[:300]}"
        for violation in bad.field_violations:
            problem = resolve_field_path(request, violation.field)
            if any(resolve_field_path(m, violation.field) is None for m in others):
                problem = None
            assert problem is None, (f"{what}: violation field {violation.field!r} "
                                     f"({violation.description}) is no field of the request: "
                                     f"{problem}")
            assert violation.description, f"{what}: {violation.field} has no description"


def _token_for(case: Case, role: str, request: Message, draw) -> str:
    """A token of ``role``; an agency's is the one whose business ID the request names
    (when it names one), so ownership does not hide every other check."""
    if role == "agency" and case.owner_field:
        value = request
        for part in case.owner_field.split("."):
            value = getattr(value, part)
        return agency_token(value)
    return draw(st.sampled_from(ROLE_TOKENS[role]))


def _request_for(case: Case, api: Api, draw) -> tuple[Message, str]:
    """A fuzzed request for ``case`` and what it is (for the failure message)."""
    base = case.valid(api, draw)
    strategies = ProtoStrategies(hints=_hints())
    how = draw(st.sampled_from(["mutated"] * 3 + ["generated"]))
    if how == "generated":
        return _named(draw(strategies.message(base.DESCRIPTOR)), api), "generated"
    request, changes = draw(strategies.mutated(base))
    return _named(request, api), "valid request with " + "; ".join(changes)


def _named(request: Message, api: Api) -> Message:
    """``request`` with a placeholder name ("@scored", "@operation") made real."""
    name = getattr(request, "name", None)
    if isinstance(name, str) and name.startswith("@"):
        request.name = api.operation if name == "@operation" else api.target(name[1:])
    return request


def _show(request: Message) -> str:
    text = json_format.MessageToJson(request, preserving_proto_field_name=True, indent=None)
    return text if len(text) <= 1500 else text[:1500] + f"... ({len(text)} chars)"


def fuzz_one(api: Api, case: Case, data) -> None:
    request, how = _request_for(case, api, data.draw)
    role = data.draw(st.sampled_from(case.roles), label="role")
    token = _token_for(case, role, request, data.draw)
    before = api.snapshot() if case.writes else None
    listed = api.application_count() if case.method == "CreateApplication" else None
    response, error = api.call(case.method, request, token)
    what = f"{case.method} as {token}, {how}: {_show(request)}"
    check_answer(case, request, response, error, what)
    if case.method == "StartPortfolioSimulation" and error is None:
        check_operation(api, response.operation.name, what)
    if case.writes and error is not None:
        after = api.snapshot()
        assert after["counts"] == before["counts"], \
            f"{what}: refused {error.code().name} but rows changed: " \
            f"{_diff(before['counts'], after['counts'])}"
        assert after["applications"] == before["applications"], \
            f"{what}: refused {error.code().name} but an application changed"
        assert after["fund"] == before["fund"], f"{what}: refused but the fund changed"
        if listed is not None:
            assert api.application_count() == listed, f"{what}: refused but listed"


#: Codes an operation may end with (its OperationError): a bound its run hit, CANCELLED
#: or ABORTED. Never INVALID_ARGUMENT: a simulation that cannot run is refused by the
#: start itself, naming its fields (issue 7), not accepted and then failed.
OPERATION_ERRORS = {C.FAILED_PRECONDITION, C.RESOURCE_EXHAUSTED, C.OUT_OF_RANGE,
                    C.CANCELLED, C.ABORTED}


def check_operation(api: Api, name: str, what: str) -> None:
    """An accepted start's operation ends without an internal error (a few seconds; one
    still running then is cancelled, to keep the machine for the next example)."""
    waited = api.ok("WaitOperation", r.WaitOperationRequest(name=name, timeout_seconds=3),
                    "analyst").operation
    if not waited.done:
        api.ok("CancelOperation", r.CancelOperationRequest(name=name), "analyst")
        return
    if waited.HasField("error"):
        code = {c.value[0]: c for c in C}.get(waited.error.code)
        assert code in OPERATION_ERRORS, \
            f"{what}: its operation ended {code} {waited.error.message[:300]}"
        assert not _TRACEBACK.search(waited.error.message), \
            f"{what}: its operation's error shows code: {waited.error.message[:300]}"
    else:
        bad = non_finite_doubles(waited)
        assert not bad, f"{what}: its operation's result has non-finite figures {bad[:5]}"


def _diff(before: dict, after: dict) -> dict:
    return {k: (before.get(k), after.get(k)) for k in set(before) | set(after)
            if before.get(k) != after.get(k)}


# ---------------------------------------------------------------- the properties

@pytest.mark.parametrize("method", [case.method for case in CASES])
def test_fuzzed_requests_get_a_clear_answer(api, method):
    case = CASE_BY_METHOD[method]

    @fuzz_settings(case.examples)
    @given(data=st.data())
    def fuzz(data):
        fuzz_one(api, case, data)

    fuzz()


@pytest.mark.parametrize("method", [c.method for c in CASES
                                    if set(ROLE_TOKENS) - set(c.roles)])
def test_a_role_not_allowed_is_refused_whatever_the_request(api, method):
    case = CASE_BY_METHOD[method]
    wrong = sorted(set(ROLE_TOKENS) - set(case.roles))

    @fuzz_settings(max(3, EXAMPLES // 6))
    @given(data=st.data())
    def fuzz(data):
        request, how = _request_for(case, api, data.draw)
        token = data.draw(st.sampled_from([t for role in wrong for t in ROLE_TOKENS[role]]))
        before = api.snapshot() if case.writes else None
        _, error = api.call(case.method, request, token)
        assert error is not None and error.code() == C.PERMISSION_DENIED, \
            f"{method} as {token}, {how}: {error.code() if error else 'OK'}"
        info = _details(rpc_status.from_call(error)).get("ErrorInfo")
        assert info is not None and info.reason == "ROLE_NOT_ALLOWED", info
        if before is not None:
            assert api.snapshot() == before

    fuzz()


@fuzz_settings(max(4, EXAMPLES // 2))
@given(data=st.data())
def test_an_accepted_fuzzed_application_lives_its_life_cycle(api, data):
    """A one-field-off application the ledger takes must also be submitted, scored,
    decided, activated and claimed (or refused at a step) within the promise."""
    base = data.draw(st.sampled_from([guarantee_request, grant_application_request]))()
    request, changes = data.draw(ProtoStrategies(hints=_hints()).mutated(base))
    created, error = api.call("CreateApplication", request, "officer2")
    what = f"CreateApplication ({'; '.join(changes)}): {_show(request)}"
    check_answer(CASE_BY_METHOD["CreateApplication"], request, created, error, what)
    if error is not None:
        return
    name = created.application.name
    steps = [*LIFE_CYCLE, ("RecordClaim", lambda n: f.RecordClaimRequest(
        request_id=rid(), name=n, amount_cents=1, reason="default"), "officer")]
    if created.application.kind == f.APPLICATION_KIND_IJH_GRANT:
        steps = steps[:3]
    for method, make, token in steps:
        step = make(name)
        response, error = api.call(method, step, token)
        check_answer(CASE_BY_METHOD[method], step, response, error,
                     f"{method} of {what}")
        if error is not None:
            return
    status = api.ok("GetFundStatus", f.GetFundStatusRequest(), "analyst")
    assert not non_finite_doubles(status)


@pytest.mark.parametrize("method", [c.method for c in CASES
                                    if c.owner_field and "agency" in c.roles])
def test_an_agency_is_refused_for_another_business(api, method):
    """The owner fields: a valid request naming another business ID is NOT_OWNER."""
    case = CASE_BY_METHOD[method]

    @fuzz_settings(2)
    @given(data=st.data())
    def check(data):
        _, error = api.call(case.method, case.valid(api, data.draw), "agency2")
        assert error is not None and error.code() == C.PERMISSION_DENIED, method
        info = _details(rpc_status.from_call(error)).get("ErrorInfo")
        assert info is not None and info.reason == "NOT_OWNER", (method, info)

    check()


# ---------------------------------------------------------------- the streaming RPC

STREAM_CASE = Case("SimulatePortfolio", lambda api, draw: _drawn_start(draw).simulation)
STREAM_SHAPES = ("one message", "chunks", "chunks", "no header", "header repeated",
                 "header alone", "empty stream", "rows past the bound", "message past the size")


@st.composite
def portfolio_streams(draw) -> tuple[list[r.SimulatePortfolioRequest], str]:
    """A SimulatePortfolio request stream and what was done to it: the valid simulation
    of StartPortfolioSimulation's example, mutated a field or three (anywhere, or in its
    options alone: among a dozen rows' fields they are seldom drawn) or with options
    generated whole, cut into chunks of rows in one of ``STREAM_SHAPES``."""
    whole, how = STREAM_CASE.valid(None, draw), []
    strategies = ProtoStrategies(hints=_hints())
    header = r.SimulatePortfolioRequest()
    header.CopyFrom(whole)
    header.ClearField("guarantees")
    source = draw(st.sampled_from(["valid", "mutated", "mutated options", "mutated options",
                                   "generated options"]))
    if source == "mutated":
        whole, changes = draw(strategies.mutated(whole))
        how.append("valid request with " + "; ".join(changes))
    elif source == "mutated options":
        header, changes = draw(strategies.mutated(header))
        how.append("valid request with " + "; ".join(changes))
    elif source == "generated options":
        header = draw(strategies.message(header.DESCRIPTOR))
        how.append("generated options")
    header.ClearField("guarantees")
    rows = list(whole.guarantees)
    shape = draw(st.sampled_from(STREAM_SHAPES))
    how.append(shape)
    if shape == "empty stream":
        return [], ", ".join(how)
    if shape == "rows past the bound":
        rows = rows or _book(1)
        rows = [rows[i % len(rows)] for i in range(MAX_GUARANTEES + 1)]
    cuts = [] if shape == "one message" else sorted(
        draw(st.lists(st.integers(0, len(rows)), max_size=4)))
    messages = [r.SimulatePortfolioRequest(guarantees=rows[a:b])
                for a, b in zip([0, *cuts], [*cuts, len(rows)], strict=True)]
    if shape == "header alone":
        messages = [header]
    elif shape != "no header":
        messages[0].MergeFrom(header)
    if shape == "header repeated":
        again = header if draw(st.booleans()) else draw(strategies.message(header.DESCRIPTOR))
        later = r.SimulatePortfolioRequest(fund=again.fund, dependence=again.dependence,
                                           simulation=again.simulation)
        messages.insert(draw(st.integers(1, len(messages))), later)
    if shape == "message past the size":
        at = draw(st.integers(0, len(messages) - 1))
        messages[at].guarantees.add(id="x" * MAX_REQUEST_BYTES)
    return messages, ", ".join(how)


def _merged(messages: Sequence[r.SimulatePortfolioRequest]) -> r.SimulatePortfolioRequest:
    """The stream as one message: the first, with every message's rows (the server counts
    rows across messages)."""
    merged = r.SimulatePortfolioRequest()
    for i, message in enumerate(messages):
        if i == 0:
            merged.CopyFrom(message)
        else:
            merged.guarantees.extend(message.guarantees)
    return merged


def _stream_show(messages: Sequence[r.SimulatePortfolioRequest]) -> str:
    shown = []
    for message in messages:
        rows = len(message.guarantees)
        head = r.SimulatePortfolioRequest()
        head.CopyFrom(message)
        head.ClearField("guarantees")
        shown.append(f"{{{_show(head)} + {rows} rows}}" if rows else _show(head))
    return f"{len(messages)} messages [" + ", ".join(shown) + "]"


@fuzz_settings(EXAMPLES)
@given(data=st.data())
def test_fuzzed_portfolio_streams_get_a_clear_answer(api, data):
    """SimulatePortfolio with a fuzzed stream: the same promise as a unary call's, for the
    status that ends it, and no NaN in any progress or result it sends. A stream still
    running after STREAM_SECONDS is cancelled by the client (its own CANCELLED is no
    answer), so a run of millions of scenarios does not hold the machine."""
    messages, how = data.draw(portfolio_streams())
    token = data.draw(st.sampled_from([t for role in STREAM_CASE.roles
                                       for t in ROLE_TOKENS[role]]), label="token")
    merged = _merged(messages)
    what = f"SimulatePortfolio as {token}, {how}: {_stream_show(messages)}"
    call = api.stub("risk", token).SimulatePortfolio(iter(messages), timeout=CALL_TIMEOUT)
    stopped = threading.Event()

    def stop() -> None:
        stopped.set()
        call.cancel()

    timer = threading.Timer(STREAM_SECONDS, stop)
    timer.start()
    error = None
    try:
        for reply in call:
            bad = non_finite_doubles(reply)
            assert not bad, f"{what}: non-finite figures {bad[:5]} in {reply.WhichOneof('kind')}"
    except grpc.RpcError as failure:
        error = failure
    finally:
        timer.cancel()
    if error is not None and not (stopped.is_set() and error.code() == C.CANCELLED):
        check_answer(STREAM_CASE, merged, None, error, what, others=messages)



# ---------------------------------------------------------------- bytes, not requests

# Bytes no request parses from: a field number of 0, a truncated varint, a length past
# the end, a group never closed, a reserved wire type.
UNDECODABLE = [b"\xff\xff\xff\xff", b"\x00", b"\x08", b"\x08\xff", b"\x0a\x05ab",
               b"\x0b", b"\x0e\x00", b"\x80" * 11]


@st.composite
def raw_bodies(draw, valid: bytes) -> tuple[bytes, str]:
    """A request body that may not parse: one of UNDECODABLE, the valid request cut, a
    byte of it changed, garbage before or after it, or random bytes."""
    how = draw(st.sampled_from(["fixed", "cut", "byte changed", "prefixed", "suffixed",
                                "random"]))
    if how == "fixed":
        body = draw(st.sampled_from(UNDECODABLE))
    elif how == "cut" and valid:
        body = valid[:draw(st.integers(0, len(valid) - 1))]
    elif how == "byte changed" and valid:
        at = draw(st.integers(0, len(valid) - 1))
        body = valid[:at] + bytes([draw(st.integers(0, 255))]) + valid[at + 1:]
    elif how == "prefixed":
        body = draw(st.sampled_from(UNDECODABLE)) + valid
    elif how == "suffixed":
        body = valid + draw(st.sampled_from(UNDECODABLE))
    else:
        body = draw(st.binary(min_size=1, max_size=64))
    return body, how


@fuzz_settings(EXAMPLES)
@given(data=st.data())
def test_bytes_that_are_no_request_get_a_clear_answer(api, data):
    """Any method, bytes that may not parse as its request: the door checks the caller
    first (UNAUTHENTICATED without a token) and then refuses them INVALID_ARGUMENT
    ``REQUEST_UNDECODABLE`` naming the message, with the request id; never UNKNOWN and
    no exception's name. Bytes that do parse get a parsed request's answer."""
    case = data.draw(st.sampled_from(CASES), label="method")
    valid_request = _named(case.valid(api, data.draw), api)
    request_class, valid = type(valid_request), valid_request.SerializeToString()
    body, how = data.draw(raw_bodies(valid), label="body")
    token = data.draw(st.sampled_from([None, *(t for role in case.roles
                                               for t in ROLE_TOKENS[role])]), label="token")
    try:
        parsed = request_class.FromString(body)
    except DecodeError:
        parsed = None
    request_id = rid()
    metadata = [("x-request-id", request_id)]
    if token is not None:
        metadata.append(("authorization", f"Bearer {api.stack.token(token)}"))
    channel = api.raw_channel()
    call = channel.unary_unary(path_of(case.method), request_serializer=None,
                               response_deserializer=None)
    what = f"{case.method} as {token}, {how}: {body[:200]!r} ({len(body)} bytes)"
    try:
        call(body, metadata=metadata, timeout=CALL_TIMEOUT)
        error = None
    except grpc.RpcError as failure:
        error = failure
    if token is None:
        assert error is not None and error.code() == C.UNAUTHENTICATED, what
    elif parsed is None:
        assert error is not None, f"{what}: answered OK"
        assert error.code() == C.INVALID_ARGUMENT, f"{what}: {error.code()} {error.details()}"
        info = _details(rpc_status.from_call(error)).get("ErrorInfo")
        assert info is not None and info.reason == "REQUEST_UNDECODABLE", what
        assert request_class.DESCRIPTOR.full_name in error.details(), what
    elif error is not None:
        check_answer(case, parsed, None, error, what)
    if error is not None:
        assert not _TRACEBACK.search(error.details() or ""), f"{what}: {error.details()}"
        assert dict(error.initial_metadata() or ()).get("x-request-id") == request_id, what
