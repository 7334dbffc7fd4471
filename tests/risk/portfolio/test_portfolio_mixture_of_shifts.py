"""Importance sampling's mixture of factor shifts (montecarlo.importance_mixture) against the
exact loss law of books of independent sectors (finite pools, fixed integer payouts: the
quadrature over each factor of the conditional law, convolved over the independent
sectors; tests/risk/portfolio/sector_books.py), not against the engine itself.

Before the mixture, one shift pointed at one sector's tail: on the two-sector book ES
99.9 % was up to 18 reported SEs off and its seed-to-seed spread 1.75x its SE (32 seeds,
``python -m tests.risk.portfolio.measure_mixture_of_shifts``); the test below shows the
check catching that sampler.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from scipy import special

from services.risk.engine.portfolio import (
    BLOCK_SCENARIOS,
    Dependence,
    Fund,
    Portfolio,
    SimulationPlan,
    risk_contributions,
    sector_loadings,
    simulate_portfolio,
    validated_model,
)
from services.risk.engine.portfolio import montecarlo as mc
from tests.risk.portfolio.sector_books import sector_book

LEVEL = 0.999
BOOKS = {
    "two sectors": dict(sizes=(120, 120), pds=(0.01, 0.01), loadings=(0.5, 0.5)),
    "three sectors": dict(sizes=(80, 80, 80), pds=(0.01, 0.01, 0.01), loadings=(0.5,) * 3),
    # the second sector cannot reach the tail alone: the mixture is its tail + the joint one
    "unequal sectors": dict(sizes=(160, 80), pds=(0.01, 0.015), loadings=(0.5, 0.45)),
}


@functools.cache
def _book(name):
    return sector_book(**BOOKS[name])


def _figures(book, seed, blocks, **kw):
    """(estimate, SE) of VaR, ES and P(L > exact VaR) at 99.9 %, and the result."""
    var = book.exact(LEVEL)[0]
    r = simulate_portfolio(book.portfolio, Fund(capital_cents=int(var), annual_fee_income_cents=0),
                           book.dependence, seed=seed, method="importance_sampling",
                           scenarios=blocks * BLOCK_SCENARIOS, levels=(LEVEL,), **kw)
    at = r.at(LEVEL)
    return [(e.value, e.standard_error) for e in (
        at.value_at_risk_cents, at.expected_shortfall_cents,
        r.exhaustion_probability_by_year[0])], r


def _plan(book, seed=1):
    model = validated_model(book.portfolio, Fund(capital_cents=0), book.dependence)
    return SimulationPlan(model, seed=seed, method="importance_sampling", levels=(LEVEL,))


def test_the_mixture_has_a_shift_per_sector_tail_and_the_joint_one():
    radius = special.ndtri(LEVEL)
    for name, sectors in (("two sectors", 2), ("three sectors", 3)):
        plan = _plan(_book(name))
        shifts = plan.shifts
        assert shifts.shape[0] == sectors + 1, shifts
        # each sector's factor alone near its 99.9 % quantile, the others near 0
        for f in range(sectors):
            alone = [m for m in shifts if m[f] < -0.9 * radius]
            assert len(alone) == 1 and np.all(np.abs(np.delete(alone[0], f)) < 0.2 * radius)
        # and the joint direction: every factor down
        assert any(np.all(m < -0.5 * radius / math.sqrt(sectors)) for m in shifts)
        assert plan.component_counts.sum() == BLOCK_SCENARIOS - mc.DEFENSIVE_SCENARIOS
        assert np.all(plan.component_counts >= BLOCK_SCENARIOS // 32)


def test_a_ten_sector_book_gets_a_shift_for_every_sector():
    # At most 8 components left two of ten equal sectors to the defensive share: the ES
    # SE doubled (10,000 guarantees, 8 seeds x 32 blocks: 61 against 32, in cents x 1e6).
    book = sector_book(sizes=(30,) * 10, pds=(0.01,) * 10, loadings=(0.5,) * 10)
    shifts = _plan(book).shifts
    radius = special.ndtri(LEVEL)
    for f in range(10):
        assert any(m[f] < -0.9 * radius and np.all(np.abs(np.delete(m, f)) < 0.2 * radius)
                   for m in shifts), f


def test_the_search_s_loss_cells_give_the_large_pool_loss_of_every_guarantee():
    # The search sums E[L | xi] over (group, threshold to 1e-3) cells, not guarantees.
    rng = np.random.default_rng(5)
    n = 3000
    sector = rng.integers(0, 3, n)
    book = Portfolio.from_arrays(
        exposure_cents=rng.integers(1_000_000, 50_000_000, n),
        probability_of_default=rng.uniform(0.002, 0.03, n), loss_given_default=0.45,
        factor_loadings=sector_loadings(sector, 0.5, 3), sector=sector,
        sector_names=("a", "b", "c"))
    plan = SimulationPlan(validated_model(book, Fund(capital_cents=0), Dependence(np.eye(3))),
                          seed=1, method="importance_sampling", levels=(LEVEL,))
    b_cell, s_cell, c_cell, w_cell = mc._loss_cells(plan)
    assert c_cell.size < plan.horizon_pd.size
    b = plan.group_loading[plan.group_of_sorted]
    s = plan.group_sd[plan.group_of_sorted]
    c = special.ndtri(plan.horizon_pd)
    for point in rng.normal(-1.5, 1.0, (20, 3)):
        exact = plan.mean_payout @ special.ndtr((c - b @ point) / s)
        cells = w_cell @ special.ndtr((c_cell - b_cell @ point) / s_cell)
        assert cells == pytest.approx(exact, rel=2e-3)


def test_mixture_draws_are_allocated_by_index_and_weighted_by_the_balance_heuristic():
    plan = _plan(_book("three sectors"))
    bounds = mc.DEFENSIVE_SCENARIOS + np.concatenate(([0], np.cumsum(plan.component_counts)))
    shares = np.concatenate(([mc.DEFENSIVE_SCENARIOS], plan.component_counts)) / BLOCK_SCENARIOS
    means = np.vstack([np.zeros(plan.shifts.shape[1]), plan.shifts])
    for block in (0, 7):
        _, xi, _, weight, eps = plan.draw_block(block)
        assert np.array_equal(xi[:mc.DEFENSIVE_SCENARIOS], eps[:mc.DEFENSIVE_SCENARIOS])
        for k, mu in enumerate(plan.shifts):
            rows = slice(bounds[k], bounds[k + 1])
            assert np.allclose(xi[rows], eps[rows] + mu, rtol=0, atol=1e-12)
        # φ(ξ)/Σ_k a_k φ(ξ − μ_k) from the densities themselves
        density = np.exp(-0.5 * np.sum((xi[:, None, :] - means[None]) ** 2, axis=2))
        expected = np.exp(-0.5 * np.sum(xi * xi, axis=1)) / (density @ shares)
        assert np.allclose(weight, expected, rtol=1e-10)
        assert weight.max() <= 1 / mc.DEFENSIVE_SHARE * (1 + 1e-12)
    r = _figures(_book("three sectors"), 1, 1)[1]
    assert [a for a, _ in r.importance_mixture] == pytest.approx(list(shares), rel=0, abs=0)
    assert "mixture of 4 factor mean shifts" in r.notes[-1]


@pytest.mark.parametrize("name", sorted(BOOKS))
def test_estimates_are_within_their_standard_errors_of_the_exact_law(name):
    book = _book(name)
    exact = book.exact(LEVEL)
    for seed in range(1, 5):
        figures, _ = _figures(book, seed, 16)
        for label, (value, se), ref in zip(("VaR", "ES", "P(L > VaR)"), figures, exact,
                                           strict=True):
            assert abs(value - ref) <= 3.5 * se, (name, seed, label, value, ref, se)


def _spread_over_se(book, seeds, blocks, **kw):
    rows = np.array([_figures(book, seed, blocks, **kw)[0] for seed in seeds])
    exact = np.array(book.exact(LEVEL))
    ratio = rows[:, :, 0].std(axis=0, ddof=1) / rows[:, :, 1].mean(axis=0)
    z = np.abs(rows[:, :, 0] - exact) / rows[:, :, 1]
    return ratio, z.max(axis=0)


@pytest.mark.parametrize("name", ["two sectors", "three sectors"])
def test_seed_to_seed_spread_matches_the_reported_standard_error(name):
    # 16 seeds: a ratio of standard deviations is known to about ±18 %, so 0.7–1.4 is a
    # band of about two of its own errors around 1
    ratio, _ = _spread_over_se(_book(name), range(1, 17), 8)
    assert np.all((ratio > 0.7) & (ratio < 1.4)), ratio


def test_the_single_shift_fails_the_same_check(monkeypatch):
    # The check can fail: with only the mixture's leading shift (the sampler before it)
    # the two-sector book's figures are many reported SEs off.
    def leading(plan, level):
        shifts, _ = original(plan, level)
        return shifts[:1], np.array([BLOCK_SCENARIOS - mc.DEFENSIVE_SCENARIOS])

    original = mc.importance_mixture
    monkeypatch.setattr(mc, "importance_mixture", leading)
    ratio, worst = _spread_over_se(_book("two sectors"), range(1, 17), 8)
    assert np.any(worst > 5) or np.any(ratio > 1.4), (ratio, worst)


def test_the_exponential_twist_stays_unbiased_on_a_mixture():
    book = _book("two sectors")
    exact = book.exact(LEVEL)
    for seed in (1, 2):
        figures, r = _figures(book, seed, 4, exponential_twist=True)
        assert len(r.importance_mixture) > 2
        for (value, se), ref in zip(figures[1:], exact[1:], strict=True):
            assert abs(value - ref) <= 3.5 * se, (seed, value, ref, se)


def test_sector_es_contributions_of_a_mixture_match_the_exact_euler_allocation():
    book = _book("two sectors")
    rc = risk_contributions(book.portfolio, Fund(capital_cents=0), book.dependence, seed=3,
                            scenarios=16 * BLOCK_SCENARIOS, level=LEVEL,
                            method="importance_sampling")
    for k, group in enumerate(rc.by_sector):
        est = group.expected_shortfall_cents
        exact = book.sector_es_contribution(k, LEVEL)
        assert abs(est.value - exact) <= 3.5 * est.standard_error, (k, est, exact)
    total = sum(g.expected_shortfall_cents.value for g in rc.by_sector)
    assert total == pytest.approx(rc.conditional_tail_loss_cents, rel=1e-9)


def _one_shift_draw_block(self, block):
    """The sampler before the mixture (one shift + defensive share), transcribed."""
    rng = np.random.default_rng(np.random.SeedSequence(entropy=self.spec.seed,
                                                       spawn_key=(block,)))
    eps = rng.standard_normal((BLOCK_SCENARIOS, self.group_loading.shape[1]))
    scale = (np.sqrt(rng.chisquare(self.nu, BLOCK_SCENARIOS) / self.nu)
             if self.student_t else np.ones(BLOCK_SCENARIOS))
    mu = self.shift
    xi = eps.copy()
    xi[mc.DEFENSIVE_SCENARIOS:] += mu
    log_shifted = xi @ mu - 0.5 * float(mu @ mu)
    weight = np.exp(-np.logaddexp(math.log(mc.DEFENSIVE_SHARE),
                                  math.log1p(-mc.DEFENSIVE_SHARE) + log_shifted))
    return rng, xi, scale, weight, eps


def test_books_with_one_tail_direction_keep_the_one_shift_sampler_bit_for_bit(monkeypatch):
    from services.risk.engine.portfolio import Dependence, Portfolio, sector_loadings

    rng = np.random.default_rng(2)
    n, f = 2000, 10
    sector = rng.integers(0, f, n)
    correlated = Portfolio.from_arrays(  # the bench book's shape: sectors on a common factor
        exposure_cents=rng.integers(10, 500, n).astype(np.int64) * 10**5,
        probability_of_default=rng.choice([0.002, 0.005, 0.01, 0.02], n),
        loss_given_default=0.45, factor_loadings=sector_loadings(sector, 0.5, f))
    one = sector_book(sizes=(240,), pds=(0.01,), loadings=(0.5,))
    # The one-factor book at several levels too (their shifts lie on one ray); the
    # correlated book at 99.9 % with the cutoff of 8x (each sector alone is ~20x less likely
    # than the joint point: at the default 64x they join the mixture, below).
    books = [(one.portfolio, one.dependence, (0.99, 0.995, LEVEL), mc.MIXTURE_LIKELIHOOD_RATIO),
             (correlated, Dependence(0.3 + 0.7 * np.eye(f)), (LEVEL,), 8.0)]
    for portfolio, dependence, levels, ratio in books:
        kw = dict(seed=5, method="importance_sampling", scenarios=3 * BLOCK_SCENARIOS,
                  levels=levels)
        fund = Fund(capital_cents=10**8)
        monkeypatch.setattr(mc, "MIXTURE_LIKELIHOOD_RATIO", ratio)
        now = simulate_portfolio(portfolio, fund, dependence, **kw)
        assert len(now.importance_mixture) == 2  # the defensive share and one shift
        assert "one factor mean shift" in now.notes[-1]
        with monkeypatch.context() as m:
            m.setattr(SimulationPlan, "draw_block", _one_shift_draw_block)
            before = simulate_portfolio(portfolio, fund, dependence, **kw)
        assert now == before  # field by field, bit for bit
    monkeypatch.undo()
    # at the default cutoff the correlated book keeps the Glasserman–Li shift with most of
    # the scenarios and adds each sector alone (and the joint direction) with a few
    mixed = simulate_portfolio(correlated, Fund(capital_cents=10**8),
                               Dependence(0.3 + 0.7 * np.eye(f)), seed=5,
                               method="importance_sampling", scenarios=BLOCK_SCENARIOS,
                               levels=(LEVEL,))
    shares = [share for share, _ in mixed.importance_mixture]
    assert len(shares) == 2 + f and shares[1] > 0.5 and max(shares[2:]) < 0.1, shares


# Loadings 0.5/0.3, PDs 1 %/2 %, whole payouts of one unit: at 99.9 % the second sector
# alone is 45x less likely than the first (left out of the mixture at the cutoff of 8x);
# at 99 % it carries part of the tail.
UNEQUAL = dict(sizes=(150, 150), pds=(0.01, 0.02), loadings=(0.5, 0.3), units=(1, 1))


def _errors_and_ses(levels, level, blocks, seeds=range(1, 17)):
    """(errors, reported SEs), each (seeds, 2), of ES and P(L > VaR) at ``level`` against
    the exact law of the UNEQUAL book, each run importance sampling and asking for
    ``levels``."""
    book = sector_book(**UNEQUAL)
    var, es, tail = book.exact(level)
    fund = Fund(capital_cents=int(var), annual_fee_income_cents=0)
    rows = []
    for seed in seeds:
        r = simulate_portfolio(book.portfolio, fund, book.dependence, seed=seed,
                               method="importance_sampling", scenarios=blocks * BLOCK_SCENARIOS,
                               levels=levels)
        rows.append([(e.value, e.standard_error) for e in (
            r.at(level).expected_shortfall_cents, r.exhaustion_probability_by_year[0])])
    a = np.array(rows)
    return a[:, :, 0] - np.array([es, tail]), a[:, :, 1]


def _z_over_3(levels, blocks=8, level=0.99):
    """Share of seeds with ES and P(L > VaR) at ``level`` beyond 3 reported SEs of the exact
    law, each run asking for ``levels``."""
    err, se = _errors_and_ses(levels, level, blocks)
    return np.mean(np.abs(err) / se > 3, axis=0)


def test_a_lower_level_s_tail_is_sampled_when_several_levels_are_asked(monkeypatch):
    # Aimed at 99.9 % only (the mixture before it took the highest level alone), 99 %'s ES
    # was beyond 3 SE of the exact value in 34 % of 32 seeds at 8 blocks (P(L > VaR) 28 %):
    # the second sector's 99 % tail left to the defensive share's rare heavy weights.
    both = (0.99, LEVEL)
    plan = SimulationPlan(validated_model(sector_book(**UNEQUAL).portfolio, Fund(capital_cents=0),
                                          Dependence(np.eye(2))),
                          seed=1, method="importance_sampling", levels=both)
    assert np.array_equal(plan.shift, mc.importance_mixture(plan, LEVEL)[0][0])
    # the second sector alone at about its 99 % point is a component
    assert any(m[0] > -0.5 and m[1] < -2.0 for m in plan.shifts), plan.shifts
    assert np.all(_z_over_3(both) <= 1 / 16)
    original = mc.importance_mixture
    monkeypatch.setattr(mc, "importance_mixture", lambda p, levels: original(p, max(levels)))
    monkeypatch.setattr(mc, "MIXTURE_LIKELIHOOD_RATIO", 8.0)  # the cutoff then
    assert np.any(_z_over_3(both) >= 3 / 16)  # the check catches the highest-level sampler


def _rms_error_over_se(blocks=16):
    """RMS error / mean reported SE of ES and P(L > VaR) at 99.9 % against the exact law of
    the UNEQUAL book, runs asking for 99.9 % only."""
    err, se = _errors_and_ses((LEVEL,), LEVEL, blocks)
    return np.sqrt(np.mean(err ** 2, axis=0)) / se.mean(axis=0)


def test_a_region_45x_less_likely_than_the_leader_is_sampled(monkeypatch):
    # At 99.9 % alone the second sector by itself (t = 4.14 against 3.09, 45x less likely)
    # and the joint direction (25x) are mixture components: their tail is not left to the
    # defensive share's rare weights of up to 16, which one run's SE cannot see. With the
    # cutoff of 8x, ES and P(L > VaR) were 1.68 and 1.76 SEs off in RMS (now 1.16, 1.08: over
    # these 16 seeds the ratios spread ± 0.18; over 800 seeds they are 1.01 and 1.02).
    plan = _plan(sector_book(**UNEQUAL))
    assert any(abs(m[0]) < 0.1 and m[1] < -4.0 for m in plan.shifts), plan.shifts
    assert np.all(_rms_error_over_se() < 1.35)
    monkeypatch.setattr(mc, "MIXTURE_LIKELIHOOD_RATIO", 8.0)
    assert len(_plan(sector_book(**UNEQUAL)).shifts) == 1
    # The sampler of the cutoff of 8x had no odds tilt; the tilt alone makes up part of a
    # missing region (1.26 and 1.40 with it), so the check that catches the cutoff of 8x
    # runs it as it was.
    monkeypatch.setattr(mc, "DEFAULT_ODDS_TILT", False)
    assert np.all(_rms_error_over_se() > 1.5)  # the check catches the cutoff of 8x
