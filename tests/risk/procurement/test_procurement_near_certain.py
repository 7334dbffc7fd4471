"""Probabilities near 1 keep an honest error, and only what the model itself makes
certain or impossible reads with SE 0 (closed forms)."""

import numpy as np

from services.risk.engine.procurement import (
    Activity,
    CostDistribution,
    CostItem,
    DistributionKind,
    DurationDistribution,
    Phase,
    RiskEvent,
    estimate_procurement_risk,
)
from tests.risk.procurement.builders import procurement_model as _model

K = DistributionKind


def test_a_near_certain_overrun_never_reads_one_hundred_percent_plus_minus_zero():
    # Triangular(a, c, b) cost, budget x just above a: P(cost ≤ x) = (x − a)²/((b − a)(c − a))
    # = 1000²/(200,000 · 50,000) = 1e-4, so P(cost > budget) = 0.9999: 10,000 scenarios see
    # none under budget in e^{-1} = 37 % of runs (before: 100 % ± 0 in 34 of 100).
    a, c, b, x = 100_000_00, 150_000_00, 300_000_00, 101_000_00
    exact = 1.0 - (x - a) ** 2 / ((b - a) * (c - a))
    m = _model([CostItem("x", CostDistribution(K.TRIANGULAR, a, c, b))], x)
    got = np.array([[(e := estimate_procurement_risk(m, scenarios=10_000, seed=seed)
                      .budget_exceedance_probability).value, e.standard_error]
                    for seed in range(100)])
    value, se = got[:, 0], got[:, 1]
    assert np.any(value == 1.0) and np.all(se > 0)
    assert np.mean(np.abs(value - exact) > 3 * se) <= 0.02


def test_what_the_model_makes_certain_or_impossible_reads_exactly():
    # a fixed cost above the budget: the overrun is certain; no phase can fail (pass
    # probability 1); a serial schedule: both activities are always critical; a bounded
    # duration (5 + at most 10 days, an event that may add at most 3) cannot pass 18 days
    items = [CostItem("x", CostDistribution(K.FIXED, mode_cents=200)),
             CostItem("y", CostDistribution(K.UNIFORM, minimum_cents=10, maximum_cents=20))]
    acts = (Activity("a", DurationDistribution(K.FIXED, mode_days=5.0)),
            Activity("b", DurationDistribution(K.UNIFORM, minimum_days=0.0, maximum_days=10.0),
                     ("a",)))
    ev = RiskEvent("late", 0.5, CostDistribution(K.FIXED, mode_cents=0),
                   DurationDistribution(K.UNIFORM, minimum_days=1.0, maximum_days=3.0), ("b",))
    r = estimate_procurement_risk(_model(items, 150, activities=acts, risk_events=(ev,),
                                         deadline_days=18.0), scenarios=4096, seed=3)
    assert (r.budget_exceedance_probability.value,
            r.budget_exceedance_probability.standard_error) == (1.0, 0.0)
    assert (r.failure_probability.value, r.failure_probability.standard_error) == (0.0, 0.0)
    assert [(a.criticality_index.value, a.criticality_index.standard_error)
            for a in r.activity_criticality] == [(1.0, 0.0), (1.0, 0.0)]
    assert (r.deadline_exceedance_probability.value,
            r.deadline_exceedance_probability.standard_error) == (0.0, 0.0)
    # under a budget the costs can pass (at most 220), a run without an overrun is no proof
    r = estimate_procurement_risk(_model(items, 219, activities=acts, risk_events=(ev,),
                                         deadline_days=17.0), scenarios=4096, seed=3)
    assert r.budget_exceedance_probability.standard_error > 0
    assert r.deadline_exceedance_probability.standard_error > 0


def test_a_phase_that_always_fails_is_certain():
    items = [CostItem("x", CostDistribution(K.FIXED, mode_cents=100))]
    r = estimate_procurement_risk(_model(items, 100, phases=(Phase("p", 2, 0.0),)),
                                  scenarios=4096, seed=1)
    assert (r.failure_probability.value, r.failure_probability.standard_error) == (1.0, 0.0)
    assert r.phase_failures[0].probability.standard_error == 0.0
