"""The core's reading of the fund's risk measure and risk model, and what an applicant
kind says the beneficiary is (rules the gRPC adapter only applies)."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal

import pytest

from services.funding.ledger import (
    Beneficiary,
    BeneficiaryKind,
    beneficiary_kind_of_applicant,
    probability_of_default,
    risk_measure,
    validation,
)
from services.funding.ledger.fund_rules import (
    FUND_PARAMETERS_DIR,
    fund_parameter_set,
    fund_rules_on,
)
from services.shared.errors import InvalidArgument
from tests.funding.storage.ledger_support import COMPANY, guarantee_draft


@pytest.mark.parametrize(("measure", "kind", "level"), [
    ("ES99.9", "ES", 0.999), ("VaR99.5", "VaR", 0.995), ("ES97.5", "ES", 0.975),
    ("VaR99", "VaR", 0.99), ("ES99.95", "ES", 0.9995)])
def test_a_measure_names_its_kind_and_level(measure, kind, level):
    assert risk_measure(measure) == (kind, pytest.approx(level, abs=1e-15))


@pytest.mark.parametrize("measure", ["CVaR99", "ES", "es99.9", "ES9.9", "ES 99.9",
                                     "ES99.", "VaR100.0.1", ""])
def test_a_measure_that_is_not_es_or_var_at_a_level_is_refused(measure):
    with pytest.raises(ValueError):
        risk_measure(measure)


def test_the_measure_in_force_is_understood():
    assert risk_measure(fund_rules_on(date(2025, 1, 1)).risk_measure) == \
        ("ES", pytest.approx(0.999))


def test_the_rules_carry_the_model_in_force_and_need_it_for_nothing_else(tmp_path):
    on = date(2025, 1, 1)
    assert fund_rules_on(on).risk_model == \
        fund_parameter_set().at(on).get("risk.model").value
    shutil.copytree(FUND_PARAMETERS_DIR, tmp_path / "fund")
    (tmp_path / "fund" / "risk" / "model.yaml").unlink()
    without = fund_rules_on(on, str(tmp_path / "fund"))
    assert without.risk_model is None  # the approval's risk check then refuses
    assert without.risk_measure == "ES99.9"


def test_default_probability_by_rating_else_the_unrated_value():
    model = {"probability_of_default": {"by_rating": {"BBB": 0.0016, "B": "0.032"},
                                        "default": 0.05}}
    assert probability_of_default(model, "BBB") == Decimal("0.0016")
    assert probability_of_default(model, "bbb") == Decimal("0.0016")  # case-insensitive
    assert probability_of_default(model, "B") == Decimal("0.032")
    assert probability_of_default(model, "") == Decimal("0.05")       # unrated
    assert probability_of_default(model, "CC") == Decimal("0.05")     # not in the table
    in_force = fund_parameter_set().at(date(2025, 1, 1)).get("risk.model").value
    assert probability_of_default(in_force, "AAA") == Decimal("0.0001")
    assert probability_of_default(in_force, "") == Decimal("0.032")


@pytest.mark.parametrize(("applicant_kind", "beneficiary"), [
    ("company", BeneficiaryKind.COMPANY),
    ("contracting_authority", BeneficiaryKind.PUBLIC_UNIT),
    ("special_sectors_contracting_entity", BeneficiaryKind.PUBLIC_UNIT),
    # Fails closed: nothing else is ever taken for a public unit (de minimis would be
    # skipped); validation then asks for the applicant kind.
    ("", None), ("other", None), ("research_organisation", None), ("Company", None)])
def test_what_an_applicant_kind_says_the_beneficiary_is(applicant_kind, beneficiary):
    assert beneficiary_kind_of_applicant(applicant_kind) is beneficiary


def _applicant_kind_problem() -> str:
    """What validation says of a draft that names neither the beneficiary's kind nor an
    applicant kind that decides it."""
    draft = guarantee_draft(beneficiary=Beneficiary(None, COMPANY.business_id, "Oy"))
    with pytest.raises(InvalidArgument) as failure:
        validation.validate_draft(draft)
    return next(v.description for v in failure.value.violations if v.field == "applicant_kind")


def test_the_refusal_names_every_applicant_kind_that_decides(monkeypatch):
    assert '"company" for a company, "contracting_authority" or ' \
        '"special_sectors_contracting_entity" for a public unit' in _applicant_kind_problem()
    # The list is the table's: a kind added to it is named at once.
    monkeypatch.setitem(validation._BENEFICIARY_OF_APPLICANT, "joint_procurement_unit",
                        BeneficiaryKind.PUBLIC_UNIT)
    assert '"contracting_authority" or "special_sectors_contracting_entity" or ' \
        '"joint_procurement_unit" for a public unit' in _applicant_kind_problem()
