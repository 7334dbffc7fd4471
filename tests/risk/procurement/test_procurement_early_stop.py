"""Early stopping never ends a run on a zero standard error (a rare, large risk event not
drawn yet) and needs MIN_BLOCKS_BEFORE_STOP blocks; where it stops does not depend on the
chunk size."""

import numpy as np

from services.risk.engine.procurement import (
    BLOCK_SCENARIOS,
    CostDistribution,
    CostItem,
    DistributionKind,
    NoveltyLevel,
    Phase,
    ProcurementKind,
    ProcurementModel,
    RiskEvent,
    estimate_procurement_risk,
)
from services.risk.engine.procurement.simulation import MIN_BLOCKS_BEFORE_STOP

K = DistributionKind
MIN_SCENARIOS = MIN_BLOCKS_BEFORE_STOP * BLOCK_SCENARIOS


def _rare_event_model(probability=0.0005, impact_cents=4_000_000_000):
    items = (CostItem("x", CostDistribution(K.FIXED, mode_cents=10_000_000)),)
    ev = (RiskEvent("big", probability, CostDistribution(K.FIXED, mode_cents=impact_cents)),)
    return ProcurementModel(ProcurementKind.NEW_PRODUCT_OR_SERVICE, NoveltyLevel.NEW_TO_SECTOR,
                            items, 1, risk_events=ev, phases=(Phase("d", 1, 1.0),))


def test_rare_large_event_never_stops_on_a_zero_standard_error():
    model = _rare_event_model()
    # Seeds whose first two blocks hold no event: the old rule (2 blocks, SE 0 ≤ target)
    # stopped them at 8,192 scenarios reporting the fixed cost alone with SE 0.
    seeds = [18, 84, 126, 233, 402, 407, 452, 535, 537, 543]
    for seed in seeds:
        early = estimate_procurement_risk(model, scenarios=2 * BLOCK_SCENARIOS, seed=seed)
        assert early.total_cost_cents.mean.standard_error == 0.0
    for seed in [*seeds, *range(20)]:
        r = estimate_procurement_risk(model, scenarios=2_000_000, seed=seed,
                                      target_standard_error_cents=500_000)
        mean = r.total_cost_cents.mean
        assert r.stopped_early
        assert r.scenarios >= MIN_SCENARIOS
        assert r.scenarios % BLOCK_SCENARIOS == 0
        assert 0.0 < mean.standard_error <= 500_000
        assert mean.value > 10_000_000


def test_a_run_whose_cost_never_varies_does_not_stop_early():
    # An event far too rare to show up in the run: the SE stays 0 and sampling goes on.
    model = _rare_event_model(probability=1e-9)
    r = estimate_procurement_risk(model, scenarios=12 * BLOCK_SCENARIOS, seed=3,
                                  target_standard_error_cents=1.0)
    assert not r.stopped_early
    assert r.scenarios == 12 * BLOCK_SCENARIOS
    assert r.total_cost_cents.mean.standard_error == 0.0


def test_stopping_needs_the_minimum_blocks_whatever_the_chunk_size():
    model = _rare_event_model(probability=0.2, impact_cents=1_000_000)
    # Any nonzero SE meets this target, so the run stops at the first block it may.
    runs = [estimate_procurement_risk(model, scenarios=1_000_000, seed=8,
                                      target_standard_error_cents=1e12, chunk_scenarios=chunk)
            for chunk in (None, BLOCK_SCENARIOS, 3 * BLOCK_SCENARIOS, 10 * BLOCK_SCENARIOS)]
    assert all(r == runs[0] for r in runs[1:])
    assert runs[0].stopped_early
    assert runs[0].scenarios == MIN_SCENARIOS
    fixed = estimate_procurement_risk(model, scenarios=MIN_SCENARIOS, seed=8)
    assert fixed.total_cost_cents == runs[0].total_cost_cents
    assert np.isfinite(runs[0].total_cost_cents.mean.standard_error)
