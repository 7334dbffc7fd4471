"""The standard error of a VaR change between two runs on common random numbers under their
joint plug-in law (``montecarlo.var_error_change``): each run's VaR̂ a step function of one
standard normal Z (``montecarlo._Tail._var_steps``), the two Z's correlated; the mean square
of the difference against the exact sum over pairs of steps of bivariate normal orthant
probabilities.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from services.risk.engine.portfolio import BLOCK_SCENARIOS, Fund
from services.risk.engine.portfolio import montecarlo as mc
from tests.risk.portfolio.measure_incremental_es_se import incremental_books


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
