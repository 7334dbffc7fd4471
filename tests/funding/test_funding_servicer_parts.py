"""Parts of the funding servicer (server.py) with stand-ins around them: what the
approval's risk port asks the risk service, and how many transactions a fund read uses."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, date, datetime
from types import SimpleNamespace

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2
from ijh.funding.v1 import funding_pb2 as f
from ijh.risk.v1 import risk_pb2 as r
from sqlalchemy import event

from services.funding.ledger import BeneficiaryKind, Decision, PortfolioRow, fund_rules_on
from services.funding.server import FundingServicer, RiskServiceCheck
from services.funding.storage import Repository, make_engine, upgrade
from services.shared.caller import ROLE_KEY, SUBJECT_KEY
from services.shared.caller_assertion import CallerKeys
from services.shared.config import load_settings
from services.shared.errors import FailedPrecondition, Unavailable
from services.shared.grpc_errors import to_status
from services.shared.logs import request_id_var
from tests.funding.storage.ledger_support import (
    OFFICER_B,
    PUBLIC_UNIT,
    Clock,
    FakeRules,
    guarantee_draft,
    rid,
    roomy_rules,
    to_scored,
)

CANDIDATE = PortfolioRow(2, "1234567-1", BeneficiaryKind.COMPANY, "energy", "TEM",
                         500_000_00, 60, "BBB")

KEYS = CallerKeys.of("funding", {})  # never used to sign here: no risk channel


class RecordingRiskStub:
    def __init__(self) -> None:
        self.requests: list[r.EvaluateIncrementalRiskRequest] = []
        self.metadata: list[tuple] = []

    async def EvaluateIncrementalRisk(self, request, timeout, metadata=()):
        self.requests.append(request)
        self.metadata.append(tuple(metadata))
        one, zero = r.Estimate(value=1.0), r.Estimate(value=0.0)
        return r.EvaluateIncrementalRiskResponse(seed=1, tail_risk=[r.IncrementalTailRisk(
            level=level, expected_shortfall_after_cents=one, expected_shortfall_before_cents=zero,
            value_at_risk_after_cents=one, value_at_risk_before_cents=zero)
            for level in request.simulation.levels])


def _started(stub: RecordingRiskStub) -> RiskServiceCheck:
    check = RiskServiceCheck(load_settings(), KEYS)
    check.loop, check.stub = asyncio.get_running_loop(), stub  # what start() sets
    return check


async def test_the_risk_service_is_asked_with_the_capital_the_ledger_gives():
    stub = RecordingRiskStub()
    figures = await asyncio.to_thread(_started(stub), [], CANDIDATE, 700_000_00,
                                      fund_rules_on(date(2025, 1, 1)))
    assert figures.after_cents == 1
    assert [q.fund.capital_cents for q in stub.requests] == [700_000_00]


async def test_the_risk_check_carries_the_approvals_request_id():
    # One approval followed through both services' logs: the check runs in a worker thread
    # and its call on the loop, so the id is read where the approval's context is.
    stub = RecordingRiskStub()
    check = _started(stub)

    def approve():
        request_id_var.set("approval-7")
        return check([], CANDIDATE, 700_000_00, fund_rules_on(date(2025, 1, 1)))

    await asyncio.to_thread(approve)
    assert stub.metadata == [(("x-request-id", "approval-7"),)]


DECISION_DAY = date(2025, 3, 1)


def _dated_rules(on: date, measure: str):
    """Rules whose measure on the decision day differs from the YAML in force (ES99.9)."""
    return roomy_rules(on, risk_measure=measure if on == DECISION_DAY else "ES99.9")


async def test_the_risk_service_is_asked_for_the_measure_the_decision_checks(tmp_path):
    # One clock decides: the repository's. Its rules for the decision day ask for VaR99.5;
    # the port must not ask the risk service for today's measure (ES99.9) instead.
    engine = make_engine(f"sqlite+pysqlite:///{tmp_path / 'ledger.sqlite3'}")
    upgrade(engine)
    stub = RecordingRiskStub()
    clock = Clock(datetime(2025, 3, 1, 10, 0, tzinfo=UTC))
    repo = Repository(engine, ijh_rules=FakeRules(), clock=clock,
                      fund_rules=lambda on: _dated_rules(on, "VaR99.5"),
                      incremental_risk=_started(stub))
    try:
        app = to_scored(repo, guarantee_draft(beneficiary=PUBLIC_UNIT))
        await asyncio.to_thread(repo.decide, rid(), OFFICER_B, app, Decision.APPROVE, "ok")
        trace = repo.audit_log(app)[-1].trace
    finally:
        engine.dispose()
    assert [list(q.simulation.levels) for q in stub.requests] == [[pytest.approx(0.995)]]
    assert trace["risk"]["measure"] == "VaR99.5"


async def test_the_risk_service_is_asked_with_the_model_of_the_decisions_rules():
    rules = fund_rules_on(DECISION_DAY)
    model = dict(rules.risk_model, seed=4242, scenario_count=2048)
    stub = RecordingRiskStub()
    await asyncio.to_thread(_started(stub), [], CANDIDATE, 1_000_00,
                            dataclasses.replace(rules, risk_model=model))
    assert [(q.simulation.seed, q.simulation.scenario_count) for q in stub.requests] == \
        [(4242, 2048)]


async def test_rules_without_a_risk_model_refuse_the_check_rather_than_approve_blind():
    rules = dataclasses.replace(fund_rules_on(DECISION_DAY), risk_model=None)
    stub = RecordingRiskStub()
    with pytest.raises(FailedPrecondition) as failure:
        await asyncio.to_thread(_started(stub), [], CANDIDATE, 1_000_00, rules)
    # Not an outage: a retry will not help until the parameters name a model.
    assert [v.type for v in failure.value.violations] == ["RISK_MODEL_NOT_IN_FORCE"]
    assert "risk.model" in str(failure.value)
    assert stub.requests == []


class FailingRiskStub:
    """A risk service that answers every call with ``code``."""

    def __init__(self, code: grpc.StatusCode) -> None:
        self.code = code

    async def EvaluateIncrementalRisk(self, request, timeout, metadata=()):
        raise grpc.aio.AioRpcError(self.code, grpc.aio.Metadata(), grpc.aio.Metadata(),
                                   details="failed to connect: ipv4:10.0.0.7:50052")


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE,
                                  grpc.StatusCode.DEADLINE_EXCEEDED])
async def test_a_risk_service_outage_refuses_the_approval_as_unavailable(code):
    with pytest.raises(Unavailable) as failure:
        await asyncio.to_thread(_started(FailingRiskStub(code)), [], CANDIDATE, 1_000_00,
                                fund_rules_on(DECISION_DAY))
    assert failure.value.reason == "RISK_CHECK_UNAVAILABLE"
    assert failure.value.retry_after_seconds > 0
    assert code.name in str(failure.value)
    assert "10.0.0.7" not in str(failure.value)  # gRPC's own words stay in the log
    # The servicer answers it UNAVAILABLE with ErrorInfo and RetryInfo (the CLI: retry).
    status = to_status(failure.value)
    assert status.code == code_pb2.UNAVAILABLE
    info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info) and status.details[1].Unpack(retry)
    assert (info.reason, info.domain) == ("RISK_CHECK_UNAVAILABLE", "ijh")
    assert retry.retry_delay.ToTimedelta().total_seconds() == failure.value.retry_after_seconds


async def test_a_risk_client_not_started_is_an_outage_too():
    check = RiskServiceCheck(load_settings(), KEYS)
    with pytest.raises(Unavailable):
        await asyncio.to_thread(check, [], CANDIDATE, 1_000_00, fund_rules_on(DECISION_DAY))


async def test_a_risk_service_refusing_the_request_is_no_outage():
    # The risk service will not answer this request as asked: retrying cannot help.
    with pytest.raises(FailedPrecondition) as failure:
        await asyncio.to_thread(_started(FailingRiskStub(grpc.StatusCode.INVALID_ARGUMENT)),
                                [], CANDIDATE, 1_000_00, fund_rules_on(DECISION_DAY))
    assert [v.type for v in failure.value.violations] == ["RISK_CHECK_FAILED"]


class OfficerContext:
    """The caller metadata the gateway would send."""

    def invocation_metadata(self):
        return ((SUBJECT_KEY, "officer-a"), (ROLE_KEY, "officer"))


async def test_exposure_is_read_in_one_transaction(tmp_path):
    engine = make_engine(f"sqlite+pysqlite:///{tmp_path / 'ledger.sqlite3'}")
    upgrade(engine)
    repo = Repository(engine, ijh_rules=FakeRules())
    for sector in ("energy", "health"):
        app = to_scored(repo, guarantee_draft(beneficiary=PUBLIC_UNIT, sector=sector))
        repo.decide(rid(), OFFICER_B, app, Decision.APPROVE, "ok")
    servicer = FundingServicer(events=None, ledger=SimpleNamespace(repository=repo, risk=None))
    begun: list[object] = []

    def on_begin(conn: object) -> None:
        begun.append(conn)

    event.listen(engine, "begin", on_begin)
    try:
        response = await servicer.GetExposure(f.GetExposureRequest(), OfficerContext())
    finally:
        event.remove(engine, "begin", on_begin)
        engine.dispose()
    # Sectors, branches and their limits come from one snapshot of the ledger.
    assert len(begun) == 1
    assert [(g.key, g.committed_cents, g.guarantee_count) for g in response.sectors] == \
        [("energy", 500_000_00, 1), ("health", 500_000_00, 1)]
    assert [(g.key, g.committed_cents, g.guarantee_count) for g in response.branches] == \
        [("STM", 1_000_000_00, 2)]
    assert response.rules_version.startswith("fund-rules/")


class RecordingPortfolioStub:
    """SimulatePortfolio stand-in: records the requests, answers at the levels asked."""

    def __init__(self) -> None:
        self.requests: list[r.SimulatePortfolioRequest] = []

    def SimulatePortfolio(self, requests, timeout, metadata=()):
        async def replies():
            async for request in requests:
                self.requests.append(request)
                tail = [r.TailRisk(level=level, value_at_risk_cents=r.Estimate(value=2.0),
                                   expected_shortfall_cents=r.Estimate(value=3.0))
                        for level in request.simulation.levels]
                yield r.SimulatePortfolioResponse(result=r.PortfolioRiskResult(
                    seed=request.simulation.seed, expected_loss_cents=r.Estimate(value=1.0),
                    tail_risk=tail))
        return replies()


async def test_fund_status_figures_are_under_the_rules_of_the_status(tmp_path):
    # The repository's clock and injected rules decide the status; its headline risk
    # figures must be asked and labelled at that status's measure (VaR99.5), not at the
    # measure of today's real parameters (ES99.9) read again by the servicer.
    assert fund_rules_on(datetime.now(UTC).date()).risk_measure != "VaR99.5"
    engine = make_engine(f"sqlite+pysqlite:///{tmp_path / 'ledger.sqlite3'}")
    upgrade(engine)
    repo = Repository(engine, ijh_rules=FakeRules(),
                      clock=Clock(datetime(2025, 3, 1, 10, 0, tzinfo=UTC)),
                      fund_rules=lambda on: _dated_rules(on, "VaR99.5"))
    stub = RecordingPortfolioStub()
    check = RiskServiceCheck(load_settings(), KEYS)
    check.stub = stub  # what start() sets
    servicer = FundingServicer(events=None, ledger=SimpleNamespace(repository=repo, risk=check))
    try:
        app = to_scored(repo, guarantee_draft(beneficiary=PUBLIC_UNIT))
        repo.decide(rid(), OFFICER_B, app, Decision.APPROVE, "ok")
        response = await servicer.GetFundStatus(f.GetFundStatusRequest(), OfficerContext())
    finally:
        engine.dispose()
    assert [list(q.simulation.levels) for q in stub.requests] == [[pytest.approx(0.995)]]
    assert [x.measure for x in response.risk_figures] == ["EL", "VaR99.5", "ES99.5"]
