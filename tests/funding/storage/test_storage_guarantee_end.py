"""How a guarantee ends: a claim is paid by an officer who neither created nor activated
it (two people, as for decisions), and expiry waits for the end of its term, counted
from the stored activation date."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, insert, select

from services.funding.ledger.lifecycle import term_end
from services.funding.ledger.model import Actor, ApplicationState, Decision, Role
from services.funding.storage import migrate
from services.funding.storage import tables as t
from services.funding.storage.repository import Repository
from services.shared.errors import FailedPrecondition
from tests.funding.storage.ledger_support import (
    OFFICER_A,
    OFFICER_B,
    OFFICER_C,
    PUBLIC_UNIT,
    Clock,
    counts,
    guarantee_draft,
    rid,
    to_scored,
)

SYSTEM = Actor("scheduler", Role.SYSTEM)


def _active(repo: Repository, *, creator: Actor, activator: Actor, term_months: int = 60
            ) -> int:
    app_id = to_scored(repo, guarantee_draft(beneficiary=PUBLIC_UNIT, term_months=term_months),
                       owner=creator, scorers=(OFFICER_B,))
    repo.decide(rid(), OFFICER_C, app_id, Decision.APPROVE, "ok")
    repo.activate(rid(), activator, app_id)
    return app_id


def test_no_officer_pays_out_a_guarantee_alone(repo: Repository, engine: Engine) -> None:
    """Reproduction r1: officer A created the guarantee, activated it and paid its whole
    exposure alone."""
    app_id = _active(repo, creator=OFFICER_A, activator=OFFICER_A)
    exposure = repo.get(app_id).exposure_cents
    before = counts(engine)
    with pytest.raises(FailedPrecondition) as err:
        repo.claim(rid(), OFFICER_A, app_id, exposure, "default")
    [violation] = err.value.violations
    assert (violation.type, violation.subject) == ("FOUR_EYES", f"applications/{app_id}")
    assert violation.description == (
        "officer-a created and activated this guarantee and may not also pay its claim: "
        "another officer, who neither created nor activated it, records the claim")
    assert counts(engine) == before
    assert repo.claim(rid(), OFFICER_B, app_id, exposure, "default").state \
        is ApplicationState.CLAIMED


def test_the_activating_officer_does_not_pay_the_claim(repo: Repository,
                                                       engine: Engine) -> None:
    app_id = _active(repo, creator=OFFICER_A, activator=OFFICER_B)
    before = counts(engine)
    with pytest.raises(FailedPrecondition, match="officer-b activated this guarantee"):
        repo.claim(rid(), OFFICER_B, app_id, 1_00, "default")
    assert counts(engine) == before
    assert repo.claim(rid(), OFFICER_C, app_id, 1_00, "default").state \
        is ApplicationState.CLAIMED


def test_without_the_two_person_rule_one_officer_may_claim(
        repo: Repository, rules_box: dict[str, object]) -> None:
    rules_box["four_eyes_required"] = False
    app_id = _active(repo, creator=OFFICER_A, activator=OFFICER_A)
    assert repo.claim(rid(), OFFICER_A, app_id, 1_00, "default").state \
        is ApplicationState.CLAIMED


def test_a_guarantee_expires_only_when_its_term_has_run(
        repo: Repository, engine: Engine, clock: Clock) -> None:
    """Reproduction r13: a 60-month guarantee was expired on its second day, releasing
    its exposure and refusing the beneficiary's claim within the term."""
    app_id = _active(repo, creator=OFFICER_A, activator=OFFICER_B)
    with engine.connect() as conn:
        assert conn.execute(select(t.applications.c.activated_on)
                            .where(t.applications.c.id == app_id)).scalar_one() \
            == date(2025, 3, 14)
    clock.set_date(date(2025, 3, 15))
    before = counts(engine)
    for actor in (OFFICER_A, SYSTEM):
        with pytest.raises(FailedPrecondition) as err:
            repo.expire(rid(), actor, app_id, "term ended")
        [violation] = err.value.violations
        assert violation.type == "TERM_NOT_ENDED"
        assert violation.description.endswith(
            "runs from 2025-03-14 to 2030-03-14: it may be expired from 2030-03-14; a "
            "default within the term is paid as a claim")  # no API method named (h10/6)
    assert counts(engine) == before
    clock.set_date(date(2030, 3, 13))
    with pytest.raises(FailedPrecondition, match="TERM_NOT_ENDED"):
        repo.expire(rid(), SYSTEM, app_id)
    clock.set_date(date(2030, 3, 14))
    assert repo.expire(rid(), SYSTEM, app_id).state is ApplicationState.EXPIRED


@pytest.mark.parametrize(("start", "months", "end"), [
    (date(2025, 3, 14), 60, date(2030, 3, 14)),
    (date(2024, 1, 31), 1, date(2024, 2, 29)),
    (date(2023, 12, 31), 2, date(2024, 2, 29)),
    (date(2025, 11, 30), 3, date(2026, 2, 28)),
    (date(2025, 1, 1), 360, date(2055, 1, 1)),
])
def test_term_end(start: date, months: int, end: date) -> None:
    assert term_end(start, months) == end


def test_guarantees_activated_before_the_migration_get_their_activation_date(
        empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine, "0006_beneficiary_kind_confirmed")
    at = datetime(2025, 3, 14, 22, 30, tzinfo=UTC)  # 15 March in Helsinki
    draft = guarantee_draft(beneficiary=PUBLIC_UNIT)
    with empty_engine.begin() as conn:
        conn.execute(insert(t.beneficiaries).values(
            business_id=PUBLIC_UNIT.business_id, kind="public_unit", created_at=at))
        conn.execute(insert(t.applications).values(
            id=1, kind="guarantee", state="active", title="g", owner_id="a",
            business_id=PUBLIC_UNIT.business_id, beneficiary_kind="public_unit",
            sector="health", branch="STM", cost_lines=[], term_months=60,
            amount_cents=draft.guarantee.amount_cents, created_at=at, updated_at=at))
        conn.execute(insert(t.audit_log.c.application_id.table).values(
            application_id=1, action="activate", from_state="approved", to_state="active",
            actor_id="officer-b", actor_role="officer", at=at, request_id="r", inputs={},
            trace={}))
    migrate.upgrade(empty_engine)
    with empty_engine.connect() as conn:
        assert conn.execute(select(t.applications.c.activated_on)).scalar_one() == \
            date(2025, 3, 15)


def test_an_officer_reads_when_a_guarantee_was_activated_and_when_its_term_ends(
        repo: Repository) -> None:
    """The API's Application carries activated_on and term_ends_on (the first day
    ExpireGuarantee is accepted), read back from the ledger and from a retried request."""
    from services.funding import translate
    app_id = to_scored(repo, guarantee_draft(beneficiary=PUBLIC_UNIT, term_months=11),
                       owner=OFFICER_A, scorers=(OFFICER_B,))
    approved = repo.decide(rid(), OFFICER_C, app_id, Decision.APPROVE, "ok")
    assert (translate.application(approved).activated_on,
            translate.application(approved).term_ends_on) == ("", "")
    request = rid()
    active = repo.activate(request, OFFICER_B, app_id)
    for app in (active, repo.get(app_id), repo.activate(request, OFFICER_B, app_id)):
        message = translate.application(app)
        assert (message.activated_on, message.term_ends_on) == ("2025-03-14", "2026-02-14")
