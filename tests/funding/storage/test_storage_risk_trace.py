"""A guarantee's risk-appetite figure can be reproduced from its approval's record: the
trace names the guarantees sent to the risk model (ids and a digest of the rows as sent),
the capital and the model's values; and the approval is dated after it holds the fund
lock, so its time is when the position it checked was the fund's."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text

from services.funding.ledger.fund_rules import PortfolioRow, RiskFigures, risk_inputs
from services.funding.ledger.model import Decision
from services.funding.storage.repository import Repository
from tests.funding.storage.ledger_support import (
    OFFICER_A,
    OFFICER_B,
    PUBLIC_UNIT,
    Clock,
    FakeRules,
    guarantee_draft,
    real_sheet,
    rid,
    roomy_rules,
    to_scored,
    wait_until_blocked,
)


def test_the_risk_figure_names_its_inputs(engine: Engine, clock: Clock) -> None:
    """Reproduction r14: the trace held the figures, not which guarantees nor which
    model produced them."""
    sent: list[tuple[list[PortfolioRow], PortfolioRow, int]] = []

    def risk(portfolio, candidate, capital, rules):  # type: ignore[no-untyped-def]
        sent.append((list(portfolio), candidate, capital))
        return RiskFigures(rules.risk_measure, 123, 100, 5, 42)

    repo = Repository(engine, ijh_rules=FakeRules(), fund_rules=roomy_rules,
                      incremental_risk=risk, clock=clock)
    ids = [to_scored(repo, guarantee_draft(beneficiary=PUBLIC_UNIT)) for _ in range(2)]
    for app_id in ids:
        repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok")
    portfolio, candidate, capital = sent[-1]
    rules = roomy_rules(clock().date())
    inputs = repo.audit_log(ids[1])[-1].trace["risk"]["inputs"]
    assert inputs["portfolio_ids"] == [ids[0]] and inputs["candidate_id"] == ids[1]
    assert inputs["capital_cents"] == capital
    assert inputs == risk_inputs(portfolio, candidate, capital, rules) | {
        "model": inputs["model"]}  # stored as JSON
    assert inputs["model"]["loss_given_default"] == str(rules.risk_model["loss_given_default"])
    assert len(inputs["portfolio_sha256"]) == 64
    # Another row sent (or the same ids with other figures) is another digest.
    assert risk_inputs(portfolio[:0], candidate, capital, rules)["portfolio_sha256"] != \
        inputs["portfolio_sha256"]


# PostgreSQL only: SQLite serialises whole write transactions, no lock is waited for
# inside one.
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_the_approval_is_dated_once_it_holds_the_fund_lock(
        backend: str, engine: Engine, clock: Clock, real_repo: Repository) -> None:
    repo = real_repo
    app_id = to_scored(repo, guarantee_draft(beneficiary=PUBLIC_UNIT), scorers=())
    repo.score(rid(), OFFICER_A, app_id, real_sheet("4"))  # a sheet of the real rubric
    later = datetime(2025, 3, 14, 11, 30, tzinfo=UTC)
    done: list[object] = []
    with engine.connect() as holder, \
            engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watcher:
        holder_pid = holder.execute(text("SELECT pg_backend_pid()")).scalar_one()
        holder.execute(text("SELECT id FROM fund FOR UPDATE"))  # another approval's lock
        worker = threading.Thread(target=lambda: done.append(
            repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok")))
        worker.start()
        wait_until_blocked(watcher, holder_pid, "the approval")
        clock.now = later  # the time passes while it waits
        holder.rollback()
    worker.join()
    [approval] = [r for r in repo.audit_log(app_id) if r.action == "approve"]
    assert approval.at == later
