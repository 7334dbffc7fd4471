"""Parts of the funding servicer (server.py) with stand-ins around them: what the
approval's risk port asks the risk service, and how many transactions a fund read uses."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from ijh.funding.v1 import funding_pb2 as f
from ijh.risk.v1 import risk_pb2 as r
from sqlalchemy import event

from services.funding.ledger import BeneficiaryKind, Decision, PortfolioRow
from services.funding.server import FundingServicer, RiskServiceCheck
from services.funding.storage import Repository, make_engine, upgrade
from services.shared.caller import ROLE_KEY, SUBJECT_KEY
from services.shared.config import load_settings
from tests.funding.storage.ledger_support import (
    OFFICER_B,
    PUBLIC_UNIT,
    FakeRules,
    guarantee_draft,
    rid,
    to_scored,
)

CANDIDATE = PortfolioRow(2, "1234567-1", BeneficiaryKind.COMPANY, "energy", "TEM",
                         500_000_00, 60, "BBB")


class RecordingRiskStub:
    def __init__(self) -> None:
        self.requests: list[r.EvaluateIncrementalRiskRequest] = []

    async def EvaluateIncrementalRisk(self, request, timeout):
        self.requests.append(request)
        return r.EvaluateIncrementalRiskResponse(seed=1, tail_risk=[r.IncrementalTailRisk(
            level=0.999, expected_shortfall_after_cents=r.Estimate(value=1.0),
            expected_shortfall_before_cents=r.Estimate(value=0.0))])


async def test_the_risk_service_is_asked_with_the_capital_the_ledger_gives():
    check = RiskServiceCheck(load_settings())
    stub = RecordingRiskStub()
    check.loop, check.stub = asyncio.get_running_loop(), stub  # what start() sets
    figures = await asyncio.to_thread(check, [], CANDIDATE, 700_000_00)
    assert figures.after_cents == 1
    assert [q.fund.capital_cents for q in stub.requests] == [700_000_00]


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
