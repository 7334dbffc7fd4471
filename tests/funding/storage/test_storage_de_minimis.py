"""De minimis through the repository: aid is counted on the approval date, on both sides
of the rolling window and of the 2024-01-01 change. A guarantee of €150 000 guaranteed
for 5 years has a GGE of €20 000 under both regulations (200 000 × 150 000/1 500 000 and
300 000 × 150 000/2 250 000)."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import Engine, select

from services.funding.ledger.model import ApplicationState, Decision
from services.funding.storage import tables as t
from services.funding.storage.repository import Repository
from services.shared.errors import FailedPrecondition
from tests.funding.storage.ledger_support import (
    COMPANY,
    OFFICER_B,
    Clock,
    counts,
    guarantee_draft,
    rid,
    to_scored,
)

GGE_20K = dict(amount_cents=300_000_00, rate="0.5", term_months=60)


def _approve(repo: Repository, clock: Clock, on: date) -> int:
    clock.set_date(on)
    app_id = to_scored(repo, guarantee_draft(**GGE_20K))
    return app_id


def test_change_of_regulation_on_2024_01_01(repo: Repository, engine: Engine,
                                            clock: Clock) -> None:
    repo.record_aid(rid(), OFFICER_B, COMPANY.business_id, date(2021, 6, 1), 150_000_00,
                    "Business Finland decision 1")
    repo.record_aid(rid(), OFFICER_B, COMPANY.business_id, date(2023, 1, 15), 40_000_00,
                    "ELY decision 2")
    app_id = _approve(repo, clock, date(2023, 12, 31))
    before = counts(engine)
    with pytest.raises(FailedPrecondition) as err:  # 190k + 20k > 200k (1407/2013)
        repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok")
    assert [(v.type, v.subject) for v in err.value.violations] == \
        [("DE_MINIMIS", f"beneficiary/{COMPANY.business_id}")]
    assert counts(engine) == before
    clock.set_date(date(2024, 1, 1))                 # 190k + 20k ≤ 300k (2023/2831)
    app = repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok")
    assert (app.state, app.gge_cents, app.aid_granted_on) == \
        (ApplicationState.APPROVED, 20_000_00, date(2024, 1, 1))
    room = repo.de_minimis_room(COMPANY.business_id, date(2024, 1, 1))
    assert (room.counted_cents, room.room_cents) == (210_000_00, 90_000_00)


def test_rolling_window_edge(repo: Repository, engine: Engine, clock: Clock) -> None:
    repo.record_aid(rid(), OFFICER_B, COMPANY.business_id, date(2021, 6, 1), 290_000_00,
                    "old aid")
    app_id = _approve(repo, clock, date(2024, 5, 31))
    before = counts(engine)
    with pytest.raises(FailedPrecondition, match="DE_MINIMIS"):  # 290k still counts
        repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok")
    assert counts(engine) == before
    clock.set_date(date(2024, 6, 1))                # 2021-06-01 left the window
    assert repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok").gge_cents == 20_000_00


def test_approved_aid_counts_for_later_grants(repo: Repository, clock: Clock) -> None:
    first = _approve(repo, clock, date(2025, 1, 10))
    repo.decide(rid(), OFFICER_B, first, Decision.APPROVE, "ok")
    room = repo.de_minimis_room(COMPANY.business_id, date(2025, 1, 10))
    assert (room.counted_cents, room.room_cents) == (20_000_00, 280_000_00)
    # Three years later (window starts 2025-01-11) the aid no longer counts.
    assert repo.de_minimis_room(COMPANY.business_id, date(2028, 1, 10)).counted_cents == 0


def test_every_aid_row_names_the_officer_who_recorded_it(repo: Repository, engine: Engine,
                                                         clock: Clock) -> None:
    """Aid reduces a company's de minimis room: the database says who put each row there,
    whether recorded from a declaration or written by an approval."""
    repo.record_aid(rid(), OFFICER_B, COMPANY.business_id, date(2024, 2, 1), 10_000_00,
                    "ELY decision 7")
    app_id = _approve(repo, clock, date(2025, 3, 3))
    repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok")
    with engine.connect() as conn:
        rows = conn.execute(select(t.de_minimis_aid.c.application_id,
                                   t.de_minimis_aid.c.recorded_by)
                            .order_by(t.de_minimis_aid.c.id)).all()
    assert [(a is None, who) for a, who in rows] == [(True, OFFICER_B.id),
                                                      (False, OFFICER_B.id)]


def test_late_declared_aid_over_the_ceiling_is_recorded_and_said_so(
        repo: Repository, engine: Engine, clock: Clock) -> None:
    """Review h10/3: aid declared after an approval put the company €41,666.67 over the
    ceiling; it was recorded (it was granted) without a word, and the register read
    counted €341,666.67, room €0.00. The record answer and the register now give the
    excess and name the grants whose window it breaks."""
    from services.funding import translate
    bid = COMPANY.business_id
    repo.record_aid(rid(), OFFICER_B, bid, date(2024, 6, 1), 270_000_00, "ELY 1")
    approved = _approve(repo, clock, date(2025, 3, 3))
    repo.decide(rid(), OFFICER_B, approved, Decision.APPROVE, "ok")  # 270k + 20k ≤ 300k
    clock.set_date(date(2025, 3, 14))
    assert repo.de_minimis_room(bid).over_ceiling_cents == 0
    late = repo.record_aid(rid(), OFFICER_B, bid, date(2024, 9, 1), 51_666_67, "ELY 2")
    assert late.assessment.over_ceiling_cents == 41_666_67
    # The approval's window (2022-03-04..2025-03-03) and the late aid's own are over.
    assert [(b.aid.application_id, b.aid.granted_on, b.counted_cents, b.over_ceiling_cents)
            for b in late.breaches] == [
        (None, date(2024, 9, 1), 321_666_67, 21_666_67),
        (approved, date(2025, 3, 3), 341_666_67, 41_666_67)]
    answer = translate.aid_response(late, bid)
    assert (answer.over_ceiling_cents, answer.aid.counted) == (41_666_67, True)
    assert [(b.application, b.window_start, b.ceiling_cents, b.over_ceiling_cents)
            for b in answer.ceiling_breaches] == [
        ("", "2021-09-02", 300_000_00, 21_666_67),
        (f"applications/{approved}", "2022-03-04", 300_000_00, 41_666_67)]
    register = translate.de_minimis_register_response(*repo.de_minimis_register(bid))
    assert (register.counted_cents, register.room_cents, register.over_ceiling_cents) == \
        (341_666_67, 0, 41_666_67)
    assert list(register.ceiling_breaches) == list(answer.ceiling_breaches)
    with engine.connect() as conn:
        audit = conn.execute(select(t.beneficiary_audit.c.inputs).order_by(
            t.beneficiary_audit.c.seq.desc())).scalars().first()
    audit = audit if isinstance(audit, dict) else json.loads(audit)
    assert [b["counted_cents"] for b in audit["ceiling_breaches"]] == [321_666_67, 341_666_67]
    # Aid whose window holds none of the breaches is recorded without one.
    assert repo.record_aid(rid(), OFFICER_B, bid, date(2021, 1, 4), 1_00, "old").breaches \
        == ()
