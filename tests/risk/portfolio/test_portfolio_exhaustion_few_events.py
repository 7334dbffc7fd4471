"""The chance the fund's capital runs out, when few scenarios exhaust it, against the exact
loss law: a one-sector book of 50 one-unit payouts (``sector_books``, exact law by
quadrature over the factor) with the capital at its exact 99.9 % VaR, so P(exhaustion in
year 1) = P(L > VaR) = 3.7e-4, about 3 scenarios of a plain 8,192-scenario run."""

import numpy as np

from services.risk.engine.portfolio import BLOCK_SCENARIOS, Fund, simulate_portfolio
from tests.risk.portfolio.sector_books import sector_book

SEEDS = range(1, 301)


def test_the_exhaustion_probability_from_few_scenarios_keeps_an_honest_error():
    book = sector_book(sizes=(50,), pds=(0.01,), loadings=(0.3,), units=(1, 1))
    var, _, exact = book.exact(0.999)
    fund = Fund(capital_cents=int(var), annual_fee_income_cents=0)
    n = 8 * BLOCK_SCENARIOS
    got = np.array([[(e := simulate_portfolio(
        book.portfolio, fund, book.dependence, seed=seed, method="monte_carlo",
        scenarios=n, levels=(0.999,)).exhaustion_probability_by_year[0]).value,
        e.standard_error] for seed in SEEDS])
    value, se = got[:, 0], got[:, 1]
    error = np.abs(value - exact)
    wald = np.sqrt(value * (1 - value) / n)  # what the run reported before the floor
    assert 1.5 < exact * n < 5
    assert np.any(value == 0) and np.all(se > 0)
    assert np.mean(error > 3 * se) <= 0.01
    assert 0.6 < np.sqrt(np.mean(error ** 2)) / se.mean() < 1.1
    with np.errstate(divide="ignore", invalid="ignore"):
        assert np.mean(~(error <= 3 * wald)) >= 0.03
