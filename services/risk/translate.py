"""Protobuf <-> risk engine objects. Translation only: the model lives in ``engine/``."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from enum import Enum

import numpy as np
from ijh.events.v1 import events_pb2
from ijh.risk.v1 import risk_pb2

from services.risk.engine import portfolio as pf
from services.risk.engine.estimate import Estimate
from services.risk.engine.procurement import model as m
from services.shared.errors import Collector, FieldViolation, InvalidArgument


def _enum(engine_enum: type[Enum], proto_enum, value: int) -> Enum:
    """Proto ``PROCUREMENT_KIND_PRE_COMMERCIAL_PROCUREMENT`` -> engine
    ``PRE_COMMERCIAL_PROCUREMENT``; unknown numbers reach the engine's validation as-is."""
    try:
        name = proto_enum.Name(value)
    except ValueError:
        return value  # the engine reports the field
    prefix = proto_enum.DESCRIPTOR.values[0].name.removesuffix("UNSPECIFIED")
    return engine_enum(name if name.endswith("_UNSPECIFIED") else name.removeprefix(prefix))


def _proto_enum(proto_enum, value: Enum) -> int:
    prefix = proto_enum.DESCRIPTOR.values[0].name.removesuffix("UNSPECIFIED")
    name = value.value if value.value.endswith("_UNSPECIFIED") else prefix + value.value
    return proto_enum.Value(name)


_K = m.DistributionKind


def cost_distribution(d: risk_pb2.CostDistribution) -> m.CostDistribution:
    shape = d.WhichOneof("shape")
    if shape == "fixed_cents":
        return m.CostDistribution(_K.FIXED, mode_cents=d.fixed_cents)
    if shape == "most_likely_cents":
        return m.CostDistribution(_K.DISTRIBUTION_KIND_UNSPECIFIED,
                                  mode_cents=d.most_likely_cents)
    if shape == "triangular":
        t = d.triangular
        return m.CostDistribution(_K.TRIANGULAR, minimum_cents=t.min_cents,
                                  mode_cents=t.mode_cents, maximum_cents=t.max_cents)
    if shape == "pert":
        p = d.pert
        return m.CostDistribution(_K.PERT, minimum_cents=p.min_cents, mode_cents=p.mode_cents,
                                  maximum_cents=p.max_cents, pert_shape=p.shape)
    if shape == "uniform":
        return m.CostDistribution(_K.UNIFORM, minimum_cents=d.uniform.min_cents,
                                  maximum_cents=d.uniform.max_cents)
    if shape == "truncated_normal":
        n = d.truncated_normal
        return m.CostDistribution(_K.TRUNCATED_NORMAL, mean_cents=n.mean_cents,
                                  standard_deviation_cents=n.standard_deviation_cents)
    if shape == "lognormal":
        return m.CostDistribution(_K.LOGNORMAL, p10_cents=d.lognormal.p10_cents,
                                  p90_cents=d.lognormal.p90_cents)
    return m.CostDistribution(_K.DISTRIBUTION_KIND_UNSPECIFIED)  # engine: "required"


def duration_distribution(d: risk_pb2.DurationDistribution) -> m.DurationDistribution:
    shape = d.WhichOneof("shape")
    if shape == "fixed_days":
        return m.DurationDistribution(_K.FIXED, mode_days=d.fixed_days)
    if shape == "most_likely_days":
        return m.DurationDistribution(_K.DISTRIBUTION_KIND_UNSPECIFIED,
                                      mode_days=d.most_likely_days)
    if shape == "triangular":
        t = d.triangular
        return m.DurationDistribution(_K.TRIANGULAR, minimum_days=t.min_days,
                                      mode_days=t.mode_days, maximum_days=t.max_days)
    if shape == "pert":
        p = d.pert
        return m.DurationDistribution(_K.PERT, minimum_days=p.min_days, mode_days=p.mode_days,
                                      maximum_days=p.max_days, pert_shape=p.shape)
    if shape == "uniform":
        return m.DurationDistribution(_K.UNIFORM, minimum_days=d.uniform.min_days,
                                      maximum_days=d.uniform.max_days)
    if shape == "truncated_normal":
        n = d.truncated_normal
        return m.DurationDistribution(_K.TRUNCATED_NORMAL, mean_days=n.mean_days,
                                      standard_deviation_days=n.standard_deviation_days)
    if shape == "lognormal":
        return m.DurationDistribution(_K.LOGNORMAL, p10_days=d.lognormal.p10_days,
                                      p90_days=d.lognormal.p90_days)
    return m.DurationDistribution(_K.FIXED)  # no delay / zero duration


def procurement_model(p: risk_pb2.ProcurementModel) -> m.ProcurementModel:
    return m.ProcurementModel(
        kind=_enum(m.ProcurementKind, risk_pb2.ProcurementKind, p.kind),
        novelty=_enum(m.NoveltyLevel, risk_pb2.NoveltyLevel, p.novelty),
        cost_items=tuple(m.CostItem(c.name, cost_distribution(c.distribution), c.phase,
                                    c.only_on_success) for c in p.cost_items),
        budget_cents=p.budget_cents,
        activities=tuple(m.Activity(a.name, duration_distribution(a.duration),
                                    tuple(a.predecessors)) for a in p.activities),
        risk_events=tuple(m.RiskEvent(
            r.name, r.probability,
            cost_distribution(r.cost_impact) if r.HasField("cost_impact")
            else m.CostDistribution(_K.FIXED),
            duration_distribution(r.delay), tuple(r.delayed_activities))
            for r in p.risk_events),
        correlations=tuple(m.CorrelationBlock(tuple(b.input_names),
                                              tuple(b.rank_correlations))
                           for b in p.correlations),
        phases=tuple(m.Phase(ph.name, ph.suppliers,
                             ph.pass_probability if ph.HasField("pass_probability") else None)
                     for ph in p.phases),
        deadline_days=p.deadline_days if p.HasField("deadline_days") else None)


def guarantee_terms(t: risk_pb2.GuaranteeTerms) -> m.GuaranteeTerms:
    return m.GuaranteeTerms(
        covered_loss=_enum(m.CoveredLoss, risk_pb2.CoveredLoss, t.covered_loss),
        guarantee_rate=t.guarantee_rate, cap_cents=t.cap_cents,
        deductible_cents=t.deductible_cents)


def estimate(e: Estimate | None) -> risk_pb2.Estimate | None:
    if e is None:
        return None
    return risk_pb2.Estimate(value=e.value, standard_error=e.standard_error)


def outcome(s: m.OutputSummary) -> risk_pb2.OutcomeSummary:
    return risk_pb2.OutcomeSummary(
        mean=estimate(s.mean), standard_deviation=estimate(s.standard_deviation),
        quantiles=[risk_pb2.QuantileEstimate(level=q.probability, value=q.value.value,
                                             standard_error=q.value.standard_error)
                   for q in s.quantiles])


def _sensitivity(items) -> list[risk_pb2.InputSensitivity]:
    return [risk_pb2.InputSensitivity(input_name=s.input_name,
                                      rank_correlation=estimate(s.rank_correlation),
                                      variance_share=s.rank_correlation_share,
                                      contribution=estimate(s.contribution)) for s in items]


_MOST_LIKELY_UNIT = {"distribution": "cents", "cost_impact": "cents", "duration": "days",
                     "delay": "days"}


def default_field(model: risk_pb2.ProcurementModel, engine_field: str) -> str:
    """The model path (DefaultUsed.field: the request's, under ``model``) of what a prior
    filled. The engine names a spread filled around a most-likely value by its
    distribution (``cost_items[4].distribution``); the request gave
    ``cost_items[4].distribution.most_likely_cents``."""
    owner = engine_field.rsplit(".", 1)[-1]
    if owner in _MOST_LIKELY_UNIT:
        engine_field = f"{engine_field}.mode_{_MOST_LIKELY_UNIT[owner]}"
    return api_field(model, engine_field).removeprefix("model.")


def _defaults(items, model: risk_pb2.ProcurementModel) -> list[risk_pb2.DefaultUsed]:
    return [risk_pb2.DefaultUsed(field=default_field(model, d.field), value=d.value,
                                 rationale=d.rationale) for d in items]


def has_schedule(r: m.ProcurementRiskEstimate) -> bool:
    """Whether the model had a schedule. The engine reports one criticality index per
    activity, so none means no activities: its duration is then 0 days in every scenario,
    which answers nothing (and reads as "the project takes 0 days")."""
    return bool(r.activity_criticality)


def risk_response(r: m.ProcurementRiskEstimate, model: risk_pb2.ProcurementModel
                  ) -> risk_pb2.EstimateProcurementRiskResponse:
    """The API answer to a request of ``model``. Without a schedule (no activities) the
    duration figures, the deadline probability and the duration sensitivities are left
    out (unset / empty) rather than reported as 0 days."""
    schedule = has_schedule(r)
    response = risk_pb2.EstimateProcurementRiskResponse(
        seed=r.seed, scenario_count=r.scenarios, scenarios_requested=r.scenarios_requested,
        stopped_early=r.stopped_early, total_cost=outcome(r.total_cost_cents),
        duration=outcome(r.duration_days) if schedule else None,
        base_estimate_cents=r.base_estimate_cents,
        budget_cents=r.budget_cents,
        probability_over_budget=estimate(r.budget_exceedance_probability),
        probability_over_deadline=(estimate(r.deadline_exceedance_probability)
                                   if schedule else None),
        confidence=r.confidence,
        cost_at_confidence_cents=estimate(r.cost_at_confidence_cents),
        contingency_over_base_estimate_cents=estimate(r.contingency_over_base_estimate_cents),
        contingency_over_budget_cents=estimate(r.contingency_over_budget_cents),
        probability_of_failure=estimate(r.failure_probability),
        phase_failures=[risk_pb2.PhaseFailure(phase_name=p.phase_name,
                                              probability=estimate(p.probability))
                        for p in r.phase_failures],
        activity_criticality=[risk_pb2.ActivityCriticality(
            activity_name=a.activity_name, criticality_index=estimate(a.criticality_index))
            for a in r.activity_criticality],
        cost_sensitivity=_sensitivity(r.cost_sensitivity),
        duration_sensitivity=_sensitivity(r.duration_sensitivity) if schedule else [],
        cost_histogram=risk_pb2.Histogram(bin_edges=r.cost_histogram.bin_edges_cents,
                                          counts=r.cost_histogram.counts),
        duration_histogram=(risk_pb2.Histogram(bin_edges=r.duration_histogram.bin_edges_days,
                                               counts=r.duration_histogram.counts)
                            if schedule else None),
        cost_cdf=[risk_pb2.CdfPoint(cumulative_probability=p.cumulative_probability,
                                    value=p.total_cost_cents) for p in r.cost_cdf],
        duration_cdf=[risk_pb2.CdfPoint(cumulative_probability=p.cumulative_probability,
                                        value=p.duration_days)
                      for p in (r.duration_cdf if schedule else ())],
        defaults_used=_defaults(r.defaults_used, model), notes=list(r.notes))
    if r.given_completion is not None:
        g = r.given_completion
        response.given_completion.CopyFrom(risk_pb2.GivenCompletion(
            probability_over_budget=estimate(g.budget_exceedance_probability),
            cost_at_confidence_cents=estimate(g.cost_at_confidence_cents),
            contingency_over_base_estimate_cents=estimate(
                g.contingency_over_base_estimate_cents),
            contingency_over_budget_cents=estimate(g.contingency_over_budget_cents)))
    if r.correlation is not None:
        c = r.correlation
        response.correlation.CopyFrom(risk_pb2.CorrelationReport(
            input_names=c.input_names, rank_correlations=c.rank_correlations,
            repaired=c.repaired, max_abs_change=c.max_abs_change))
    return response


def guarantee_response(g: m.GuaranteeEvaluation, model: risk_pb2.ProcurementModel
                       ) -> risk_pb2.EvaluateProcurementGuaranteeResponse:
    return risk_pb2.EvaluateProcurementGuaranteeResponse(
        seed=g.seed, scenario_count=g.scenarios,
        terms=risk_pb2.GuaranteeTerms(
            covered_loss=_proto_enum(risk_pb2.CoveredLoss, g.terms.covered_loss),
            guarantee_rate=g.terms.guarantee_rate, cap_cents=g.terms.cap_cents,
            deductible_cents=g.terms.deductible_cents),
        expected_payout_cents=estimate(g.expected_payout_cents),
        probability_of_payout=estimate(g.payout_probability),
        risk_levels=[risk_pb2.GuaranteeRiskLevel(
            level=lv.level, value_at_risk_cents=estimate(lv.value_at_risk_cents),
            expected_shortfall_cents=estimate(lv.expected_shortfall_cents))
            for lv in g.risk_levels],
        break_even_fee_cents=estimate(g.break_even_fee_cents),
        break_even_fee_rate=estimate(g.break_even_fee_rate),
        guaranteed_amount_cents=g.guaranteed_amount_cents,
        defaults_used=_defaults(g.defaults_used, model),
        expected_loss_cents=estimate(g.expected_loss_cents),
        expected_retained_loss_cents=estimate(g.expected_retained_loss_cents),
        probability_payout_at_cap=estimate(g.cap_reached_probability))


def _quantile(summary: m.OutputSummary, level: float) -> float:
    return next((q.value.value for q in summary.quantiles
                 if abs(q.probability - level) < 1e-12), 0.0)


def risk_estimated_event(r: m.ProcurementRiskEstimate) -> events_pb2.ProcurementRiskEstimated:
    """The event's payload; without a schedule its p80_duration_days is no figure (the
    engine's 0 days) and is left out of the event's data (risk_estimated_event_absent),
    as the API answer leaves the duration out."""
    return events_pb2.ProcurementRiskEstimated(
        seed=r.seed, scenario_count=r.scenarios,
        mean_total_cost_cents=r.total_cost_cents.mean.value,
        p80_total_cost_cents=_quantile(r.total_cost_cents, 0.8),
        probability_over_budget=r.budget_exceedance_probability.value,
        probability_of_failure=r.failure_probability.value,
        p80_duration_days=_quantile(r.duration_days, 0.8))


def risk_estimated_event_absent(r: m.ProcurementRiskEstimate) -> tuple[str, ...]:
    """Fields of ProcurementRiskEstimated the estimate has no figure for."""
    return () if has_schedule(r) else ("p80_duration_days",)


def guarantee_evaluated_event(g: m.GuaranteeEvaluation
                              ) -> events_pb2.ProcurementGuaranteeEvaluated:
    return events_pb2.ProcurementGuaranteeEvaluated(
        seed=g.seed, scenario_count=g.scenarios,
        expected_payout_cents=g.expected_payout_cents.value,
        probability_of_payout=g.payout_probability.value,
        break_even_fee_rate=g.break_even_fee_rate.value)


# ---------------------------------------------------------------- the fund's portfolio

_METHOD_NAMES = {
    risk_pb2.PORTFOLIO_METHOD_UNSPECIFIED: "auto",
    risk_pb2.PORTFOLIO_METHOD_MONTE_CARLO: "monte_carlo",
    risk_pb2.PORTFOLIO_METHOD_IMPORTANCE_SAMPLING: "importance_sampling",
    risk_pb2.PORTFOLIO_METHOD_SEMI_ANALYTIC: "semi_analytic",
    risk_pb2.PORTFOLIO_METHOD_CREDITRISKPLUS: "creditriskplus",
}
_METHOD_ENUMS = {name: value for value, name in _METHOD_NAMES.items() if name != "auto"}
_COUNTERPARTY = {risk_pb2.COUNTERPARTY_KIND_PUBLIC_UNIT: "public_unit",
                 risk_pb2.COUNTERPARTY_KIND_COMPANY: "company"}


def portfolio_method_enum(method: str) -> int:
    """The engine's method name as a PortfolioMethod."""
    return _METHOD_ENUMS.get(method, 0)


def portfolio_method(value: int) -> str:
    if value not in _METHOD_NAMES:
        raise InvalidArgument(FieldViolation("simulation.method", f"unknown method {value}"))
    return _METHOD_NAMES[value]


def fund_terms(f: risk_pb2.FundTerms) -> pf.Fund:
    return pf.Fund(
        capital_cents=f.capital_cents, horizon_years=f.horizon_years or 1,
        portfolio_cap_rate=f.portfolio_cap_rate if f.HasField("portfolio_cap_rate") else None,
        annual_fee_income_cents=(f.annual_fee_income_cents
                                 if f.HasField("annual_fee_income_cents") else None))


def dependence(d: risk_pb2.Dependence) -> pf.Dependence:
    c = Collector()
    values = list(d.factor_correlation) or [1.0]
    size = math.isqrt(len(values))
    c.check(size * size == len(values), "dependence.factor_correlation",
            f"must be a square matrix, row-major; got {len(values)} numbers")
    copula = {risk_pb2.COPULA_UNSPECIFIED: "gaussian", risk_pb2.COPULA_GAUSSIAN: "gaussian",
              risk_pb2.COPULA_STUDENT_T: "student_t"}.get(d.copula)
    c.check(copula is not None, "dependence.copula", f"unknown copula {d.copula}")
    c.raise_if_any()
    return pf.Dependence(
        np.asarray(values, dtype=np.float64).reshape(size, size), copula or "gaussian",
        d.degrees_of_freedom if copula == "student_t" else None,
        sector_variances=(np.asarray(d.creditriskplus_sector_variances, dtype=np.float64)
                          if d.creditriskplus_sector_variances else None),
        background_variance=(d.creditriskplus_background_variance
                             if d.HasField("creditriskplus_background_variance") else None))


_BRANCH_CODES = {name: code for code, name in enumerate(pf.BRANCHES)}
_KIND_CODES = np.full(max(_COUNTERPARTY) + 1, -1, np.int32)
for _value, _name in _COUNTERPARTY.items():
    _KIND_CODES[_value] = pf.COUNTERPARTY_KINDS.index(_name)


def portfolio(guarantees: Sequence[risk_pb2.Guarantee], d: risk_pb2.Dependence,
              factor_count: int, field: str = "guarantees") -> pf.Portfolio:
    """Columns from guarantee messages; names become codes. One pass per field keeps a
    million rows to a few seconds. Values are checked by the engine's
    ``validate_model``; here only what the arrays cannot carry."""
    c = Collector()
    rows = guarantees
    n = len(rows)

    def column(name: str, dtype) -> np.ndarray:
        return np.fromiter((getattr(g, name) for g in rows), dtype, n)

    sector_names: dict[str, int] = {}
    sectors = [g.sector for g in rows]
    sector_codes = np.fromiter((sector_names.setdefault(s, len(sector_names))
                                for s in sectors), np.int32, n)
    branch_codes = np.fromiter((_BRANCH_CODES.get(g.branch, -1) for g in rows), np.int32, n)
    for i in np.flatnonzero(branch_codes < 0)[:100]:
        c.add(f"{field}[{i}].branch", f"must be one of {', '.join(pf.BRANCHES)}")
    kinds = column("counterparty_kind", np.int64)
    kinds = np.where((kinds >= 0) & (kinds < len(_KIND_CODES)),
                     _KIND_CODES[np.clip(kinds, 0, len(_KIND_CODES) - 1)], -1)
    for i in np.flatnonzero(kinds < 0)[:100]:
        c.add(f"{field}[{i}].counterparty_kind", "must be PUBLIC_UNIT or COMPANY")

    own = [g.factor_loadings for g in rows]
    widths = np.fromiter(map(len, own), np.int64, n)
    loadings = np.zeros((n, factor_count))
    given = widths == factor_count
    if given.all():
        loadings = np.fromiter(itertools.chain.from_iterable(own), np.float64,
                               n * factor_count).reshape(n, factor_count)
    elif given.any():
        for i in np.flatnonzero(given):
            loadings[i] = own[i]
    for i in np.flatnonzero((widths != 0) & ~given)[:100]:
        c.add(f"{field}[{i}].factor_loadings",
              f"has {widths[i]} loadings; the model has {factor_count} factors")
    missing = np.flatnonzero(widths == 0)
    if missing.size:
        table = {s.sector: (s.factor_index, s.loading) for s in d.sector_loadings}
        for i in missing:
            entry = table.get(sectors[i])
            if entry is None:
                c.add(f"{field}[{i}].factor_loadings",
                      f"empty, and sector {sectors[i]!r} has no entry in "
                      "dependence.sector_loadings")
            elif 0 <= entry[0] < factor_count:
                loadings[i, entry[0]] = entry[1]
            else:
                c.add("dependence.sector_loadings", f"factor_index {entry[0]} of sector "
                      f"{sectors[i]!r} outside 0..{factor_count - 1}")
            if len(c.violations) > 100:
                break
    c.raise_if_any()

    pd_annual = column("probability_of_default", np.float64)
    curve = None
    curves = [g.cumulative_default_probability for g in rows]
    lengths = np.fromiter(map(len, curves), np.int64, n)
    if lengths.any():
        width = int(lengths.max())
        bad = np.flatnonzero((lengths != 0) & (lengths != width))
        if bad.size:
            raise InvalidArgument([FieldViolation(
                f"{field}[{i}].cumulative_default_probability",
                f"must have {width} years like the others, or none") for i in bad[:100]])
        years = np.arange(1, width + 1)
        curve = 1 - (1 - pd_annual[:, None]) ** years[None, :]
        for i in np.flatnonzero(lengths):
            curve[i] = curves[i]

    exposure = column("exposure_cents", np.int64)
    has_cap = np.fromiter((g.HasField("cap_cents") for g in rows), bool, n)
    # Absent: 1. A rate given as 0 stays 0, for the engine to refuse naming its row (it
    # was read as 1: 100 % cover for a guarantee meant to cover nothing).
    has_rate = np.fromiter((g.HasField("guarantee_rate") for g in rows), bool, n)
    rate = column("guarantee_rate", np.float64)
    return pf.Portfolio.from_arrays(
        exposure_cents=exposure, probability_of_default=pd_annual,
        loss_given_default=column("loss_given_default", np.float64),
        loss_given_default_std=column("loss_given_default_std", np.float64),
        guarantee_rate=np.where(has_rate, rate, 1.0),
        cap_cents=np.where(has_cap, column("cap_cents", np.int64), np.maximum(exposure, 0)),
        deductible_cents=column("deductible_cents", np.int64),
        fee_rate=column("fee_rate", np.float64),
        sector=sector_codes, branch=branch_codes, counterparty_kind=kinds.astype(np.int32),
        factor_loadings=loadings, cumulative_default_probability=curve,
        sector_names=tuple(sector_names) or ("default",))


def _estimates(items) -> list[risk_pb2.Estimate]:
    return [estimate(e) for e in items]


def progress(p: pf.Progress, level: float, passes: int = 1
             ) -> risk_pb2.SimulatePortfolioResponse:
    """Progress of the simulation phase; ``passes`` over the scenarios in all (3 with
    contributions: the simulation is a third of the work)."""
    share = p.scenarios_done / max(p.scenarios_total, 1)
    return risk_pb2.SimulatePortfolioResponse(progress=risk_pb2.SimulationProgress(
        scenarios_done=p.scenarios_done, scenarios_total=p.scenarios_total,
        expected_loss_cents=estimate(p.expected_loss_cents), level=level,
        value_at_risk_cents=estimate(p.value_at_risk_cents),
        expected_shortfall_cents=estimate(p.expected_shortfall_cents),
        phase=risk_pb2.SIMULATION_PHASE_SIMULATING, phase_done_share=share,
        done_share=share / passes))


def result_progress(r: pf.PortfolioResult, passes: int,
                    contributions_share: float | None = None) -> risk_pb2.SimulationProgress:
    """Progress with the simulation's final figures: its phase done (the first of
    ``passes``), or, given ``contributions_share``, that share of the contribution
    passes (the rest of them) done."""
    top = r.tail_risk[-1]
    if contributions_share is None:
        phase, share = risk_pb2.SIMULATION_PHASE_SIMULATING, 1.0
        done = 1 / passes
    else:
        phase, share = risk_pb2.SIMULATION_PHASE_CONTRIBUTIONS, contributions_share
        done = (1 + (passes - 1) * contributions_share) / passes
    return risk_pb2.SimulationProgress(
        scenarios_done=r.scenarios, scenarios_total=r.scenarios,
        expected_loss_cents=estimate(r.expected_loss_cents), level=top.level,
        value_at_risk_cents=estimate(top.value_at_risk_cents),
        expected_shortfall_cents=estimate(top.expected_shortfall_cents),
        phase=phase, phase_done_share=share, done_share=done)


def portfolio_result(r: pf.PortfolioResult, guarantee_count: int,
                     contributions: pf.RiskContributions | None = None,
                     ids: Sequence[str] = (), top: int = 20) -> risk_pb2.PortfolioRiskResult:
    result = risk_pb2.PortfolioRiskResult(
        method=_METHOD_ENUMS.get(r.method, 0), seed=r.seed, scenario_count=r.scenarios,
        expected_loss_cents=estimate(r.expected_loss_cents),
        tail_risk=[risk_pb2.TailRisk(level=t.level,
                                     value_at_risk_cents=estimate(t.value_at_risk_cents),
                                     expected_shortfall_cents=estimate(
                                         t.expected_shortfall_cents)) for t in r.tail_risk],
        exhaustion_probability_by_year=_estimates(r.exhaustion_probability_by_year),
        loss_histogram_edges_cents=list(map(float, r.loss_histogram_edges_cents)),
        loss_histogram_probability=list(map(float, r.loss_histogram_probability)),
        portfolio_cap_cents=r.portfolio_cap_cents or 0, capital_cents=r.capital_cents,
        annual_fee_income_cents=r.annual_fee_income_cents,
        importance_shift=list(map(float, r.importance_shift)),
        effective_sample_size=float(r.effective_sample_size),
        cancelled=r.cancelled, notes=list(r.notes), guarantee_count=guarantee_count,
        horizon_years=r.horizon_years)
    if contributions is not None:
        order = np.argsort(-contributions.guarantee_es_cents, kind="stable")[:top]
        result.contributions.CopyFrom(risk_pb2.RiskContributions(
            level=contributions.level, method=_METHOD_ENUMS.get(contributions.method, 0),
            scenario_count=contributions.scenarios,
            value_at_risk_cents=estimate(contributions.value_at_risk_cents),
            expected_shortfall_cents=estimate(contributions.expected_shortfall_cents),
            conditional_tail_loss_cents=float(contributions.conditional_tail_loss_cents),
            top_guarantees=[risk_pb2.GuaranteeContribution(
                row=int(i), id=ids[i] if i < len(ids) else "",
                expected_shortfall_cents=risk_pb2.Estimate(
                    value=float(contributions.guarantee_es_cents[i]),
                    standard_error=float(contributions.guarantee_es_standard_error[i])),
                value_at_risk_cents=risk_pb2.Estimate(
                    value=float(contributions.guarantee_var_cents[i]),
                    standard_error=float(contributions.guarantee_var_standard_error[i])))
                for i in order],
            by_sector=[_group(g) for g in contributions.by_sector],
            by_branch=[_group(g) for g in contributions.by_branch]))
    return result


def _group(g: pf.GroupContribution) -> risk_pb2.GroupContribution:
    return risk_pb2.GroupContribution(name=g.name,
                                      expected_shortfall_cents=estimate(g.expected_shortfall_cents),
                                      value_at_risk_cents=estimate(g.value_at_risk_cents))


def incremental_response(r: pf.IncrementalRisk) -> risk_pb2.EvaluateIncrementalRiskResponse:
    return risk_pb2.EvaluateIncrementalRiskResponse(
        method=_METHOD_ENUMS.get(r.method, 0), seed=r.seed, scenario_count=r.scenarios,
        expected_loss_change_cents=estimate(r.expected_loss_change_cents),
        tail_risk=[risk_pb2.IncrementalTailRisk(
            level=t.level,
            value_at_risk_before_cents=estimate(t.value_at_risk_before_cents),
            value_at_risk_after_cents=estimate(t.value_at_risk_after_cents),
            value_at_risk_change_cents=estimate(t.value_at_risk_change_cents),
            expected_shortfall_before_cents=estimate(t.expected_shortfall_before_cents),
            expected_shortfall_after_cents=estimate(t.expected_shortfall_after_cents),
            expected_shortfall_change_cents=estimate(t.expected_shortfall_change_cents))
            for t in r.tail_risk],
        exhaustion_probability_before_by_year=_estimates(r.exhaustion_probability_before_by_year),
        exhaustion_probability_after_by_year=_estimates(r.exhaustion_probability_after_by_year),
        exhaustion_probability_change_by_year=_estimates(r.exhaustion_probability_change_by_year))


def _at_999(r: pf.PortfolioResult) -> pf.TailRisk | None:
    return next((t for t in r.tail_risk if math.isclose(t.level, 0.999, abs_tol=1e-12)),
                None)


def portfolio_simulated_event(r: pf.PortfolioResult, guarantee_count: int
                              ) -> events_pb2.PortfolioSimulated:
    """The event's payload: every level asked in ``tail_risk``; the deprecated "999"
    fields only at 0.999 (they held the highest level asked, whatever it was: VaR95 in a
    field named 999), and left out of the data without it
    (:func:`portfolio_simulated_event_absent`)."""
    at_999 = _at_999(r)
    return events_pb2.PortfolioSimulated(
        seed=r.seed, scenario_count=r.scenarios, guarantee_count=guarantee_count,
        method=r.method, expected_loss_cents=r.expected_loss_cents.value,
        value_at_risk_999_cents=at_999.value_at_risk_cents.value if at_999 else 0.0,
        expected_shortfall_999_cents=at_999.expected_shortfall_cents.value if at_999 else 0.0,
        exhaustion_probability=(r.exhaustion_probability_by_year[-1].value
                                if r.exhaustion_probability_by_year else 0.0),
        cancelled=r.cancelled,
        tail_risk=[events_pb2.PortfolioTailRisk(
            level=t.level, value_at_risk_cents=t.value_at_risk_cents.value,
            expected_shortfall_cents=t.expected_shortfall_cents.value) for t in r.tail_risk],
        horizon_years=r.horizon_years)


def portfolio_simulated_event_absent(r: pf.PortfolioResult) -> tuple[str, ...]:
    """Fields of PortfolioSimulated the result has no figure for: the "999" ones when
    0.999 was not asked."""
    return () if _at_999(r) else ("value_at_risk_999_cents", "expected_shortfall_999_cents")


# ---------------------------------------------------------------- field paths back to the API

_SHAPE_FIELDS = {  # engine field stem -> proto field stem, per oneof shape
    "triangular": {"minimum": "min", "mode": "mode", "maximum": "max"},
    "pert": {"minimum": "min", "mode": "mode", "maximum": "max", "pert_shape": "shape"},
    "uniform": {"minimum": "min", "maximum": "max"},
    "truncated_normal": {"mean": "mean", "standard_deviation": "standard_deviation"},
    "lognormal": {"p10": "p10", "p90": "p90"},
}
_DISTRIBUTION_PATH = re.compile(
    r"^(?P<owner>.*\.(?:distribution|duration|cost_impact|delay))"
    r"\.(?P<stem>minimum|mode|maximum|mean|standard_deviation|p10|p90|pert_shape)"
    r"(?P<unit>_cents|_days)?$")


def _message_at(root, path: str):
    """The message at a dotted/indexed path such as ``cost_items[3].distribution``."""
    node = root
    for part in path.split("."):
        name, _, index = part.partition("[")
        node = getattr(node, name)
        if index:
            node = node[int(index.rstrip("]"))]
    return node


def api_field(model: risk_pb2.ProcurementModel, engine_field: str) -> str:
    """The request path of a field the procurement engine names, e.g. the engine's
    ``cost_items[1].distribution.minimum_cents`` is the API's
    ``model.cost_items[1].distribution.triangular.min_cents``."""
    root = engine_field.split("[")[0].split(".")[0]
    if root not in {f.name for f in risk_pb2.ProcurementModel.DESCRIPTOR.fields}:
        return engine_field
    match = _DISTRIBUTION_PATH.match(engine_field)
    if match:
        try:
            shape = _message_at(model, match["owner"]).WhichOneof("shape")
        except (AttributeError, IndexError, ValueError):
            shape = ""
        if shape is None:  # no shape chosen: the distribution itself is what is missing
            return f"model.{match['owner']}"
        unit = match["unit"] or ""
        if shape in _SHAPE_FIELDS and match["stem"] in _SHAPE_FIELDS[shape]:
            stem = _SHAPE_FIELDS[shape][match["stem"]]
            suffix = "" if stem == "shape" else unit
            return f"model.{match['owner']}.{shape}.{stem}{suffix}"
        if shape in ("fixed_cents", "fixed_days", "most_likely_cents", "most_likely_days"):
            return f"model.{match['owner']}.{shape}"
    return f"model.{engine_field}"


_PORTFOLIO_ROW = re.compile(r"^(?P<rows>guarantees|candidate)(?:\[(?P<row>\d+)\])?"
                            r"(?:\.(?P<column>[a-z_]+))?(?P<rest>.*)$")


#: The engine's names of request fields the API spells otherwise (an engine entry point
#: names its own arguments: levels, method, ...; SimulatePortfolio's first message holds
#: them in ``simulation``).
_PORTFOLIO_RENAMES = {
    "dependence.background_variance": "dependence.creditriskplus_background_variance",
    "dependence.sector_variances": "dependence.creditriskplus_sector_variances",
    "levels": "simulation.levels", "method": "simulation.method",
    "scenarios": "simulation.scenario_count", "seed": "simulation.seed",
    "target_relative_error": "simulation.target_relative_error",
}
_RENAMED = re.compile(r"^(" + "|".join(re.escape(k) for k in _PORTFOLIO_RENAMES)
                      + r")(?=$|\[|\.)")


def portfolio_api_field(engine_field: str, rows: Sequence[risk_pb2.Guarantee], *,
                        prefix: str = "", rows_field: str = "guarantees",
                        candidate_field: str = "candidate") -> str:
    """The request path of a field the portfolio engine (or :func:`portfolio`) names.

    The engine names rows ``guarantees[i].column`` and, for a check of a whole column,
    ``guarantees.column``; a candidate's rows ``candidate[0].column``; and the fund,
    dependence and options as SimulatePortfolio's first message spells them. A request
    whose portfolio sits elsewhere says where: ``prefix`` before every path (``simulation.``
    in StartPortfolioSimulation), ``rows_field`` for its rows (``portfolio`` in
    EvaluateIncrementalRisk) and ``candidate_field`` for its one candidate message. A
    column check names the first row that gave that column (or row 0)."""
    engine_field = _RENAMED.sub(lambda m: _PORTFOLIO_RENAMES[m[1]], engine_field)
    match = _PORTFOLIO_ROW.match(engine_field)
    if match is None:
        return prefix + engine_field
    column = match["column"]
    tail = (f".{column}" if column else "") + match["rest"]
    if match["rows"] == "candidate":
        return prefix + candidate_field + tail
    row = match["row"]
    if row is None and column and rows:
        given = (i for i, g in enumerate(rows)
                 if column in risk_pb2.Guarantee.DESCRIPTOR.fields_by_name
                 and _has_value(g, column))
        row = str(next(given, 0))
    return prefix + rows_field + (f"[{row}]" if row is not None else "") + tail


def _has_value(guarantee: risk_pb2.Guarantee, column: str) -> bool:
    field = risk_pb2.Guarantee.DESCRIPTOR.fields_by_name[column]
    if field.is_repeated:
        return len(getattr(guarantee, column)) > 0
    if field.has_presence:
        return guarantee.HasField(column)
    return bool(getattr(guarantee, column))


def portfolio_api_error(exc: InvalidArgument, rows: Sequence[risk_pb2.Guarantee], **where
                        ) -> InvalidArgument:
    """``exc`` with each field named as the request spells it (:func:`portfolio_api_field`)."""
    return InvalidArgument([FieldViolation(portfolio_api_field(v.field, rows, **where),
                                           v.description) for v in exc.violations])
