"""50 concurrent approvals (threads, each with its own connection) against room for
exactly 10: exactly 10 are approved, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal

from sqlalchemy import Engine

from services.funding.ledger.model import Beneficiary, BeneficiaryKind, Decision
from services.funding.storage.repository import Repository
from services.shared.errors import FailedPrecondition
from tests.funding.storage.ledger_support import (
    COMPANY,
    OFFICER_B,
    business_id,
    counts,
    guarantee_draft,
    rid,
    to_scored,
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
