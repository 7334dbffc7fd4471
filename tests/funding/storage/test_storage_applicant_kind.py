"""A company cannot skip the de minimis check by leaving the applicant kind unset: a
create request that says neither the beneficiary kind nor an applicant kind that implies
it is refused (never taken as a public unit), and a kind that contradicts the one the
business ID is registered with stays refused."""

from __future__ import annotations

import pytest
from ijh.funding.v1 import funding_pb2 as f
from sqlalchemy import Engine

from services.funding import translate
from services.funding.ledger.model import BeneficiaryKind, Decision
from services.funding.storage.repository import Repository
from services.shared.errors import FailedPrecondition, InvalidArgument
from tests.funding.storage.ledger_support import (
    APPLICANT,
    COMPANY,
    OFFICER_B,
    counts,
    rid,
    to_scored,
)


def _request(kind: str | None, beneficiary_kind: int = 0,
             amount_cents: int = 9_000_000_00) -> f.CreateApplicationRequest:
    applicant = f.Applicant(business_id=COMPANY.business_id, name="Oy Pilotti Ab")
    if kind is not None:
        applicant.kind = kind
    return f.CreateApplicationRequest(
        request_id=rid(), kind=f.APPLICATION_KIND_GUARANTEE, title="pilot", sector="energy",
        branch="TEM", applicant=applicant, beneficiary_kind=beneficiary_kind,
        guarantee=f.GuaranteeTerms(amount_cents=amount_cents, guarantee_rate="0.5",
                                   cap_cents=amount_cents // 2, fee_rate="0",
                                   term_months=60))


def _create(repo: Repository, request: f.CreateApplicationRequest):
    try:
        return repo.create(request.request_id, APPLICANT, translate.draft(request))
    except InvalidArgument as exc:
        raise translate.create_error(exc) from None


@pytest.mark.parametrize("kind", [None, "", "other", "research_organisation"])
def test_an_unset_or_undeciding_applicant_kind_is_refused(repo: Repository, engine: Engine,
                                                          kind: str | None) -> None:
    before = counts(engine)
    with pytest.raises(InvalidArgument) as failure:
        _create(repo, _request(kind))
    assert [v.field for v in failure.value.violations] == ["applicant.kind"]
    assert "never taken as a public unit" in str(failure.value)
    assert counts(engine) == before


def test_a_company_is_checked_against_de_minimis(repo: Repository) -> None:
    # EUR 4.5 M guaranteed for 5 years: a GGE far above the EUR 300 000 ceiling.
    app = _create(repo, _request("company"))
    assert app.beneficiary.kind is BeneficiaryKind.COMPANY
    app_id = to_scored(repo, translate.draft(_request("company")))
    with pytest.raises(FailedPrecondition, match="DE_MINIMIS"):
        repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok")


def test_a_company_applicant_declared_a_public_unit_is_refused(repo: Repository) -> None:
    # Refused before any lookup (a kind contradicting the registered one is refused at
    # approval: test_storage_beneficiary_kind.py).
    with pytest.raises(InvalidArgument) as failure:
        _create(repo, _request("company", f.BENEFICIARY_KIND_PUBLIC_UNIT))
    assert [v.field for v in failure.value.violations] == ["beneficiary_kind"]


def test_an_explicit_beneficiary_kind_needs_no_applicant_kind(repo: Repository) -> None:
    app = _create(repo, _request(None, f.BENEFICIARY_KIND_COMPANY))
    assert app.beneficiary.kind is BeneficiaryKind.COMPANY
