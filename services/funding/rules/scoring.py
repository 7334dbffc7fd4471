"""Scoring an IJH application against the rubric in force: several officers, one result.

Each officer scores every criterion from ``min_score`` to ``max_score`` in ``step``s
(0-5 in half points). Per criterion the officers' scores are aggregated to a mean; the
criterion passes if the mean reaches its pass mark. The application passes if every
criterion passes *and* the total of the means reaches the overall pass mark. Weights are
used only for the ranking score. Officers disagree on a criterion when the spread
(max − min) reaches the disagreement threshold.

All arithmetic is exact (Fraction); means, totals, weighted scores and standard
deviations are *reported* as Decimals to 0.01 (ROUND_HALF_UP) but pass/fail is decided
on the exact values, so a mean of 2.995 never "rounds up" to a pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from fractions import Fraction
from typing import Any

from services.funding.rules.explanation import ParameterUse, Tracer, TraceStep
from services.funding.rules.parameters import ParameterSet, ParametersInForce
from services.funding.rules.rulebook import ijh_parameters
from services.shared.errors import Collector

__all__ = [
    "MAX_OFFICERS",
    "Criterion",
    "CriterionResult",
    "CriterionScore",
    "Rubric",
    "ScoreSheet",
    "ScoringResult",
    "rubric_in_force",
    "score_application",
]

MAX_OFFICERS = 50
"""More score sheets than this for one application is a client error."""

RUBRIC_PARAMETERS = ("scoring_criteria", "scoring_scale", "scoring_overall_pass_mark",
                     "scoring_disagreement_threshold")
_CENT = Decimal("0.01")
_MAX_SCORE_DIGITS = 20  # a score is "3.5"; bounds the exact step check below
_HALF = Decimal("0.0")  # scores shown with one decimal: "3.0", "3.5"


def _report(value: Fraction) -> Decimal:
    """Exact fraction → Decimal to 0.01, half up (for display; decisions use the Fraction)."""
    with localcontext() as ctx:
        ctx.prec = 40
        return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(
            _CENT, rounding=ROUND_HALF_UP)


def _fraction(value: Decimal) -> Fraction:
    return Fraction(value)


# --- rubric ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Criterion:
    """One rubric criterion as configured on a date."""

    criterion: str
    description: str
    pass_mark: Decimal
    weight: Decimal
    guidance: str


@dataclass(frozen=True)
class Rubric:
    """The rubric in force on a date (GetRubric RPC) with its rules version."""

    criteria: tuple[Criterion, ...]
    min_score: Decimal
    max_score: Decimal
    step: Decimal
    overall_pass_mark: Decimal
    disagreement_threshold: Decimal
    rules_version: str

    @property
    def maximum_total(self) -> Decimal:
        """Highest possible total of criterion scores."""
        return self.max_score * len(self.criteria)


def _rubric(in_force: ParametersInForce) -> Rubric:
    in_force.require(*RUBRIC_PARAMETERS)
    scale = in_force.get("scoring_scale").value
    criteria = tuple(
        Criterion(criterion=str(c["criterion"]),
                  description=" ".join(str(c["description"]).split()),
                  pass_mark=Decimal(c["pass_mark"]), weight=Decimal(c["weight"]),
                  guidance=" ".join(str(c.get("guidance", "")).split()))
        for c in in_force.get("scoring_criteria").value)
    return Rubric(criteria=criteria, min_score=Decimal(scale["min_score"]),
                  max_score=Decimal(scale["max_score"]), step=Decimal(scale["step"]),
                  overall_pass_mark=Decimal(in_force.get("scoring_overall_pass_mark").value),
                  disagreement_threshold=Decimal(
                      in_force.get("scoring_disagreement_threshold").value),
                  rules_version=in_force.version)


def rubric_in_force(on: date, parameters: ParameterSet | None = None) -> Rubric:
    """The scoring rubric in force on ``on`` (raises ParameterNotInForce if none)."""
    return _rubric((parameters or ijh_parameters()).at(on))


# --- request / result --------------------------------------------------------------------

@dataclass(frozen=True)
class CriterionScore:
    """One officer's score on one criterion: a Decimal or decimal string, e.g. "3.5"."""

    criterion: str
    score: Decimal | str


@dataclass(frozen=True)
class ScoreSheet:
    """One officer's scores: exactly one per rubric criterion."""

    officer_id: str
    scores: tuple[CriterionScore, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScoreSheet:
        """Build from plain data: ``{"officer_id": "a", "scores": {"novelty": "3.5"}}`` or
        with ``scores`` as a list of ``{"criterion", "score"}``."""
        raw = data.get("scores") or ()
        if isinstance(raw, Mapping):
            scores = tuple(CriterionScore(k, v) for k, v in raw.items())
        else:
            scores = tuple(CriterionScore(**s) for s in raw)
        return cls(officer_id=data.get("officer_id", ""), scores=scores)


@dataclass(frozen=True)
class CriterionResult:
    """The officers' verdict on one criterion. ``officer_scores`` follow the sheet order;
    ``stdev`` is the population standard deviation (the panel is the whole population)."""

    criterion: str
    officer_scores: tuple[Decimal, ...]
    mean_score: Decimal
    min_score: Decimal
    max_score: Decimal
    spread: Decimal
    stdev: Decimal
    pass_mark: Decimal
    passed: bool
    disagreement: bool
    weight: Decimal

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (Decimals as strings)."""
        return {"criterion": self.criterion,
                "officer_scores": [str(s) for s in self.officer_scores],
                "mean_score": str(self.mean_score), "min_score": str(self.min_score),
                "max_score": str(self.max_score), "spread": str(self.spread),
                "stdev": str(self.stdev), "pass_mark": str(self.pass_mark),
                "passed": self.passed, "disagreement": self.disagreement,
                "weight": str(self.weight)}


@dataclass(frozen=True)
class ScoringResult:
    """Aggregate score of one application."""

    reference_date: date
    rules_version: str
    officer_ids: tuple[str, ...]
    criteria: tuple[CriterionResult, ...]
    total_score: Decimal
    maximum_total: Decimal
    overall_pass_mark: Decimal
    all_criteria_passed: bool
    passed: bool
    weighted_score: Decimal
    disagreement: bool
    explanation: tuple[TraceStep, ...]
    parameters_used: tuple[ParameterUse, ...]
    total_passed: bool = True
    """The total reaches the overall pass mark (exact total)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored with the decision."""
        return {"reference_date": self.reference_date.isoformat(),
                "rules_version": self.rules_version, "officer_ids": list(self.officer_ids),
                "criteria": [c.to_dict() for c in self.criteria],
                "total_score": str(self.total_score), "maximum_total": str(self.maximum_total),
                "overall_pass_mark": str(self.overall_pass_mark),
                "all_criteria_passed": self.all_criteria_passed, "passed": self.passed,
                "weighted_score": str(self.weighted_score), "disagreement": self.disagreement,
                "explanation": [s.to_dict() for s in self.explanation],
                "parameters_used": [p.to_dict() for p in self.parameters_used]}


# --- validation ------------------------------------------------------------------------

def _score(c: Collector, path: str, raw: object, rubric: Rubric) -> Decimal | None:
    if isinstance(raw, float):
        c.add(path, "binary floating point is not accepted; give a decimal string like '3.5'")
        return None
    if isinstance(raw, bool) or not isinstance(raw, (str, int, Decimal)):
        c.add(path, "must be a decimal number given as a string")
        return None
    try:
        value = Decimal(raw.strip()) if isinstance(raw, str) else Decimal(raw)
    except InvalidOperation:
        c.add(path, f"{raw!r} is not a decimal number")
        return None
    if not value.is_finite() or not rubric.min_score <= value <= rubric.max_score:
        c.add(path, f"must be between {rubric.min_score} and {rubric.max_score}")
        return None
    if len(value.as_tuple().digits) > _MAX_SCORE_DIGITS:
        c.add(path, f"at most {_MAX_SCORE_DIGITS} digits, like \"3.5\"")
        return None
    # Exactly (fractions): decimal arithmetic would round a 29-digit "2.999…9" to 3.
    if (Fraction(value) - Fraction(rubric.min_score)) % Fraction(rubric.step) != 0:
        c.add(path, f"must be a multiple of {rubric.step} (half points)")
        return None
    return value


def _validate(sheets: Sequence[ScoreSheet], rubric: Rubric) -> list[dict[str, Decimal]]:
    c = Collector()
    names = [k.criterion for k in rubric.criteria]
    if isinstance(sheets, str) or not isinstance(sheets, Sequence) or not sheets:
        c.add("score_sheets", "at least one officer's score sheet is required")
        c.raise_if_any()
    if len(sheets) > MAX_OFFICERS:
        c.add("score_sheets", f"at most {MAX_OFFICERS} score sheets")
        c.raise_if_any()
    seen_officers: set[str] = set()
    result: list[dict[str, Decimal]] = []
    for i, sheet in enumerate(sheets):
        path = f"score_sheets[{i}]"
        if not isinstance(sheet, ScoreSheet):
            c.add(path, "must be a score sheet")
            continue
        officer = sheet.officer_id
        if not isinstance(officer, str) or not officer.strip():
            c.add(f"{path}.officer_id", "is required")
        elif officer in seen_officers:
            c.add(f"{path}.officer_id", f"officer {officer!r} already scored this application")
        else:
            seen_officers.add(officer)
        scores: dict[str, Decimal] = {}
        for j, item in enumerate(sheet.scores):
            spath = f"{path}.scores[{j}]"
            if item.criterion not in names:
                c.add(f"{spath}.criterion",
                      f"unknown criterion {item.criterion!r}; expected one of: "
                      f"{', '.join(names)}")
                continue
            if item.criterion in scores:
                c.add(f"{spath}.criterion", f"criterion {item.criterion!r} scored twice")
                continue
            value = _score(c, f"{spath}.score", item.score, rubric)
            if value is not None:
                scores[item.criterion] = value.quantize(_HALF)
        missing = [n for n in names if n not in scores
                   and not any(s.criterion == n for s in sheet.scores)]
        if missing:
            c.add(f"{path}.scores", f"missing scores for: {', '.join(missing)}")
        result.append(scores)
    c.raise_if_any()
    return result


# --- rules -------------------------------------------------------------------------------

def criterion_aggregate(t: Tracer, index: int, criterion: Criterion,
                        scores: Sequence[Decimal], threshold: Decimal) -> CriterionResult:
    """Mean, spread and population stdev of the officers' scores on one criterion, the
    pass/fail against its pass mark (exact mean) and the disagreement flag."""
    name = criterion.criterion
    n = len(scores)
    exact = [_fraction(s) for s in scores]
    mean = sum(exact, Fraction(0)) / n
    variance = sum(((x - mean) ** 2 for x in exact), Fraction(0)) / n
    with localcontext() as ctx:
        ctx.prec = 40
        stdev = (Decimal(variance.numerator) / Decimal(variance.denominator)).sqrt().quantize(
            _CENT, rounding=ROUND_HALF_UP)
    low, high = min(scores), max(scores)
    spread = high - low
    passed = mean >= _fraction(criterion.pass_mark)
    disagreement = spread >= threshold
    inputs = {f"officer_scores[{i}]": s for i, s in enumerate(scores)}
    prefix = f"criteria[{index}]"
    t.record(f"{prefix}.mean_score", "criterion_aggregate", "Σ officer_scores / n",
             _report(mean), {**inputs, "n": n})
    t.record(f"{prefix}.spread", "criterion_aggregate", "max(officer_scores) − min(...)",
             spread, inputs)
    t.record(f"{prefix}.stdev", "criterion_aggregate",
             "√(Σ (score − mean)² / n) (population)", stdev, inputs)
    t.record(f"{prefix}.passed", "criterion_pass_mark", "mean_score ≥ pass_mark (exact mean)",
             passed, {"mean_score_exact": f"{mean.numerator}/{mean.denominator}",
                      "pass_mark": criterion.pass_mark}, ("scoring_criteria",))
    t.record(f"{prefix}.disagreement", "officer_disagreement",
             "spread ≥ scoring_disagreement_threshold", disagreement, {"spread": spread},
             ("scoring_disagreement_threshold",))
    return CriterionResult(name, tuple(scores), _report(mean), low, high, spread, stdev,
                           criterion.pass_mark, passed, disagreement, criterion.weight)


def score_application(score_sheets: Sequence[ScoreSheet], reference_date: date,
                      parameters: ParameterSet | None = None) -> ScoringResult:
    """Aggregate the officers' score sheets under the rubric in force on ``reference_date``.

    Raises ``InvalidArgument`` (every bad field: unknown or missing criteria, scores off
    the half-point scale, floats, duplicate officers) and ``ParameterNotInForce``."""
    if not isinstance(reference_date, date) or isinstance(reference_date, datetime):
        c = Collector()
        c.add("reference_date", "must be a calendar date (YYYY-MM-DD)")
        c.raise_if_any()
    in_force = (parameters or ijh_parameters()).at(reference_date)
    rubric = _rubric(in_force)
    per_sheet = _validate(score_sheets, rubric)
    t = Tracer(in_force)
    t.record("maximum_total", "rubric_scale", "max_score × number of criteria",
             rubric.maximum_total, {"criteria": len(rubric.criteria)},
             ("scoring_scale", "scoring_criteria"))

    results = tuple(criterion_aggregate(t, i, k, [s[k.criterion] for s in per_sheet],
                                        rubric.disagreement_threshold)
                    for i, k in enumerate(rubric.criteria))
    n = len(per_sheet)
    exact_means = {k.criterion: sum((_fraction(s[k.criterion]) for s in per_sheet),
                                    Fraction(0)) / n for k in rubric.criteria}
    total = sum(exact_means.values(), Fraction(0))
    weighted = sum((_fraction(k.weight) * exact_means[k.criterion] for k in rubric.criteria),
                   Fraction(0))
    all_passed = all(r.passed for r in results)
    total_passed = total >= _fraction(rubric.overall_pass_mark)
    passed = all_passed and total_passed
    disagreement = any(r.disagreement for r in results)
    means = {f"criteria[{i}].mean_score": r.mean_score for i, r in enumerate(results)}
    t.record("total_score", "overall_pass_mark", "Σ criterion means (exact)", _report(total),
             means)
    t.record("all_criteria_passed", "criterion_pass_mark", "∀ criteria: passed", all_passed,
             {f"criteria[{i}].passed": r.passed for i, r in enumerate(results)})
    t.record("passed", "overall_pass_mark",
             "all_criteria_passed ∧ total_score ≥ scoring_overall_pass_mark (exact total)",
             passed, {"all_criteria_passed": all_passed,
                      "total_score_exact": f"{total.numerator}/{total.denominator}"},
             ("scoring_overall_pass_mark",))
    t.record("weighted_score", "ranking_weights", "Σ weight × criterion mean",
             _report(weighted), {**means, **{f"criteria[{i}].weight": k.weight
                                             for i, k in enumerate(rubric.criteria)}},
             ("scoring_criteria",))
    t.record("disagreement", "officer_disagreement", "∃ criterion: disagreement",
             disagreement, {f"criteria[{i}].spread": r.spread for i, r in enumerate(results)},
             ("scoring_disagreement_threshold",))
    return ScoringResult(
        reference_date=in_force.on, rules_version=in_force.version,
        officer_ids=tuple(s.officer_id for s in score_sheets), criteria=results,
        total_score=_report(total), maximum_total=rubric.maximum_total,
        overall_pass_mark=rubric.overall_pass_mark, all_criteria_passed=all_passed,
        passed=passed, weighted_score=_report(weighted), disagreement=disagreement,
        explanation=tuple(t.steps), parameters_used=t.parameters_used,
        total_passed=total_passed)
