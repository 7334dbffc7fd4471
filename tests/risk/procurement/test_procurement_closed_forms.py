"""The engine against closed forms. Tolerances are in Monte Carlo standard errors
(the engine's own, so these also check that the reported errors are honest)."""

import math

import numpy as np
import pytest
from scipy import special, stats

from services.risk.engine.procurement import (
    Activity,
    CorrelationBlock,
    CostDistribution,
    CostItem,
    CoveredLoss,
    DistributionKind,
    DurationDistribution,
    GuaranteeTerms,
    Phase,
    RiskEvent,
    estimate_procurement_risk,
    evaluate_guarantee,
)
from services.risk.engine.procurement import marginals as mg
from services.risk.engine.procurement.correlation import nearest_correlation
from services.risk.engine.procurement.plan import compile_model
from services.risk.engine.procurement.simulation import simulate
from tests.risk.procurement.builders import procurement_model as model

K = DistributionKind
Z = 4.5  # a correct estimate misses by more than 4.5 SE with probability < 1e-5
def close(estimate, expected, z=Z):
    assert abs(estimate.value - expected) <= z * estimate.standard_error, (estimate, expected)
    assert estimate.standard_error > 0


def quantile_of(result, p):
    return next(q.value for q in result.total_cost_cents.quantiles if q.probability == p)


def test_sum_of_independent_normals():
    # Σ N(μ_i, σ_i²) = N(Σμ_i, Σσ_i²); means ≥ 20σ so truncation at zero is < 1e-80.
    mus, sigmas = [5_000_000, 8_000_000, 3_000_000], [100_000, 250_000, 60_000]
    items = [CostItem(f"n{i}", CostDistribution(K.TRUNCATED_NORMAL, mean_cents=m,
                                                standard_deviation_cents=s))
             for i, (m, s) in enumerate(zip(mus, sigmas, strict=True))]
    r = estimate_procurement_risk(model(items), scenarios=60_000, seed=7, quantiles=(0.3,))
    mu, sigma = sum(mus), math.sqrt(sum(s * s for s in sigmas))
    close(r.total_cost_cents.mean, mu)
    close(r.total_cost_cents.standard_deviation, sigma)
    for p in (0.1, 0.3, 0.5, 0.9, 0.95):
        close(quantile_of(r, p), mu + sigma * special.ndtri(p))
    assert r.base_estimate_cents == mu


@pytest.mark.parametrize("shape", [4.0, 2.0])
def test_pert_mean_and_variance(shape):
    # Beta-PERT: mean (a + λm + b)/(λ + 2), variance (μ − a)(b − μ)/(λ + 3)
    # (Vose, Risk Analysis 3rd ed. §9.1.8; with λ = 4 the classic (a + 4m + b)/6).
    a, m, b = 1_000_000, 1_300_000, 2_500_000
    dist = CostDistribution(K.PERT, a, m, b, pert_shape=0.0 if shape == 4.0 else shape)
    r = estimate_procurement_risk(model([CostItem("p", dist)]), scenarios=50_000, seed=3)
    mean = (a + shape * m + b) / (shape + 2)
    close(r.total_cost_cents.mean, mean)
    close(r.total_cost_cents.standard_deviation, math.sqrt((mean - a) * (b - mean) / (shape + 3)))


def test_triangular_quantiles():
    # F⁻¹(p) = a + √(p(b−a)(c−a)) for p < (c−a)/(b−a), else b − √((1−p)(b−a)(b−c)).
    a, c, b = 2_000_000, 2_500_000, 4_000_000
    items = [CostItem("t", CostDistribution(K.TRIANGULAR, a, c, b))]
    r = estimate_procurement_risk(model(items), scenarios=40_000, seed=11, quantiles=(0.2,))

    def ppf(p):
        if p < (c - a) / (b - a):
            return a + math.sqrt(p * (b - a) * (c - a))
        return b - math.sqrt((1 - p) * (b - a) * (b - c))

    for p in (0.1, 0.2, 0.5, 0.8, 0.9, 0.95):
        close(quantile_of(r, p), ppf(p))
    close(r.total_cost_cents.mean, (a + b + c) / 3)


def test_series_parallel_schedule():
    # start (5 d) then two parallel U(0, 10) activities, then end (2 d):
    # T = 7 + max(U1, U2), P(T ≤ t) = ((t − 7)/10)², E[T] = 7 + 20/3;
    # each parallel activity is critical in half the scenarios, start and end always.
    uni = DurationDistribution(K.UNIFORM, minimum_days=0.0, maximum_days=10.0)
    acts = (Activity("start", DurationDistribution(K.FIXED, mode_days=5.0)),
            Activity("left", uni, ("start",)), Activity("right", uni, ("start",)),
            Activity("end", DurationDistribution(K.FIXED, mode_days=2.0), ("left", "right")))
    items = [CostItem("c", CostDistribution(K.FIXED, mode_cents=100))]
    r = estimate_procurement_risk(model(items, activities=acts, deadline_days=15.0),
                                  scenarios=40_000, seed=5)
    d = r.duration_days
    close(d.mean, 7 + 20 / 3)
    for q in d.quantiles:
        close(q.value, 7 + 10 * math.sqrt(q.probability))
    close(r.deadline_exceedance_probability, 1 - 0.8**2)
    crit = {a.activity_name: a.criticality_index for a in r.activity_criticality}
    assert crit["start"].value == 1.0 and crit["end"].value == 1.0
    close(crit["left"], 0.5)
    assert crit["left"].value + crit["right"].value == pytest.approx(1.0)


def test_risk_event_expected_cost_and_delay():
    # E[cost] = base + p·E[impact], E[impact] of a triangular = (a + c + b)/3;
    # the delay hits the only activity: E[T] = 10 + p·3.
    p, (a, c, b) = 0.3, (10_000, 40_000, 100_000)
    ev = RiskEvent("supplier_exit", p, CostDistribution(K.TRIANGULAR, a, c, b),
                   DurationDistribution(K.FIXED, mode_days=3.0), ("work",))
    acts = (Activity("work", DurationDistribution(K.FIXED, mode_days=10.0)),)
    items = [CostItem("base", CostDistribution(K.FIXED, mode_cents=500_000))]
    r = estimate_procurement_risk(
        model(items, activities=acts, risk_events=(ev,), budget_cents=500_000),
        scenarios=50_000, seed=9)
    close(r.total_cost_cents.mean, 500_000 + p * (a + b + c) / 3)
    close(r.budget_exceedance_probability, p)
    close(r.duration_days.mean, 10 + p * 3)


def test_pcp_funnel_without_carry_limit_matches_product_formula():
    # When at most one supplier is carried, phase k starts with a fixed n_k whenever it
    # is reached, so P(fail) = 1 − Π_k (1 − (1 − p_k)^{n_k}).
    phases = (Phase("solution_design", 4, 0.5), Phase("prototype", 1, 0.7),
              Phase("test_series", 1, 0.9))
    items = [CostItem("c", CostDistribution(K.FIXED, mode_cents=1))]
    m = model(items, phases=phases)
    r = estimate_procurement_risk(m, scenarios=60_000, seed=21)
    survive = [1 - (1 - p) ** n for n, p in ((4, 0.5), (1, 0.7), (1, 0.9))]
    close(r.failure_probability, 1 - np.prod(survive))
    close(r.phase_failures[1].probability, survive[0] * (1 - survive[1]))


def funnel_by_hand(suppliers, probabilities):
    """Exact failure probability per phase by a Markov chain over suppliers carried."""
    entering = {suppliers[0]: 1.0}
    fail = []
    for k, p in enumerate(probabilities):
        nxt, failed = {}, 0.0
        for n, w in entering.items():
            for passed in range(n + 1):
                pr = w * stats.binom.pmf(passed, n, p)
                if passed == 0:
                    failed += pr
                else:
                    cap = suppliers[k + 1] if k + 1 < len(suppliers) else passed
                    nxt[min(passed, cap)] = nxt.get(min(passed, cap), 0.0) + pr
        fail.append(failed)
        entering = nxt
    return fail


def test_pcp_funnel_4_3_2_matches_markov_chain():
    phases = (Phase("solution_design", 4, 0.45), Phase("prototype", 3, 0.4),
              Phase("test_series", 2, 0.6))
    items = [CostItem("c", CostDistribution(K.FIXED, mode_cents=1))]
    r = estimate_procurement_risk(model(items, phases=phases), scenarios=60_000, seed=4)
    expected = funnel_by_hand([4, 3, 2], [0.45, 0.4, 0.6])
    close(r.failure_probability, sum(expected))
    for got, want in zip(r.phase_failures, expected, strict=True):
        close(got.probability, want)


def test_rank_correlation_achieved_and_marginals_kept():
    tri = CostDistribution(K.TRIANGULAR, 100_000, 150_000, 400_000)
    pert = CostDistribution(K.PERT, 50_000, 60_000, 200_000)
    logn = CostDistribution(K.LOGNORMAL, p10_cents=80_000, p90_cents=300_000)
    items = [CostItem("tri", tri), CostItem("pert", pert), CostItem("logn", logn)]
    acts = (Activity("build", DurationDistribution(K.TRIANGULAR, 10.0, 20.0, 60.0)),)
    target = np.array([[1, 0.7, -0.4, 0.5], [0.7, 1, 0.0, 0.3],
                       [-0.4, 0.0, 1, 0.0], [0.5, 0.3, 0.0, 1]])
    block = CorrelationBlock(("tri", "pert", "logn", "build"), tuple(target.ravel()))
    plan = compile_model(model(items, activities=acts, correlations=(block,)))
    run = simulate(plan, scenarios=16_384, seed=2, chunk_scenarios=None,
                   target_standard_error_cents=None)
    x = run.sensitivity_inputs[:4]
    achieved = stats.spearmanr(x, axis=1).statistic
    assert np.abs(achieved - target).max() < 0.03  # SE of each ≈ 0.006 at n = 16,384
    assert not plan.correlation_report.repaired
    # marginals untouched by the copula: P10/P90 of the lognormal, mean of the PERT
    assert np.quantile(x[2], [0.1, 0.9]) == pytest.approx([80_000, 300_000], rel=0.02)
    assert x[1].mean() == pytest.approx((50_000 + 4 * 60_000 + 200_000) / 6, rel=0.01)
    assert x[0].min() >= 100_000 and x[0].max() <= 400_000


def test_correlated_pert_table_matches_exact_inverse():
    # F⁻¹(Φ(z)) by scipy's betaincinv, mirrored in the right tail (where Φ(z) ≈ 1
    # would lose digits); the interpolated table must agree to 1e-7 of the range.
    m = mg.pert(0.0, 1.0, 10.0, 4.0)
    a, b = m.params[2], m.params[3]
    z = np.random.default_rng(0).standard_normal((1, 20_000)) * 2.5
    exact = 10.0 * np.where(z <= 0, special.betaincinv(a, b, special.ndtr(z)),
                            1.0 - special.betaincinv(b, a, special.ndtr(-z)))
    assert np.abs(mg.from_normal(mg.PERT, [m], z) - exact).max() < 1e-7 * 10


def test_non_psd_correlation_is_repaired_and_reported():
    bad = (1, 0.9, -0.9, 0.9, 1, 0.9, -0.9, 0.9, 1)
    items = [CostItem(n, CostDistribution(K.UNIFORM, minimum_cents=0, maximum_cents=1000))
             for n in "abc"]
    r = estimate_procurement_risk(
        model(items, correlations=(CorrelationBlock(("a", "b", "c"), bad),)),
        scenarios=4096, seed=1)
    rep = r.correlation
    assert rep.repaired and rep.max_abs_change > 0.1
    realised = np.array(rep.rank_correlations).reshape(3, 3)
    assert np.linalg.eigvalsh(2 * np.sin(np.pi * realised / 6)).min() > -1e-9


def test_nearest_correlation_higham_example():
    # Higham (2002) §4 example, as reproduced by the reference implementation
    # (github.com/mikecroucher/nearest_correlation README).
    a = np.array([[2, -1, 0, 0], [-1, 2, -1, 0], [0, -1, 2, -1], [0, 0, -1, 2]], float)
    expected = np.array([[1, -0.8084, 0.1916, 0.1068], [-0.8084, 1, -0.6562, 0.1916],
                         [0.1916, -0.6562, 1, -0.8084], [0.1068, 0.1916, -0.8084, 1]])
    assert nearest_correlation(a) == pytest.approx(expected, abs=1e-4)


def test_sensitivity_of_sum_of_two_normals():
    # corr(X1, X1 + X2) = σ1/√(σ1² + σ2²) = 0.6 for σ = (3, 4); for a bivariate normal
    # Spearman = (6/π)·arcsin(ρ/2) (Kruskal 1958).
    items = [CostItem("small", CostDistribution(K.TRUNCATED_NORMAL, mean_cents=10**8,
                                                standard_deviation_cents=300_000)),
             CostItem("large", CostDistribution(K.TRUNCATED_NORMAL, mean_cents=10**8,
                                                standard_deviation_cents=400_000))]
    r = estimate_procurement_risk(model(items), scenarios=20_000, seed=8)
    top, second = r.cost_sensitivity
    assert (top.input_name, second.input_name) == ("large", "small")
    close(second.rank_correlation, 6 / math.pi * math.asin(0.3))
    close(top.rank_correlation, 6 / math.pi * math.asin(0.4))
    assert top.rank_correlation_share + second.rank_correlation_share == pytest.approx(1.0)
    # independent parts: each one's share of Var(total) is its own variance's, 16/25, 9/25
    close(top.contribution, 16 / 25)
    close(second.contribution, 9 / 25)
    assert r.duration_sensitivity == ()


def test_guarantee_on_overrun_of_a_normal_cost():
    # X ~ N(μ, σ), K = budget + deductible: E[(X − K)⁺] = (μ − K)Φ(d) + σφ(d),
    # d = (μ − K)/σ; payout = rate·(X − K)⁺ (cap not reached). VaR_α = rate·(μ + σz_α − K)
    # and ES_α = rate·(μ + σφ(z_α)/(1 − α) − K) while the VaR is positive.
    mu, sigma, budget, ded, rate = 10_000_000, 1_000_000, 10_500_000, 200_000, 0.5
    items = [CostItem("x", CostDistribution(K.TRUNCATED_NORMAL, mean_cents=mu,
                                            standard_deviation_cents=sigma))]
    terms = GuaranteeTerms(CoveredLoss.COST_OVERRUN, rate, cap_cents=10**9,
                           deductible_cents=ded)
    g = evaluate_guarantee(model(items, budget_cents=budget), terms, scenarios=80_000,
                           seed=13, risk_levels=(0.95, 0.99))
    kk = budget + ded
    d = (mu - kk) / sigma
    expected = rate * ((mu - kk) * special.ndtr(d) + sigma * stats.norm.pdf(d))
    close(g.expected_payout_cents, expected)
    close(g.payout_probability, special.ndtr(d))
    close(g.break_even_fee_rate, expected / 10**9)
    for lvl in g.risk_levels:
        za = special.ndtri(lvl.level)
        close(lvl.value_at_risk_cents, rate * (mu + sigma * za - kk))
        close(lvl.expected_shortfall_cents,
              rate * (mu + sigma * stats.norm.pdf(za) / (1 - lvl.level) - kk))


def test_guarantee_on_loss_at_failure_with_cap():
    # Spend 1,000,000 c before a gate passed with 0.8: loss at failure is that spend
    # with probability 0.2; payout = min(cap, 0.8·(1,000,000 − 100,000)) = 600,000.
    items = [CostItem("design", CostDistribution(K.FIXED, mode_cents=1_000_000))]
    terms = GuaranteeTerms(CoveredLoss.LOSS_AT_FAILURE, 0.8, cap_cents=600_000,
                           deductible_cents=100_000)
    g = evaluate_guarantee(model(items, phases=(Phase("gate", 1, 0.8),)), terms,
                           scenarios=40_000, seed=17, risk_levels=(0.9,))
    # Conditioned on the failing phase (P 0.2 exactly) and the cost fixed, both are exact.
    for figure, exact in ((g.expected_payout_cents, 0.2 * 600_000),
                          (g.payout_probability, 0.2)):
        assert (figure.value, figure.standard_error) == (pytest.approx(exact), 0.0)
    assert g.risk_levels[0].value_at_risk_cents.value == 600_000
    assert g.risk_levels[0].expected_shortfall_cents.value == pytest.approx(600_000)


def test_phase_tagged_costs_stop_at_failure():
    # Design is always spent; the prototype only when design passes (p = 0.6);
    # deployment only on success (both pass): E = 100 + 0.6·200 + 0.6·0.5·1000.
    phases = (Phase("design", 1, 0.6), Phase("prototype", 1, 0.5))
    items = [CostItem("d", CostDistribution(K.FIXED, mode_cents=100_00), phase="design"),
             CostItem("p", CostDistribution(K.FIXED, mode_cents=200_00), phase="prototype"),
             CostItem("deploy", CostDistribution(K.FIXED, mode_cents=1000_00),
                      only_on_success=True)]
    r = estimate_procurement_risk(model(items, phases=phases), scenarios=40_000, seed=6)
    close(r.total_cost_cents.mean, 100_00 + 0.6 * 200_00 + 0.3 * 1000_00)
    close(r.failure_probability, 0.7)


@pytest.mark.parametrize(("marginal", "frozen"), [
    (mg.Marginal(mg.TRIANGULAR, (2.0, 3.0, 9.0)), stats.triang(1 / 7, loc=2.0, scale=7.0)),
    (mg.pert(1.0, 1.3, 2.5, 4.0), stats.beta(1 + 4 * 0.3 / 1.5, 1 + 4 * 1.2 / 1.5, loc=1.0,
                                             scale=1.5)),
    (mg.Marginal(mg.UNIFORM, (3.0, 11.0)), stats.uniform(3.0, 8.0)),
    (mg.Marginal(mg.NORMAL, (2.0, 3.0)), stats.truncnorm(-2 / 3, np.inf, loc=2.0, scale=3.0)),
    (mg.Marginal(mg.NORMAL, (50.0, 1.0)), stats.norm(50.0, 1.0)),
    (mg.lognormal_from_p10_p90(30.0, 200.0), stats.lognorm(
        mg.lognormal_from_p10_p90(30.0, 200.0).params[1],
        scale=math.exp(mg.lognormal_from_p10_p90(30.0, 200.0).params[0]))),
    (mg.Marginal(mg.BERNOULLI, (0.2,)), stats.bernoulli(0.2)),
])
def test_marginal_moments_match_scipy(marginal, frozen):
    # the moments early stopping takes the risk events' variance from
    mean, var = mg.mean_and_variance(marginal)
    assert mean == pytest.approx(frozen.mean(), rel=1e-12)
    assert var == pytest.approx(frozen.var(), rel=1e-9, abs=1e-12)
    assert mg.mean_and_variance(mg.Marginal(mg.FIXED, (7.0,))) == (7.0, 0.0)


def test_a_failure_no_scenario_saw_carries_about_the_rule_of_three():
    # P(fail) = 1e-6: a run of n scenarios that saw none can only say it is below ~3/n; it
    # reads 0 ± √2/n, not 0 ± 0 (``estimate.proportion``). (A failure the model rules out,
    # every pass probability 1, reads 0 ± 0: test_procurement_near_certain.)
    items = [CostItem("c", CostDistribution(K.FIXED, mode_cents=1))]
    n = 20_000
    r = estimate_procurement_risk(model(items, phases=(Phase("delivery", 1, 1 - 1e-6),)),
                                  scenarios=n, seed=3)
    assert r.failure_probability.value == 0.0
    assert 2.7 / n < 2 * r.failure_probability.standard_error < 3.0 / n
