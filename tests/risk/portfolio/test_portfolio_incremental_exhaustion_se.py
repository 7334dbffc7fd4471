"""The change of the chance the fund's capital runs out, when few scenarios show it, against
the exact laws of the book without and with the candidate (``SectorBook.with_candidate``):
50 one-unit payouts, capital at the book's exact 99 % VaR (4 units), a 51st payout as the
candidate. The exact change P(L + C > 4) − P(L > 4) = 2.2e-4 is ~1.8 scenarios of a plain
8,192-scenario run; the paired SE read 0 ± 0 whenever none showed it: 18 % of 200 runs
beyond 3 SE, now none (RMS error/SE 0.76)."""

import numpy as np

from services.risk.engine.portfolio import BLOCK_SCENARIOS, Fund, incremental_risk
from tests.risk.portfolio.exact_laws import tail_probability_of_lattice
from tests.risk.portfolio.measure_incremental_es_se import incremental_books
from tests.risk.portfolio.sector_books import UNIT


def test_an_exhaustion_change_few_scenarios_show_keeps_an_honest_error():
    before, candidate, after = incremental_books("edge+1")
    capital = before.exact(0.99)[0]
    exact = (tail_probability_of_lattice(after.law, capital / UNIT)
             - tail_probability_of_lattice(before.law, capital / UNIT))
    n = 8 * BLOCK_SCENARIOS
    fund = Fund(capital_cents=int(capital), annual_fee_income_cents=0)
    got = np.array([[(e := incremental_risk(
        before.portfolio, fund, before.dependence, candidate, seed=seed, method="monte_carlo",
        scenarios=n, levels=(0.99,)).exhaustion_probability_change_by_year[0]).value,
        e.standard_error] for seed in range(1, 201)])
    change, se = got.T
    error = np.abs(change - exact)
    paired = np.sqrt(np.maximum(np.abs(change) - change ** 2, 0.0) / n)  # the old SE
    assert 1 < exact * n < 3
    assert np.any(change == 0) and np.all(se > 0)
    assert np.mean(error > 3 * se) <= 0.01
    assert 0.6 < np.sqrt(np.mean(error ** 2)) / se.mean() < 1.1
    with np.errstate(divide="ignore", invalid="ignore"):
        assert np.mean(~(error <= 3 * paired)) >= 0.05
