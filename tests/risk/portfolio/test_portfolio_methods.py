"""Issue 4 closing checks: CreditRisk+ through simulate_portfolio, the adaptive
semi-analytic accuracy, the exponential twist of importance sampling, and contributions
computed from shards."""

import random

import numpy as np
import pytest

from services.risk.engine.portfolio import (
    BLOCK_SCENARIOS,
    METHODS,
    Dependence,
    Fund,
    Portfolio,
    analytic,
    choose_method,
    contribution_plan,
    contribution_shard,
    contribution_thresholds,
    creditriskplus_parameters,
    merge_contribution_shards,
    merge_shards,
    risk_contributions,
    sector_loadings,
    simulate_portfolio,
    simulate_shard,
)
from services.risk.engine.portfolio import montecarlo as mc
from services.risk.engine.portfolio.model import expected_payouts
from services.shared.errors import InvalidArgument
from tests.risk.portfolio.test_creditriskplus import _monte_carlo
from tests.risk.portfolio.test_portfolio_montecarlo import SIGMA3, _expected_payout, _mixed

Z = 4.0


def _one_factor(n, seed=0, rho=0.2):
    rng = np.random.default_rng(seed)
    return Portfolio.from_arrays(
        exposure_cents=rng.integers(1_000_000, 50_000_000, n),
        probability_of_default=rng.uniform(0.002, 0.03, n), loss_given_default=0.45,
        factor_loadings=np.full((n, 1), np.sqrt(rho)))


# ----------------------------------------------------------------------------- CreditRisk+


def test_creditriskplus_expected_loss_is_sum_of_pd_times_expected_payout():
    # Beta LGDs, rates, caps and deductibles: CSFB banding keeps every guarantee's expected
    # loss, so EL = Σ PD_i·E[fund payout_i] to rounding, whatever the sectors.
    p = _mixed(n=120)
    r = simulate_portfolio(p, Fund(capital_cents=0), Dependence(SIGMA3), seed=0,
                           method="creditriskplus")
    assert r.method == "creditriskplus" and r.scenarios == 0
    exact = float(p.probability_of_default @ expected_payouts(p))
    assert r.expected_loss_cents.value == pytest.approx(exact, rel=1e-12)
    # The closed-form Beta payout against independent quadrature.
    np.testing.assert_allclose(expected_payouts(p), _expected_payout(p), rtol=1e-7)
    assert all(t.value_at_risk_cents.standard_error >= 0 for t in r.tail_risk)
    assert any("different model" in note for note in r.notes)


def test_creditriskplus_through_simulate_portfolio_against_poisson_gamma_monte_carlo():
    # Independent check of mapping + banding + tranche: simulate the *mapped* Poisson–Gamma
    # model directly (test_creditriskplus's helper) with the unbanded payouts and the cap.
    rng = np.random.default_rng(3)
    n, f = 100, 3
    sector = rng.integers(0, f, n)
    p = Portfolio.from_arrays(
        exposure_cents=rng.integers(1_000_000, 20_000_000, n),
        probability_of_default=rng.uniform(0.005, 0.05, n), loss_given_default=0.5,
        factor_loadings=sector_loadings(sector, rng.uniform(0.3, 0.6, n), f), sector=sector,
        sector_names=("a", "b", "c"))
    fund = Fund(capital_cents=100_000_000, portfolio_cap_rate=0.08)
    dep = Dependence(SIGMA3)
    levels = (0.9, 0.99, 0.999)
    r = simulate_portfolio(p, fund, dep, seed=0, method="creditriskplus", levels=levels)
    params = creditriskplus_parameters(p, fund, dep)
    assert params.calibrated and (params.sector_variances > 0).all()
    assert params.background_variance > 0  # correlated factors: a common background
    assert np.all(params.sector_weights.sum(axis=1) <= 1 + 1e-12)
    scen = 200_000
    loss = np.minimum(_monte_carlo(params.intensity[:, -1], params.payout_cents,
                                   params.sector_weights, params.sector_variances,
                                   params.background_variance, scen, rng),
                      r.portfolio_cap_cents)
    for t in r.tail_risk:
        x = t.value_at_risk_cents.value
        p_mc = float(np.mean(loss > x))
        # P(L > VaR) ≤ 1 − level ≤ P(L ≥ VaR) for the law; the sampled law must agree.
        p_ge = float(np.mean(loss >= x - t.value_at_risk_cents.standard_error))
        se = np.sqrt((1 - t.level) * t.level / scen)
        assert p_mc <= (1 - t.level) + Z * se and p_ge >= (1 - t.level) - Z * se, t.level
        tail = np.sort(loss)[::-1][: round((1 - t.level) * scen)]
        es_mc, es_se = tail.mean(), tail.std() / np.sqrt(tail.size)
        es = t.expected_shortfall_cents
        assert abs(es.value - es_mc) <= Z * es_se + es.standard_error + 1e-3 * es.value, t.level
    exh = r.exhaustion_probability_by_year[0]
    p_exh = float(np.mean(loss > fund.capital_cents))
    assert abs(exh.value - p_exh) <= Z * np.sqrt(p_exh * (1 - p_exh) / scen) + exh.standard_error


def test_creditriskplus_explicit_variances_and_several_years():
    p = _one_factor(200)
    fund = Fund(capital_cents=10**9, horizon_years=3)
    dep = Dependence(np.ones((1, 1)), sector_variances=np.array([1.5]))
    params = creditriskplus_parameters(p, fund, dep)
    assert not params.calibrated and params.sector_variances.tolist() == [1.5]
    r = simulate_portfolio(p, fund, dep, seed=0, method="creditriskplus")
    exh = [e.value for e in r.exhaustion_probability_by_year]
    assert exh == sorted(exh) and exh[-1] > 0
    with pytest.raises(InvalidArgument, match="zero fee income"):
        simulate_portfolio(p, Fund(capital_cents=0, horizon_years=2, annual_fee_income_cents=5),
                           dep, seed=0, method="creditriskplus")
    with pytest.raises(InvalidArgument) as e:
        simulate_portfolio(p, fund, Dependence(np.ones((1, 1)), sector_variances=[-1.0, 2.0]),
                           seed=0, method="creditriskplus")
    assert {v.field for v in e.value.violations} == {"dependence.sector_variances"}


def test_auto_never_picks_creditriskplus():
    assert "creditriskplus" in METHODS
    fund = Fund(capital_cents=0)
    models = [(_one_factor(10), Dependence.one_factor()),
              (_mixed(n=20), Dependence(SIGMA3)),
              (_mixed(n=20, beta=False), Dependence(SIGMA3, "student_t", 5.0))]
    for p, dep in models:
        for levels in ((0.9,), (0.99, 0.999)):
            for f in (fund, Fund(capital_cents=0, horizon_years=3, annual_fee_income_cents=1)):
                assert choose_method(p, f, dep, levels) != "creditriskplus"
                assert simulate_portfolio(p, f, dep, seed=1, levels=levels,
                                          scenarios=BLOCK_SCENARIOS).method != "creditriskplus"


# ------------------------------------------------------------------- semi-analytic accuracy


def test_semi_analytic_meets_the_requested_accuracy_and_its_estimate_covers_the_error():
    p = _one_factor(3000, seed=2)
    payout = 0.45 * p.exposure_cents
    ref = analytic.one_factor_loss_distribution(
        payout, p.probability_of_default, p.factor_loadings[:, 0], levels=(0.99, 0.999),
        quadrature_nodes=128, max_quadrature_nodes=128, lattice_points_per_var=8000,
        estimate_errors=False)
    for accuracy in (0.005, 0.001):
        r = simulate_portfolio(p, Fund(capital_cents=0), Dependence.one_factor(), seed=0,
                               levels=(0.99, 0.999), target_relative_error=accuracy)
        assert r.method == "semi_analytic"
        for t in r.tail_risk:
            for est, exact in ((t.value_at_risk_cents, ref.value_at_risk(t.level).value),
                               (t.expected_shortfall_cents,
                                ref.expected_shortfall(t.level).value)):
                assert est.standard_error <= accuracy * est.value
                assert abs(est.value - exact) <= est.standard_error + 1e-4 * exact
    assert r.notes[1].startswith("pass ") and not r.notes[1].startswith("pass 1:")
    with pytest.raises(InvalidArgument):
        simulate_portfolio(p, Fund(capital_cents=0), Dependence.one_factor(), seed=0,
                           method="semi_analytic", target_relative_error=2.0)


# ------------------------------------------------------------------- exponential twist


def _exact_and_twisted(n, rho, seed=5):
    p = _one_factor(n, seed=seed, rho=rho)
    dep = Dependence.one_factor()
    exact = simulate_portfolio(p, Fund(capital_cents=0), dep, seed=0, method="semi_analytic",
                               levels=(0.999,), target_relative_error=0.001)
    fund = Fund(capital_cents=int(exact.at(0.999).value_at_risk_cents.value))
    ref = simulate_portfolio(p, fund, dep, seed=0, method="semi_analytic", levels=(0.999,),
                             target_relative_error=0.001)
    kw = dict(seed=3, method="importance_sampling", scenarios=12 * BLOCK_SCENARIOS,
              levels=(0.999,))
    twisted = simulate_portfolio(p, fund, dep, exponential_twist=True, **kw)
    # the factor shift alone (no odds tilt, the default sampler's other part)
    shifted = simulate_portfolio(p, fund, dep, exponential_twist=False, odds_tilt=False, **kw)
    return p, fund, dep, ref, twisted, shifted


def test_twisted_importance_sampling_tail_estimators_are_unbiased():
    # One factor, fixed LGD: the semi-analytic law is exact. The twist aims at the tail
    # x = VaR99.9, so the tail probability P(L > x) (read as capital exhaustion at capital
    # x), VaR and ES must match it within their SEs, and be more precise than the shift alone.
    _, _, _, ref, tw, shifted = _exact_and_twisted(400, 0.15)
    pairs = [(tw.exhaustion_probability_by_year[0], ref.exhaustion_probability_by_year[0],
              shifted.exhaustion_probability_by_year[0])]
    pairs += [(getattr(tw.at(0.999), k), getattr(ref.at(0.999), k),
               getattr(shifted.at(0.999), k))
              for k in ("value_at_risk_cents", "expected_shortfall_cents")]
    for a, b, c in pairs:
        assert abs(a.value - b.value) <= Z * a.standard_error + b.standard_error
        assert abs(a.value - c.value) <= Z * np.hypot(a.standard_error, c.standard_error)
        assert a.standard_error < c.standard_error


def test_twist_likelihood_ratio_and_expected_loss_are_unbiased_given_the_factor():
    # Given the factor ξ the twisted sampler must satisfy E_θ[w] = 1 and E_θ[w·L] =
    # Σ payout_i·p_i(ξ), whatever θ the Newton solve lands on (the factor shift's own ratio
    # is the plain Gaussian one, checked by the untwisted tests). Three names keep the
    # weights bounded; for granular portfolios and benign ξ the twist's weights are
    # heavy-tailed, so EL from a twisted run is unbiased but unreliable (README).
    from scipy import special

    from services.risk.engine.portfolio import kernels

    p = Portfolio.from_arrays(exposure_cents=np.array([1_000_000, 3_000_000, 2_000_000]),
                              probability_of_default=np.array([0.01, 0.02, 0.05]),
                              loss_given_default=0.5, factor_loadings=np.full((3, 1), 0.4))
    plan = mc.SimulationPlan(p, Fund(capital_cents=0), Dependence.one_factor(), seed=3,
                             method="importance_sampling", exponential_twist=True)
    s = 100_000
    for z in (-2.0, 0.0, 1.0):
        loss, year = np.empty(s), np.empty((s, 1))
        log_ratio, theta = np.empty(s), np.empty(s)
        kernels.simulate_block_twisted(
            np.random.default_rng(1), np.full((s, 1), z), np.ones(s), plan.group_start,
            plan.group_loading, plan.group_sd, plan.threshold, plan.payout_fixed,
            plan.mean_payout, plan.lgd_alpha, plan.lgd_beta, plan.exposure, plan.rate,
            plan.cap, plan.deductible, plan.twist_target, loss, year, log_ratio, theta)
        assert theta[0] > 0  # the conditional mean is below the target: a real twist
        w = np.exp(log_ratio)
        assert abs(w.mean() - 1.0) <= Z * w.std() / np.sqrt(s)
        pd = special.ndtr((plan.threshold[:, 0] - 0.4 * z) / np.sqrt(1 - 0.16))
        exact = float(plan.payout_fixed @ pd)
        assert abs((w * loss).mean() - exact) <= Z * (w * loss).std() / np.sqrt(s)


def test_twisted_shards_merge_bit_identically():
    p = _mixed(n=120, beta=True)
    fund = Fund(capital_cents=10**8, horizon_years=2)
    kw = dict(seed=9, method="importance_sampling", exponential_twist=True)
    whole = simulate_portfolio(p, fund, Dependence(SIGMA3), scenarios=4 * BLOCK_SCENARIOS,
                               chunk_blocks=4, **kw)
    shards = [simulate_shard(p, fund, Dependence(SIGMA3), block_range=r, **kw)
              for r in ((0, 1), (1, 3), (3, 4))]
    assert merge_shards(shards) == whole
    assert len(whole.importance_mixture) > 2  # the twist on top of a mixture of shifts
    untwisted = simulate_shard(p, fund, Dependence(SIGMA3), block_range=(0, 1), seed=9,
                               method="importance_sampling", exponential_twist=False)
    with pytest.raises(InvalidArgument, match="different run"):
        merge_shards([untwisted, shards[1], shards[2]])


# ------------------------------------------------------------- contributions from shards


def test_contributions_from_shards_equal_the_single_run():
    p = _mixed(n=200, beta=False)
    fund, dep = Fund(capital_cents=0, portfolio_cap_rate=0.5), Dependence(SIGMA3)
    kw = dict(seed=4, level=0.99)
    single = risk_contributions(p, fund, dep, scenarios=6 * BLOCK_SCENARIOS, **kw)
    # A worker per block range: first pass, thresholds from the merged first pass, then the
    # contribution pass per range, merged in any order.
    plan = contribution_plan(p, fund, dep, **kw)
    assert plan.shifts.shape[0] > 1  # importance sampling with a mixture of shifts
    ranges = ((0, 2), (2, 3), (3, 6))
    first = [mc.simulate_blocks(plan, *r) for r in ranges]
    random.Random(1).shuffle(first)
    thresholds = contribution_thresholds(first, 0.99)
    parts = [contribution_shard(contribution_plan(p, fund, dep, **kw), thresholds, r)
             for r in ranges]
    random.Random(2).shuffle(parts)
    merged = merge_contribution_shards(plan, first, parts)
    assert merged.value_at_risk_cents == single.value_at_risk_cents
    assert merged.expected_shortfall_cents == single.expected_shortfall_cents
    np.testing.assert_allclose(merged.guarantee_es_cents, single.guarantee_es_cents,
                               rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(merged.guarantee_var_standard_error,
                               single.guarantee_var_standard_error, rtol=1e-9, atol=1e-9)
    for a, b in zip(merged.by_branch, single.by_branch, strict=True):
        assert a.expected_shortfall_cents.value == pytest.approx(
            b.expected_shortfall_cents.value, rel=1e-12, abs=1e-9)
    with pytest.raises(InvalidArgument, match=r"gap or overlap|do not cover"):
        merge_contribution_shards(plan, first, parts[:1] + parts[2:])
