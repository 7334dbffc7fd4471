"""Monte Carlo engine against closed forms, published values and an independent numpy
simulation; determinism under any chunking and sharding."""

import dataclasses
import math
import random

import numpy as np
import pytest
from scipy import integrate, special, stats

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
from services.shared.errors import InvalidArgument
from tests.risk.portfolio.portfolio_baseline import empirical_var_es, numpy_fund_losses

Z = 4.0  # agreement within 4 standard errors: a false alarm about once in 16,000 checks


def _close(a, b, se, z=Z):
    assert abs(a - b) <= z * se, f"{a} vs {b}: {abs(a - b) / se:.2f} SE"


def _homogeneous(n, pd, loading, exposure=1_000_000, **kw):
    return Portfolio.from_arrays(exposure_cents=np.full(n, exposure, np.int64),
                                 probability_of_default=np.full(n, pd), loss_given_default=1.0,
                                 factor_loadings=np.full((n, 1), loading), **kw)


def _mixed(n=300, factors=3, seed=0, beta=True):
    rng = np.random.default_rng(seed)
    sector = rng.integers(0, factors, n)
    exposure = rng.integers(100_000, 10_000_000, n)
    return Portfolio.from_arrays(
        exposure_cents=exposure, probability_of_default=rng.uniform(0.005, 0.05, n),
        loss_given_default=rng.uniform(0.2, 0.8, n),
        loss_given_default_std=np.where(rng.random(n) < 0.5, 0.1, 0.0) if beta else 0.0,
        guarantee_rate=rng.choice([0.5, 0.8], n),
        cap_cents=(exposure * rng.uniform(0.2, 0.6, n)).astype(np.int64),
        deductible_cents=rng.integers(0, 200_000, n),
        factor_loadings=sector_loadings(sector, rng.uniform(0.3, 0.6, n), factors),
        sector=sector, sector_names=tuple(f"s{k}" for k in range(factors)),
        branch=rng.integers(0, 12, n), counterparty_kind=rng.integers(0, 2, n))


SIGMA3 = np.array([[1.0, 0.5, 0.3], [0.5, 1.0, 0.4], [0.3, 0.4, 1.0]])


def _expected_payout(p: Portfolio) -> np.ndarray:
    """E[min(cap, rate·max(E·LGD - D, 0))] per guarantee: exact for fixed LGD, by quadrature
    over the Beta density otherwise."""
    out = np.empty(p.size)
    for i in range(p.size):
        e, r, c, d = (float(p.exposure_cents[i]), p.guarantee_rate[i], float(p.cap_cents[i]),
                      float(p.deductible_cents[i]))
        m, s = p.loss_given_default[i], p.loss_given_default_std[i]
        pay = lambda x, e=e, r=r, c=c, d=d: min(c, r * max(e * x - d, 0.0))  # noqa: E731
        if s == 0:
            out[i] = pay(m)
        else:
            k = m * (1 - m) / s**2 - 1
            dist = stats.beta(m * k, (1 - m) * k)
            out[i] = integrate.quad(lambda x, dist=dist, pay=pay: pay(x) * dist.pdf(x), 0, 1,
                                    points=[d / e, min((c / r + d) / e, 1)], limit=200)[0]
    return out


def test_expected_loss_is_sum_of_pd_times_expected_payout():
    # EL = Σ PD_i · E[fund payout_i | default] for any copula: linearity of expectation.
    p = _mixed()
    exact = float(p.probability_of_default @ _expected_payout(p))
    for method in ("monte_carlo", "importance_sampling"):
        r = simulate_portfolio(p, Fund(capital_cents=0), Dependence(SIGMA3), seed=11,
                               scenarios=20 * BLOCK_SCENARIOS, method=method)
        assert r.method == method
        # Without a portfolio cap nothing of it is sampled: the closed form, exactly (the
        # tail shift's uneven weights made it the least precise figure of a run).
        assert r.expected_loss_cents.value == pytest.approx(exact, rel=1e-12)
        assert r.expected_loss_cents.standard_error == 0.0


def test_under_a_cap_both_methods_agree_on_the_expected_loss():
    # The fund's loss with E[L] (exact) as control variate. Importance sampling had put the
    # whole mean on weights away from its tail (ESS 3 of 51,200 on the example fund: EL a
    # third off, one seed to the next).
    p = _mixed()
    exact = float(p.probability_of_default @ _expected_payout(p))
    fund = Fund(capital_cents=0, portfolio_cap_rate=0.02)
    runs = {method: simulate_portfolio(p, fund, Dependence(SIGMA3), seed=11,
                                       scenarios=20 * BLOCK_SCENARIOS, method=method)
            for method in ("monte_carlo", "importance_sampling")}
    for r in runs.values():
        el = r.expected_loss_cents
        assert 0 < exact - el.value < 0.5 * exact and el.standard_error > 0  # the cap binds
    mc_el, is_el = (runs[m].expected_loss_cents for m in ("monte_carlo", "importance_sampling"))
    _close(is_el.value, mc_el.value, math.hypot(is_el.standard_error, mc_el.standard_error))


def test_capped_portfolio_is_a_first_loss_tranche_against_the_binomial_law():
    # Independent defaults: K ~ Binomial(n, p), loss K·payout, fund loss min(K·payout, cap).
    n, pd, payout = 200, 0.05, 1_000_000
    p = _homogeneous(n, pd, 0.0, exposure=payout)
    cap = 15 * payout  # cap rate x volume: 0.075 x 200 x payout
    fund = Fund(capital_cents=0, portfolio_cap_rate=0.075)
    r = simulate_portfolio(p, fund, Dependence.one_factor(), seed=5, method="monte_carlo",
                           scenarios=40 * BLOCK_SCENARIOS, levels=(0.9, 0.99))
    assert r.portfolio_cap_cents == cap
    k = np.arange(n + 1)
    law = stats.binom.pmf(k, n, pd)
    fund_loss = np.minimum(k * payout, cap)
    el = r.expected_loss_cents
    _close(el.value, float(law @ fund_loss), el.standard_error)
    for level in (0.9, 0.99):
        exact_var = min(stats.binom.ppf(level, n, pd) * payout, cap)
        # A discrete law: the MC quantile may sit one atom off when P(K ≤ q) is near the level.
        assert abs(r.at(level).value_at_risk_cents.value - exact_var) <= payout
    # At 0.99 the binomial quantile (18) is above the cap: VaR and ES are the cap itself.
    assert r.at(0.99).value_at_risk_cents.value == cap
    assert r.at(0.99).expected_shortfall_cents.value == cap


def _binomial_mixture(n, pd, rho):
    """P(k of n equal one-factor guarantees default), by quadrature over the factor."""
    c, b, s = special.ndtri(pd), math.sqrt(rho), math.sqrt(1 - rho)

    def term(z, k):
        return stats.binom.pmf(k, n, special.ndtr((c - b * z) / s)) * stats.norm.pdf(z)

    return np.array([integrate.quad(term, -12, 12, args=(k,), points=[-4, 0, 4],
                                    limit=400)[0] for k in range(n + 1)])


@pytest.mark.parametrize("method", ["monte_carlo", "importance_sampling"])
def test_a_lumpy_law_var_in_a_near_tie_is_known_to_half_its_atom_spacing(method):
    # Two independent sectors (60 x 1e6 at PD 2 %, 40 x 2e6 at 5 %): losses are atoms 1e6
    # apart and P(L <= 29e6) = 0.998997, a near-tie at 99.9 %. The ± sigma_p band stayed
    # inside one atom and said ± 0 while a third of the seeds gave 29e6 (audit: 7 of 20
    # seeds |z| > 3).
    first, second = _binomial_mixture(60, 0.02, 0.3), _binomial_mixture(40, 0.05, 0.1)
    in_units = np.zeros(2 * 40 + 1)
    in_units[::2] = second  # the second sector's payouts are two units each
    law = np.convolve(first, in_units)
    cdf = np.cumsum(law)
    loadings = np.zeros((100, 2))
    loadings[:60, 0], loadings[60:, 1] = math.sqrt(0.3), math.sqrt(0.1)
    book = Portfolio.from_arrays(
        exposure_cents=np.r_[np.full(60, 2_000_000), np.full(40, 4_000_000)].astype(np.int64),
        probability_of_default=np.r_[np.full(60, 0.02), np.full(40, 0.05)],
        loss_given_default=0.5, factor_loadings=loadings)
    half = 0
    for seed in range(8):
        r = simulate_portfolio(book, Fund(capital_cents=0), Dependence(np.eye(2)), seed=seed,
                               method=method, scenarios=100 * BLOCK_SCENARIOS,
                               levels=(0.9, 0.99, 0.999))
        for t in r.tail_risk:
            v, exact = t.value_at_risk_cents, float(np.argmax(cdf >= t.level)) * 1e6
            if t.level == 0.999:
                # the neighbour within 3 s_p of the level keeps a third of the spacing, within
                # 2 s_p (most seeds: the tie is 0.15 s_p wide) half of it
                assert v.standard_error >= 1e6 / 3 * (1 - 1e-12), (seed, v)
                half += v.standard_error >= 0.5e6
            if v.value != exact:
                _close(v.value, exact, v.standard_error, z=3)
    assert half >= 6, half


def test_capital_exhaustion_by_year_is_binomial_for_independent_defaults():
    # Annual PD p, constant hazard: K_t ~ Binomial(n, 1-(1-p)^t); no fees, so the fund is
    # exhausted by year t iff K_t·payout > capital, i.e. K_t ≥ 8 for capital = 7.5 payouts.
    n, pd, payout = 100, 0.02, 1_000_000
    p = _homogeneous(n, pd, 0.0, exposure=payout)
    r = simulate_portfolio(p, Fund(capital_cents=7_500_000, horizon_years=3),
                           Dependence.one_factor(), seed=2, method="monte_carlo",
                           scenarios=30 * BLOCK_SCENARIOS)
    for t, est in enumerate(r.exhaustion_probability_by_year, start=1):
        exact = stats.binom.sf(7, n, 1 - (1 - pd) ** t)
        _close(est.value, exact, est.standard_error)
    # With 1.5 payouts of fee income a year, year 1 needs K_1·payout > 9 payouts: K_1 ≥ 10.
    r = simulate_portfolio(p, Fund(capital_cents=7_500_000, annual_fee_income_cents=1_500_000),
                           Dependence.one_factor(), seed=2, method="monte_carlo",
                           scenarios=30 * BLOCK_SCENARIOS)
    est = r.exhaustion_probability_by_year[0]
    _close(est.value, stats.binom.sf(9, n, pd), est.standard_error)


def test_importance_sampling_and_plain_mc_agree_within_their_errors():
    p = _mixed(n=400, beta=False)
    kw = dict(seed=3, levels=(0.99, 0.999))
    plain = simulate_portfolio(p, Fund(capital_cents=0), Dependence(SIGMA3), method="monte_carlo",
                               scenarios=60 * BLOCK_SCENARIOS, **kw)
    shifted = simulate_portfolio(p, Fund(capital_cents=0), Dependence(SIGMA3),
                                 method="importance_sampling", scenarios=20 * BLOCK_SCENARIOS, **kw)
    assert any(x != 0 for x in shifted.importance_shift)
    for level in (0.99, 0.999):
        for name in ("value_at_risk_cents", "expected_shortfall_cents"):
            a, b = getattr(plain.at(level), name), getattr(shifted.at(level), name)
            _close(a.value, b.value, np.hypot(a.standard_error, b.standard_error))
    # The point of the shift: a third of the scenarios, still a smaller error at 99.9 %.
    assert (shifted.at(0.999).expected_shortfall_cents.standard_error
            < plain.at(0.999).expected_shortfall_cents.standard_error)


def test_large_homogeneous_pool_meets_the_vasicek_quantile():
    # Vasicek (2002), "Loan portfolio value", Risk 15(12): the q-quantile of the loss fraction
    # of an infinitely granular pool is Φ((Φ⁻¹(p) + √ρ Φ⁻¹(q)) / √(1 - ρ)). With 10,000 equal
    # guarantees the granularity effect is a fraction of a percent.
    n, pd, rho = 10_000, 0.01, 0.15
    p = _homogeneous(n, pd, np.sqrt(rho))
    r = simulate_portfolio(p, Fund(capital_cents=0), Dependence.one_factor(), seed=7,
                           method="importance_sampling", scenarios=16 * BLOCK_SCENARIOS,
                           levels=(0.99, 0.999))
    total = n * 1_000_000
    for q in (0.99, 0.999):
        lhp = stats.norm.cdf((special.ndtri(pd) + np.sqrt(rho) * special.ndtri(q))
                             / np.sqrt(1 - rho))
        var = r.at(q).value_at_risk_cents
        assert var.standard_error < 0.01 * var.value
        assert abs(var.value / total - lhp) < 0.02 * lhp


def test_student_t_copula_against_a_direct_t_copula_simulation():
    # Direct check: latent X = (√ρ Z + √(1-ρ) ε) / √(W/ν), default iff X < t_ν⁻¹(p), drawn in
    # full by the numpy reference; the engine instead thins defaults given (Z, W).
    n, pd, rho, nu = 200, 0.02, 0.2, 4.0
    p = _homogeneous(n, pd, np.sqrt(rho))
    t_dep = Dependence(np.ones((1, 1)), "student_t", nu)
    scen = 40 * BLOCK_SCENARIOS
    r = simulate_portfolio(p, Fund(capital_cents=0), t_dep, seed=9, method="monte_carlo",
                           scenarios=scen, levels=(0.99,))
    direct = numpy_fund_losses(p.exposure_cents, pd, 1.0, p.factor_loadings, np.ones((1, 1)),
                               scenarios=scen, seed=10, degrees_of_freedom=nu)
    x = 20 * 1_000_000  # P(more than 20 defaults): 5x the mean; read as exhaustion of capital x
    exceed = np.mean(direct > x)
    tail_engine = simulate_portfolio(
        p, Fund(capital_cents=x), t_dep, seed=9, method="monte_carlo", scenarios=scen,
        levels=(0.99,)).exhaustion_probability_by_year[0]
    se = np.sqrt(exceed * (1 - exceed) / scen + tail_engine.standard_error**2)
    _close(tail_engine.value, exceed, se)
    _, es_direct = empirical_var_es(direct, 0.99)
    es = r.at(0.99).expected_shortfall_cents
    _close(es.value, es_direct, np.sqrt(2) * es.standard_error)
    # Tail dependence: the t copula's 99 % ES is far above the Gaussian one at the same ρ.
    gauss = simulate_portfolio(p, Fund(capital_cents=0), Dependence.one_factor(), seed=9,
                               method="monte_carlo", scenarios=scen, levels=(0.99,))
    assert es.value > gauss.at(0.99).expected_shortfall_cents.value + 4 * es.standard_error


def test_engine_matches_direct_numpy_simulation_with_all_guarantee_terms():
    # Beta LGD, rates, caps, deductibles, three correlated factors and a 3-year PD curve:
    # the thinning kernel must reproduce the brute-force latent-variable simulation.
    p0 = _mixed(n=150, seed=4)
    years = np.arange(1, 4)
    curve = 1 - (1 - p0.probability_of_default[:, None]) ** (years[None, :] ** 1.3)
    p = dataclasses.replace(p0, cumulative_default_probability=curve)
    scen = 24 * BLOCK_SCENARIOS
    fund = Fund(capital_cents=int(3e7), horizon_years=3, portfolio_cap_rate=0.2)
    r = simulate_portfolio(p, fund, Dependence(SIGMA3), seed=1, method="monte_carlo",
                           scenarios=scen, levels=(0.99,))
    loss, by_year = numpy_fund_losses(
        p.exposure_cents, None, p.loss_given_default, p.factor_loadings, SIGMA3, scenarios=scen,
        seed=2, rate=p.guarantee_rate, cap_cents=p.cap_cents, deductible_cents=p.deductible_cents,
        portfolio_cap=r.portfolio_cap_cents, lgd_std=np.where(p.loss_given_default_std > 0,
                                                              p.loss_given_default_std, 1e-9),
        cumulative_pd=curve)
    el = r.expected_loss_cents
    _close(el.value, loss.mean(), np.hypot(el.standard_error, loss.std() / np.sqrt(scen)))
    for t in range(3):
        direct = np.mean(by_year[:, t] > fund.capital_cents)
        est = r.exhaustion_probability_by_year[t]
        _close(est.value, direct, np.sqrt(2) * est.standard_error + 1e-9)
    es = r.at(0.99).expected_shortfall_cents
    _close(es.value, empirical_var_es(loss, 0.99)[1], np.sqrt(2) * es.standard_error)


@pytest.mark.parametrize("book", ["three correlated factors", "three independent sectors"])
def test_same_seed_same_result_whatever_chunks_and_shards(book):
    if book == "three correlated factors":
        p = _mixed(n=200)
        dep = Dependence(SIGMA3)
    else:  # a tail from each sector: importance sampling draws a mixture of shifts
        p, dep = _mixed(n=240, beta=False), Dependence(np.eye(3))
    fund = Fund(capital_cents=10**8, horizon_years=2, portfolio_cap_rate=0.3)
    kw = dict(seed=123, method="importance_sampling", scenarios=9 * BLOCK_SCENARIOS)
    runs = [list(iter_portfolio_simulation(p, fund, dep, chunk_blocks=c, **kw))[-1].result
            for c in (1, 4, 9)]
    shards = [simulate_shard(p, fund, dep, seed=123, block_range=r, method="importance_sampling")
              for r in ((0, 2), (2, 3), (3, 7), (7, 9))]
    random.Random(0).shuffle(shards)
    merged = merge_shards(shards)
    assert runs[0] == runs[1] == runs[2] == merged  # bit-identical, field by field
    assert len(merged.importance_mixture) >= (4 if "independent" in book else 2)
    other = simulate_portfolio(p, fund, dep, **{**kw, "seed": 124})
    assert other.tail_risk != merged.tail_risk


def test_merge_refuses_shards_of_other_runs_or_with_gaps():
    p = _mixed(n=50, beta=False)
    dep = Dependence(SIGMA3)
    a = simulate_shard(p, Fund(capital_cents=0), dep, seed=1, block_range=(0, 1))
    b = simulate_shard(p, Fund(capital_cents=0), dep, seed=2, block_range=(1, 2))
    c = simulate_shard(p, Fund(capital_cents=0), dep, seed=1, block_range=(2, 3))
    with pytest.raises(InvalidArgument, match="different run"):
        merge_shards([a, b])
    with pytest.raises(InvalidArgument, match="gap or overlap"):
        merge_shards([a, c])


def test_progress_after_each_chunk_and_cancellation_between_chunks():
    p = _mixed(n=100, beta=False)
    seen = []

    def on_progress(progress):
        seen.append(progress.scenarios_done)
        return len(seen) < 2

    r = simulate_portfolio(p, Fund(capital_cents=0), Dependence(SIGMA3), seed=1,
                           method="monte_carlo", scenarios=10 * BLOCK_SCENARIOS, chunk_blocks=2,
                           on_progress=on_progress)
    assert seen == [2 * BLOCK_SCENARIOS, 4 * BLOCK_SCENARIOS]
    assert r.cancelled and r.scenarios == 4 * BLOCK_SCENARIOS
    steps = list(iter_portfolio_simulation(p, Fund(capital_cents=0), Dependence(SIGMA3), seed=1,
                                           method="monte_carlo", scenarios=6 * BLOCK_SCENARIOS,
                                           chunk_blocks=2))
    assert [s.final for s in steps] == [False, False, True]
    assert steps[-1].expected_shortfall_cents.standard_error > 0


def test_target_relative_error_stops_early():
    p = _mixed(n=100, beta=False)
    steps = list(iter_portfolio_simulation(
        p, Fund(capital_cents=0), Dependence(SIGMA3), seed=1, method="importance_sampling",
        scenarios=200 * BLOCK_SCENARIOS, chunk_blocks=2, target_relative_error=0.02))
    last = steps[-1]
    assert last.final and last.scenarios_done < 200 * BLOCK_SCENARIOS
    es = last.result.tail_risk[-1].expected_shortfall_cents
    assert es.standard_error <= 0.02 * es.value


def test_a_cap_in_the_body_of_the_law_costs_the_expected_loss_no_precision():
    # With the cap near the median, (L − cap)⁺ varies almost as much as L while
    # min(L, cap) hardly does: taking E[L] − mean((L − cap)⁺) made plain MC's SE 8–26x
    # the plain mean's (a review found it). The fitted control is never worse than the
    # plain mean, and agrees with it.
    p = _mixed()
    fund = Fund(capital_cents=0, portfolio_cap_rate=0.0005)
    shard = simulate_shard(p, fund, Dependence(SIGMA3), seed=4, block_range=(0, 20),
                           method="monte_carlo")
    n = 20 * BLOCK_SCENARIOS
    plain = float(np.sum(shard.capped_sum)) / n
    plain_se = math.sqrt(max(float(np.sum(shard.capped_sq_sum)) / n - plain * plain, 0.0) / n)
    el = merge_shards([shard]).expected_loss_cents
    exact = float(p.probability_of_default @ _expected_payout(p))
    assert plain < 0.9 * exact  # the cap binds in the body
    assert el.standard_error <= plain_se
    _close(el.value, plain, plain_se)


def test_near_perfect_correlation_keeps_its_importance_shift():
    # At ρ = 0.999 every exp(−z²/2) of the shift's gradient underflowed to 0: the run said
    # importance_sampling but drew plain Monte Carlo (shift 0, ESS = scenarios).
    p = _homogeneous(100, 0.02, math.sqrt(0.999))
    r = simulate_portfolio(p, Fund(capital_cents=0), Dependence.one_factor(), seed=1,
                           method="importance_sampling", scenarios=4 * BLOCK_SCENARIOS,
                           levels=(0.999,))
    assert r.importance_shift[0] == pytest.approx(-special.ndtri(0.999), rel=1e-9)
    assert r.effective_sample_size < r.scenarios / 2
