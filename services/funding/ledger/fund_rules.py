"""The risk fund's rules and the checks an approval must pass.

Every limit is a dated parameter (``services/funding/fund/parameters/``), read with the
generic loader; :func:`fund_rules_on` turns the parameters in force on a date into a
:class:`FundRules`. :func:`assess_guarantee` is pure: the storage layer reads the
portfolio position under lock, calls it, and writes nothing if it returns violations.

Concentration limits are a **share of the fund's capital** (paid-in capital minus claims
paid), not of committed volume: a share of volume makes the first guarantees of a young
portfolio breach any limit (one guarantee is 100 % of volume) and moves when unrelated
guarantees expire, while capital is the buffer that pays the losses.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from functools import cache
from pathlib import Path
from typing import Any

from services.funding.ledger.de_minimis import DeMinimisAssessment, DeMinimisRules
from services.funding.ledger.gge import GgeRules, SafeHarbourLimit
from services.funding.ledger.model import BeneficiaryKind, GuaranteeTerms
from services.funding.rules.parameters import (
    ParameterNotInForce,
    ParameterSet,
    ParametersInForce,
)
from services.shared.errors import PreconditionViolation

FUND_PARAMETERS_DIR = Path(__file__).resolve().parent.parent / "fund" / "parameters"
FUND_SET_NAME = "fund-rules"


#: The parameters only a de minimis assessment (aid to a company) and the gross grant
#: equivalent need. They are read where needed, not for every fund operation: the
#: current regulation's values end on 2030-12-31, and a claim, an expiry or the fund's
#: status do not depend on them.
DE_MINIMIS_PARAMETERS = ("de_minimis.ceiling", "de_minimis.window", "de_minimis.gge_method",
                         "de_minimis.guarantee_safe_harbour",
                         "de_minimis.safe_harbour_premiums")


@dataclass(frozen=True)
class FundRules:
    """The fund's rules in force on one date; ``version`` identifies them exactly.

    ``de_minimis`` and ``gge`` raise :class:`ParameterNotInForce` (a FailedPrecondition
    naming each missing parameter) on a date without de minimis rules in force; the
    other rules do not depend on them."""

    version: str
    paid_in_capital_cents: int
    max_leverage: Decimal
    max_guarantee_rate: Decimal
    max_per_beneficiary_cents: int
    sector_max_share_of_capital: Decimal
    branch_max_share_of_capital: Decimal
    risk_measure: str
    risk_appetite_ratio: Decimal
    #: The fund's risk model (parameter ``risk.model``, see ``risk_model.py``); None when
    #: none is in force on the date: then the approval's risk check cannot be made, and
    #: nothing else needs it.
    risk_model: Mapping[str, Any] | None
    four_eyes_required: bool
    de_minimis_rules: DeMinimisRules | None
    gge_rules: GgeRules | None
    #: Why the de minimis rules are None: ``(name, date, description)`` per missing
    #: parameter, as :class:`ParameterNotInForce` holds them.
    de_minimis_missing: tuple[tuple[str, date, str], ...] = ()

    @property
    def de_minimis(self) -> DeMinimisRules:
        """The de minimis ceiling and window in force (raises ParameterNotInForce)."""
        if self.de_minimis_rules is None:
            raise self._not_in_force()
        return self.de_minimis_rules

    @property
    def gge(self) -> GgeRules:
        """The gross-grant-equivalent method in force (raises ParameterNotInForce)."""
        if self.gge_rules is None:
            raise self._not_in_force()
        return self.gge_rules

    def _not_in_force(self) -> ParameterNotInForce:
        return ParameterNotInForce(self.de_minimis_missing or [
            ("de_minimis", date.min, "no de minimis rules in these fund rules")])


@dataclass(frozen=True)
class PortfolioRow:
    """One committed (approved or active) guarantee, or the candidate, as the risk
    model sees it."""

    application_id: int
    business_id: str
    beneficiary_kind: BeneficiaryKind
    sector: str
    branch: str
    exposure_cents: int
    term_months: int
    rating_class: str


@dataclass(frozen=True)
class RiskFigures:
    """What the injected ``incremental_risk`` returns: the fund's risk measure
    (e.g. ES99.9 of portfolio loss) after adding the candidate, in cents, with its
    Monte Carlo standard error and the seed that reproduces it."""

    measure: str
    after_cents: int
    before_cents: int | None = None
    standard_error_cents: int = 0
    seed: int | None = None


#: ``incremental_risk(portfolio, candidate, capital_cents, rules)``: the fund's risk figure
#: after adding ``candidate``, the fund simulated with :func:`capital_cents` as its capital
#: (read in the approval's transaction), measured and modelled as ``rules`` say (the fund
#: rules the approval is decided under, so the port asks for the figure the rules check).
IncrementalRisk = Callable[[Sequence[PortfolioRow], PortfolioRow, int, FundRules],
                           RiskFigures]


def risk_inputs(portfolio: Sequence[PortfolioRow], candidate: PortfolioRow, capital: int,
                rules: FundRules) -> dict[str, Any]:
    """What ``incremental_risk`` was given, for the approval's trace, so that its figure
    can be reproduced: the committed guarantees' ids and a SHA-256 of the rows as sent
    (ids alone do not show a row's figures), the candidate, the capital, and the measure
    and model of the rules (their values, not only their version)."""
    rows = [asdict(r) for r in portfolio]
    canonical = json.dumps({"portfolio": rows, "candidate": asdict(candidate),
                            "capital_cents": capital}, sort_keys=True, default=str,
                           separators=(",", ":"))
    return {"portfolio_ids": [r.application_id for r in portfolio],
            "candidate_id": candidate.application_id,
            "portfolio_sha256": hashlib.sha256(canonical.encode()).hexdigest(),
            "capital_cents": capital, "measure": rules.risk_measure,
            "model": rules.risk_model}


@dataclass(frozen=True)
class PortfolioPosition:
    """The fund's committed position read under the approval lock."""

    claims_paid_cents: int
    committed_cents: int
    beneficiary_committed_cents: int
    sector_committed_cents: int
    branch_committed_cents: int


def capital_cents(rules: FundRules, claims_paid_cents: int) -> int:
    """Capital left to absorb losses: paid-in capital in force minus claims paid."""
    return rules.paid_in_capital_cents - claims_paid_cents


def _floor(x: Decimal) -> int:
    return int(x.to_integral_value(rounding=ROUND_FLOOR))


def capacity_cents(rules: FundRules, claims_paid_cents: int) -> int:
    """The most the fund may have committed: capital × maximum leverage."""
    return max(0, _floor(Decimal(capital_cents(rules, claims_paid_cents)) * rules.max_leverage))


def sector_limit_cents(rules: FundRules, claims_paid_cents: int) -> int:
    return max(0, _floor(Decimal(capital_cents(rules, claims_paid_cents))
                         * rules.sector_max_share_of_capital))


def branch_limit_cents(rules: FundRules, claims_paid_cents: int) -> int:
    return max(0, _floor(Decimal(capital_cents(rules, claims_paid_cents))
                         * rules.branch_max_share_of_capital))


def assess_guarantee(subject: str, candidate: PortfolioRow, terms: GuaranteeTerms,
                     position: PortfolioPosition, rules: FundRules,
                     risk: RiskFigures | None,
                     de_minimis: DeMinimisAssessment | None,
                     ) -> tuple[list[PreconditionViolation], dict[str, Any]]:
    """Every fund-rule check of approving ``candidate``: the violations (empty if it may
    be approved) and a trace naming each rule, its limit, the figures and the outcome."""
    violations: list[PreconditionViolation] = []
    checks: list[dict[str, Any]] = []
    exposure = candidate.exposure_cents
    capital = capital_cents(rules, position.claims_paid_cents)

    def check(rule: str, subj: str, value: Any, limit: Any, ok: bool, text: str) -> None:
        checks.append({"rule": rule, "subject": subj, "value": str(value),
                       "limit": str(limit), "ok": ok})
        if not ok:
            violations.append(PreconditionViolation(rule, subj, text))

    check("GUARANTEE_RATE", subject, terms.guarantee_rate, rules.max_guarantee_rate,
          terms.guarantee_rate <= rules.max_guarantee_rate,
          f"guarantee rate {terms.guarantee_rate} exceeds the fund maximum "
          f"{rules.max_guarantee_rate}")
    capacity = capacity_cents(rules, position.claims_paid_cents)
    after = position.committed_cents + exposure
    check("FUND_CAPACITY", "fund", after, capacity, after <= capacity,
          f"committed {position.committed_cents} + exposure {exposure} cents exceeds the "
          f"capacity of {capacity} cents (capital {capital} × leverage {rules.max_leverage})")
    after = position.beneficiary_committed_cents + exposure
    check("BENEFICIARY_LIMIT", f"beneficiary/{candidate.business_id}", after,
          rules.max_per_beneficiary_cents, after <= rules.max_per_beneficiary_cents,
          f"exposure to the beneficiary would be {after} cents, above the maximum "
          f"{rules.max_per_beneficiary_cents} cents")
    limit = sector_limit_cents(rules, position.claims_paid_cents)
    after = position.sector_committed_cents + exposure
    check("CONCENTRATION_SECTOR", f"sector/{candidate.sector}", after, limit, after <= limit,
          f"sector exposure would be {after} cents, above {rules.sector_max_share_of_capital}"
          f" of capital = {limit} cents")
    limit = branch_limit_cents(rules, position.claims_paid_cents)
    after = position.branch_committed_cents + exposure
    check("CONCENTRATION_BRANCH", f"branch/{candidate.branch}", after, limit, after <= limit,
          f"branch exposure would be {after} cents, above {rules.branch_max_share_of_capital}"
          f" of capital = {limit} cents")
    if risk is not None:
        limit = max(0, _floor(Decimal(capital) * rules.risk_appetite_ratio))
        check("RISK_APPETITE", "fund", risk.after_cents, limit, risk.after_cents <= limit,
              f"{risk.measure} after the guarantee would be {risk.after_cents} cents, above "
              f"capital × {rules.risk_appetite_ratio} = {limit} cents")
    if de_minimis is not None:
        v = de_minimis.violation()
        checks.append({"rule": "DE_MINIMIS", "subject": f"beneficiary/{candidate.business_id}",
                       "value": str(de_minimis.counted_cents + de_minimis.new_aid_cents),
                       "limit": str(de_minimis.ceiling_cents), "ok": v is None})
        if v is not None:
            violations.append(v)
    trace: dict[str, Any] = {
        "rules_version": rules.version,
        "capital_cents": capital,
        "exposure_cents": exposure,
        "position": {
            "claims_paid_cents": position.claims_paid_cents,
            "committed_cents": position.committed_cents,
            "beneficiary_committed_cents": position.beneficiary_committed_cents,
            "sector_committed_cents": position.sector_committed_cents,
            "branch_committed_cents": position.branch_committed_cents,
        },
        "checks": checks,
        "risk": None if risk is None else {
            "measure": risk.measure, "after_cents": risk.after_cents,
            "before_cents": risk.before_cents,
            "standard_error_cents": risk.standard_error_cents, "seed": risk.seed},
        "de_minimis": None if de_minimis is None else de_minimis.trace(),
    }
    if risk is None:
        trace["risk_note"] = "no risk model wired: RISK_APPETITE not evaluated"
    return violations, trace


# --- from dated parameters ----------------------------------------------------------

def _limits(raw: Sequence[Mapping[str, Any]]) -> tuple[SafeHarbourLimit, ...]:
    return tuple(SafeHarbourLimit(Decimal(item["years"]), int(item["guaranteed_cents"]))
                 for item in raw)


def fund_rules_from(params: ParametersInForce) -> FundRules:
    """Build :class:`FundRules` from the fund parameters in force on one date. The
    de minimis parameters may be missing (see :data:`DE_MINIMIS_PARAMETERS`)."""
    g = params.get
    params.require(
        "capital.paid_in", "capital.max_leverage", "guarantee.max_rate",
        "guarantee.max_per_beneficiary", "concentration.sector_max_share_of_capital",
        "concentration.branch_max_share_of_capital", "risk.measure", "risk.appetite_ratio",
        "governance.four_eyes_required")
    de_minimis, gge, missing = _de_minimis_from(params)
    return FundRules(
        version=params.version,
        paid_in_capital_cents=int(g("capital.paid_in").value),
        max_leverage=Decimal(g("capital.max_leverage").value),
        max_guarantee_rate=Decimal(g("guarantee.max_rate").value),
        max_per_beneficiary_cents=int(g("guarantee.max_per_beneficiary").value),
        sector_max_share_of_capital=Decimal(g("concentration.sector_max_share_of_capital").value),
        branch_max_share_of_capital=Decimal(g("concentration.branch_max_share_of_capital").value),
        risk_measure=str(g("risk.measure").value),
        risk_appetite_ratio=Decimal(g("risk.appetite_ratio").value),
        risk_model=g("risk.model").value if "risk.model" in params else None,
        four_eyes_required=bool(g("governance.four_eyes_required").value),
        de_minimis_rules=de_minimis, gge_rules=gge, de_minimis_missing=missing,
    )


def _de_minimis_from(params: ParametersInForce
                     ) -> tuple[DeMinimisRules | None, GgeRules | None,
                                tuple[tuple[str, date, str], ...]]:
    """The de minimis and GGE rules in force, or (None, None, why) when any of their
    parameters has no value on the date."""
    try:
        params.require(*DE_MINIMIS_PARAMETERS)
    except ParameterNotInForce as exc:
        return None, None, exc.missing
    g = params.get
    ceiling = g("de_minimis.ceiling")
    window = g("de_minimis.window")
    harbour = g("de_minimis.guarantee_safe_harbour")
    premiums = g("de_minimis.safe_harbour_premiums")
    premium_table = {str(k).upper(): Decimal(v) for k, v in premiums.value["by_rating"].items()}
    return (
        DeMinimisRules(
            ceiling_cents=int(ceiling.value), window=str(window.value["method"]),
            years=int(window.value["years"]), reference=ceiling.reference),
        GgeRules(
            method=str(g("de_minimis.gge_method").value), ceiling_cents=int(ceiling.value),
            max_share_of_loan=Decimal(harbour.value["max_share_of_loan"]),
            limits=_limits(harbour.value["limits"]), premiums=premium_table,
            default_premium=Decimal(premiums.value["default"]),
            reference=f"{harbour.reference}; {premiums.reference}"),
        ())


@cache
def fund_parameter_set(directory: str = str(FUND_PARAMETERS_DIR)) -> ParameterSet:
    """The fund's dated parameters (loaded once per directory)."""
    return ParameterSet.load(directory, set_name=FUND_SET_NAME)


def fund_rules_on(on: date, directory: str = str(FUND_PARAMETERS_DIR)) -> FundRules:
    """The fund rules in force on ``on`` (raises ``ParameterNotInForce`` outside them)."""
    return fund_rules_from(fund_parameter_set(directory).at(on))
