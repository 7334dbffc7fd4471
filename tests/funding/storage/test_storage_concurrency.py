"""50 concurrent approvals (threads, each with its own connection) against room for
exactly 10: exactly 10 are approved, on SQLite and PostgreSQL; and an approval that waits
for the beneficiary's lock is dated once it holds it."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, text

from services.funding.ledger.model import Beneficiary, BeneficiaryKind, CostLine, Decision
from services.funding.storage.repository import Repository
from services.shared.errors import FailedPrecondition
from tests.funding.storage.ledger_support import (
    COMPANY,
    OFFICER_B,
    Clock,
    FakeRules,
    business_id,
    counts,
    grant_draft,
    guarantee_draft,
    rid,
    roomy_rules,
    to_scored,
    wait_until_blocked,
)

N = 50


def _race(repo: Repository, app_ids: list[int]) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(len(app_ids))

    def decide(app_id: int) -> None:
        barrier.wait()
        try:
            repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "race")
            result = "approved"
        except FailedPrecondition as exc:
            result = ",".join(v.type for v in exc.violations)
        except Exception as exc:  # pragma: no cover - shows up in the assertion
            result = repr(exc)
        with lock:
            outcomes[result] += 1

    threads = [threading.Thread(target=decide, args=(i,)) for i in app_ids]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return outcomes


def test_fund_capacity_is_never_overcommitted(repo: Repository, engine: Engine,
                                              rules_box: dict[str, object]) -> None:
    # Capital €1 m × leverage 1 = capacity €1 m; each guarantee's exposure is €100 000.
    rules_box.update(paid_in_capital_cents=1_000_000_00, max_leverage=Decimal(1),
                     sector_max_share_of_capital=Decimal(2),
                     branch_max_share_of_capital=Decimal(2))
    ids = [to_scored(repo, guarantee_draft(
        beneficiary=Beneficiary(BeneficiaryKind.PUBLIC_UNIT, business_id(5_000_000 + i)),
        amount_cents=200_000_00, rate="0.5")) for i in range(N)]
    outcomes = _race(repo, ids)
    assert outcomes == Counter({"approved": 10, "FUND_CAPACITY": 40})
    status, _, _ = repo.fund_position()
    assert status.committed_cents == 1_000_000_00 and status.available_cents == 0


def test_de_minimis_room_is_never_overcommitted(repo: Repository, engine: Engine) -> None:
    # One company, ceiling €300 000; each GGE is 300 000 × 225 000/2 250 000 = €30 000.
    ids = [to_scored(repo, guarantee_draft(beneficiary=COMPANY, amount_cents=450_000_00,
                                           rate="0.5", term_months=60)) for _ in range(N)]
    outcomes = _race(repo, ids)
    assert outcomes == Counter({"approved": 10, "DE_MINIMIS": 40})
    room = repo.de_minimis_room(COMPANY.business_id)
    assert (room.counted_cents, room.room_cents) == (300_000_00, 0)
    assert counts(engine)["de_minimis_aid"] == 10


# PostgreSQL only: SQLite serialises whole write transactions, no lock is waited for
# inside one.
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
@pytest.mark.parametrize("kind", ["grant", "guarantee"])
def test_an_approval_is_dated_once_it_holds_the_beneficiary_lock(
        backend: str, kind: str, engine: Engine) -> None:
    """Reproduction r15: a grant approval read the clock (23:59:59 on 31 December,
    Helsinki) before it waited for the company's lock, held by another approval that
    granted aid on 1 January; it was dated 31 December and its de minimis window missed
    that aid: 400,000 euros counted against a 300,000 ceiling."""
    clock = Clock(datetime(2025, 12, 31, 21, 59, 59, tzinfo=UTC))  # 23:59:59 Helsinki
    repo = Repository(engine, ijh_rules=FakeRules(), fund_rules=roomy_rules, clock=clock)
    draft = guarantee_draft() if kind == "guarantee" else dataclasses.replace(
        grant_draft(beneficiary=COMPANY),
        cost_lines=(CostLine("purchased_expert_services", "x", 400_000_00),))
    app_id = to_scored(repo, draft)
    later = datetime(2025, 12, 31, 22, 0, 1, tzinfo=UTC)  # 00:00:01 on 1 January
    done: list[object] = []
    with engine.connect() as holder, \
            engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watcher:
        holder_pid = holder.execute(text("SELECT pg_backend_pid()")).scalar_one()
        holder.execute(text("SELECT business_id FROM beneficiaries WHERE business_id = :b "
                            "FOR UPDATE"), {"b": COMPANY.business_id})  # another approval
        worker = threading.Thread(target=lambda: done.append(
            repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok")))
        worker.start()
        wait_until_blocked(watcher, holder_pid, "the approval")
        clock.now = later  # midnight passes while it waits
        holder.rollback()
    worker.join()
    [approval] = [r for r in repo.audit_log(app_id) if r.action == "approve"]
    assert approval.at == later
    assert repo.get(app_id).aid_granted_on == date(2026, 1, 1)
