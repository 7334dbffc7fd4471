"""The IJH planning grant: eligibility, eligible costs and the grant, in integer cents.

``compute_grant(application)`` validates the application (every bad field at once),
reads the parameters in force on ``application.reference_date`` and applies the rules
below, each named after the rule it implements and each recording a trace step for
every figure it produces.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

from services.funding.rules.explanation import ParameterUse, Tracer, TraceStep, render
from services.funding.rules.kinds import (
    ApplicantKind,
    CostCategory,
    ProcurementKind,
    RejectionReason,
)
from services.funding.rules.parameters import ParameterSet
from services.funding.rules.rulebook import ijh_parameters
from services.shared.business_id import business_id_problem
from services.shared.errors import Collector

__all__ = [
    "MAX_AMOUNT_CENTS",
    "MAX_COST_LINES",
    "MAX_DECIMAL_PLACES",
    "Applicant",
    "CostLine",
    "CostLineResult",
    "GrantApplication",
    "GrantComputation",
    "Rejection",
    "compute_grant",
]

MAX_AMOUNT_CENTS = 100_000_000_000
"""€1,000,000,000: any single amount above this is a typing error, not a planning cost."""
MAX_COST_LINES = 1000
"""More lines than this is not a planning project; bounds the work of one request."""
MAX_DECIMAL_PLACES = 6
"""Shares and rates carry at most 6 decimals (0.333333), which keeps the arithmetic exact."""
MAX_INDIRECT_COST_RATE = Decimal(10)
"""A plausibility bound on the indirect-cost rate a request may state (1000 % of the
personnel cost): above the rate maximum in force a line is capped and the excess
rejected with a reason; above this bound the request itself is malformed. Keeps every
amount well inside the exact arithmetic and int64 cents."""
_EXACT = 60
"""Decimal precision of the cost arithmetic: exact for every bounded input."""

REQUIRED_PARAMETERS = (
    "grant_rate", "grant_rounding", "maximum_grant_cents", "eligible_applicant_kinds",
    "procurement_kinds", "eligible_cost_categories", "ineligible_cost_categories",
    "vat_eligible", "indirect_cost_rate_max", "cost_line_rounding",
)


# --- request ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Applicant:
    """Who applies: ``business_id`` is the Y-tunnus (``0201256-6``)."""

    business_id: str
    kind: ApplicantKind | str
    name: str = ""


@dataclass(frozen=True)
class CostLine:
    """One planned cost. Which fields apply depends on ``category``:

    * ``own_personnel``: ``salary_cents`` for the period, ``working_time_share`` in [0, 1]
      and ``indirect_cost_rate`` (set in the decision; empty means 0), as Decimal or str.
    * any other category: ``amount_cents`` without VAT and ``vat_cents`` apart.

    Fields that do not apply must stay at their zero value (0 / "")."""

    category: CostCategory | str
    description: str = ""
    salary_cents: int = 0
    working_time_share: Decimal | str = ""
    indirect_cost_rate: Decimal | str = ""
    amount_cents: int = 0
    vat_cents: int = 0


@dataclass(frozen=True)
class GrantApplication:
    """An IJH application as the grant rules see it. ``reference_date`` picks the rules."""

    applicant: Applicant
    procurement_kind: ProcurementKind | str
    reference_date: date
    cost_lines: tuple[CostLine, ...] = field(default_factory=tuple)
    application_id: str = ""
    indirect_cost_rate: Decimal | str | None = None
    """The indirect-cost rate the funding decision sets (a ratio, at most
    ``indirect_cost_rate_max``): own personnel lines are funded at most at it. None
    before the decision (each line's own rate, up to the maximum)."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GrantApplication:
        """Build from plain data (JSON / YAML): dates as ISO strings, Decimals as strings.
        Shape problems are left for :func:`compute_grant` to report by field."""
        applicant = data.get("applicant") or {}
        raw_date = data.get("reference_date")
        if isinstance(raw_date, str):
            with contextlib.suppress(ValueError):
                raw_date = date.fromisoformat(raw_date)
        lines = data.get("cost_lines") or ()
        return cls(
            applicant=Applicant(business_id=applicant.get("business_id", ""),
                                kind=applicant.get("kind", ""),
                                name=applicant.get("name", "")),
            procurement_kind=data.get("procurement_kind", ""),
            reference_date=raw_date,  # type: ignore[arg-type]
            cost_lines=tuple(CostLine(**line) if isinstance(line, Mapping) else line
                             for line in lines),
            application_id=data.get("application_id", ""),
        )


# --- result ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Rejection:
    """An amount not funded and why. For the application as a whole, ``amount_cents`` is
    the grant that the costs would otherwise have earned."""

    reason: RejectionReason
    amount_cents: int
    description: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"reason": self.reason.value, "amount_cents": self.amount_cents,
                "description": self.description}


@dataclass(frozen=True)
class CostLineResult:
    """One cost line as decided: claimed = accepted + rejected, all in cents."""

    index: int
    category: CostCategory
    description: str
    claimed_cents: int
    accepted_cents: int
    rejected_cents: int
    rejections: tuple[Rejection, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"index": self.index, "category": self.category.value,
                "description": self.description, "claimed_cents": self.claimed_cents,
                "accepted_cents": self.accepted_cents, "rejected_cents": self.rejected_cents,
                "rejections": [r.to_dict() for r in self.rejections]}


@dataclass(frozen=True)
class GrantComputation:
    """The grant decision's figures, the rules version that produced them and the trace."""

    application_id: str
    reference_date: date
    rules_version: str
    applicant_eligible: bool
    procurement_kind_eligible: bool
    eligible: bool
    rejections: tuple[Rejection, ...]
    cost_lines: tuple[CostLineResult, ...]
    claimed_cents: int
    eligible_cents: int
    rejected_cents: int
    grant_rate: Decimal
    grant_cents: int
    explanation: tuple[TraceStep, ...]
    parameters_used: tuple[ParameterUse, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored with the decision. Figures are named as in
        ``ComputeGrantResponse`` (``claimed_cents``, ``eligible_cents``,
        ``rejected_cents``) and in the explanation; explanations stored before named the
        totals ``claimed_total_cents``… (readers fall back to those)."""
        return {
            "application_id": self.application_id,
            "reference_date": self.reference_date.isoformat(),
            "rules_version": self.rules_version,
            "applicant_eligible": self.applicant_eligible,
            "procurement_kind_eligible": self.procurement_kind_eligible,
            "eligible": self.eligible,
            "rejections": [r.to_dict() for r in self.rejections],
            "cost_lines": [c.to_dict() for c in self.cost_lines],
            "claimed_cents": self.claimed_cents,
            "eligible_cents": self.eligible_cents,
            "rejected_cents": self.rejected_cents,
            "grant_rate": str(self.grant_rate),
            "grant_cents": self.grant_cents,
            "explanation": [s.to_dict() for s in self.explanation],
            "parameters_used": [p.to_dict() for p in self.parameters_used],
        }


# --- validation ------------------------------------------------------------------------

@dataclass(frozen=True)
class _Line:
    index: int
    category: CostCategory
    description: str
    salary_cents: int
    working_time_share: Decimal
    indirect_cost_rate: Decimal
    amount_cents: int
    vat_cents: int


def _euros(cents: int) -> str:
    """``€1,234.50``. A description is read by whoever typed the request: the API's money
    fields are cents, but an application file's are euros (``amount_eur``), so a
    description names an amount in euros and a field by its name without a unit (the
    violation's field path names the API field)."""
    return f"€{cents // 100:,}.{cents % 100:02d}"


def _money(c: Collector, path: str, value: object) -> int:
    if isinstance(value, float):
        c.add(path, "binary floating point is not accepted for money; give integer cents")
    elif isinstance(value, bool) or not isinstance(value, int):
        c.add(path, "must be an integer number of cents")
    elif value < 0:
        c.add(path, "must not be negative")
    elif value > MAX_AMOUNT_CENTS:
        c.add(path, f"is above the largest amount accepted, {_euros(MAX_AMOUNT_CENTS)}")
    else:
        return value
    return 0


def _decimal(c: Collector, path: str, value: object, *, empty_means_zero: bool) -> Decimal | None:
    if isinstance(value, float):
        c.add(path, "binary floating point is not accepted; give a decimal string like '0.5'")
        return None
    if value == "" or value is None:
        if empty_means_zero:
            return Decimal(0)
        c.add(path, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        c.add(path, "must be a decimal number given as a string")
        return None
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        c.add(path, f"{value!r} is not a decimal number")
        return None
    if not number.is_finite():
        c.add(path, "must be a finite number")
        return None
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMAL_PLACES:
        c.add(path, f"has more than {MAX_DECIMAL_PLACES} decimal places")
        return None
    return number


def _enum(c: Collector, path: str, value: object, kind: type) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        c.add(path, f"unknown value {value!r}; expected one of: {allowed}")
        return None


def _validate(application: GrantApplication) -> tuple[ApplicantKind, ProcurementKind,
                                                       list[_Line]]:
    c = Collector()
    applicant = application.applicant
    problem = business_id_problem(applicant.business_id)
    if problem:
        c.add("applicant.business_id", problem)
    applicant_kind = _enum(c, "applicant.kind", applicant.kind, ApplicantKind)
    procurement_kind = _enum(c, "procurement_kind", application.procurement_kind,
                             ProcurementKind)
    ref = application.reference_date
    c.check(isinstance(ref, date) and not isinstance(ref, datetime), "reference_date",
            "must be a calendar date (YYYY-MM-DD)")

    lines: list[_Line] = []
    raw_lines = application.cost_lines
    if not isinstance(raw_lines, Sequence) or isinstance(raw_lines, str):
        c.add("cost_lines", "must be a list of cost lines")
        raw_lines = ()
    elif not raw_lines:
        c.add("cost_lines", "at least one cost line is required")
    elif len(raw_lines) > MAX_COST_LINES:
        c.add("cost_lines", f"at most {MAX_COST_LINES} cost lines")
        raw_lines = ()
    for i, line in enumerate(raw_lines):
        path = f"cost_lines[{i}]"
        if not isinstance(line, CostLine):
            c.add(path, "must be a cost line")
            continue
        category = _enum(c, f"{path}.category", line.category, CostCategory)
        share = rate = Decimal(0)
        salary = amount = vat = 0
        if category is CostCategory.OWN_PERSONNEL:
            salary = _money(c, f"{path}.salary_cents", line.salary_cents)
            share = _decimal(c, f"{path}.working_time_share", line.working_time_share,
                             empty_means_zero=False) or Decimal(0)
            if not Decimal(0) <= share <= Decimal(1):
                c.add(f"{path}.working_time_share", "must be between 0 and 1 (0 % to 100 %)")
            rate = _decimal(c, f"{path}.indirect_cost_rate", line.indirect_cost_rate,
                            empty_means_zero=True) or Decimal(0)
            c.check(rate >= 0, f"{path}.indirect_cost_rate", "must not be negative")
            if rate > MAX_INDIRECT_COST_RATE:
                c.add(f"{path}.indirect_cost_rate",
                      f"must be at most {MAX_INDIRECT_COST_RATE} (a ratio: 0.25 is 25 %)")
                rate = Decimal(0)
            for name in ("amount_cents", "vat_cents"):
                c.check(getattr(line, name) in (0, None), f"{path}.{name}",
                        "does not apply to own_personnel; give the salary instead")
        elif category is not None:
            amount = _money(c, f"{path}.amount_cents", line.amount_cents)
            vat = _money(c, f"{path}.vat_cents", line.vat_cents)
            c.check(line.salary_cents in (0, None), f"{path}.salary_cents",
                    "applies to own_personnel only; give the amount instead")
            for name in ("working_time_share", "indirect_cost_rate"):
                c.check(getattr(line, name) in ("", None), f"{path}.{name}",
                        "applies to own_personnel only")
        if category is not None:
            lines.append(_Line(i, category, line.description or "", salary, share, rate,
                               amount, vat))
    c.raise_if_any()
    return applicant_kind, procurement_kind, lines


def _decided_rate(value: Decimal | str | None, rate_max: Decimal) -> Decimal | None:
    """The decision's indirect-cost rate (None: not set), or InvalidArgument naming
    ``indirect_cost_rate``: a decimal from 0 to the maximum in force."""
    if value is None:
        return None
    c = Collector()
    rate = _decimal(c, "indirect_cost_rate", value, empty_means_zero=False)
    if rate is not None and not Decimal(0) <= rate <= rate_max:
        c.add("indirect_cost_rate", f"must be between 0 and indirect_cost_rate_max {rate_max} "
                                    "(a ratio: 0.25 is 25 %)")
    c.raise_if_any()
    return rate


# --- rules -----------------------------------------------------------------------------

def _round_cents(exact_cents: Decimal, rounding: Mapping[str, Any]) -> int:
    """Round to a multiple of ``unit_cents`` with the decimal module's ``mode``."""
    unit = Decimal(rounding["unit_cents"])
    with localcontext() as ctx:
        ctx.prec = _EXACT
        return int((exact_cents / unit).quantize(Decimal(1), rounding=str(rounding["mode"]))
                   * unit)


def applicant_eligibility(t: Tracer, kind: ApplicantKind) -> bool:
    """The applicant may apply if its kind is among the eligible applicant kinds."""
    eligible = kind.value in t.parameter("eligible_applicant_kinds").value
    t.record("applicant_eligible", "applicant_eligibility",
             "applicant.kind ∈ eligible_applicant_kinds", eligible,
             {"applicant.kind": kind}, ("eligible_applicant_kinds",))
    return eligible


def procurement_kind_eligibility(t: Tracer, kind: ProcurementKind) -> bool:
    """The planned procurement must be of a kind the IJH grant supports on the date."""
    eligible = kind.value in t.parameter("procurement_kinds").value
    t.record("procurement_kind_eligible", "procurement_kind_eligibility",
             "procurement_kind ∈ procurement_kinds", eligible,
             {"procurement_kind": kind}, ("procurement_kinds",))
    return eligible


def _category_rejection(t: Tracer, category: CostCategory, amount_cents: int) -> Rejection:
    reasons = t.parameter("ineligible_cost_categories").value or {}
    text = reasons.get(category.value) or (
        f"{category.value} is not an eligible cost category on {t.in_force.on.isoformat()}")
    return Rejection(RejectionReason.CATEGORY_NOT_ELIGIBLE, amount_cents, text)


def own_personnel_cost(t: Tracer, line: _Line, decided_rate: Decimal | None = None
                       ) -> CostLineResult:
    """Own personnel: salary × share of working time × (1 + indirect-cost rate), the rate
    capped at ``indirect_cost_rate_max`` and at the rate the decision sets
    (``decided_rate``, if any); each amount rounded by ``cost_line_rounding``."""
    p = f"cost_lines[{line.index}]"
    rounding = t.parameter("cost_line_rounding").value
    rate_max = Decimal(t.parameter("indirect_cost_rate_max").value)
    cap = rate_max if decided_rate is None else min(rate_max, decided_rate)
    with localcontext() as ctx:
        ctx.prec = _EXACT  # exact: 12 + 7 + 7 significant digits at most
        base = Decimal(line.salary_cents) * line.working_time_share
        claimed_exact = base * (1 + line.indirect_cost_rate)
        rate_used = min(line.indirect_cost_rate, cap)
        accepted_exact = base * (1 + rate_used)
    claimed = _round_cents(claimed_exact, rounding)
    inputs = {"salary_cents": line.salary_cents,
              "working_time_share": line.working_time_share,
              "indirect_cost_rate": line.indirect_cost_rate}
    t.record(f"{p}.claimed_cents", "own_personnel_cost",
             "round(salary_cents × working_time_share × (1 + indirect_cost_rate))",
             claimed, {**inputs, "exact_cents": claimed_exact}, ("cost_line_rounding",))

    eligible_category = line.category.value in t.parameter("eligible_cost_categories").value
    rejections: list[Rejection] = []
    if not eligible_category:
        accepted = 0
        rejections.append(_category_rejection(t, line.category, claimed))
        used: tuple[str, ...] = ("eligible_cost_categories", "ineligible_cost_categories")
        formula = "0: own_personnel ∉ eligible_cost_categories"
        t.record(f"{p}.accepted_cents", "own_personnel_cost", formula, accepted,
                 {"category": line.category}, used)
    else:
        accepted = _round_cents(accepted_exact, rounding)
        if accepted < claimed and cap < rate_max:
            rejections.append(Rejection(
                RejectionReason.INDIRECT_COST_RATE_ABOVE_DECISION, claimed - accepted,
                f"indirect_cost_rate {line.indirect_cost_rate} is above the rate {cap} set "
                "in the funding decision; the excess overhead is not funded"))
        elif accepted < claimed:
            rejections.append(Rejection(
                RejectionReason.INDIRECT_COST_RATE_ABOVE_MAXIMUM, claimed - accepted,
                f"indirect_cost_rate {line.indirect_cost_rate} is above the maximum "
                f"{rate_max}; the excess overhead is not funded"))
        if decided_rate is None:
            t.record(f"{p}.accepted_cents", "own_personnel_cost",
                     "round(salary_cents × working_time_share × "
                     "(1 + min(indirect_cost_rate, indirect_cost_rate_max)))",
                     accepted, {**inputs, "indirect_cost_rate_applied": rate_used,
                                "exact_cents": accepted_exact},
                     ("eligible_cost_categories", "indirect_cost_rate_max",
                      "cost_line_rounding"))
        else:
            t.record(f"{p}.accepted_cents", "own_personnel_cost",
                     "round(salary_cents × working_time_share × (1 + min(indirect_cost_rate, "
                     "decision.indirect_cost_rate, indirect_cost_rate_max)))",
                     accepted, {**inputs, "decision.indirect_cost_rate": decided_rate,
                                "indirect_cost_rate_applied": rate_used,
                                "exact_cents": accepted_exact},
                     ("eligible_cost_categories", "indirect_cost_rate_max",
                      "cost_line_rounding"))
    t.record(f"{p}.rejected_cents", "own_personnel_cost", "claimed_cents − accepted_cents",
             claimed - accepted, {"claimed_cents": claimed, "accepted_cents": accepted})
    return CostLineResult(line.index, line.category, line.description, claimed, accepted,
                          claimed - accepted, tuple(rejections))


def purchased_cost(t: Tracer, line: _Line) -> CostLineResult:
    """A purchase line (expert services, the procurement, equipment, travel, other):
    ``amount_cents`` counts if its category is eligible; ``vat_cents`` only if VAT is."""
    p = f"cost_lines[{line.index}]"
    claimed = line.amount_cents + line.vat_cents
    t.record(f"{p}.claimed_cents", "purchased_cost", "amount_cents + vat_cents", claimed,
             {"amount_cents": line.amount_cents, "vat_cents": line.vat_cents})
    eligible_category = line.category.value in t.parameter("eligible_cost_categories").value
    vat_eligible = bool(t.parameter("vat_eligible").value)
    rejections: list[Rejection] = []
    used = ["eligible_cost_categories", "vat_eligible"]
    accepted = 0
    if eligible_category:
        accepted += line.amount_cents
    elif line.amount_cents:
        rejections.append(_category_rejection(t, line.category, line.amount_cents))
    if not eligible_category:
        used.append("ineligible_cost_categories")
    if eligible_category and vat_eligible:
        accepted += line.vat_cents
    elif line.vat_cents:
        rejections.append(Rejection(
            RejectionReason.VAT_NOT_ELIGIBLE, line.vat_cents,
            "VAT is not an eligible cost; costs are funded without VAT"))
    t.record(f"{p}.accepted_cents", "purchased_cost",
             "(amount_cents if category ∈ eligible_cost_categories else 0) + "
             "(vat_cents if vat_eligible and category eligible else 0)", accepted,
             {"category": line.category, "amount_cents": line.amount_cents,
              "vat_cents": line.vat_cents}, tuple(used))
    t.record(f"{p}.rejected_cents", "purchased_cost", "claimed_cents − accepted_cents",
             claimed - accepted, {"claimed_cents": claimed, "accepted_cents": accepted})
    return CostLineResult(line.index, line.category, line.description, claimed, accepted,
                          claimed - accepted, tuple(rejections))


def cost_totals(t: Tracer, lines: Sequence[CostLineResult]) -> tuple[int, int, int]:
    """Claimed, eligible (accepted) and rejected totals over all cost lines."""
    totals = []
    for figure, attr in (("claimed_cents", "claimed_cents"),
                         ("eligible_cents", "accepted_cents"),
                         ("rejected_cents", "rejected_cents")):
        total = sum(getattr(line, attr) for line in lines)
        t.record(figure, "cost_totals", f"Σ cost_lines[i].{attr}", total,
                 {f"cost_lines[{line.index}].{attr}": getattr(line, attr) for line in lines})
        totals.append(total)
    return totals[0], totals[1], totals[2]


def grant_amount(t: Tracer, eligible_cents: int,
                 eligible: bool) -> tuple[Decimal, int, int, Rejection | None]:
    """Grant = eligible total × grant rate, rounded by ``grant_rounding``, capped at
    ``maximum_grant_cents`` (if not null), and 0 when the application is not eligible.

    Returns the rate, the grant, the grant an eligible application would get, and the
    cap's rejection if the cap bit."""
    rate = Decimal(t.parameter("grant_rate").value)
    rounding = t.parameter("grant_rounding").value
    maximum = t.parameter("maximum_grant_cents").value
    t.record("grant_rate", "grant_amount", "grant_rate in force", rate, {}, ("grant_rate",))
    exact = Decimal(eligible_cents) * rate
    rounded = _round_cents(exact, rounding)
    earned = rounded
    cap_rejection = None
    if maximum is not None and rounded > int(maximum):
        earned = int(maximum)
        cap_rejection = Rejection(RejectionReason.GRANT_ABOVE_MAXIMUM, rounded - earned,
                                  "the grant is capped at the maximum grant in force, "
                                  f"{_euros(int(maximum))}")
    grant = earned if eligible else 0
    t.record("grant_cents", "grant_amount",
             "min(round(eligible_cents × grant_rate), maximum_grant_cents) if eligible "
             "else 0", grant,
             {"eligible_cents": eligible_cents, "exact_cents": exact,
              "rounded_cents": rounded, "eligible": eligible},
             ("grant_rate", "grant_rounding", "maximum_grant_cents"))
    return rate, grant, earned, cap_rejection


def compute_grant(application: GrantApplication,
                  parameters: ParameterSet | None = None) -> GrantComputation:
    """Compute the IJH grant of ``application`` under the rules in force on its
    ``reference_date``.

    Raises ``InvalidArgument`` listing every bad field, and ``ParameterNotInForce``
    (a ``FailedPrecondition``) naming every rule parameter without a value on that date.
    ``parameters`` defaults to the IJH parameter set shipped with this package."""
    applicant_kind, procurement_kind, lines = _validate(application)
    in_force = (parameters or ijh_parameters()).at(application.reference_date)
    in_force.require(*REQUIRED_PARAMETERS)
    decided_rate = _decided_rate(application.indirect_cost_rate,
                                 Decimal(in_force.get("indirect_cost_rate_max").value))
    t = Tracer(in_force)

    applicant_ok = applicant_eligibility(t, applicant_kind)
    kind_ok = procurement_kind_eligibility(t, procurement_kind)
    results = [own_personnel_cost(t, line, decided_rate)
               if line.category is CostCategory.OWN_PERSONNEL
               else purchased_cost(t, line) for line in lines]
    claimed, eligible_total, rejected = cost_totals(t, results)
    eligible = applicant_ok and kind_ok
    t.record("eligible", "grant_amount", "applicant_eligible ∧ procurement_kind_eligible",
             eligible, {"applicant_eligible": applicant_ok,
                        "procurement_kind_eligible": kind_ok})
    rate, grant, earned, cap_rejection = grant_amount(t, eligible_total, eligible)

    # Application-level rejections carry the grant the costs would otherwise have earned.
    rejections: list[Rejection] = []
    if not applicant_ok:
        rejections.append(Rejection(
            RejectionReason.APPLICANT_KIND_NOT_ELIGIBLE, earned,
            f"applicant kind {applicant_kind.value} may not receive the IJH grant on "
            f"{in_force.on.isoformat()}; eligible: "
            f"{render(in_force.get('eligible_applicant_kinds').value)}"))
    if not kind_ok:
        rejections.append(Rejection(
            RejectionReason.PROCUREMENT_KIND_NOT_ELIGIBLE, earned,
            f"procurement kind {procurement_kind.value} is not supported on "
            f"{in_force.on.isoformat()}; supported: "
            f"{render(in_force.get('procurement_kinds').value)}"))
    if cap_rejection is not None:
        rejections.append(cap_rejection)

    return GrantComputation(
        application_id=application.application_id,
        reference_date=in_force.on,
        rules_version=in_force.version,
        applicant_eligible=applicant_ok,
        procurement_kind_eligible=kind_ok,
        eligible=eligible,
        rejections=tuple(rejections),
        cost_lines=tuple(results),
        claimed_cents=claimed,
        eligible_cents=eligible_total,
        rejected_cents=rejected,
        grant_rate=rate,
        grant_cents=grant,
        explanation=tuple(t.steps),
        parameters_used=t.parameters_used,
    )

