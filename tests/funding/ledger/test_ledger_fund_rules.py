"""Fund-rule checks at their limits (hand-computed), the dated fund parameters, and
input validation naming every bad field."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest

from services.funding.ledger.de_minimis import AidRecord, assess_de_minimis
from services.funding.ledger.fund_rules import (
    PortfolioPosition,
    PortfolioRow,
    RiskFigures,
    assess_guarantee,
    fund_parameter_set,
    fund_rules_on,
)
from services.funding.ledger.model import (
    ApplicationDraft,
    ApplicationKind,
    Beneficiary,
    BeneficiaryKind,
    Branch,
    CostLine,
    GuaranteeTerms,
)
from services.funding.ledger.validation import validate_draft
from services.funding.rules.parameters import ParameterNotInForce
from services.shared.errors import InvalidArgument

BID = "1234567-1"
# Capital 10 M€ − claims 1 M€ = 9 M€; capacity 9 × 2 = 18 M€; sector 0.5 × 9 = 4.5 M€;
# branch 0.75 × 9 = 6.75 M€; risk 0.8 × 9 = 7.2 M€; per beneficiary 2 M€.
RULES = dataclasses.replace(
    fund_rules_on(date(2025, 1, 1)), paid_in_capital_cents=10_000_000_00,
    max_leverage=Decimal(2), max_per_beneficiary_cents=2_000_000_00,
    sector_max_share_of_capital=Decimal("0.5"), branch_max_share_of_capital=Decimal("0.75"),
    risk_appetite_ratio=Decimal("0.8"), max_guarantee_rate=Decimal("0.8"))
TERMS = GuaranteeTerms(2_000_000_00, Decimal("0.5"), 10**12, Decimal("0.01"), 60)
CANDIDATE = PortfolioRow(9, BID, BeneficiaryKind.COMPANY, "health", "STM", 1_000_000_00, 60, "")
AT_LIMITS = PortfolioPosition(
    claims_paid_cents=1_000_000_00, committed_cents=17_000_000_00,
    beneficiary_committed_cents=1_000_000_00, sector_committed_cents=3_500_000_00,
    branch_committed_cents=5_750_000_00)


def test_every_limit_reached_exactly_passes() -> None:
    violations, trace = assess_guarantee("applications/9", CANDIDATE, TERMS, AT_LIMITS, RULES,
                                         RiskFigures("ES99.9", 7_200_000_00), None)
    assert violations == []
    assert trace["capital_cents"] == 9_000_000_00
    assert {c["rule"]: c["limit"] for c in trace["checks"]} == {
        "GUARANTEE_RATE": "0.8", "FUND_CAPACITY": "1800000000",
        "BENEFICIARY_LIMIT": "200000000", "CONCENTRATION_SECTOR": "450000000",
        "CONCENTRATION_BRANCH": "675000000", "RISK_APPETITE": "720000000"}


def test_one_cent_over_each_limit_is_named() -> None:
    over = dataclasses.replace(
        AT_LIMITS, committed_cents=AT_LIMITS.committed_cents + 1,
        beneficiary_committed_cents=AT_LIMITS.beneficiary_committed_cents + 1,
        sector_committed_cents=AT_LIMITS.sector_committed_cents + 1,
        branch_committed_cents=AT_LIMITS.branch_committed_cents + 1)
    terms = dataclasses.replace(TERMS, guarantee_rate=Decimal("0.81"))
    dm = assess_de_minimis(BID, date(2025, 1, 1), 20_000_00,
                           [AidRecord(date(2024, 1, 1), 280_000_01, "x")],
                           RULES.de_minimis)
    violations, _ = assess_guarantee("applications/9", CANDIDATE, terms, over, RULES,
                                     RiskFigures("ES99.9", 7_200_000_01), dm)
    assert [(v.type, v.subject) for v in violations] == [
        ("GUARANTEE_RATE", "applications/9"), ("FUND_CAPACITY", "fund"),
        ("BENEFICIARY_LIMIT", f"beneficiary/{BID}"), ("CONCENTRATION_SECTOR", "sector/health"),
        ("CONCENTRATION_BRANCH", "branch/STM"), ("RISK_APPETITE", "fund"),
        ("DE_MINIMIS", f"beneficiary/{BID}")]


def test_without_a_risk_model_the_trace_says_so() -> None:
    violations, trace = assess_guarantee("a", CANDIDATE, TERMS, AT_LIMITS, RULES, None, None)
    assert violations == [] and "not evaluated" in trace["risk_note"]


def test_fund_parameters_change_on_2024_01_01_and_carry_references() -> None:
    before, after = fund_rules_on(date(2023, 12, 31)), fund_rules_on(date(2024, 1, 1))
    assert before.version != after.version
    assert before.version.startswith("fund-rules/")
    assert before.gge.limits[0].guaranteed_cents == 1_500_000_00
    assert after.gge.limits[0].guaranteed_cents == 2_250_000_00
    assert "2023/2831" in after.de_minimis.reference
    for value in fund_parameter_set().list(date(2024, 1, 1)):
        assert value.reference and value.valid_from <= date(2024, 1, 1)


def test_no_de_minimis_rules_after_2030() -> None:
    # The other fund rules are still in force; only reading the de minimis ones fails.
    rules = fund_rules_on(date(2031, 1, 1))
    assert rules.paid_in_capital_cents > 0 and rules.de_minimis_rules is None
    for read in (lambda: rules.de_minimis, lambda: rules.gge):
        with pytest.raises(ParameterNotInForce) as err:
            read()
        assert {v.subject for v in err.value.violations} >= {"parameters/de_minimis.ceiling"}


def _draft(**kw: object) -> ApplicationDraft:
    base: dict[str, object] = dict(
        kind=ApplicationKind.GUARANTEE, title="t",
        beneficiary=Beneficiary(BeneficiaryKind.COMPANY, BID), sector="health",
        branch=Branch.STM, guarantee=TERMS)
    base.update(kw)
    return ApplicationDraft(**base)  # type: ignore[arg-type]


def test_validation_names_every_bad_field() -> None:
    bad = GuaranteeTerms(0, Decimal("1.2"), -5, Decimal("-0.1"), 0)
    with pytest.raises(InvalidArgument) as err:
        validate_draft(_draft(guarantee=bad, title=" ", sector="",
                              beneficiary=Beneficiary(BeneficiaryKind.COMPANY, "1234567-2")))
    assert {v.field for v in err.value.violations} == {
        "title", "beneficiary.business_id", "sector", "guarantee.amount_cents",
        "guarantee.guarantee_rate", "guarantee.cap_cents", "guarantee.fee_rate",
        "guarantee.term_months"}


def test_kind_specific_parts_are_required() -> None:
    with pytest.raises(InvalidArgument) as err:
        validate_draft(_draft(guarantee=None))
    assert [v.field for v in err.value.violations] == ["guarantee"]
    with pytest.raises(InvalidArgument) as err:
        validate_draft(_draft(kind=ApplicationKind.IJH_GRANT, guarantee=None,
                              cost_lines=(CostLine("purchased_expert_services", "x", -1),)))
    assert [v.field for v in err.value.violations] == ["cost_lines[0].amount_cents"]
