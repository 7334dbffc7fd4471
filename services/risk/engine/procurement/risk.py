"""estimate_procurement_risk: cost, schedule and failure risk of one procurement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from services.risk.engine.estimate import Estimate
from services.shared.errors import Collector, InvalidArgument, ResourceExhausted

from . import marginals as mg
from . import statistics as st
from .model import (
    ActivityCriticality,
    CompletionFigures,
    CostCdfPoint,
    CostHistogram,
    DurationCdfPoint,
    DurationHistogram,
    InputSensitivity,
    OutputSummary,
    PhaseFailure,
    ProcurementModel,
    ProcurementRiskEstimate,
    QuantileEstimate,
)
from .plan import MAX_SCENARIOS, MAX_SEED, Plan, compile_model, is_finite_number, is_integer
from .simulation import (
    ChunkCallback,
    ScenarioSet,
    cost_bounds_by_outcome,
    duration_bounds,
    outcome_probabilities,
    simulate,
    spent_by_outcome,
)

STANDARD_PROBABILITIES = (0.10, 0.50, 0.80, 0.90, 0.95)
CDF_POINTS = 101  # cumulative probabilities 0.00, 0.01, …, 1.00
MAX_QUANTILES = 100
MAX_HISTOGRAM_BINS = 1_000


def check_run_options(c: Collector, scenarios: object, seed: object,
                      chunk_scenarios: object) -> None:
    """Validate the options every run shares; the scenario bound raises later."""
    if c.check(is_integer(scenarios), "scenarios", "must be an integer"):
        c.check(scenarios >= 1, "scenarios", "must be at least 1")
    if c.check(is_integer(seed), "seed", "must be an integer"):
        c.check(0 <= seed <= MAX_SEED, "seed", f"must be in [0, {MAX_SEED}]")
    if chunk_scenarios is not None and c.check(
            is_integer(chunk_scenarios), "chunk_scenarios", "must be an integer"):
        c.check(chunk_scenarios >= 1, "chunk_scenarios", "must be at least 1")


def compile_checked(c: Collector, model, scenarios: int) -> Plan:
    """Compile ``model`` and raise one InvalidArgument with every bad field, the model's
    and those already in ``c``; then apply the scenario bound."""
    try:
        plan = compile_model(model)
    except InvalidArgument as error:
        c.violations.extend(error.violations)
        c.raise_if_any()
        raise
    c.raise_if_any()
    check_scenario_bound(scenarios)
    return plan


def check_scenario_bound(scenarios: int) -> None:
    if scenarios > MAX_SCENARIOS:
        raise ResourceExhausted(
            f"scenarios: at most MAX_SCENARIOS = {MAX_SCENARIOS:,} per run, got {scenarios:,}")


def estimate_procurement_risk(
        model: ProcurementModel, *, scenarios: int, seed: int,
        chunk_scenarios: int | None = None,
        target_standard_error_cents: float | None = None,
        quantiles: Sequence[float] = (), confidence: float = 0.8,
        histogram_bins: int = 50, on_chunk: ChunkCallback | None = None
        ) -> ProcurementRiskEstimate:
    """Monte Carlo estimate of total cost, duration and failure of a procurement.

    Boundary: ``model`` money is integer cents; results are Estimates in (float)
    cents or days, each with its MC standard error, plus exact integer-cent figures
    (base estimate, budget, histogram edges, CDF points rounded to the cent).

    ``scenarios`` ≤ MAX_SCENARIOS (else ResourceExhausted); ``seed`` reproduces the
    run whatever ``chunk_scenarios`` (rounded to whole blocks of BLOCK_SCENARIOS;
    None picks one bounding memory). With ``target_standard_error_cents`` sampling
    stops after the first block at which the SE of mean total cost reaches it, that SE
    taking the risk events', the phase failures' and heavy-tailed cost items' variance
    from the model rather than from the draws (simulation._StoppingRule: stopping on the
    sample's own SE biased the mean for rare, large events, rare, costly failures and
    very wide lognormals);
    not before MIN_BLOCKS_BEFORE_STOP blocks and never on a zero SE (below
    MIN_RELATIVE_STANDARD_ERROR × |mean|). The mean total cost's reported SE is the
    larger of that one and the sample's own (so never 0 while a risk event or a failure
    has not been drawn), within the sample's noise of the target.
    ``quantiles`` are extra probabilities reported beside P10/P50/P80/P90/P95;
    contingency is read at ``confidence``.
    """
    c = Collector()
    check_run_options(c, scenarios, seed, chunk_scenarios)
    if target_standard_error_cents is not None:
        c.check(is_finite_number(target_standard_error_cents)
                and target_standard_error_cents > 0,
                "target_standard_error_cents", "must be a positive finite number")
    if c.check(len(quantiles) <= MAX_QUANTILES, "quantiles", f"at most {MAX_QUANTILES}"):
        for i, q in enumerate(quantiles):
            c.check(is_finite_number(q) and 0.0 < q < 1.0, f"quantiles[{i}]",
                    "must be a probability strictly between 0 and 1")
    c.check(is_finite_number(confidence) and 0.0 < confidence < 1.0, "confidence",
            "must be a probability strictly between 0 and 1")
    c.check(is_integer(histogram_bins) and 1 <= histogram_bins <= MAX_HISTOGRAM_BINS,
            "histogram_bins", f"must be an integer in [1, {MAX_HISTOGRAM_BINS}]")
    plan = compile_checked(c, model, scenarios)

    # A model that can fail and complete gets its figures given completion, from every
    # scenario's draws costed as if it completed (simulate's outcome_costs, row 0).
    success = outcome_probabilities(plan)[0]
    completed = np.empty(scenarios) if 0.0 < success < 1.0 else None

    def observe(start: int, outcome_cost: np.ndarray) -> None:
        completed[start:start + outcome_cost.shape[1]] = outcome_cost[0]

    run = simulate(plan, scenarios=scenarios, seed=seed, chunk_scenarios=chunk_scenarios,
                   target_standard_error_cents=target_standard_error_cents,
                   outcome_costs=observe if completed is not None else None,
                   on_chunk=on_chunk)
    result = _summarise(plan, run, seed, scenarios, quantiles, float(confidence),
                        histogram_bins)
    if completed is None:
        return result
    return replace(result, given_completion=_given_completion(
        plan, np.sort(completed[:run.scenarios]), float(confidence)))


def _given_completion(plan: Plan, sorted_cost: np.ndarray, confidence: float
                      ) -> CompletionFigures:
    """The headline figures over the costs had every scenario completed: the law of the
    cost given completion, as the failing phase is independent of every draw."""
    budget = plan.model.budget_cents
    least, most = cost_bounds_by_outcome(plan)
    at_confidence = st.quantile(sorted_cost, confidence)
    return CompletionFigures(
        budget_exceedance_probability=st.proportion(
            sorted_cost > budget, certain=bool(least[0] > budget),
            impossible=bool(most[0] <= budget)),
        cost_at_confidence_cents=at_confidence,
        contingency_over_base_estimate_cents=Estimate(
            at_confidence.value - plan.base_estimate_cents, at_confidence.standard_error),
        contingency_over_budget_cents=Estimate(
            at_confidence.value - budget, at_confidence.standard_error))


def _summary(sorted_x: np.ndarray, x: np.ndarray, probabilities: Sequence[float]
             ) -> OutputSummary:
    return OutputSummary(
        mean=st.mean(x), standard_deviation=st.standard_deviation(x),
        quantiles=tuple(QuantileEstimate(p, st.quantile(sorted_x, p))
                        for p in probabilities))


def _cost_summary(run: ScenarioSet, sorted_cost: np.ndarray, probabilities: Sequence[float]
                  ) -> OutputSummary:
    """The total cost's summary; its mean's standard error is the larger of the sample's
    own and the one with the risk events' and phase failures' variance from the model,
    so a risk event or failure the run has not drawn (a rare one, or a short run) still
    counts in it: the sample's own would then be too small, or 0. With heavy-tailed cost
    items the SD is the model's (ScenarioSet.model_standard_deviation): the sample's
    mostly reads low for them."""
    summary = _summary(sorted_cost, run.total_cost_cents, probabilities)
    mean = summary.mean
    if run.model_standard_error_cents > mean.standard_error:
        summary = replace(summary, mean=Estimate(mean.value, run.model_standard_error_cents))
    if run.model_standard_deviation is not None:
        summary = replace(summary, standard_deviation=run.model_standard_deviation)
    return summary


def _notes(run: ScenarioSet) -> tuple[str, ...]:
    """Caveats the figures carry (see ProcurementRiskEstimate.notes)."""
    if run.model_standard_deviation is None:
        return ()
    return (
        "total_cost_cents.standard_deviation: some cost items are very heavy-tailed "
        "(lognormal with P90/P10 above 3.63), so the standard deviation is computed from "
        "the model's variance for these items (the scenarios' would usually read low); "
        "its ± is the sampling error of the rest.",
        "cost_sensitivity[].contribution: the share of the variance of such an item rests "
        "on a few large draws of the sensitivity scenarios: it tends to read low, with a "
        "± too small (an item with P90/P10 30: 6 % of runs beyond 3 SE; 100: 16 %).")


def _summarise(plan: Plan, run: ScenarioSet, seed: int, requested: int,
               quantiles: Sequence[float], confidence: float, bins: int
               ) -> ProcurementRiskEstimate:
    model = plan.model
    cost, duration = run.total_cost_cents, run.duration_days
    cost_sorted, duration_sorted = np.sort(cost), np.sort(duration)
    probabilities = sorted(set(STANDARD_PROBABILITIES) | {float(q) for q in quantiles})
    at_confidence = st.quantile(cost_sorted, confidence)
    n = run.scenarios

    # What the model itself makes certain or impossible reads with SE 0; anything else,
    # even if every scenario of the run (or none) showed it, keeps the few-events floor.
    outcome = outcome_probabilities(plan)  # P(F = f), f + 1
    failing = outcome[1:]
    failure_phase = run.failure_phase
    phase_failures = tuple(
        PhaseFailure(name, st.proportion(failure_phase == k, certain=bool(failing[k] >= 1.0),
                                         impossible=bool(failing[k] <= 0.0)))
        for k, name in enumerate(plan.phase_names))
    always_critical = plan.network.on_every_path() if plan.network is not None else []
    criticality = tuple(
        ActivityCriticality(name, st.share(int(count), n, certain=certain))
        for count, name, certain in zip(run.critical_counts, plan.activity_names,
                                        always_critical, strict=True))
    possible = outcome > 0.0
    least, most = cost_bounds_by_outcome(plan)
    over_budget = st.proportion(
        cost > model.budget_cents, certain=bool(least[possible].min() > model.budget_cents),
        impossible=bool(most[possible].max() <= model.budget_cents))

    inputs = plan.cost_names + plan.activity_names + plan.risk_names
    half = len(inputs)
    sens = run.sensitivity_inputs
    m = sens.shape[1]
    cost_sens = _tornado(inputs, st.rank_correlations(sens[:half], cost[:m]),
                         _cost_contributions(plan, sens, failure_phase[:m]))
    duration_sens = ()
    if plan.activity_names:
        duration_sens = _tornado(inputs, st.rank_correlations(sens[half:], duration[:m]))

    cdf_p = np.linspace(0.0, 1.0, CDF_POINTS)
    cost_cdf_values = np.quantile(cost_sorted, cdf_p)
    duration_cdf_values = np.quantile(duration_sorted, cdf_p)
    # Whole cents, kept in float64: a very wide lognormal can draw past int64's range.
    lo, hi = np.floor(cost_sorted[0]), np.ceil(cost_sorted[-1])
    edges = np.unique(np.round(np.linspace(lo, max(hi, lo + 1.0), bins + 1)))
    cost_counts, _ = np.histogram(cost, edges)
    d_lo, d_hi = float(duration_sorted[0]), float(duration_sorted[-1])
    d_counts, d_edges = np.histogram(duration, bins, range=(d_lo, max(d_hi, d_lo + 1.0)))

    deadline = None
    if model.deadline_days is not None:
        shortest, longest = duration_bounds(plan)
        deadline = st.proportion(duration > model.deadline_days,
                                 certain=shortest > model.deadline_days,
                                 impossible=longest <= model.deadline_days)
    return ProcurementRiskEstimate(
        seed=seed, scenarios=n, scenarios_requested=requested,
        stopped_early=run.stopped_early,
        total_cost_cents=_cost_summary(run, cost_sorted, probabilities),
        duration_days=_summary(duration_sorted, duration, probabilities),
        base_estimate_cents=plan.base_estimate_cents,
        budget_cents=model.budget_cents,
        budget_exceedance_probability=over_budget,
        deadline_exceedance_probability=deadline,
        confidence=confidence,
        cost_at_confidence_cents=at_confidence,
        contingency_over_base_estimate_cents=Estimate(
            at_confidence.value - plan.base_estimate_cents, at_confidence.standard_error),
        contingency_over_budget_cents=Estimate(
            at_confidence.value - model.budget_cents, at_confidence.standard_error),
        failure_probability=st.proportion(failure_phase >= 0,
                                          certain=bool(outcome[0] <= 0.0),
                                          impossible=not bool(possible[1:].any())),
        phase_failures=phase_failures,
        activity_criticality=criticality,
        cost_sensitivity=cost_sens,
        duration_sensitivity=duration_sens,
        sensitivity_scenarios=m,
        cost_histogram=CostHistogram(tuple(int(e) for e in edges),
                                     tuple(int(k) for k in cost_counts)),
        duration_histogram=DurationHistogram(tuple(float(e) for e in d_edges),
                                             tuple(int(k) for k in d_counts)),
        cost_cdf=tuple(CostCdfPoint(float(p), round(float(v)))
                       for p, v in zip(cdf_p, cost_cdf_values, strict=True)),
        duration_cdf=tuple(DurationCdfPoint(float(p), float(v))
                           for p, v in zip(cdf_p, duration_cdf_values, strict=True)),
        correlation=plan.correlation_report,
        defaults_used=tuple(plan.defaults_used),
        notes=_notes(run))


def _cost_contributions(plan: Plan, sens: np.ndarray, failure_phase: np.ndarray
                        ) -> list[Estimate | None]:
    """Each input's share of the total cost's variance over the sensitivity scenarios
    (statistics.variance_contributions), in the order of the inputs: the cost items as
    spent (0 where the procurement failed before their phase), the risk events' impacts;
    None for the activities, which are no part of the cost."""
    n_cost, n_act = len(plan.cost_names), len(plan.activity_names)
    spent = spent_by_outcome(plan)[failure_phase.astype(np.intp) + 1].T  # (items, m)
    parts = np.vstack([np.where(spent, sens[:n_cost], 0.0),
                       sens[n_cost + n_act:n_cost + n_act + len(plan.risk_names)]])
    events = {}
    for k, (occurrence, impact) in enumerate(zip(plan.risk_occurrence, plan.risk_impacts,
                                                 strict=True)):
        mean, variance = mg.mean_and_variance(impact)
        events[n_cost + k] = (occurrence.params[0], mean, variance + mean * mean)
    shares = st.variance_contributions(parts, events)
    return shares[:n_cost] + [None] * n_act + shares[n_cost:]


def _tornado(names: list[str], correlations: list[Estimate],
             contributions: Sequence[Estimate | None] | None = None
             ) -> tuple[InputSensitivity, ...]:
    """Bars sorted by |contribution| where there is one (the largest share of the
    variance first), then by |ρ|; each with ρ²/Σρ² (the API's deprecated share)."""
    total = sum(e.value**2 for e in correlations)
    if contributions is None:
        contributions = [None] * len(names)
    bars = [InputSensitivity(name, e, (e.value**2 / total) if total else 0.0, share)
            for name, e, share in zip(names, correlations, contributions, strict=True)]
    return tuple(sorted(bars, key=lambda s: (
        s.contribution is None,
        -abs(s.contribution.value) if s.contribution is not None else 0.0,
        -abs(s.rank_correlation.value))))
