"""The standard error of incremental risk's VaR change on coarse books, whose losses sit on a
grid of whole payouts, against the exact laws of the book without and with the candidate
(``sector_books.SectorBook.with_candidate``), not against the engine.

ΔVaR's error is (VaR̂_after − VaR_after) − (VaR̂_before − VaR_before). Its SE was the paired
influence function w[1{L' > v'}/f' − 1{L > v}/f] alone, with densities f read from the tail
sample: on a lumpy law a VaR change is whole atoms, which a density cannot describe, and the
errors were 1.3–11.6 SEs in RMS with up to 57 % of the runs beyond 3 SEs
(``measure_incremental_es_se``, 200 seeds). The SE is now the larger of that and the RMS of
the change of the two runs' VaR errors under their joint plug-in law, with floors where
either VaR could be a neighbouring atom (``montecarlo.var_error_change``).
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
from scipy import special

from services.risk.engine.estimate import Estimate
from services.risk.engine.portfolio import BLOCK_SCENARIOS, Fund, Portfolio, incremental_risk
from services.risk.engine.portfolio import montecarlo as mc
from tests.risk.portfolio.measure_incremental_es_se import incremental_books, runs

LEVELS = (0.99, 0.999)


def _var_change_figures(book: str, seeds: range) -> dict[float, tuple[float, int]]:
    """{level: (RMS error / mean SE, runs beyond 3 SEs)} of ΔVaR, importance sampling on 16
    blocks."""
    out = runs(book, "importance_sampling", 16, seeds, LEVELS)[0]
    figures = {}
    for level, rows in out.items():
        err, se = rows[:, 0, 0], rows[:, 0, 1]
        figures[level] = (math.sqrt(np.mean(err ** 2)) / se.mean(),
                          int(np.sum(np.abs(err) > 3 * se)))
    return figures


def test_var_change_se_counts_whole_atoms_on_lumpy_laws():
    # 50 one-unit payouts. edge+1: a 51st as candidate, α at an atom's edge in both runs
    # (the VaR before is off its atom in 29–52 % of runs); edge+3: a three-unit candidate,
    # whose VaR is firm while the VaR before sits at the edge (the change's floors). Before
    # (seeds 1–60): RMS error / SE 1.23 / 11.6 and 2.98 / 4.26 at 99 % / 99.9 %, 0 / 13 and
    # 22 / 15 runs beyond 3 SEs. Now 0.78 / 0.91 and 1.29 / 0.91, none beyond 3 SEs. A
    # blanket inflation (twice the SE) would read 0.39–0.65, which the lower bound keeps out.
    for book in ("edge+1", "edge+3"):
        figures = _var_change_figures(book, range(1, 61))
        for ratio, beyond in figures.values():
            assert 0.7 <= ratio <= 1.4, (book, figures)
            assert beyond <= 1, (book, figures)


def test_var_change_se_on_coarse_and_smooth_books():
    # lumpy12+6: payouts of 2–12 units, where the estimate's own atom holds a third to a
    # half of its plug-in law (the edge books: most of it, smooth+30: ~10 %), so that a
    # switch to the plug-in law only where the law is lumpy would leave it to the influence
    # function: before (seeds 1–20) 2.79 / 3.59 SEs in RMS, 5 / 14 runs beyond 3 SEs; now
    # 0.90 / 1.26 and none. smooth+30: payouts of 5–60 units, a VaR change of 2–4 atoms;
    # the influence function read (seeds 1–30) 1.08 / 1.21 with 1 / 1 runs beyond 3 SEs,
    # the larger of the two reads 0.73 / 0.82 and none (its mean SE 48 % higher).
    for book, seeds, low in (("lumpy12+6", range(1, 21), 0.8), ("smooth+30", range(1, 31), 0.65)):
        figures = _var_change_figures(book, seeds)
        for ratio, beyond in figures.values():
            assert low <= ratio <= 1.4, (book, figures)
            assert beyond == 0, (book, figures)


def test_a_candidate_that_adds_nothing_changes_var_and_es_by_zero_with_zero_se():
    # Both runs' tails are the same: their counts correlate exactly (ρ = 1), their plug-in
    # laws move as one, the floors see the other VaR move with each, and the ES remainders
    # cancel, as the paired influence function does.
    before = incremental_books("edge+1")[0]
    nothing = Portfolio.from_arrays(exposure_cents=np.array([0]), probability_of_default=0.5,
                                    loss_given_default=1.0, factor_loadings=[[0.3]])
    for method in ("monte_carlo", "importance_sampling"):
        result = incremental_risk(before.portfolio, Fund(capital_cents=0), before.dependence,
                                  nothing, seed=1, method=method,
                                  scenarios=16 * BLOCK_SCENARIOS, levels=LEVELS)
        for t in result.tail_risk:
            assert t.value_at_risk_change_cents == Estimate(0.0, 0.0), (method, t)
            assert t.expected_shortfall_change_cents == Estimate(0.0, 0.0), (method, t)
            assert t.value_at_risk_before_cents.standard_error > 0
            assert t.expected_shortfall_before_cents.standard_error > 0


def _exact_change_mean_square(before, after, rho: float) -> float:
    """E[(A(Z_a) − B(Z_b))²] of ``montecarlo._step_change_mean_square`` as the exact sum over
    pairs of steps of bivariate normal orthant probabilities (Owen's T)."""

    def upper(h, k):  # P(Z_a > h, Z_b > k)
        h, k = np.broadcast_arrays(np.clip(h, -40, 40), np.clip(k, -40, 40))
        if rho >= 1.0:
            return special.ndtr(-np.maximum(h, k))
        x, y = np.where(h == 0, -1e-300, -h), np.where(k == 0, -1e-300, -k)
        tau = math.sqrt(1.0 - rho * rho)
        return (0.5 * special.ndtr(x) + 0.5 * special.ndtr(y)
                - special.owens_t(x, (y - rho * x) / (x * tau))
                - special.owens_t(y, (x - rho * y) / (y * tau)) - np.where(x * y < 0, 0.5, 0.0))

    def ups(steps):  # constant + Σ c 1{Z > t}, as 1{Z ≤ t} = 1 − 1{Z > t}
        up_c, up_t, down_c, down_t = steps
        return float(np.sum(down_c)), np.r_[up_c, -down_c], np.r_[up_t, down_t]

    (ca, a, ta), (cb, b, tb) = ups(after), ups(before)
    tail_a, tail_b = special.ndtr(-np.clip(ta, -40, 40)), special.ndtr(-np.clip(tb, -40, 40))

    def square(c, coef, t, tail):
        return (c * c + 2 * c * coef @ tail
                + coef @ special.ndtr(-np.clip(np.maximum.outer(t, t), -40, 40)) @ coef)

    cross = ca * cb + ca * (b @ tail_b) + cb * (a @ tail_a) + a @ upper(ta[:, None], tb) @ b
    return square(ca, a, ta, tail_a) + square(cb, b, tb, tail_b) - 2 * cross


def test_the_joint_plug_in_law_matches_the_exact_bivariate_sum():
    # Both quadratures (over the after run's own part for ρ ≥ 1/√2, over Z_before below)
    # against the exact sum, on the two runs of a three-unit candidate at VaR 99.5 % (VaR
    # 4 → 5 units): the figures' digits, not the model's.
    before, _, after = incremental_books("edge+3")
    tails = []
    for book in (before, after):
        plan = mc.SimulationPlan(book.portfolio, Fund(capital_cents=0), book.dependence,
                                 seed=3, method="monte_carlo", levels=(0.995,))
        tails.append(mc._Tail(mc.simulate_blocks(plan, 0, 16), 16 * BLOCK_SCENARIOS))
    steps = [t._var_steps(0.995, t.var(0.995)) for t in tails]
    assert all(s[0].size + s[2].size for s in steps)
    for rho in (0.0, 0.05, 0.3, 0.7, 0.71, 0.9, 0.999, 1.0):
        got = mc._step_change_mean_square(*steps, rho)
        exact = _exact_change_mean_square(*steps, rho)
        assert math.sqrt(got) == pytest.approx(math.sqrt(exact), rel=2e-3), rho


def _random_steps(seed: int, count: int) -> tuple[tuple[np.ndarray, ...], ...]:
    """Two runs' step functions (``_Tail._var_steps``' form) of ``count`` random steps each,
    the after run's a little above the before run's."""
    rng = np.random.default_rng(seed)

    def steps(shift):
        t = np.sort(rng.normal(shift, 3.0, count))
        c = rng.uniform(0.0, 1.0, t.size)
        return c[t > 0], t[t > 0], -c[t <= 0], t[t <= 0]

    return steps(-0.2), steps(0.3)


def test_the_joint_plug_in_law_below_one_over_root_two_costs_no_steps_times_steps():
    # A candidate that moves the tail (ρ small) on a smooth importance-sampled book gives
    # thousands of steps a run (a 5 M candidate on the 300-guarantee book: 1,795 and 10,907
    # at 65K scenarios). The quadrature over Z_before split at every step of the before run,
    # with the after run's conditional law at each node, held an array of (4 × B's steps) ×
    # A's steps: 1.4 GB here, 6 GB there and a MemoryError at 262K scenarios.
    before, after = _random_steps(1, 2000)
    for rho in (0.0, 0.3, 0.7):
        tracemalloc.start()
        try:
            got = mc._step_change_mean_square(before, after, rho)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 64 * 2 ** 20, (rho, peak)
        exact = _exact_change_mean_square(before, after, rho)
        assert math.sqrt(got) == pytest.approx(math.sqrt(exact), rel=1e-9), rho


def test_the_joint_plug_in_law_above_one_over_root_two_takes_its_rows_a_block_at_a_time(
        monkeypatch):
    # Above 1/√2 each of 128 quadrature rows holds both runs' steps; 20,000 + 20,000 steps
    # (a long importance-sampled tail) took ~0.47 GB at once. A block of rows at a time gives
    # the same figure (rows never mix) in ~11 MB.
    before, after = _random_steps(2, 20_000)
    tracemalloc.start()
    try:
        blocked = mc._step_change_mean_square(before, after, 0.9)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2 ** 20, peak
    monkeypatch.setattr(mc, "_PAIR_CELLS", 1 << 40)
    tracemalloc.start()
    try:
        at_once = mc._step_change_mean_square(before, after, 0.9)
        peak_at_once = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert blocked == at_once
    assert peak_at_once > 10 * peak
