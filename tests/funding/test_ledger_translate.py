"""translate.py's ledger mappings that the gRPC tests do not reach on every branch."""

from __future__ import annotations

import pytest
from ijh.funding.v1 import funding_pb2 as f
from ijh.risk.v1 import risk_pb2 as r

from services.funding import translate
from services.funding.ledger import BeneficiaryKind, PortfolioRow, risk_measure
from services.shared.errors import InvalidArgument

MODEL = {"probability_of_default": {"by_rating": {"BBB": "0.0016"}, "default": "0.032"},
         "loss_given_default": "0.45", "factor_loading": "0.3", "horizon_years": 1,
         "scenario_count": 16384, "seed": 7}


@pytest.mark.parametrize("name", ["applications/0", "applications/x", "apps/1",
                                  "applications/01", "applications/1/x", ""])
def test_bad_names_are_refused(name):
    with pytest.raises(InvalidArgument) as failure:
        translate.application_id(name)
    assert failure.value.violations[0].field == "name"


def test_measures_and_the_figure_checked():
    assert risk_measure("ES99.9") == ("ES", pytest.approx(0.999))
    assert risk_measure("VaR99.5") == ("VaR", pytest.approx(0.995))
    with pytest.raises(ValueError):
        risk_measure("CVaR")
    response = r.EvaluateIncrementalRiskResponse(seed=7, tail_risk=[r.IncrementalTailRisk(
        level=0.999, expected_shortfall_after_cents=r.Estimate(value=100.2, standard_error=3.1),
        expected_shortfall_before_cents=r.Estimate(value=50.0))])
    figures = translate.risk_figures(response, "ES99.9")
    assert (figures.after_cents, figures.before_cents, figures.standard_error_cents,
            figures.seed) == (101, 50, 4, 7)  # rounded up: prudent
    with pytest.raises(ValueError):
        translate.risk_figures(response, "ES99.5")


def test_a_guarantee_as_the_risk_model_sees_it():
    row = PortfolioRow(3, "1234567-1", BeneficiaryKind.COMPANY, "energy", "TEM", 50_000_000,
                       60, "bbb")
    g = translate.risk_guarantee(row, MODEL)
    assert (g.id, g.exposure_cents, g.probability_of_default, g.loss_given_default) == \
        ("applications/3", 50_000_000, 0.0016, 0.45)
    unrated = translate.risk_guarantee(PortfolioRow(4, "1234567-1", BeneficiaryKind.COMPANY,
                                                    "energy", "TEM", 1, 60, ""), MODEL)
    assert unrated.probability_of_default == 0.032


def test_beneficiary_kind_is_derived_and_score_fields_renamed():
    request = f.CreateApplicationRequest(applicant=f.Applicant(kind="company"))
    assert translate.draft(request).beneficiary.kind is BeneficiaryKind.COMPANY
    request.applicant.kind = "contracting_authority"
    assert translate.draft(request).beneficiary.kind is BeneficiaryKind.PUBLIC_UNIT
    # Fail closed: an unset (or undeciding) applicant kind is never a public unit.
    for kind in ("", "other"):
        request.applicant.kind = kind
        assert translate.draft(request).beneficiary.kind is None
    request.beneficiary_kind = f.BENEFICIARY_KIND_COMPANY
    assert translate.draft(request).beneficiary.kind is BeneficiaryKind.COMPANY


def test_the_risk_service_is_never_told_a_negative_capital():
    # Claims paid beyond the paid-in capital (leverage > 1 allows it) leave none: the
    # risk service's FundTerms want capital >= 0, and a fund with nothing left is
    # exhausted by any loss.
    row = PortfolioRow(3, "1234567-1", BeneficiaryKind.COMPANY, "energy", "TEM", 50_000_000,
                       60, "BBB")
    assert translate.incremental_risk_request([], row, MODEL, -1, 0.999).fund.capital_cents \
        == 0
    assert translate.portfolio_request([row], MODEL, -1, 0.999).fund.capital_cents == 0
    assert translate.incremental_risk_request([], row, MODEL, 7, 0.999).fund.capital_cents == 7


def test_a_kind_correction_answers_with_the_register_rows_it_wrote():
    """Review h10/1: the officer sees what a kind correction did to the register."""
    from datetime import date

    from services.funding.ledger import RegisteredAid, RegisteredBeneficiary
    bid = "0201256-6"
    written = RegisteredAid(8, bid, date(2025, 3, 1), 34_000_00, "correction of aid 7",
                            reverses_id=7, reason="a municipality")
    answer = translate.beneficiary_kind_response(RegisteredBeneficiary(
        bid, BeneficiaryKind.PUBLIC_UNIT, "officer-a", BeneficiaryKind.COMPANY, (written,),
        ("applications/3",)))
    assert [(a.id, a.reverses_aid_id, a.amount_cents, a.counted) for a in answer.aid] == \
        [(8, 7, 34_000_00, False)]
    assert list(answer.aid_not_registered) == ["applications/3"]
