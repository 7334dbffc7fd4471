"""The fund keeps working after the de minimis parameters' validity ends (2030-12-31):
only an approval of aid to a company needs them, and it is refused with a clear
FailedPrecondition instead of every fund operation failing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine

from services.funding.ledger.fund_rules import fund_rules_on
from services.funding.ledger.model import ApplicationState, Decision
from services.funding.storage.repository import Repository
from services.shared.errors import FailedPrecondition
from tests.funding.storage.ledger_support import (
    APPLICANT,
    COMPANY,
    OFFICER_A,
    OFFICER_B,
    PUBLIC_UNIT,
    Clock,
    counts,
    grant_draft,
    guarantee_draft,
    rid,
    to_scored,
)

LAST_DAY = date(2030, 12, 31)   # valid_until of every de_minimis.* value in force
DAY_AFTER = LAST_DAY + timedelta(days=1)
S = ApplicationState


def test_the_parameters_end_where_this_test_assumes() -> None:
    assert fund_rules_on(LAST_DAY).de_minimis_rules is not None
    assert fund_rules_on(DAY_AFTER).de_minimis_rules is None


def _approved(repo: Repository, draft) -> int:  # type: ignore[no-untyped-def]
    app_id = to_scored(repo, draft)
    repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok")
    return app_id


def test_fund_operations_work_on_the_day_after_the_de_minimis_parameters_end(
        repo: Repository, engine: Engine, clock: Clock) -> None:
    clock.set_date(date(2030, 6, 1))
    to_claim = _approved(repo, guarantee_draft(term_months=120))
    to_expire = _approved(repo, guarantee_draft(term_months=6))
    to_activate = _approved(repo, guarantee_draft(beneficiary=PUBLIC_UNIT))
    repo.activate(rid(), OFFICER_A, to_claim)
    repo.activate(rid(), OFFICER_B, to_expire)  # 6 months: may expire from 2030-12-01
    pending_public = to_scored(repo, guarantee_draft(beneficiary=PUBLIC_UNIT))

    clock.set_date(DAY_AFTER)
    status, _, _ = repo.fund_position()
    assert status.committed_cents == 3 * 500_000_00
    _, sectors, branches = repo.exposure_position()
    assert [e.key for e in sectors] == ["health"]
    assert [e.key for e in branches] == ["STM"]
    assert repo.activate(rid(), OFFICER_B, to_activate).state is S.ACTIVE
    assert repo.claim(rid(), OFFICER_B, to_claim, 1_000_00, "default").state is S.CLAIMED
    assert repo.expire(rid(), OFFICER_B, to_expire).state is S.EXPIRED
    submitted = repo.submit(rid(), APPLICANT, repo.create(
        rid(), APPLICANT, guarantee_draft()).id)
    assert submitted.state is S.SUBMITTED
    # A public unit's guarantee needs no de minimis assessment: approved, GGE not computed.
    public = repo.decide(rid(), OFFICER_B, pending_public, Decision.APPROVE, "ok")
    assert public.state is S.APPROVED and public.gge_cents is None
    # Claimed and expired no longer count; the active and the new approval do.
    assert repo.fund_position()[0].committed_cents == 2 * 500_000_00


@pytest.mark.parametrize("draft", [guarantee_draft(), grant_draft(beneficiary=COMPANY)],
                         ids=["guarantee", "ijh_grant"])
def test_approving_aid_to_a_company_after_the_parameters_end_is_refused_clearly(
        repo: Repository, engine: Engine, clock: Clock, draft) -> None:  # type: ignore[no-untyped-def]
    clock.set_date(DAY_AFTER)
    app_id = to_scored(repo, draft)
    before = counts(engine)
    with pytest.raises(FailedPrecondition) as failure:
        repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok")
    codes = [v.type for v in failure.value.violations]
    assert codes[0] == "DE_MINIMIS_RULES_NOT_IN_FORCE"
    assert "PARAMETER_NOT_IN_FORCE" in codes
    assert "2031-01-01" in str(failure.value) and "de_minimis.ceiling" in str(failure.value)
    assert counts(engine) == before
    assert repo.get(app_id).state is S.SCORED
    # Rejecting needs no de minimis rules.
    assert repo.decide(rid(), OFFICER_B, app_id, Decision.REJECT, "no").state is S.REJECTED


def test_aid_is_recorded_after_the_parameters_end_without_an_assessment(
        repo: Repository, clock: Clock) -> None:
    """Recording declared aid needs no de minimis rules: the answer then assesses
    nothing (and shows no row counted against a ceiling none sets)."""
    from services.funding import translate
    clock.set_date(DAY_AFTER)
    recorded = repo.record_aid(rid(), OFFICER_A, COMPANY.business_id, LAST_DAY, 1_000_00,
                               "ELY 1")
    assert recorded.assessment is None and recorded.aid.counts
    assert not translate.aid_response(recorded, COMPANY.business_id).aid.counted
