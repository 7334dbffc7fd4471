"""The engine's long stretches let other Python threads run.

The risk service runs a simulation in a worker thread while its event loop answers health
checks, GetOperation and cancels. A stretch that holds the GIL stops all of that for its
whole length: a block of 300k guarantees (~0.6 s here) or the grouping of 100k ten-factor rows
(~0.6 s) used to, long enough for a one-second liveness probe to fail. Measured here as the
longest pause of a thread that only counts, against the length of the work: a held GIL
makes the pause the work's whole length, a released one a few switch intervals.
"""

import threading
import time

import numpy as np

from services.risk.engine.portfolio import Dependence, Fund, Portfolio, sector_loadings
from services.risk.engine.portfolio import montecarlo as mc


def _longest_pause(work) -> tuple[float, float]:
    """(seconds the work took, longest pause of this thread meanwhile)."""
    worker = threading.Thread(target=work)
    start = last = time.perf_counter()
    longest = 0.0
    worker.start()
    while worker.is_alive():
        now = time.perf_counter()
        longest = max(longest, now - last)
        last = now
    worker.join()
    return time.perf_counter() - start, longest


def test_a_monte_carlo_block_of_a_large_book_releases_the_gil():
    n = 300_000
    rng = np.random.default_rng(0)
    book = Portfolio.from_arrays(
        exposure_cents=rng.integers(1_000_000, 50_000_000, n),
        probability_of_default=rng.uniform(0.002, 0.03, n), loss_given_default=0.45,
        factor_loadings=np.full((n, 1), np.sqrt(0.2)))
    plan = mc.SimulationPlan(book, Fund(capital_cents=0), Dependence.one_factor(), seed=1)
    mc.simulate_blocks(plan, 0, 1)  # compiled and warm: what follows is one block's work
    took, pause = _longest_pause(lambda: mc.simulate_blocks(plan, 1, 2))
    assert pause < took / 3, (took, pause)  # held: the whole block


def test_planning_a_large_ten_factor_book_releases_the_gil():
    n, f = 200_000, 10
    rng = np.random.default_rng(0)
    sector = rng.integers(0, f, n)
    book = Portfolio.from_arrays(
        exposure_cents=rng.integers(1_000_000, 50_000_000, n),
        probability_of_default=rng.choice([0.002, 0.005, 0.01, 0.02], n),
        loss_given_default=0.45, factor_loadings=sector_loadings(sector, 0.5, f),
        sector=sector, sector_names=tuple(f"s{k}" for k in range(f)))
    dependence = Dependence(0.3 * np.ones((f, f)) + 0.7 * np.eye(f))
    rows = book.factor_loadings @ np.linalg.cholesky(dependence.factor_correlation)
    took, pause = _longest_pause(lambda: mc.group_rows(rows))
    assert pause < max(took / 3, 0.05), (took, pause)
    took, pause = _longest_pause(lambda: mc.SimulationPlan(
        book, Fund(capital_cents=0), dependence, seed=1, method=mc.IMPORTANCE_SAMPLING))
    assert pause < took / 3, (took, pause)


def test_grouping_rows_is_numpys_unique_of_rows():
    rng = np.random.default_rng(3)
    rows = rng.integers(-2, 3, (5000, 3)).astype(np.float64) * 0.1
    rows[rng.random(5000) < 0.1, 1] = -0.0  # equal to 0.0, as in np.unique
    for case in (rows, rows[:1], rows[:, :1], rng.normal(size=(300, 4))):
        unique, inverse = np.unique(case, axis=0, return_inverse=True)
        grouped, group_of = mc.group_rows(case)
        np.testing.assert_array_equal(grouped, unique)
        np.testing.assert_array_equal(group_of, inverse.reshape(-1))
