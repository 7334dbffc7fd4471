"""Same seed, same answer, whatever the chunking; early stopping at block boundaries;
priors filling what the agency left out."""

import math

import numpy as np

from services.risk.engine.procurement import (
    BLOCK_SCENARIOS,
    Activity,
    CorrelationBlock,
    CostDistribution,
    CostItem,
    DistributionKind,
    DurationDistribution,
    NoveltyLevel,
    Phase,
    ProcurementKind,
    ProcurementModel,
    RiskEvent,
    estimate_procurement_risk,
)

K = DistributionKind


def rich_model(**kw):
    items = (
        CostItem("design", CostDistribution(K.PERT, 100_000, 150_000, 300_000),
                 phase="solution_design"),
        CostItem("prototype", CostDistribution(K.TRIANGULAR, 200_000, 250_000, 600_000),
                 phase="prototype"),
        CostItem("pm", CostDistribution(K.LOGNORMAL, p10_cents=50_000, p90_cents=90_000)),
        CostItem("deploy", CostDistribution(K.DISTRIBUTION_KIND_UNSPECIFIED,
                                            mode_cents=400_000), only_on_success=True),
        CostItem("licence", CostDistribution(K.FIXED, mode_cents=20_000)))
    acts = (Activity("a", DurationDistribution(K.TRIANGULAR, 5, 10, 20)),
            Activity("b", DurationDistribution(K.PERT, 3, 4, 12), ("a",)),
            Activity("c", DurationDistribution(K.TRUNCATED_NORMAL, mean_days=8,
                                               standard_deviation_days=3), ("a",)),
            Activity("d", DurationDistribution(K.UNIFORM, minimum_days=1, maximum_days=2),
                     ("b", "c")))
    risks = (RiskEvent("exit", 0.2, CostDistribution(K.UNIFORM, 0, 0, 50_000),
                       DurationDistribution(K.TRIANGULAR, 1, 2, 9), ("b", "c")),)
    corr = (CorrelationBlock(("design", "prototype", "b", "exit"),
                             (1, .6, .3, .2, .6, 1, .1, 0, .3, .1, 1, 0, .2, 0, 0, 1)),)
    return ProcurementModel(
        kind=ProcurementKind.PRE_COMMERCIAL_PROCUREMENT, novelty=NoveltyLevel.NEW_IN_FINLAND,
        cost_items=items, activities=acts, risk_events=risks, correlations=corr,
        budget_cents=1_200_000, deadline_days=30.0, **kw)


def test_bit_identical_whatever_the_chunk_size():
    runs = [estimate_procurement_risk(rich_model(), scenarios=21_000, seed=99,
                                      chunk_scenarios=chunk, quantiles=(0.37,))
            for chunk in (None, 1, BLOCK_SCENARIOS, 3 * BLOCK_SCENARIOS, 10_000, 10**6)]
    assert all(r == runs[0] for r in runs[1:])  # every float, every tuple
    other_seed = estimate_procurement_risk(rich_model(), scenarios=21_000, seed=100)
    assert other_seed.total_cost_cents.mean != runs[0].total_cost_cents.mean


def test_early_stop_at_target_standard_error():
    full = estimate_procurement_risk(rich_model(), scenarios=200_000, seed=5)
    # aim at the SE that about 12 blocks give (past MIN_BLOCKS_BEFORE_STOP): SE ∝ 1/√n
    target = full.total_cost_cents.mean.standard_error * math.sqrt(200_000 / 50_000)
    runs = [estimate_procurement_risk(rich_model(), scenarios=200_000, seed=5,
                                      target_standard_error_cents=target,
                                      chunk_scenarios=chunk)
            for chunk in (BLOCK_SCENARIOS, 7 * BLOCK_SCENARIOS)]
    r = runs[0]
    assert r == runs[1]
    assert r.stopped_early and r.scenarios < 200_000
    assert r.scenarios % BLOCK_SCENARIOS == 0
    assert r.total_cost_cents.mean.standard_error <= target
    # one block fewer would not have reached the target
    shorter = estimate_procurement_risk(rich_model(), scenarios=r.scenarios - BLOCK_SCENARIOS,
                                        seed=5)
    assert shorter.total_cost_cents.mean.standard_error > target
    # a stopped run is exactly the fixed-size run of the same length
    same = estimate_procurement_risk(rich_model(), scenarios=r.scenarios, seed=5)
    assert same.total_cost_cents == r.total_cost_cents
    assert same.activity_criticality == r.activity_criticality


def test_defaults_fill_what_is_left_out_and_are_listed():
    r = estimate_procurement_risk(rich_model(), scenarios=8192, seed=1)
    fields = {d.field for d in r.defaults_used}
    assert fields == {"phases", "cost_items[3].distribution"}
    assert [p.phase_name for p in r.phase_failures] == [
        "solution_design", "prototype", "test_series"]
    assert 0.0 < r.failure_probability.value < 0.5
    # base estimate: exact sum of most likely values (lognormal: its median √(P10·P90))
    assert r.base_estimate_cents == 150_000 + 250_000 + round(math.sqrt(50_000 * 90_000)) \
        + 400_000 + 20_000


def test_missing_pass_probability_and_novelty_take_priors():
    m = ProcurementModel(
        kind=ProcurementKind.INNOVATION_PARTNERSHIP,
        novelty=NoveltyLevel.NOVELTY_LEVEL_UNSPECIFIED,
        cost_items=(CostItem("poc", CostDistribution(K.FIXED, mode_cents=10_000)),),
        phases=(Phase("development", 2),), budget_cents=10_000)
    r = estimate_procurement_risk(m, scenarios=40_000, seed=3)
    assert {d.field for d in r.defaults_used} == {"novelty", "phases[0].pass_probability"}
    # prior: 0.75 per supplier, two suppliers → fails with 0.25² (README table)
    assert abs(r.failure_probability.value - 0.0625) < 4.5 * r.failure_probability.standard_error


def test_simplest_model_has_no_schedule_outputs():
    m = ProcurementModel(
        kind=ProcurementKind.NEW_PRODUCT_OR_SERVICE, novelty=NoveltyLevel.NEW_TO_SECTOR,
        cost_items=tuple(CostItem(f"i{k}", CostDistribution(K.TRIANGULAR, 90, 100, 150))
                         for k in range(5)),
        budget_cents=600)
    r = estimate_procurement_risk(m, scenarios=5000, seed=2, histogram_bins=20)
    assert r.duration_days.mean.value == 0.0 and r.deadline_exceedance_probability is None
    assert r.activity_criticality == () and r.duration_sensitivity == ()
    assert sum(r.cost_histogram.counts) == 5000
    assert list(r.cost_histogram.bin_edges_cents) == sorted(set(r.cost_histogram.bin_edges_cents))
    cdf = [p.total_cost_cents for p in r.cost_cdf]
    assert cdf == sorted(cdf) and cdf[0] >= 450 and cdf[-1] <= 750
    assert np.isclose(r.cost_cdf[-1].cumulative_probability, 1.0)
