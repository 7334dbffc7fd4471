"""The de minimis register: aid dated after today or beyond any amount is refused, a
wrong entry is corrected by a reversing row (with officer, reason, audit row and event in
one transaction), the register is append-only in the database, and officers read it with
the room left under the ceiling."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError

from services.funding.ledger.model import Actor, Decision, Role
from services.funding.storage import tables as t
from services.funding.storage.repository import Repository
from services.shared.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from services.shared.money import MAX_CENTS
from tests.funding.storage.ledger_support import (
    APPLICANT,
    COMPANY,
    OFFICER_A,
    OFFICER_B,
    Clock,
    counts,
    guarantee_draft,
    rid,
    to_scored,
)

BID = COMPANY.business_id
API_METHOD = re.compile(r"\b(Record|Correct|Get|Decide|Submit|Create|Activate|Expire)[A-Z]")


def _fields(err: pytest.ExceptionInfo) -> set[str]:
    return {v.field for v in err.value.violations}


def _audit(engine: Engine) -> list[tuple[str, str, str, str]]:
    with engine.connect() as conn:
        return [(r.business_id, r.action, r.actor_id, r.reason) for r in conn.execute(
            select(t.beneficiary_audit).order_by(t.beneficiary_audit.c.seq))]


def _events(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        return [json.loads(r.envelope) for r in conn.execute(
            select(t.outbox.c.envelope).order_by(t.outbox.c.seq))]


def test_aid_granted_after_today_is_refused_and_writes_nothing(
        repo: Repository, engine: Engine, clock: Clock) -> None:
    """A typo of 2052 for 2025 put the aid outside every window: a €250 000 declaration
    then counted for nothing and a guarantee above the ceiling was approved."""
    before = counts(engine)
    with pytest.raises(InvalidArgument) as err:
        repo.record_aid(rid(), OFFICER_A, BID, date(2052, 2, 3), 250_000_00, "ELY 123/2025")
    assert _fields(err) == {"granted_on"}
    assert "2052-02-03 is after today (2025-03-14, Helsinki)" in \
        err.value.violations[0].description
    assert counts(engine) == before
    # Today is the Helsinki date: 22:30 UTC on 14 March is 15 March there.
    clock.now = datetime(2025, 3, 14, 22, 30, tzinfo=UTC)
    repo.record_aid(rid(), OFFICER_A, BID, date(2025, 3, 15), 1_00, "granted today")
    with pytest.raises(InvalidArgument):
        repo.record_aid(rid(), OFFICER_A, BID, date(2025, 3, 16), 1_00, "tomorrow")


@pytest.mark.parametrize("amount", [MAX_CENTS + 1, 9_000_000_000_000_000_000, 0, -5])
def test_amounts_are_bounded(repo: Repository, engine: Engine, amount: int) -> None:
    before = counts(engine)
    with pytest.raises(InvalidArgument) as err:
        repo.record_aid(rid(), OFFICER_A, BID, date(2025, 2, 3), amount, "ELY 123/2025")
    assert _fields(err) == {"amount_cents"}
    assert counts(engine) == before


def test_a_correction_reverses_the_row_with_its_audit_and_event(
        repo: Repository, engine: Engine) -> None:
    wrong = repo.record_aid(rid(), OFFICER_A, BID, date(2024, 2, 3), 250_000_00, "ELY 1").aid
    assert repo.de_minimis_room(BID).room_cents == 50_000_00
    before = counts(engine)
    correction = repo.correct_aid(rid(), OFFICER_B, BID, wrong.id, "declared in €, not cents")
    assert (correction.reverses_id, correction.amount_cents, correction.recorded_by,
            correction.reason) == (wrong.id, 250_000_00, OFFICER_B.id,
                                   "declared in €, not cents")
    after = counts(engine)
    assert (after["de_minimis_aid"], after["outbox"]) == \
        (before["de_minimis_aid"] + 1, before["outbox"] + 1)
    assert repo.de_minimis_room(BID).room_cents == 300_000_00
    assessment, rows, _rules, _breaches = repo.de_minimis_register(BID)
    assert [(r.id, r.reversed_by_id, r.reverses_id, r.counts) for r in rows] == \
        [(wrong.id, correction.id, None, False), (correction.id, None, wrong.id, False)]
    assert (assessment.counted_cents, assessment.room_cents, assessment.grant_date) == \
        (0, 300_000_00, date(2025, 3, 14))
    assert _audit(engine) == [(BID, "record_aid", OFFICER_A.id, ""),
                              (BID, "correct_aid", OFFICER_B.id, "declared in €, not cents")]
    event = _events(engine)[-1]
    assert (event["type"], event["subject"]) == \
        ("ijh.funding.de_minimis.aid_corrected", f"beneficiaries/{BID}")
    assert (event["data"]["aid_id"], event["data"]["reverses_aid_id"], event["data"]["reason"]) \
        == (str(correction.id), str(wrong.id), "declared in €, not cents")
    # the right aid is then recorded anew
    repo.record_aid(rid(), OFFICER_B, BID, date(2024, 2, 3), 2_500_00, "ELY 1")
    assert repo.de_minimis_room(BID).counted_cents == 2_500_00


def test_corrections_that_cannot_be_made_write_nothing(
        repo: Repository, engine: Engine) -> None:
    aid = repo.record_aid(rid(), OFFICER_A, BID, date(2024, 2, 3), 10_000_00, "ELY 1").aid
    correction = repo.correct_aid(rid(), OFFICER_A, BID, aid.id, "wrong company")
    app_id = to_scored(repo, guarantee_draft())
    repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok")
    granted = repo.de_minimis_register(BID)[1][-1]
    assert granted.application_id == app_id
    before = counts(engine)
    cases = [(aid.id, "AID_ALREADY_CORRECTED", "ijh deminimis record"),
             (correction.id, "AID_IS_A_CORRECTION", "ijh deminimis record"),
             (granted.id, "AID_FROM_APPLICATION", "counts as long as that decision stands")]
    for aid_id, violation, advice in cases:
        with pytest.raises(FailedPrecondition) as err:
            repo.correct_aid(rid(), OFFICER_A, BID, aid_id, "again")
        assert [v.type for v in err.value.violations] == [violation]
        # Advice in an officer's words: the ijh command, never an API method (h10/6).
        [v] = err.value.violations
        assert advice in v.description and not API_METHOD.search(v.description)
    with pytest.raises(NotFound):
        repo.correct_aid(rid(), OFFICER_A, BID, 10_000, "no such row")
    with pytest.raises(NotFound):  # another company's row is not this one's
        repo.correct_aid(rid(), OFFICER_A, "0201256-6", aid.id, "wrong business")
    with pytest.raises(InvalidArgument):
        repo.correct_aid(rid(), OFFICER_A, BID, aid.id, " ")
    with pytest.raises(PermissionDenied):
        repo.correct_aid(rid(), APPLICANT, BID, aid.id, "mine")
    with pytest.raises(PermissionDenied):
        repo.correct_aid(rid(), Actor("svc", Role.SYSTEM), BID, aid.id, "system")
    assert counts(engine) == before


def test_a_retried_correction_returns_the_first(repo: Repository, engine: Engine) -> None:
    aid = repo.record_aid(rid(), OFFICER_A, BID, date(2024, 2, 3), 10_000_00, "ELY 1").aid
    request_id = rid()
    first = repo.correct_aid(request_id, OFFICER_A, BID, aid.id, "duplicate declaration")
    before = counts(engine)
    assert repo.correct_aid(request_id, OFFICER_A, BID, aid.id,
                            "duplicate declaration") == first
    assert counts(engine) == before


def test_the_register_is_append_only_in_the_database(repo: Repository,
                                                     engine: Engine) -> None:
    repo.record_aid(rid(), OFFICER_A, BID, date(2024, 2, 3), 10_000_00, "ELY 1")
    for statement in ("UPDATE de_minimis_aid SET granted_on = '2052-02-03'",
                      "DELETE FROM de_minimis_aid",
                      "UPDATE beneficiary_audit SET reason = 'rewritten'",
                      "DELETE FROM beneficiary_audit"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    assert repo.de_minimis_room(BID).counted_cents == 10_000_00


def test_a_downgrade_below_the_register_refuses_to_turn_corrections_into_aid(
        repo: Repository, engine: Engine) -> None:
    """Review r12/p2: downgrading 0005 dropped the correction columns and the beneficiary
    audit, so a corrected row and its reversal both counted as aid for good."""
    from services.funding.storage import migrate
    wrong = repo.record_aid(rid(), OFFICER_A, BID, date(2025, 1, 10), 100_000_00, "typo").aid
    repo.correct_aid(rid(), OFFICER_A, BID, wrong.id, "amount was 1 000")
    with pytest.raises(RuntimeError, match="would be lost"):
        migrate.downgrade(engine, "0004_aid_recorded_by")
    assert migrate.current_revision(engine) == migrate.head_revision(engine)
    assert repo.de_minimis_room(BID).counted_cents == 0
    assert counts(engine)["beneficiary_audit"] == 2


def test_the_record_answer_and_the_register_agree_on_what_counts(
        repo: Repository, engine: Engine) -> None:
    """Review h10/4: aid granted before the rolling window was answered `counted: yes` by
    RecordDeMinimisAid (the row was not corrected) while GetDeMinimisRegister said no.
    Both answers now take "counted" from the one assessment of the day."""
    from services.funding import translate
    old = repo.record_aid(rid(), OFFICER_A, BID, date(2021, 6, 1), 90_000_00, "ELY 2021")
    recent = repo.record_aid(rid(), OFFICER_A, BID, date(2024, 6, 1), 10_000_00, "ELY 2024")
    assert (old.assessment.window_start, old.assessment.counted_cents) == \
        (date(2022, 3, 15), 0)
    assert recent.assessment.counted_cents == 10_000_00
    answers = [translate.aid_response(r, BID).aid.counted for r in (old, recent)]
    register = translate.de_minimis_register_response(*repo.de_minimis_register(BID))
    assert answers == [a.counted for a in register.aid] == [False, True]
