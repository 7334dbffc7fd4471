"""Bad input: InvalidArgument naming every bad field at once; bounds: ResourceExhausted."""

import math

import pytest

from services.risk.engine.procurement import (
    MAX_SCENARIOS,
    Activity,
    CorrelationBlock,
    CostDistribution,
    CostItem,
    CoveredLoss,
    DistributionKind,
    DurationDistribution,
    GuaranteeTerms,
    NoveltyLevel,
    Phase,
    ProcurementKind,
    ProcurementModel,
    RiskEvent,
    estimate_procurement_risk,
    evaluate_guarantee,
)
from services.shared.errors import InvalidArgument, ResourceExhausted

K = DistributionKind
OK_COST = CostDistribution(K.TRIANGULAR, 10, 20, 30)
OK_DAYS = DurationDistribution(K.TRIANGULAR, 1.0, 2.0, 3.0)


def model(**kw):
    base = dict(kind=ProcurementKind.NEW_PRODUCT_OR_SERVICE,
                novelty=NoveltyLevel.NEW_TO_SECTOR,
                cost_items=(CostItem("a", OK_COST), CostItem("b", OK_COST)),
                activities=(Activity("x", OK_DAYS), Activity("y", OK_DAYS, ("x",))),
                budget_cents=100)
    base.update(kw)
    return ProcurementModel(**base)


def fields_of(m, **options):
    options.setdefault("scenarios", 100)
    options.setdefault("seed", 1)
    with pytest.raises(InvalidArgument) as info:
        estimate_procurement_risk(m, **options)
    return {v.field for v in info.value.violations}


def test_inverted_and_negative_ranges_name_the_field():
    m = model(cost_items=(
        CostItem("a", CostDistribution(K.TRIANGULAR, 30, 20, 40)),
        CostItem("b", CostDistribution(K.PERT, 10, 50, 40)),
        CostItem("c", CostDistribution(K.UNIFORM, minimum_cents=-5, maximum_cents=10)),
        CostItem("d", CostDistribution(K.LOGNORMAL, p10_cents=90, p90_cents=50))))
    assert fields_of(m) == {
        "cost_items[0].distribution.minimum_cents", "cost_items[1].distribution.maximum_cents",
        "cost_items[2].distribution.minimum_cents", "cost_items[3].distribution.p90_cents"}


def test_nan_infinite_and_float_cents_rejected():
    m = model(
        cost_items=(CostItem("a", CostDistribution(K.TRIANGULAR, 10, 20.5, 30)),
                    CostItem("b", CostDistribution(K.PERT, 10, 20, 30, pert_shape=math.inf))),
        activities=(Activity("x", DurationDistribution(K.TRIANGULAR, 1.0, math.nan, 3.0)),),
        deadline_days=math.inf)
    assert fields_of(m) == {"cost_items[0].distribution.mode_cents",
                            "cost_items[1].distribution.pert_shape",
                            "activities[0].duration.mode_days", "deadline_days"}


def test_probabilities_outside_unit_interval():
    m = model(risk_events=(RiskEvent("r", 1.5), RiskEvent("s", math.nan)),
              phases=(Phase("p", 2, -0.1),))
    assert fields_of(m) == {"risk_events[0].probability", "risk_events[1].probability",
                            "phases[0].pass_probability"}


def test_cyclic_schedule_and_unknown_predecessor():
    m = model(activities=(Activity("x", OK_DAYS, ("z",)), Activity("y", OK_DAYS, ("x",)),
                          Activity("z", OK_DAYS, ("y",)), Activity("w", OK_DAYS, ("nope",))),
              risk_events=(RiskEvent("r", 0.5, delayed_activities=("ghost",)),))
    assert fields_of(m) == {"activities[0].predecessors", "activities[1].predecessors",
                            "activities[2].predecessors", "activities[3].predecessors[0]",
                            "risk_events[0].delayed_activities[0]"}


def test_correlation_wrong_size_unknown_names_and_bad_entries():
    m = model(correlations=(
        CorrelationBlock(("a", "b"), (1.0, 0.5, 0.5)),
        CorrelationBlock(("x", "nobody"), (1, 0, 0, 1)),
        CorrelationBlock(("a", "y"), (1, 0.2, 0.3, 1))))
    assert fields_of(m) == {"correlations[0].rank_correlations",
                            "correlations[1].input_names[1]",
                            "correlations[2].input_names[0]",  # "a" already in block 0
                            }
    m = model(correlations=(CorrelationBlock(("a", "y"), (1, 0.2, 0.3, 1)),
                            CorrelationBlock(("b", "x"), (1, 2.0, 2.0, math.nan))))
    assert fields_of(m) == {"correlations[0].rank_correlations[2]",
                            "correlations[1].rank_correlations[1]",
                            "correlations[1].rank_correlations[2]",
                            "correlations[1].rank_correlations[3]"}


def test_names_kind_budget_and_options_reported_together():
    m = model(kind=ProcurementKind.PROCUREMENT_KIND_UNSPECIFIED, budget_cents=-1,
              cost_items=(CostItem("a", OK_COST), CostItem("a", OK_COST),
                          CostItem("c", OK_COST, phase="nowhere")))
    got = fields_of(m, seed=-1, scenarios=0, quantiles=(1.0,), confidence=math.nan)
    assert got == {"kind", "budget_cents", "cost_items[1].name", "cost_items[2].phase",
                   "seed", "scenarios", "quantiles[0]", "confidence"}


def test_scenario_bound():
    with pytest.raises(ResourceExhausted, match="2,000,000"):
        estimate_procurement_risk(model(), scenarios=MAX_SCENARIOS + 1, seed=1)


def test_guarantee_terms_validated():
    terms = GuaranteeTerms(CoveredLoss.COVERED_LOSS_UNSPECIFIED, 1.5, cap_cents=0,
                           deductible_cents=-3)
    with pytest.raises(InvalidArgument) as info:
        evaluate_guarantee(model(), terms, scenarios=10, seed=1, risk_levels=(1.0,))
    assert {v.field for v in info.value.violations} == {
        "terms.covered_loss", "terms.guarantee_rate", "terms.cap_cents",
        "terms.deductible_cents", "risk_levels[0]"}


def test_a_deadline_without_activities_is_refused():
    # Without a schedule there is no duration to check a deadline against: say so rather
    # than answer P(late) = 0.
    with pytest.raises(InvalidArgument) as err:
        estimate_procurement_risk(model(activities=(), deadline_days=100.0), seed=1,
                                  scenarios=1000)
    assert [(v.field, v.description) for v in err.value.violations] == [
        ("deadline_days", "a deadline needs activities: the schedule it is checked against")]


def test_every_default_used_cites_its_basis_not_internal_documents():
    # defaults_used is shown to the agency: its rationale must be readable and citable.
    bare = model(cost_items=(CostItem("a", CostDistribution(K.DISTRIBUTION_KIND_UNSPECIFIED,
                                                             mode_cents=1000)),),
                 activities=(), kind=ProcurementKind.PRE_COMMERCIAL_PROCUREMENT)
    used = estimate_procurement_risk(bare, seed=1, scenarios=1000).defaults_used
    assert {d.field for d in used} >= {"phases"} and len(used) >= 2
    for d in used:
        assert "README" not in d.rationale and "expert judgement" in d.rationale, d


def test_a_prior_spread_is_shown_in_euros_exactly_and_days_as_numbers():
    # "PERT(minimum=2.34e+07, mode=2.6e+07, maximum=4.316e+07 cents)" was shown to the
    # agency: cents in scientific notation, six significant figures.
    likely = model(novelty=NoveltyLevel.NEW_IN_FINLAND, cost_items=(
        CostItem("metering", CostDistribution(K.DISTRIBUTION_KIND_UNSPECIFIED,
                                              mode_cents=26_000_000)),
        CostItem("odd", CostDistribution(K.DISTRIBUTION_KIND_UNSPECIFIED,
                                         mode_cents=123_456_789))),
        activities=(Activity("x", DurationDistribution(K.DISTRIBUTION_KIND_UNSPECIFIED,
                                                       mode_days=60.0)),))
    used = {d.field: d.value for d in
            estimate_procurement_risk(likely, seed=1, scenarios=1000).defaults_used}
    # novelty NEW_IN_FINLAND: cost −10 % / +66 %, duration −5 % / +39 %
    assert used["cost_items[0].distribution"] == (
        "PERT(minimum €234,000.00, mode €260,000.00, maximum €431,600.00)")
    assert used["cost_items[1].distribution"] == (
        "PERT(minimum €1,111,111.101, mode €1,234,567.89, maximum €2,049,382.6974)")
    assert used["activities[0].duration"] == "PERT(minimum 57 days, mode 60 days, maximum "\
        "83.4 days)"


def test_an_extreme_lognormal_spread_is_answered_with_its_huge_error():
    # P90/P10 = 1e12 is valid input; its draws pass int64's range. The answer must come
    # (it crashed building the histogram's edges), and say how little its mean means.
    wide = model(cost_items=(CostItem("a", CostDistribution(K.LOGNORMAL, p10_cents=1,
                                                             p90_cents=10**12)),))
    r = estimate_procurement_risk(wide, seed=1, scenarios=20_000)
    assert sum(r.cost_histogram.counts) == 20_000
    assert r.cost_histogram.bin_edges_cents[-1] > 2**63
    assert r.total_cost_cents.mean.standard_error > r.total_cost_cents.mean.value


# Found by the API fuzzing: amounts, durations, PERT shapes and lognormal spreads had no
# upper bound. EstimateProcurementRisk with a most likely cost of 2**63 - 1 cents was
# INTERNAL (the sum of the most likely costs overflowed the answer's int64); two activities
# of 1e300 days, a duration of 1.7e308, or a PERT shape of 1e50 were INTERNAL (the duration
# histogram of inf or NaN); lognormal days of P10 1e-300, P90 1e6 were answered OK with an
# infinite standard deviation and a NaN standard error.

def test_money_durations_shapes_and_spreads_have_upper_bounds():
    m = model(
        cost_items=(CostItem("a", CostDistribution(K.DISTRIBUTION_KIND_UNSPECIFIED,
                                                   mode_cents=2**63 - 1)),
                    CostItem("b", CostDistribution(K.PERT, 10, 20, 30, pert_shape=1e50)),
                    CostItem("c", CostDistribution(K.TRIANGULAR, 0, 1, 10**15 + 1))),
        activities=(Activity("x", DurationDistribution(K.FIXED, mode_days=1e300)),
                    Activity("y", DurationDistribution(K.LOGNORMAL, p10_days=1e-300,
                                                       p90_days=1e6), ("x",))),
        budget_cents=10**15 + 1)
    assert fields_of(m) == {"cost_items[0].distribution.mode_cents",
                            "cost_items[1].distribution.pert_shape",
                            "cost_items[2].distribution.maximum_cents",
                            "activities[0].duration.mode_days",
                            "activities[1].duration.p90_days", "budget_cents"}
    terms = GuaranteeTerms(CoveredLoss.COST_OVERRUN, 0.5, cap_cents=10**15 + 1,
                           deductible_cents=2**63 - 1)
    with pytest.raises(InvalidArgument) as info:
        evaluate_guarantee(model(), terms, scenarios=10, seed=1)
    assert {v.field for v in info.value.violations} == {"terms.cap_cents",
                                                        "terms.deductible_cents"}


def test_the_largest_inputs_give_finite_figures():
    def finite(estimate):
        return math.isfinite(estimate.value) and math.isfinite(estimate.standard_error)

    m = model(
        cost_items=tuple(CostItem(f"c{i}", CostDistribution(K.DISTRIBUTION_KIND_UNSPECIFIED,
                                                            mode_cents=10**15))
                         for i in range(50)),
        activities=(Activity("x", DurationDistribution(K.PERT, 0.0, 1.0, 1e6,
                                                       pert_shape=1000.0)),
                    Activity("y", DurationDistribution(K.LOGNORMAL, p10_days=1e-9,
                                                       p90_days=1e6), ("x",))),
        budget_cents=10**15)
    r = estimate_procurement_risk(m, seed=1, scenarios=4096)
    assert r.base_estimate_cents == 50 * 10**15
    for summary in (r.total_cost_cents, r.duration_days):
        assert finite(summary.mean) and finite(summary.standard_deviation)
