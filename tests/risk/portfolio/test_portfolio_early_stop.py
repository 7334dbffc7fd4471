"""Early stopping (target_relative_error) does not depend on how the run is chunked.

The stop is decided only at fixed block counts (multiples of STOP_STRIDE_BLOCKS, at least
MIN_STOP_BLOCKS), each on exactly that prefix of blocks, so the same seed gives the same
stopping point and bit-identical figures for any chunk size.
"""

from __future__ import annotations

import numpy as np

from services.risk.engine.portfolio import (
    BLOCK_SCENARIOS,
    Dependence,
    Fund,
    Portfolio,
    simulate_portfolio,
)
from services.risk.engine.portfolio.montecarlo import MIN_STOP_BLOCKS, STOP_STRIDE_BLOCKS


def _book() -> Portfolio:
    rng = np.random.default_rng(5)
    n = 300
    return Portfolio.from_arrays(
        exposure_cents=np.round(rng.lognormal(13, 0.8, n)).astype(np.int64),
        probability_of_default=rng.uniform(0.002, 0.03, n), loss_given_default=0.45,
        factor_loadings=np.c_[np.full(n, 0.4), np.full(n, 0.2)])


DEP = Dependence(np.array([[1.0, 0.3], [0.3, 1.0]]))
FUND = Fund(capital_cents=10**9)


def test_stopping_point_and_figures_do_not_depend_on_chunk_size():
    for method, target in (("importance_sampling", 0.02), ("monte_carlo", 0.05)):
        runs = [simulate_portfolio(_book(), FUND, DEP, seed=1, method=method,
                                   scenarios=400 * BLOCK_SCENARIOS, chunk_blocks=cb,
                                   target_relative_error=target, levels=(0.99, 0.999))
                for cb in (1, 3, 16, 37, None)]
        first = runs[0]
        assert first.scenarios < 400 * BLOCK_SCENARIOS, method  # it did stop early
        assert first.scenarios % (STOP_STRIDE_BLOCKS * BLOCK_SCENARIOS) == 0
        for r in runs[1:]:
            assert r.scenarios == first.scenarios, method
            assert r.tail_risk == first.tail_risk
            assert r.expected_loss_cents == first.expected_loss_cents
            assert r.exhaustion_probability_by_year == first.exhaustion_probability_by_year
            assert r.loss_histogram_probability == first.loss_histogram_probability


def test_no_stop_before_the_minimum_number_of_blocks():
    # a target any single block meets: the run still takes MIN_STOP_BLOCKS blocks
    for cb in (1, 5):
        r = simulate_portfolio(_book(), FUND, DEP, seed=2, method="monte_carlo",
                               scenarios=100 * BLOCK_SCENARIOS, chunk_blocks=cb,
                               target_relative_error=0.99, levels=(0.99,))
        assert r.scenarios == MIN_STOP_BLOCKS * BLOCK_SCENARIOS
