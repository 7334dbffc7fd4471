"""Validation of a ProcurementModel and its compilation into a sampling plan.

Every bad field is reported at once (InvalidArgument with one FieldViolation each,
paths as the request spells them: ``cost_items[3].distribution.mode_cents``); size
bounds raise ResourceExhausted naming the bound. Priors fill what is left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from numbers import Integral, Real

import numpy as np

from services.shared.errors import Collector, ResourceExhausted
from services.shared.money import MAX_CENTS

from . import marginals as mg
from .correlation import (
    copula_factor,
    indicator_rank_correlation,
    is_valid_correlation,
    nearest_correlation,
    pearson_to_spearman,
    spearman_to_pearson,
)
from .model import (
    CorrelationReport,
    CostDistribution,
    DefaultUsed,
    DistributionKind,
    DurationDistribution,
    NoveltyLevel,
    ProcurementKind,
    ProcurementModel,
)
from .priors import (
    COST_SPREADS,
    DEFAULT_NOVELTY,
    DEFAULT_PERT_SHAPE,
    DURATION_SPREADS,
    PHASE_PRIORS,
    PHASE_PRIORS_SOURCE,
    SPREAD_SOURCE,
    Spread,
)
from .schedule import Network, topological_order

MAX_SCENARIOS = 2_000_000
BLOCK_SCENARIOS = 4096  # the unit of randomness: block b draws from spawn_key (b,)
MAX_COST_ITEMS = 5_000
MAX_ACTIVITIES = 2_000
MAX_RISK_EVENTS = 2_000
MAX_CORRELATED_INPUTS = 500
MAX_PHASES = 20
MAX_SUPPLIERS = 1_000
MAX_SEED = 2**64 - 1  # a proto uint64
#: The longest duration in a model, in days (about 2,700 years). Durations had no bound:
#: two activities of 1e300 days (or one of 1.7e308) overflowed the schedule to inf, and
#: the duration histogram could not be built (INTERNAL).
MAX_DAYS = 1_000_000.0
#: The most peaked Beta-PERT (the usual shape is 4; far above it is a fixed value): a shape
#: of 1e50 made the Beta's parameters overflow and the samples NaN (INTERNAL).
MAX_PERT_SHAPE = 1_000.0
#: The widest lognormal, p90 / p10 (money's own bounds allow 1e15): days of p10 1e-300 and
#: p90 1e6 gave an infinite standard deviation and a NaN standard error.
MAX_LOGNORMAL_RATIO = 1e15

ALWAYS, ON_SUCCESS = -1, -2  # CostItem incurrence codes besides a phase index

_FIELDS = {
    DistributionKind.FIXED: ("mode",),
    DistributionKind.DISTRIBUTION_KIND_UNSPECIFIED: ("mode",),
    DistributionKind.TRIANGULAR: ("minimum", "mode", "maximum"),
    DistributionKind.PERT: ("minimum", "mode", "maximum"),
    DistributionKind.UNIFORM: ("minimum", "maximum"),
    DistributionKind.TRUNCATED_NORMAL: ("mean", "standard_deviation"),
    DistributionKind.LOGNORMAL: ("p10", "p90"),
}
_ALL_FIELDS = ("minimum", "mode", "maximum", "mean", "standard_deviation", "p10", "p90")


@dataclass
class Plan:
    """A validated model with priors applied, ready to sample. Inputs are numbered
    cost items, then activities, then risk events (their occurrence)."""

    model: ProcurementModel
    cost_names: list[str]
    cost_marginals: list[mg.Marginal]
    cost_incurrence: list[int]  # ALWAYS, ON_SUCCESS or the phase index
    base_estimate_cents: int
    activity_names: list[str]
    activity_marginals: list[mg.Marginal]
    network: Network | None
    risk_names: list[str]
    risk_occurrence: list[mg.Marginal]
    risk_impacts: list[mg.Marginal]
    risk_delays: list[mg.Marginal]
    risk_targets: list[list[int]]
    phase_names: list[str]
    phase_suppliers: list[int]
    phase_pass_probabilities: list[float]
    correlated_inputs: list[int]
    copula_factor: np.ndarray | None
    correlation_report: CorrelationReport | None
    defaults_used: list[DefaultUsed]

    @property
    def input_marginals(self) -> list[mg.Marginal]:
        return self.cost_marginals + self.activity_marginals + self.risk_occurrence


def is_integer(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def is_finite_number(value: object) -> bool:
    return (isinstance(value, Real) and not isinstance(value, bool)
            and math.isfinite(float(value)))


def is_probability(value: object) -> bool:
    return is_finite_number(value) and 0.0 <= float(value) <= 1.0


def _enum(c: Collector, enum: type, value: object, path: str):
    try:
        return enum(value)
    except ValueError:
        c.add(path, f"must be one of {', '.join(m.value for m in enum)}")
        return None


def _distribution(c: Collector, path: str, dist: CostDistribution | DurationDistribution,
                  unit: str, spread: Spread, defaults: list[DefaultUsed]
                  ) -> tuple[mg.Marginal | None, float]:
    """Validate one distribution; return its marginal and its most-likely value."""
    if not isinstance(dist, CostDistribution | DurationDistribution):
        c.add(path, "is required")
        return None, 0.0
    kind = _enum(c, DistributionKind, dist.kind, f"{path}.kind")
    values: dict[str, float] = {}
    for name in _ALL_FIELDS:
        fpath, value = f"{path}.{name}_{unit}", getattr(dist, f"{name}_{unit}")
        if unit == "cents" and not is_integer(value):
            c.add(fpath, "must be an integer number of cents")
        elif not is_finite_number(value):
            c.add(fpath, "must be a finite number")
        elif value < 0:
            c.add(fpath, "must not be negative")
        elif unit == "cents" and value > MAX_CENTS:
            c.add(fpath, f"at most {MAX_CENTS:,} cents")
        elif unit == "days" and value > MAX_DAYS:
            c.add(fpath, f"at most {MAX_DAYS:,.0f} days")
        else:
            values[name] = float(value)
    shape = dist.pert_shape
    if not is_finite_number(shape) or not 0 <= shape <= MAX_PERT_SHAPE:
        c.add(f"{path}.pert_shape",
              f"must be a finite number in [0, {MAX_PERT_SHAPE:,.0f}] (0 means 4)")
        shape = DEFAULT_PERT_SHAPE
    shape = float(shape) or DEFAULT_PERT_SHAPE
    if kind is None or any(f not in values for f in _FIELDS[kind]):
        return None, 0.0
    v = values

    def field(name: str) -> str:
        return f"{path}.{name}_{unit}"

    K = DistributionKind
    if kind in (K.TRIANGULAR, K.PERT):
        ok = c.check(v["minimum"] <= v["mode"], field("minimum"),
                     f"must not exceed mode_{unit}")
        ok &= c.check(v["mode"] <= v["maximum"], field("maximum"),
                      f"must not be below mode_{unit}")
        if ok and c.check(v["minimum"] < v["maximum"], field("maximum"),
                          f"must exceed minimum_{unit} (use FIXED for a certain value)"):
            if kind == K.TRIANGULAR:
                return mg.Marginal(mg.TRIANGULAR, (v["minimum"], v["mode"], v["maximum"])), \
                    v["mode"]
            return mg.pert(v["minimum"], v["mode"], v["maximum"], shape), v["mode"]
    elif kind == K.FIXED:
        return mg.Marginal(mg.FIXED, (v["mode"],)), v["mode"]
    elif kind == K.UNIFORM:
        if c.check(v["minimum"] < v["maximum"], field("maximum"),
                   f"must exceed minimum_{unit}"):
            return mg.Marginal(mg.UNIFORM, (v["minimum"], v["maximum"])), \
                0.5 * (v["minimum"] + v["maximum"])
    elif kind == K.TRUNCATED_NORMAL:
        if c.check(v["standard_deviation"] > 0, field("standard_deviation"),
                   "must be positive"):
            return mg.Marginal(mg.NORMAL, (v["mean"], v["standard_deviation"])), v["mean"]
    elif kind == K.LOGNORMAL:
        ok = c.check(v["p10"] > 0, field("p10"), "must be positive")
        if c.check(v["p10"] < v["p90"], field("p90"), f"must exceed p10_{unit}") and ok \
                and c.check(v["p90"] <= MAX_LOGNORMAL_RATIO * v["p10"], field("p90"),
                            f"at most {MAX_LOGNORMAL_RATIO:g} times p10_{unit}"):
            return mg.lognormal_from_p10_p90(v["p10"], v["p90"]), \
                math.sqrt(v["p10"] * v["p90"])
    elif c.check(v["mode"] > 0, field("mode"),
                 "give the most likely value, or a distribution kind"):
        m = v["mode"]
        lo, hi = m * (1.0 - spread.down), m * (1.0 + spread.up)
        shown = _spread_text(getattr(dist, f"mode_{unit}"), spread, unit)
        defaults.append(DefaultUsed(
            path, shown,
            f"only the most likely value given: novelty spread −{spread.down:.0%} "
            f"/ +{spread.up:.0%}; {SPREAD_SOURCE}"))
        return mg.pert(lo, m, hi, DEFAULT_PERT_SHAPE), m
    return None, 0.0


def spend_depends_on_failure(model: ProcurementModel) -> bool:
    """Whether the model says what a failed procurement does not spend: some cost item is
    tied to a phase or spent only on success. Without one, every item is spent in every
    scenario, and a failure's spend is the whole cost (its loss at failure too)."""
    return any(item.phase or item.only_on_success for item in model.cost_items)


def _spread_text(mode: int | float, spread: Spread, unit: str) -> str:
    """The PERT a prior spread fills around ``mode``, as people read it: money in euros,
    exactly (the agency's cents × the spread's two-decimal fractions: a cent's fraction is
    shown, not rounded away), days as numbers. ``%g`` of cents read
    "PERT(minimum=2.34e+07, mode=2.6e+07, ... cents)"."""
    exact = Decimal(str(mode))
    points = (exact * (1 - Decimal(str(spread.down))), exact,
              exact * (1 + Decimal(str(spread.up))))
    if unit == "cents":
        def text(cents: Decimal) -> str:
            euros = cents / 100
            return f"€{euros:,.2f}" if euros == round(euros, 2) else f"€{euros.normalize():,f}"
    else:
        def text(days: Decimal) -> str:
            return f"{days.normalize():f} days"
    low, likely, high = (text(x) for x in points)
    return f"PERT(minimum {low}, mode {likely}, maximum {high})"


def _names(c: Collector, model: ProcurementModel) -> dict[str, str]:
    """All input names → their field path; duplicates and blanks reported."""
    seen: dict[str, str] = {}
    groups = (("cost_items", model.cost_items), ("activities", model.activities),
              ("risk_events", model.risk_events))
    for group, items in groups:
        for i, item in enumerate(items):
            path = f"{group}[{i}].name"
            name = getattr(item, "name", None)
            if not isinstance(name, str) or not name.strip():
                c.add(path, "must be a non-empty name")
            elif name in seen:
                c.add(path, f"duplicates {seen[name]} (input names must be unique)")
            else:
                seen[name] = path
    return seen


def compile_model(model: ProcurementModel) -> Plan:
    """Validate ``model`` (all violations at once) and compile it into a Plan."""
    if not isinstance(model, ProcurementModel):
        raise TypeError("model must be a ProcurementModel")
    for name, items, bound in (("cost_items", model.cost_items, MAX_COST_ITEMS),
                               ("activities", model.activities, MAX_ACTIVITIES),
                               ("risk_events", model.risk_events, MAX_RISK_EVENTS),
                               ("phases", model.phases, MAX_PHASES)):
        if len(items) > bound:
            raise ResourceExhausted(f"{name}: at most {bound} allowed, got {len(items)}")

    c = Collector()
    defaults: list[DefaultUsed] = []
    kind = _enum(c, ProcurementKind, model.kind, "kind")
    if kind == ProcurementKind.PROCUREMENT_KIND_UNSPECIFIED:
        c.add("kind", "must be given")
        kind = None
    novelty = _enum(c, NoveltyLevel, model.novelty, "novelty")
    if novelty == NoveltyLevel.NOVELTY_LEVEL_UNSPECIFIED:
        novelty = DEFAULT_NOVELTY
        defaults.append(DefaultUsed("novelty", novelty.value,
                                    "not given: the middle level is assumed"))
    novelty = novelty or DEFAULT_NOVELTY
    if c.check(is_integer(model.budget_cents), "budget_cents",
               "must be an integer number of cents"):
        c.check(0 <= model.budget_cents <= MAX_CENTS, "budget_cents",
                f"must be 0 ..= {MAX_CENTS:,} cents")
    if model.deadline_days is not None and c.check(
            is_finite_number(model.deadline_days), "deadline_days", "must be a finite number"):
        positive = c.check(model.deadline_days > 0, "deadline_days", "must be positive")
        c.check(not positive or bool(model.activities), "deadline_days",
                "a deadline needs activities: the schedule it is checked against")
    c.check(len(model.cost_items) > 0, "cost_items", "at least one cost item is needed")
    _names(c, model)

    phase_names, suppliers, pass_p = _phases(c, model, kind, novelty, defaults)

    cost_spread, duration_spread = COST_SPREADS[novelty], DURATION_SPREADS[novelty]
    cost_marginals, incurrence, base = [], [], 0.0
    for i, item in enumerate(model.cost_items):
        m, likely = _distribution(c, f"cost_items[{i}].distribution", item.distribution,
                                  "cents", cost_spread, defaults)
        cost_marginals.append(m)
        base += likely
        code = ALWAYS
        if item.only_on_success:
            code = ON_SUCCESS
            c.check(not item.phase, f"cost_items[{i}].phase",
                    "must be empty when only_on_success is set")
        elif item.phase:
            if item.phase in phase_names:
                code = phase_names.index(item.phase)
            else:
                c.add(f"cost_items[{i}].phase", f"unknown phase {item.phase!r}; phases: "
                      f"{', '.join(phase_names) or 'none'}")
        incurrence.append(code)

    activity_index = {a.name: j for j, a in enumerate(model.activities)}
    activity_marginals, predecessors = [], []
    for j, act in enumerate(model.activities):
        m, _ = _distribution(c, f"activities[{j}].duration", act.duration, "days",
                             duration_spread, defaults)
        activity_marginals.append(m)
        preds = []
        for k, p in enumerate(act.predecessors):
            path = f"activities[{j}].predecessors[{k}]"
            if p == act.name:
                c.add(path, "an activity cannot precede itself")
            elif p not in activity_index:
                c.add(path, f"unknown activity {p!r}")
            else:
                preds.append(activity_index[p])
        predecessors.append(preds)
    network = None
    if model.activities:
        _, stuck = topological_order(predecessors)
        for j in stuck:
            if any(p in stuck for p in predecessors[j]):
                c.add(f"activities[{j}].predecessors",
                      f"{model.activities[j].name!r} is on a cycle of predecessors")

    risk_occurrence, impacts, delays, targets = [], [], [], []
    for k, ev in enumerate(model.risk_events):
        path = f"risk_events[{k}]"
        if c.check(is_probability(ev.probability), f"{path}.probability",
                   "must be a probability in [0, 1]"):
            risk_occurrence.append(mg.Marginal(mg.BERNOULLI, (float(ev.probability),)))
        impacts.append(_distribution(c, f"{path}.cost_impact", ev.cost_impact, "cents",
                                     cost_spread, defaults)[0])
        delays.append(_distribution(c, f"{path}.delay", ev.delay, "days",
                                    duration_spread, defaults)[0])
        tgt = []
        for t, name in enumerate(ev.delayed_activities):
            if name in activity_index:
                tgt.append(activity_index[name])
            else:
                c.add(f"{path}.delayed_activities[{t}]", f"unknown activity {name!r}")
        targets.append(tgt)

    n_cost, n_act = len(model.cost_items), len(model.activities)
    input_index = {}
    for i, it in enumerate(model.cost_items):
        input_index.setdefault(it.name, i)
    for j, a in enumerate(model.activities):
        input_index.setdefault(a.name, n_cost + j)
    for k, ev in enumerate(model.risk_events):
        input_index.setdefault(ev.name, n_cost + n_act + k)
    all_marginals = cost_marginals + activity_marginals + [
        mg.Marginal(mg.BERNOULLI, (0.5,))] * len(model.risk_events)
    correlated, requested = _correlations(c, model, input_index, all_marginals)

    c.raise_if_any()
    if model.activities:
        network = Network(predecessors)

    factor, report = None, None
    if correlated:
        name_of = {idx: name for name, idx in input_index.items()}
        occurrence = {n_cost + n_act + k: float(m.params[0])
                      for k, m in enumerate(risk_occurrence)}
        factor, report = _copula(requested, [name_of[g] for g in correlated],
                                 [occurrence.get(g) for g in correlated])
    return Plan(
        model=model, cost_names=[it.name for it in model.cost_items],
        cost_marginals=cost_marginals, cost_incurrence=incurrence,
        base_estimate_cents=round(base),
        activity_names=[a.name for a in model.activities],
        activity_marginals=activity_marginals, network=network,
        risk_names=[e.name for e in model.risk_events], risk_occurrence=risk_occurrence,
        risk_impacts=impacts, risk_delays=delays, risk_targets=targets,
        phase_names=phase_names, phase_suppliers=suppliers, phase_pass_probabilities=pass_p,
        correlated_inputs=correlated, copula_factor=factor, correlation_report=report,
        defaults_used=defaults)


def _phases(c: Collector, model: ProcurementModel, kind, novelty,
            defaults: list[DefaultUsed]) -> tuple[list[str], list[int], list[float]]:
    priors = PHASE_PRIORS.get(kind, ())
    if not model.phases:
        if not priors:
            return [], [], []
        names = [p.name for p in priors]
        sup = [p.suppliers for p in priors]
        prob = [p.pass_probability[novelty] for p in priors]
        defaults.append(DefaultUsed("phases", " → ".join(
            f"{n}({s} suppliers, pass {q:.2f})" for n, s, q in zip(names, sup, prob, strict=True)),
            f"default phases for {kind.value} at {novelty.value}; {PHASE_PRIORS_SOURCE}"))
        return names, sup, prob
    names, sup, prob = [], [], []
    for i, ph in enumerate(model.phases):
        path = f"phases[{i}]"
        if not isinstance(ph.name, str) or not ph.name.strip():
            c.add(f"{path}.name", "must be a non-empty name")
        elif ph.name in names:
            c.add(f"{path}.name", "duplicates an earlier phase name")
        names.append(ph.name)
        if c.check(is_integer(ph.suppliers) and ph.suppliers >= 1, f"{path}.suppliers",
                   "must be an integer ≥ 1"):
            c.check(ph.suppliers <= MAX_SUPPLIERS, f"{path}.suppliers",
                    f"at most {MAX_SUPPLIERS}")
        sup.append(ph.suppliers)
        if ph.pass_probability is None:
            if priors:
                same = [p for p in priors if p.name == ph.name]
                prior = same[0] if same else priors[min(i, len(priors) - 1)]
                q = prior.pass_probability[novelty]
                defaults.append(DefaultUsed(
                    f"{path}.pass_probability", f"{q:.2f}",
                    f"prior of phase {prior.name!r} for {kind.value} at {novelty.value}"))
            else:
                q = 1.0
            prob.append(q)
        elif c.check(is_probability(ph.pass_probability), f"{path}.pass_probability",
                     "must be a probability in [0, 1]"):
            prob.append(float(ph.pass_probability))
        else:
            prob.append(1.0)
    return names, sup, prob


def _correlations(c: Collector, model: ProcurementModel, input_index: dict[str, int],
                  marginals: list) -> tuple[list[int], np.ndarray]:
    correlated: list[int] = []
    blocks: list[tuple[list[int], np.ndarray]] = []
    where: dict[str, str] = {}
    for b, block in enumerate(model.correlations):
        path = f"correlations[{b}]"
        names = list(block.input_names)
        k = len(names)
        ok = c.check(k >= 2, f"{path}.input_names", "name at least two inputs")
        for j, name in enumerate(names):
            fpath = f"{path}.input_names[{j}]"
            if name not in input_index:
                c.add(fpath, f"unknown input {name!r} (not a cost item, activity or "
                             "risk event name)")
                ok = False
            elif name in where:
                c.add(fpath, f"{name!r} already correlated in {where[name]}")
                ok = False
            elif (m := marginals[input_index[name]]) is not None and m.kind == mg.FIXED:
                c.add(fpath, f"{name!r} is FIXED: nothing to correlate")
                ok = False
            else:
                where[name] = fpath
        values = list(block.rank_correlations)
        if not c.check(len(values) == k * k, f"{path}.rank_correlations",
                       f"must hold {k}×{k} = {k * k} numbers (row-major), got {len(values)}"):
            continue
        for e, value in enumerate(values):
            if not (is_finite_number(value) and -1.0 <= value <= 1.0):
                c.add(f"{path}.rank_correlations[{e}]", "must be a finite number in [-1, 1]")
                ok = False
        if not ok:
            continue
        matrix = np.array(values, dtype=np.float64).reshape(k, k)
        for r in range(k):
            if matrix[r, r] != 1.0:
                c.add(f"{path}.rank_correlations[{r * k + r}]", "diagonal must be 1")
                ok = False
            for s in range(r + 1, k):
                if matrix[r, s] != matrix[s, r]:
                    c.add(f"{path}.rank_correlations[{s * k + r}]",
                          f"must equal entry [{r * k + s}] (symmetric)")
                    ok = False
        if ok:
            blocks.append(([input_index[n] for n in names], matrix))
    total = sum(len(ix) for ix, _ in blocks)
    if total > MAX_CORRELATED_INPUTS:
        raise ResourceExhausted(f"correlations: at most {MAX_CORRELATED_INPUTS} "
                                f"correlated inputs, got {total}")
    full = np.eye(total)
    at = 0
    for ix, matrix in blocks:
        correlated.extend(ix)
        full[at:at + len(ix), at:at + len(ix)] = matrix
        at += len(ix)
    return correlated, full


def _copula(requested: np.ndarray, names: list[str],
            occurrence: list[float | None] | None = None
            ) -> tuple[np.ndarray, CorrelationReport]:
    """Normal-scale matrix for the requested rank correlations; repaired to the
    nearest correlation matrix (Higham) when it is not positive semi-definite.
    ``occurrence[i]``: the probability when input i is a risk event's (Bernoulli)
    occurrence, else None. The report gives the rank correlations realised: a
    Bernoulli realises far less than the copula's (at most √(3p(1 − p)) against a
    continuous input), see ``indicator_rank_correlation``; ``max_abs_change`` stays
    the change made by the repair alone."""
    normal = spearman_to_pearson(requested)
    repaired = not is_valid_correlation(normal)
    if repaired:
        normal = nearest_correlation(normal)
    copula = pearson_to_spearman(normal)
    np.fill_diagonal(copula, 1.0)
    realised = copula.copy()
    occurrence = occurrence or [None] * len(names)
    for a, pa in enumerate(occurrence):
        for b in range(len(names)):
            if b == a or (pa is None and occurrence[b] is None):
                continue
            if pa is None or (occurrence[b] is not None and b < a):
                continue  # each pair once, from its (first) occurrence
            realised[a, b] = realised[b, a] = indicator_rank_correlation(
                float(normal[a, b]), pa, occurrence[b])
    report = CorrelationReport(
        input_names=tuple(names),
        rank_correlations=tuple(float(x) for x in realised.ravel()),
        repaired=repaired,
        max_abs_change=float(np.abs(copula - requested).max()) if repaired else 0.0)
    return copula_factor(normal), report
