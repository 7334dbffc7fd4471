"""Importance sampling's odds tilt (``kernels._odds_tilt``): on books whose tail comes
mostly from idiosyncratic defaults the factor shift alone leaves heavy weights in the tail
that a run's own SE does not see; the tilt makes the figures' errors match their SEs,
and it keeps every other property of the sampler (exact likelihood ratio, multi-year
default times, Beta LGDs, the t copula, bit-identical chunks and shards)."""

import random

import numpy as np
import pytest

from services.risk.engine.portfolio import (
    BLOCK_SCENARIOS,
    Dependence,
    Fund,
    Portfolio,
    iter_portfolio_simulation,
    merge_shards,
    sector_loadings,
    simulate_portfolio,
    simulate_shard,
)
from services.risk.engine.portfolio import montecarlo as mc
from tests.risk.portfolio.measure_lattice_var_se import BOOKS
from tests.risk.portfolio.measure_odds_tilt_distinct_pds import BOOKS as DISTINCT_PD_BOOKS
from tests.risk.portfolio.measure_odds_tilt_distinct_pds import distinct_pd_book
from tests.risk.portfolio.sector_books import sector_book

LEVELS = (0.99, 0.999)


def _tail_z(book, level, seeds, blocks, odds_tilt):
    """|error| / reported SE of P(L > exact VaR) over ``seeds``, and RMS error / mean SE."""
    var, _, tail = book.exact(level)
    fund = Fund(capital_cents=int(var))  # exhaustion in year 1 is the event L > VaR
    err, se = [], []
    for seed in seeds:
        r = simulate_portfolio(book.portfolio, fund, book.dependence, seed=seed,
                               method="importance_sampling",
                               scenarios=blocks * BLOCK_SCENARIOS, levels=LEVELS,
                               odds_tilt=odds_tilt)
        est = r.exhaustion_probability_by_year[0]
        err.append(est.value - tail)
        se.append(est.standard_error)
    err, se = np.array(err), np.array(se)
    return np.abs(err) / se, float(np.sqrt(np.mean(err**2)) / se.mean())


def test_edge_book_tail_probability_is_calibrated_with_the_tilt_not_the_shift_alone():
    # 50 one-unit payouts, PD 1 %, loading 0.3: the tail is mostly idiosyncratic. 200
    # seeds x 8 blocks (docs: 6.5 % of runs beyond 3 SE with the shift alone, RMS error
    # 1.17 SE; 0.5 % and 1.01 with the tilt). Deterministic in the seeds; the bounds sit
    # about two binomial SDs inside each measured share.
    book = sector_book(**BOOKS["edge"])
    seeds = range(1, 201)
    z_shift, ratio_shift = _tail_z(book, 0.99, seeds, 8, odds_tilt=False)
    z_tilt, ratio_tilt = _tail_z(book, 0.99, seeds, 8, odds_tilt=True)
    assert np.mean(z_shift > 3) >= 0.03, (np.mean(z_shift > 3), ratio_shift)
    assert np.mean(z_tilt > 3) <= 0.015, (np.mean(z_tilt > 3), ratio_tilt)
    assert 0.85 <= ratio_tilt <= 1.15, ratio_tilt


def test_a_book_of_all_different_pds_is_calibrated_with_the_tilt_not_the_shift_alone():
    # 1,500 guarantees, each its own PD (0.07–1.3 %), loading 0.12, payouts of 1–3 units:
    # more distinct PDs than the 1,024 runs the tilt once needed, so importance sampling
    # fell back to the factor shift alone. P(L > VaR 99.9 %) over 200 seeds x 8 blocks
    # (docs: shift alone 5 % of runs beyond 3 SE, RMS error 1.25 SE; the default sampler
    # now 1 % and 0.96). Deterministic in the seeds.
    book = distinct_pd_book(**DISTINCT_PD_BOOKS["t1500"])
    seeds = range(1, 201)
    z_shift, ratio_shift = _tail_z(book, 0.999, seeds, 8, odds_tilt=False)
    z_default, ratio_default = _tail_z(book, 0.999, seeds, 8, odds_tilt=None)
    assert np.mean(z_shift > 3) >= 0.03, (np.mean(z_shift > 3), ratio_shift)
    assert np.mean(z_default > 3) <= 0.015, (np.mean(z_default > 3), ratio_default)
    assert 0.85 <= ratio_default <= 1.15, ratio_default


def _mixed(n=240, factors=3, seed=0):
    rng = np.random.default_rng(seed)
    sector = rng.integers(0, factors, n)
    exposure = rng.integers(100_000, 10_000_000, n)
    return Portfolio.from_arrays(
        exposure_cents=exposure, probability_of_default=rng.choice([0.005, 0.01, 0.03], n),
        loss_given_default=rng.uniform(0.2, 0.8, n),
        loss_given_default_std=np.where(rng.random(n) < 0.5, 0.1, 0.0),
        guarantee_rate=rng.choice([0.5, 0.8], n),
        cap_cents=(exposure * rng.uniform(0.2, 0.6, n)).astype(np.int64),
        deductible_cents=rng.integers(0, 200_000, n),
        factor_loadings=sector_loadings(sector, 0.2, factors),
        sector=sector, sector_names=tuple(f"s{k}" for k in range(factors)))


def test_the_tilt_is_bit_identical_whatever_chunks_and_shards():
    p = _mixed()
    dep = Dependence(np.array([[1.0, 0.5, 0.3], [0.5, 1.0, 0.4], [0.3, 0.4, 1.0]]))
    fund = Fund(capital_cents=10**8, horizon_years=2, portfolio_cap_rate=0.3)
    plan = mc.SimulationPlan(p, fund, dep, seed=1, method="importance_sampling")
    assert plan.odds_tilt and plan.spec.odds_tilt_target_cents > 0
    kw = dict(seed=123, method="importance_sampling", scenarios=9 * BLOCK_SCENARIOS)
    runs = [list(iter_portfolio_simulation(p, fund, dep, chunk_blocks=c, **kw))[-1].result
            for c in (1, 4, 9)]
    shards = [simulate_shard(p, fund, dep, seed=123, block_range=r,
                             method="importance_sampling")
              for r in ((0, 2), (2, 3), (3, 7), (7, 9))]
    random.Random(0).shuffle(shards)
    assert runs[0] == runs[1] == runs[2] == merge_shards(shards)
    shift_only = simulate_portfolio(p, fund, dep, odds_tilt=False, **kw)
    assert shift_only.tail_risk != runs[0].tail_risk  # the tilt did draw


def test_the_tilt_agrees_with_plain_monte_carlo_on_every_figure():
    # Multi-year default times (v rescaled to [0, p_j) given a tilted default), Beta LGDs,
    # a portfolio cap: the tilt changes only the default indicators' law
    # and its weights are exact, so every figure agrees with plain MC within its errors;
    # the weights stay within the defensive bound 1/a_0.
    p = _mixed(seed=1)
    dep = Dependence(np.eye(3))  # importance sampling does not run the t copula
    fund = Fund(capital_cents=4 * 10**7, horizon_years=3, portfolio_cap_rate=0.12,
                annual_fee_income_cents=10**6)
    plan = mc.SimulationPlan(p, fund, dep, seed=4, method="importance_sampling",
                             levels=LEVELS)
    assert plan.odds_tilt
    for block in range(2):
        _, _, w, _ = plan.run_block(block)
        assert w.max() <= 1 / mc.DEFENSIVE_SHARE * (1 + 1e-12) and w.min() > 0
    tilt = simulate_portfolio(p, fund, dep, seed=4, method="importance_sampling",
                              scenarios=32 * BLOCK_SCENARIOS, levels=LEVELS)
    plain = simulate_portfolio(p, fund, dep, seed=5, method="monte_carlo",
                               scenarios=128 * BLOCK_SCENARIOS, levels=LEVELS)

    def close(a, b):
        assert abs(a.value - b.value) <= 4 * np.hypot(a.standard_error, b.standard_error) \
            + 1e-9 * abs(b.value), (a, b)

    close(tilt.expected_loss_cents, plain.expected_loss_cents)
    for a, b in zip(tilt.exhaustion_probability_by_year, plain.exhaustion_probability_by_year,
                    strict=True):
        close(a, b)
    for level in LEVELS:
        close(tilt.at(level).expected_shortfall_cents, plain.at(level).expected_shortfall_cents)
        close(tilt.at(level).value_at_risk_cents, plain.at(level).value_at_risk_cents)
    assert any("odds tilt" in note for note in tilt.notes), tilt.notes


@pytest.mark.parametrize("names", [mc.ODDS_TILT_GROUP_CELLS, mc.ODDS_TILT_GROUP_CELLS + 1,
                                   20_000])
def test_the_tilt_works_on_cells_whatever_the_number_of_distinct_pds(names):
    # Every guarantee its own PD: a run of equal thresholds each. Up to
    # ODDS_TILT_GROUP_CELLS runs of a factor group are its cells; more are merged into
    # that many, so the tilt's work per scenario does not grow with the book.
    p = Portfolio.from_arrays(
        exposure_cents=np.full(names, 10**6, np.int64),
        probability_of_default=np.linspace(0.001, 0.05, names), loss_given_default=1.0,
        factor_loadings=np.full((names, 1), 0.3))
    plan = mc.SimulationPlan(p, Fund(capital_cents=0), Dependence.one_factor(), seed=1,
                             method="importance_sampling")
    assert plan.odds_tilt
    assert plan.cell_start.size - 1 == min(names, mc.ODDS_TILT_GROUP_CELLS)
    assert plan.cell_amount.sum() == p.exposure_cents.sum()
    assert mc.SimulationPlan(p, Fund(capital_cents=0), Dependence.one_factor(), seed=1,
                             method="monte_carlo").odds_tilt is False


def test_the_tilt_is_off_when_factor_groups_alone_exceed_the_cells():
    n = 2 * mc.ODDS_TILT_MAX_CELLS
    p = Portfolio.from_arrays(
        exposure_cents=np.full(n, 10**6, np.int64),
        probability_of_default=np.linspace(0.001, 0.05, n), loss_given_default=1.0,
        factor_loadings=np.linspace(0.2, 0.4, n)[:, None])
    plan = mc.SimulationPlan(p, Fund(capital_cents=0), Dependence.one_factor(), seed=1,
                             method="importance_sampling")
    assert plan.odds_tilt is False and plan.cell_start.size == 1


@pytest.mark.parametrize("merged", [False, True])
def test_the_tilt_s_likelihood_ratio_and_default_years_are_exact_given_the_factor(merged):
    # Given ξ, with the weight the likelihood ratio alone (log R = 0, no defensive term):
    # E[w] = 1 and E[w · payout in year t] = Σ payout_i (P_i(t) − P_i(t − 1) | ξ), names in
    # runs of equal thresholds and alone, whatever λ the solve lands on; and so with the
    # runs merged into one cell, where candidates below the cell's top PD are rejected.
    from scipy import special

    from services.risk.engine.portfolio import kernels

    n = 12
    p = Portfolio.from_arrays(
        exposure_cents=np.arange(1, n + 1, dtype=np.int64) * 1_000_000,
        probability_of_default=np.r_[np.full(6, 0.01), np.full(4, 0.03), 0.002, 0.05],
        loss_given_default=0.5, factor_loadings=np.full((n, 1), 0.3))
    fund = Fund(capital_cents=0, horizon_years=3)
    plan = mc.SimulationPlan(p, fund, Dependence.one_factor(), seed=3,
                             method="importance_sampling", levels=(0.999,))
    assert plan.odds_tilt and plan.cell_start.size - 1 == 4
    pd = plan.horizon_pd @ plan.payout_fixed / plan.payout_fixed.sum()
    cells = ((np.array([0, n]), np.array([0, 1]), np.array([plan.payout_fixed.sum()]),
              plan.latent_threshold(np.array([pd])))
             if merged else (plan.cell_start, plan.group_cells, plan.cell_amount,
                             plan.cell_threshold))
    s = 200_000
    for z in (-2.0, 0.0, 1.5):
        loss, year, w = np.empty(s), np.empty((s, 3)), np.ones(s)
        kernels.simulate_block(
            np.random.default_rng(1), np.full((s, 1), z), np.ones(s), plan.group_start,
            plan.group_loading, plan.group_sd, plan.threshold, plan.payout_fixed,
            plan.lgd_alpha, plan.lgd_beta, plan.exposure, plan.rate, plan.cap,
            plan.deductible, loss, year, np.inf, w, np.inf, np.inf, -np.inf,
            np.zeros(1, np.int32), np.zeros(1, np.int32), np.zeros((0, 0)), np.zeros((9, 1)),
            *cells, plan.odds_tilt_target, 0,
            np.zeros(s), -np.inf)
        assert w.std() > 0.05  # a real tilt
        assert abs(w.mean() - 1.0) <= 4 * w.std() / np.sqrt(s)
        cum = special.ndtr((plan.threshold - 0.3 * z) / np.sqrt(1 - 0.09))
        by_year = plan.payout_fixed @ np.diff(np.c_[np.zeros(n), cum], axis=1)
        for t in range(3):
            y = w * year[:, t]
            assert abs(y.mean() - by_year[t]) <= 4 * y.std() / np.sqrt(s), (z, t)
