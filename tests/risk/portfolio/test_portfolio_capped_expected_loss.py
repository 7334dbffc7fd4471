"""The fund's expected loss under a portfolio cap few scenarios pass, against the exact
loss law: a one-sector book of 200 one-unit payouts (``sector_books``, exact law by
quadrature over the factor). The expected loss is E[L] (exact) less the sampled part above
the cap; with none or a handful of scenarios beyond the cap that part read ± 0, or an SE far
below its error."""

import math

import numpy as np
import pytest

from services.risk.engine.portfolio import (
    BLOCK_SCENARIOS,
    Fund,
    Portfolio,
    incremental_risk,
    simulate_portfolio,
)
from services.risk.engine.portfolio.montecarlo import control_variate_mean
from tests.risk.portfolio.sector_books import UNIT, sector_book

SEEDS = range(1, 201)


@pytest.fixture(scope="module")
def book():
    return sector_book(sizes=(200,), pds=(0.01,), loadings=(0.4,), units=(1, 1))


def _cap_passed_with(book, probability: float) -> tuple[int, float]:
    """The cap (units) passed with about ``probability``, and the exact E[min(L, cap)]."""
    k = np.arange(book.law.size)
    at_least = np.cumsum(book.law[::-1])[::-1]
    cap = int(np.argmax(at_least < probability))
    return cap, float(np.minimum(k, cap) @ book.law) * UNIT


def _errors(book, cap: int, exact: float, blocks: int, method: str):
    fund = Fund(capital_cents=0, portfolio_cap_rate=cap / 200)
    runs = [simulate_portfolio(book.portfolio, fund, book.dependence, seed=seed,
                               method=method, scenarios=blocks * BLOCK_SCENARIOS,
                               levels=(0.99,)).expected_loss_cents for seed in SEEDS]
    return (np.array([r.value - exact for r in runs]),
            np.array([r.standard_error for r in runs]))


def test_a_cap_no_scenario_passed_keeps_an_error(book):
    # P(L > cap) 8e-5, 8,192 scenarios: in 43 % of runs none passes it, and those read
    # E[L] ± 0; 48 % of runs fell beyond 3 SE.
    cap, exact = _cap_passed_with(book, 1e-4)
    error, se = _errors(book, cap, exact, 8, "monte_carlo")
    assert np.all(se > 0)
    assert np.mean(np.abs(error) > 3 * se) <= 0.01
    # a floor, not a blanket: within 3x of the error's RMS on average
    assert np.sqrt(np.mean(error ** 2)) / se.mean() > 0.3


def test_a_cap_few_scenarios_passed_has_fewer_runs_beyond_three_errors(book):
    # P(L > cap) 1.6e-4, 32,768 scenarios: about 5 pass it; 14 % of runs fell beyond 3 SE.
    # The excess's law above the cap is heavier than the tail's spread that floors it, so
    # some remain (5.5 %); importance sampling puts hundreds of scenarios there.
    cap, exact = _cap_passed_with(book, 2e-4)
    error, se = _errors(book, cap, exact, 32, "monte_carlo")
    assert np.mean(np.abs(error) > 3 * se) <= 0.08
    error, se = _errors(book, cap, exact, 8, "importance_sampling")
    assert np.mean(np.abs(error) > 3 * se) <= 0.01
    assert 0.8 < np.sqrt(np.mean(error ** 2)) / se.mean() < 1.2  # the floor costs IS nothing


def test_a_cap_that_cannot_bind_keeps_the_exact_expected_loss(book):
    # 200 payouts of one unit and a cap at 200 units: E[L] exactly, SE 0.
    r = simulate_portfolio(book.portfolio, Fund(capital_cents=0, portfolio_cap_rate=1.0),
                           book.dependence, seed=3, method="monte_carlo",
                           scenarios=4 * BLOCK_SCENARIOS, levels=(0.99,))
    assert r.expected_loss_cents.value == pytest.approx(0.01 * 200 * UNIT, rel=1e-12)
    assert r.expected_loss_cents.standard_error == 0.0


def test_no_excess_seen_reads_two_more_of_the_unseen_size():
    n = 1000
    y = 500.0  # Σ w·min(L, cap); nothing above the cap
    el = control_variate_mean(y, y * 3, 0.0, 0.0, 0.0, n=n, control_mean=0.5,
                              excess_abs_sum=0.0, unseen_excess=7.0)
    assert el.value == 0.5
    assert el.standard_error == pytest.approx(math.sqrt(2.0) * 7.0 / n)
    assert control_variate_mean(y, y * 3, 0.0, 0.0, 0.0, n=n, control_mean=0.5,
                                excess_abs_sum=0.0, unseen_excess=0.0).standard_error == 0.0


def test_a_candidates_expected_loss_change_under_an_unpassed_cap_keeps_an_error(book):
    # The candidate can change the loss above the cap by at most its own payout (or the
    # cap's change): with no scenario passing the cap, ΔEL is its exact E[payout] ± at
    # most √2 · payout / n, not ± 0.
    cap, _ = _cap_passed_with(book, 1e-5)
    fund = Fund(capital_cents=0, portfolio_cap_rate=cap / 200)
    candidate = Portfolio.from_arrays(
        exposure_cents=np.array([UNIT], np.int64), probability_of_default=0.01,
        loss_given_default=1.0, factor_loadings=book.portfolio.factor_loadings[:1])
    n = 4 * BLOCK_SCENARIOS
    change = incremental_risk(book.portfolio, fund, book.dependence, candidate, seed=2,
                              scenarios=n, method="monte_carlo").expected_loss_change_cents
    assert change.value == pytest.approx(0.01 * UNIT, rel=1e-9)
    assert 0 < change.standard_error <= math.sqrt(2.0) * UNIT / n * (1 + 1e-9)
