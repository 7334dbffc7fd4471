"""A beneficiary's kind: a create request's declaration fixes nothing; an officer
confirms it (by approving, recording de minimis aid or correcting it) and approvals hold
later applications to it, so a company is never spared de minimis by declaring itself a
public unit, and a wrong first declaration never locks the company out."""

from __future__ import annotations

import dataclasses
import json
from datetime import date

import pytest
from sqlalchemy import Engine, select

from services.funding.ledger.model import (
    Actor,
    ApplicationState,
    Beneficiary,
    BeneficiaryKind,
    Decision,
    Role,
)
from services.funding.storage import tables as t
from services.funding.storage.repository import Repository
from services.shared.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from services.shared.grpc_errors import MAX_TEXT_BYTES
from tests.funding.storage.ledger_support import (
    APPLICANT,
    COMPANY,
    OFFICER_A,
    OFFICER_B,
    OFFICER_C,
    PUBLIC_UNIT,
    counts,
    grant_draft,
    guarantee_draft,
    rid,
    to_scored,
)

BID = COMPANY.business_id
AS_PUBLIC_UNIT = Beneficiary(BeneficiaryKind.PUBLIC_UNIT, BID, "Oy Esimerkki Ab")
AGENCY_X = Actor("agency-x", Role.APPLICANT)


def _as_public_unit(**terms: object):
    return dataclasses.replace(guarantee_draft(beneficiary=AS_PUBLIC_UNIT, **terms),
                               applicant_kind="contracting_authority")


def _approve(repo: Repository, app_id: int):
    return repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok")


def test_a_draft_fixes_no_kind_and_an_approval_confirms_it(
        repo: Repository, engine: Engine) -> None:
    """Reproduction r5: an agency's never-submitted draft declared the company a public
    unit; the officer's correct company application was then refused at create, and a
    public-unit guarantee for the company was approved without de minimis."""
    repo.create(rid(), AGENCY_X, _as_public_unit())
    company_app = to_scored(repo, guarantee_draft(beneficiary=COMPANY), owner=OFFICER_C)
    approved = _approve(repo, company_app)
    assert approved.gge_cents is not None and counts(engine)["de_minimis_aid"] == 1
    assert repo.beneficiary(BID).kind_confirmed_by == OFFICER_B.id
    # The company's own declaration outranks the draft's while none is confirmed.
    assert repo.audit_log(company_app)[-1].trace["beneficiary_kind"] == {
        "declared": "company", "registered": "company", "confirmed_by": "",
        "confirmed_now_by": OFFICER_B.id}
    # A later application declaring the company a public unit is not approved blind.
    unit_app = to_scored(repo, _as_public_unit(), owner=OFFICER_C)
    before = counts(engine)
    with pytest.raises(FailedPrecondition) as err:
        _approve(repo, unit_app)
    [violation] = [v for v in err.value.violations if v.type == "BENEFICIARY_KIND"]
    assert violation.subject == f"beneficiary/{BID}"
    assert violation.description == (
        f"applications/{unit_app} declares a public unit; the business ID is registered a "
        f"company (confirmed by {OFFICER_B.id}). Register wrong: ijh beneficiary set-kind, "
        "with the reason, then decide again. Application wrong: reject it and file it "
        "again with beneficiary_kind: company in its file")
    assert len(violation.description.encode()) <= MAX_TEXT_BYTES
    assert counts(engine) == before
    # Rejecting it stays possible.
    assert repo.decide(rid(), OFFICER_B, unit_app, Decision.REJECT, "a company").state \
        is ApplicationState.REJECTED


def test_recorded_aid_confirms_a_company(repo: Repository, engine: Engine) -> None:
    repo.create(rid(), AGENCY_X, guarantee_draft(beneficiary=COMPANY))  # declared only
    repo.record_aid(rid(), OFFICER_A, BID, date(2024, 5, 1), 1_000_00, "ELY 1")
    assert (repo.beneficiary(BID).kind, repo.beneficiary(BID).kind_confirmed_by) == \
        (BeneficiaryKind.COMPANY, OFFICER_A.id)
    unit_app = to_scored(repo, _as_public_unit(), owner=OFFICER_C)
    with pytest.raises(FailedPrecondition, match="BENEFICIARY_KIND"):
        _approve(repo, unit_app)


def test_an_officer_corrects_a_wrongly_confirmed_kind(repo: Repository,
                                                      engine: Engine) -> None:
    unit_app = to_scored(repo, _as_public_unit(), owner=OFFICER_C)
    _approve(repo, unit_app)  # wrongly confirmed a public unit
    company_app = to_scored(repo, guarantee_draft(beneficiary=COMPANY), owner=OFFICER_C)
    with pytest.raises(FailedPrecondition, match="BENEFICIARY_KIND"):
        _approve(repo, company_app)
    with pytest.raises(FailedPrecondition, match="BENEFICIARY_KIND"):  # no aid either
        repo.record_aid(rid(), OFFICER_A, BID, date(2024, 5, 1), 1_000_00, "ELY 1")
    before = counts(engine)
    corrected = repo.correct_kind(rid(), OFFICER_A, BID, BeneficiaryKind.COMPANY,
                                  "trade register: an Oy")
    assert (corrected.kind, corrected.previous_kind, corrected.kind_confirmed_by) == \
        (BeneficiaryKind.COMPANY, BeneficiaryKind.PUBLIC_UNIT, OFFICER_A.id)
    after = counts(engine)
    assert after["outbox"] == before["outbox"] + 1
    with engine.connect() as conn:
        audit = conn.execute(select(t.beneficiary_audit)).all()
        event = json.loads(conn.execute(select(t.outbox.c.envelope)
                                        .order_by(t.outbox.c.seq.desc())).scalars().first())
    assert [(a.action, a.actor_id, a.reason, a.inputs["previous_kind"]) for a in audit] == \
        [("correct_kind", OFFICER_A.id, "trade register: an Oy", "public_unit")]
    assert (event["type"], event["data"]["kind"], event["data"]["previous_kind"]) == \
        ("ijh.funding.beneficiary.kind_corrected", "company", "public_unit")
    approved = _approve(repo, company_app)
    # the first guarantee's GGE registered by the correction, this one's by its approval
    assert [r.application_id for r in repo.de_minimis_register(BID)[1]] == \
        [unit_app, company_app]
    assert approved.gge_cents is not None and counts(engine)["de_minimis_aid"] == 2


def test_refused_kind_corrections_write_nothing(repo: Repository, engine: Engine) -> None:
    before = counts(engine)
    with pytest.raises(PermissionDenied):
        repo.correct_kind(rid(), APPLICANT, BID, BeneficiaryKind.PUBLIC_UNIT, "we are public")
    with pytest.raises(InvalidArgument):
        repo.correct_kind(rid(), OFFICER_A, BID, BeneficiaryKind.COMPANY, "")
    with pytest.raises(InvalidArgument):
        repo.correct_kind(rid(), OFFICER_A, "1234567-0", BeneficiaryKind.COMPANY, "typo")
    assert counts(engine) == before
    # A business ID new to the ledger is registered with the kind the officer sets.
    new = repo.correct_kind(rid(), OFFICER_A, BID, BeneficiaryKind.COMPANY, "trade register")
    assert new.previous_kind is None and repo.beneficiary(BID).kind_confirmed_by == OFFICER_A.id


def test_a_public_unit_approval_waits_for_an_officer_when_it_was_declared_a_company(
        repo: Repository, engine: Engine) -> None:
    """Review r12/p1: the company's own draft declared it a company (unconfirmed); an
    agency's application declaring it a public unit was approved without de minimis, the
    kind flipped and the company's own application was refused. Now the declarations
    conflict until an officer confirms the kind, whichever was filed first."""
    unit_app = to_scored(repo, _as_public_unit(), owner=AGENCY_X)  # first: public unit
    company_app = to_scored(repo, guarantee_draft(beneficiary=COMPANY), owner=APPLICANT)
    before = counts(engine)
    with pytest.raises(FailedPrecondition, match="ijh beneficiary set-kind") as refused:
        _approve(repo, unit_app)
    assert [v.type for v in refused.value.violations] == ["BENEFICIARY_KIND"]
    [v] = refused.value.violations
    assert v.description == (
        f"applications/{unit_app} declares a public unit; the business ID was declared a "
        "company (by another application or recorded aid) and no officer has confirmed "
        "which: an officer sets its kind (ijh beneficiary set-kind, with the reason), then "
        "the application is decided again")
    assert counts(engine) == before
    assert _approve(repo, company_app).gge_cents is not None
    assert counts(engine)["de_minimis_aid"] == 1
    with pytest.raises(FailedPrecondition, match="BENEFICIARY_KIND"):
        _approve(repo, unit_app)  # now confirmed a company by that approval


def test_correcting_to_a_company_registers_the_aid_it_was_granted_as_a_public_unit(
        repo: Repository, engine: Engine) -> None:
    """Review r12/p10: a guarantee approved while the business ID was held a public unit
    wrote no register row; correcting the kind to company left the full ceiling, and a
    second guarantee took the company above it. Its GGE is now registered, on the day it
    was approved, with the correction's audit."""
    unit_app = to_scored(repo, _as_public_unit(amount_cents=10_000_000_00), owner=AGENCY_X)
    first = _approve(repo, unit_app)
    assert counts(engine)["de_minimis_aid"] == 0 and first.gge_cents > 0
    repo.correct_kind(rid(), OFFICER_A, BID, BeneficiaryKind.COMPANY, "an Oy after all")
    room = repo.de_minimis_room(BID)
    assert room.counted_cents == first.gge_cents
    _assessment, rows, _rules, _breaches = repo.de_minimis_register(BID)
    assert [(r.application_id, r.granted_on, r.amount_cents) for r in rows] == \
        [(unit_app, first.aid_granted_on, first.gge_cents)]
    with engine.connect() as conn:
        audit = conn.execute(select(t.beneficiary_audit.c.inputs).where(
            t.beneficiary_audit.c.action == "correct_kind")).scalar_one()
    inputs = audit if isinstance(audit, dict) else json.loads(audit)
    assert [r["application_id"] for r in inputs["aid_registered"]] == [unit_app]
    second = to_scored(repo, guarantee_draft(beneficiary=COMPANY, amount_cents=4_000_000_00),
                       owner=AGENCY_X)
    with pytest.raises(FailedPrecondition, match="DE_MINIMIS"):
        _approve(repo, second)
    # correcting to company again registers nothing twice
    repo.correct_kind(rid(), OFFICER_C, BID, BeneficiaryKind.COMPANY, "confirmed again")
    assert repo.de_minimis_room(BID).counted_cents == first.gge_cents


def test_a_company_with_aid_in_its_register_is_not_made_a_public_unit(
        repo: Repository, engine: Engine) -> None:
    """Review r12/p7: an officer recorded aid (a company), set the kind to public unit and
    approved a public-unit guarantee: no de minimis although the register held aid."""
    aid = repo.record_aid(rid(), OFFICER_A, BID, date(2025, 1, 10), 290_000_00, "ELY").aid
    before = counts(engine)
    with pytest.raises(FailedPrecondition, match="AID_RECORDED") as refused:
        repo.correct_kind(rid(), OFFICER_A, BID, BeneficiaryKind.PUBLIC_UNIT, "municipal")
    assert f"aid {aid.id} was recorded from a declaration" in str(refused.value)
    assert "reverse it first (ijh deminimis correct)" in str(refused.value)
    assert counts(engine) == before
    repo.correct_aid(rid(), OFFICER_A, BID, aid.id, "declared in error")
    assert repo.correct_kind(rid(), OFFICER_A, BID, BeneficiaryKind.PUBLIC_UNIT,
                             "municipal").kind is BeneficiaryKind.PUBLIC_UNIT


def test_the_officer_who_corrected_the_register_does_not_approve_alone(
        repo: Repository, engine: Engine) -> None:
    """Review r12/p13: officer A's approval was refused DE_MINIMIS; A reversed the
    declared aid himself and approved. With four eyes, an officer who corrected the
    business ID's register while the application was open does not also approve it."""
    aid = repo.record_aid(rid(), OFFICER_C, BID, date(2025, 1, 10), 290_000_00, "ELY").aid
    app_id = to_scored(repo, guarantee_draft(beneficiary=COMPANY, amount_cents=4_000_000_00),
                       owner=AGENCY_X, scorers=(OFFICER_B,))
    with pytest.raises(FailedPrecondition, match="DE_MINIMIS"):
        repo.decide(rid(), OFFICER_A, app_id, Decision.APPROVE, "ok")
    repo.correct_aid(rid(), OFFICER_A, BID, aid.id, "typo")
    before = counts(engine)
    with pytest.raises(FailedPrecondition, match="another officer decides") as refused:
        repo.decide(rid(), OFFICER_A, app_id, Decision.APPROVE, "ok")
    assert [v.type for v in refused.value.violations] == ["FOUR_EYES"]
    assert counts(engine) == before
    approved = repo.decide(rid(), OFFICER_C, app_id, Decision.APPROVE, "ok")
    assert approved.state is ApplicationState.APPROVED


def test_a_wrong_correction_to_company_is_undone_by_setting_the_kind_back(
        repo: Repository, engine: Engine) -> None:
    """Review h10/1: a public unit with an approved IJH grant was set to company by
    mistake; that registered the grant as de minimis aid, and then setting it back was
    refused AID_RECORDED, the row could not be corrected (AID_FROM_APPLICATION) and every
    later application of the public unit was refused BENEFICIARY_KIND. Setting the kind
    back now reverses the rows the correction to company wrote, in the same transaction,
    and both answers list the rows written."""
    unit = PUBLIC_UNIT.business_id
    granted = to_scored(repo, grant_draft(), owner=AGENCY_X)
    approved = _approve(repo, granted)
    assert counts(engine)["de_minimis_aid"] == 0
    wrong = repo.correct_kind(rid(), OFFICER_A, unit, BeneficiaryKind.COMPANY, "typo")
    [row] = wrong.aid_written
    assert (row.application_id, row.amount_cents, row.granted_on, row.counts) == \
        (granted, approved.grant_cents, approved.aid_granted_on, True)
    with pytest.raises(FailedPrecondition) as refused:  # the row follows the kind
        repo.correct_aid(rid(), OFFICER_A, unit, row.id, "not aid")
    [v] = refused.value.violations
    assert v.type == "AID_FROM_APPLICATION" and "ijh beneficiary set-kind" in v.description
    before = counts(engine)
    back = repo.correct_kind(rid(), OFFICER_C, unit, BeneficiaryKind.PUBLIC_UNIT,
                             "a municipality: set to company by mistake")
    [reversal] = back.aid_written
    assert (back.kind, back.previous_kind, reversal.reverses_id, reversal.amount_cents,
            reversal.reason, reversal.recorded_by) == (
        BeneficiaryKind.PUBLIC_UNIT, BeneficiaryKind.COMPANY, row.id, row.amount_cents,
        "a municipality: set to company by mistake", OFFICER_C.id)
    after = counts(engine)
    assert {k: after[k] - before[k] for k in after} == {
        **{k: 0 for k in after}, "de_minimis_aid": 1, "beneficiary_audit": 1, "outbox": 1,
        "requests": 1}
    assessment, rows, _rules, _breaches = repo.de_minimis_register(unit)
    assert [(r.id, r.counts) for r in rows] == [(row.id, False), (reversal.id, False)]
    assert assessment.counted_cents == 0
    with engine.connect() as conn:
        audit = conn.execute(select(t.beneficiary_audit.c.inputs).order_by(
            t.beneficiary_audit.c.seq.desc())).scalars().first()
        event = json.loads(conn.execute(select(t.outbox.c.envelope)
                                        .order_by(t.outbox.c.seq.desc())).scalars().first())
    audit = audit if isinstance(audit, dict) else json.loads(audit)
    assert [a["reverses_id"] for a in audit["aid_reversed"]] == [row.id]
    assert event["data"]["aid_ids"] == [str(reversal.id)]
    # The public unit's next application is decided as before the mistake.
    later = to_scored(repo, grant_draft(), owner=AGENCY_X)
    assert _approve(repo, later).state is ApplicationState.APPROVED
    assert counts(engine)["de_minimis_aid"] == after["de_minimis_aid"]
    # A retried request answers as the first did.
    request_id = rid()
    again = repo.correct_kind(request_id, OFFICER_A, unit, BeneficiaryKind.COMPANY, "really")
    assert [r.application_id for r in again.aid_written] == [granted, later]
    assert repo.correct_kind(request_id, OFFICER_A, unit, BeneficiaryKind.COMPANY,
                             "really") == again


def test_setting_the_kind_back_keeps_aid_a_company_was_granted_as_one(
        repo: Repository, engine: Engine) -> None:
    """Only the rows a correction to company wrote are its consequence: aid approved for
    the business ID as a company, or declared, still refuses a public unit (and writes
    nothing)."""
    unit_app = to_scored(repo, _as_public_unit(), owner=AGENCY_X)
    repo.correct_kind(rid(), OFFICER_A, BID, BeneficiaryKind.PUBLIC_UNIT, "municipal")
    _approve(repo, unit_app)
    repo.correct_kind(rid(), OFFICER_A, BID, BeneficiaryKind.COMPANY, "an Oy")
    company_app = to_scored(repo, guarantee_draft(beneficiary=COMPANY), owner=AGENCY_X)
    repo.decide(rid(), OFFICER_C, company_app, Decision.APPROVE, "ok")
    before = counts(engine)
    with pytest.raises(FailedPrecondition) as refused:
        repo.correct_kind(rid(), OFFICER_A, BID, BeneficiaryKind.PUBLIC_UNIT, "municipal")
    [v] = refused.value.violations
    assert v.type == "AID_RECORDED"
    assert f"applications/{company_app} granted aid to it as a company" in v.description
    assert f"applications/{unit_app}" not in v.description
    assert counts(engine) == before


@pytest.mark.parametrize("confirmed", [False, True], ids=["declared", "confirmed"])
def test_recording_aid_does_not_make_a_public_unit_a_company(
        repo: Repository, engine: Engine, confirmed: bool) -> None:
    """Review h10/2: aid recorded for a business ID an application declared a public unit
    (a typo in the business ID sufficed) silently made it a confirmed company, with no
    reason on record. It is refused, saying what to do: the kind is corrected first."""
    unit_app = to_scored(repo, _as_public_unit(), owner=AGENCY_X)
    if confirmed:
        _approve(repo, unit_app)
    before = counts(engine)
    with pytest.raises(FailedPrecondition) as refused:
        repo.record_aid(rid(), OFFICER_A, BID, date(2024, 5, 1), 1_000_00, "ELY 1")
    [v] = refused.value.violations
    assert (v.type, v.subject) == ("BENEFICIARY_KIND", f"beneficiary/{BID}")
    assert ("registered a public unit (confirmed by officer-b)" if confirmed
            else "declared a public unit by an application") in v.description
    assert "set its kind first (ijh beneficiary set-kind, with the reason)" in v.description
    assert len(v.description.encode()) <= MAX_TEXT_BYTES
    assert counts(engine) == before
    assert (repo.beneficiary(BID).kind, repo.beneficiary(BID).kind_confirmed_by) == \
        (BeneficiaryKind.PUBLIC_UNIT, OFFICER_B.id if confirmed else "")
    repo.correct_kind(rid(), OFFICER_A, BID, BeneficiaryKind.COMPANY, "trade register: an Oy")
    assert repo.record_aid(rid(), OFFICER_A, BID, date(2024, 5, 1), 1_000_00, "ELY 1").aid.counts
