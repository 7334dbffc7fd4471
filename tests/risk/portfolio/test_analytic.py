"""Tests of the semi-analytic one-factor portfolio model against closed forms,
published values and independent numerical integration."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from services.risk.engine.portfolio.analytic import (
    asrf_loss_quantile,
    basel_irb_capital,
    basel_irb_correlation,
    basel_irb_risk_weight,
    granularity_adjustment,
    one_factor_loss_distribution,
    vasicek_expected_shortfall,
    vasicek_loss_cdf,
    vasicek_loss_quantile,
)
from services.shared.errors import InvalidArgument


def _field_names(error: InvalidArgument) -> set[str]:
    return {v.field for v in error.violations}


def _conditional_pd(pd, loading, z):
    return special.ndtr((special.ndtri(pd) - loading * z) / np.sqrt(1.0 - loading**2))


@pytest.fixture(scope="module")
def moderate_portfolio():
    """400 guarantees, PD 0.1–5 %, lognormal amounts, ρ = 0.15 (the bench shape, smaller)."""
    rng = np.random.default_rng(20240401)
    n = 400
    pd = np.exp(rng.uniform(math.log(0.001), math.log(0.05), n))
    amount = rng.lognormal(math.log(100_000.0), 1.0, n)
    return amount, pd, np.full(n, math.sqrt(0.15))


# ----------------------------------------------------------------- Vasicek / ASRF


def test_vasicek_quantile_inverts_its_cdf():
    # Vasicek (2002), "Loan portfolio value": F(x) = Φ((√(1−ρ)Φ⁻¹(x) − Φ⁻¹(p))/√ρ)
    # and its quantile are inverse to each other.
    for p, rho, q in [(0.01, 0.12, 0.999), (0.05, 0.24, 0.99), (0.002, 0.3, 0.995)]:
        x = vasicek_loss_quantile(p, rho, q)
        assert vasicek_loss_cdf(x, p, rho) == pytest.approx(q, rel=1e-12)


def test_vasicek_limits():
    assert vasicek_loss_quantile(0.03, 0.0, 0.999) == pytest.approx(0.03, rel=1e-14)
    # ρ = 1: the pool defaults all at once with probability p.
    assert vasicek_loss_quantile(0.03, 1.0, 0.99) == 1.0
    assert vasicek_loss_quantile(0.03, 1.0, 0.95) == 0.0


def test_vasicek_expected_shortfall_is_the_tail_average_of_the_quantile():
    # ES_q = (1/(1−q)) ∫_q^1 VaR_u du (Acerbi & Tasche 2002), integrated numerically.
    for p, rho, q in [(0.01, 0.15, 0.999), (0.04, 0.2, 0.99)]:
        direct, _ = integrate.quad(lambda u, p=p, rho=rho: vasicek_loss_quantile(p, rho, u),
                                   q, 1.0, epsabs=1e-13, epsrel=1e-11, limit=200)
        assert vasicek_expected_shortfall(p, rho, q) == pytest.approx(direct / (1 - q),
                                                                      rel=1e-7)


# ----------------------------------------------------------------- Basel II IRB

# BCBS, "International Convergence of Capital Measurement and Capital Standards —
# A Revised Framework, Comprehensive Version" (June 2006), Annex 5, "Illustrative IRB
# risk weights", corporate exposures, LGD 45 %, M = 2.5 years, turnover €50 m
# (no SME adjustment). The table is K·12.5 *without* the 1.06 scaling factor: the
# well-known 92.32 % at PD 1 % is that figure (with 1.06 it would be 97.86 %).
ANNEX5_CORPORATE_RW_PERCENT = [
    (0.0003, 14.44), (0.0005, 19.65), (0.0010, 29.65), (0.0025, 49.47),
    (0.0040, 62.72), (0.0050, 69.61), (0.0075, 82.78), (0.0100, 92.32),
    (0.0130, 100.95), (0.0150, 105.59), (0.0200, 114.86), (0.0250, 122.16),
    (0.0300, 128.44),
]


@pytest.mark.parametrize(("pd", "rw_percent"), ANNEX5_CORPORATE_RW_PERCENT)
def test_basel_irb_matches_annex5_risk_weights(pd, rw_percent):
    rw = basel_irb_risk_weight(pd, 0.45, 2.5, scaling_factor=1.0)
    # the table is rounded to 0.01 pp; its own computation differs from the formula
    # evaluated in double precision by up to ~0.006 pp (e.g. 2 %: 114.854 vs 114.86).
    assert rw * 100 == pytest.approx(rw_percent, abs=0.011)


def test_basel_irb_scaling_and_capital_relation():
    k = basel_irb_capital(0.01, 0.45)
    assert basel_irb_risk_weight(0.01, 0.45) == pytest.approx(k * 12.5 * 1.06, rel=1e-15)
    # §272: the correlation runs from 0.24 (PD → 0) to 0.12 (PD → 1).
    assert basel_irb_correlation(1e-12) == pytest.approx(0.24, abs=1e-9)
    assert basel_irb_correlation(0.5) == pytest.approx(0.12, abs=1e-9)
    # The capital formula is the ASRF quantile minus EL, times LGD and the maturity
    # factor, which is 1/(1 − 1.5 b) at M = 2.5.
    b = (0.11852 - 0.05478 * math.log(0.01)) ** 2
    var = vasicek_loss_quantile(0.01, basel_irb_correlation(0.01), 0.999)
    assert k == pytest.approx(0.45 * (var - 0.01) / (1 - 1.5 * b), rel=1e-14)


def test_basel_irb_rejects_bad_inputs():
    with pytest.raises(InvalidArgument) as e:
        basel_irb_capital(0.0, 1.2, maturity_years=float("nan"))
    assert _field_names(e.value) == {"probability_of_default", "loss_given_default",
                                     "maturity_years"}


# ----------------------------------------------------------------- granularity adjustment


def _ga_by_finite_differences(weights, pd, rho, q):
    """GA = −1/(2φ(α)) d/dx[φ(x) σ²(x)/μ'(x)] at α = Φ⁻¹(q) (Gordy 2003; Emmer & Tasche
    2005 eq. 2.6), with the derivatives taken numerically: an implementation of the
    definition independent of the closed-form derivatives in the engine."""
    loading = np.sqrt(rho)

    def mu(x):
        return weights @ _conditional_pd(pd, loading, -x)

    def var(x):
        p = _conditional_pd(pd, loading, -x)
        return (weights**2) @ (p * (1 - p))

    h = 1e-4

    def inner(x):
        dmu = (mu(x + h) - mu(x - h)) / (2 * h)
        return stats.norm.pdf(x) * var(x) / dmu

    alpha = stats.norm.ppf(q)
    return -(inner(alpha + 1e-3) - inner(alpha - 1e-3)) / 2e-3 / (2 * stats.norm.pdf(alpha))


def test_granularity_adjustment_matches_its_definition(moderate_portfolio):
    amount, pd, _ = moderate_portfolio
    weights = amount / amount.sum()
    ga = granularity_adjustment(weights, pd, 1.0, 0.15, 0.999)
    assert ga > 0
    assert ga == pytest.approx(_ga_by_finite_differences(weights, pd, 0.15, 0.999), rel=1e-5)


def test_granularity_adjustment_vanishes_like_one_over_n():
    # Homogeneous pool: σ²(x) = p(x)(1 − p(x))/n, so n·GA is the same for every n.
    scaled = [n * granularity_adjustment(np.full(n, 1.0 / n), np.full(n, 0.02), 1.0, 0.12,
                                         0.999) for n in (100, 1_000, 10_000)]
    assert scaled[0] > 0
    assert scaled[1] == pytest.approx(scaled[0], rel=1e-9)
    assert scaled[2] == pytest.approx(scaled[0], rel=1e-9)


def test_granularity_adjustment_shrinks_the_asrf_error(moderate_portfolio):
    amount, pd, loading = moderate_portfolio
    exact = one_factor_loss_distribution(amount, pd, loading, quadrature_nodes=32,
                                         lattice_points_per_var=4000)
    var = exact.value_at_risk(0.999)
    asrf = asrf_loss_quantile(amount, pd, 1.0, 0.15, 0.999)
    adjusted = asrf + granularity_adjustment(amount, pd, 1.0, 0.15, 0.999)
    asrf_error = abs(asrf - var.value)
    assert asrf_error > 10 * var.standard_error  # the ASRF gap is real, not numerical noise
    assert abs(adjusted - var.value) < 0.25 * asrf_error


# ----------------------------------------------------------------- exact one-factor law


@pytest.mark.parametrize("n", [10_000, 100_000])
def test_large_homogeneous_pool_approaches_vasicek(n):
    # Vasicek (2002): as n → ∞ the loss fraction's q-quantile tends to the LHP formula;
    # the finite-n gap is the granularity adjustment, O(1/n).
    p, rho, q = 0.01, 0.12, 0.999
    dist = one_factor_loss_distribution(np.ones(n), np.full(n, p), np.full(n, math.sqrt(rho)),
                                        loss_unit=1.0, levels=(q,), quadrature_nodes=32)
    var = dist.value_at_risk(q)
    lhp = vasicek_loss_quantile(p, rho, q) * n
    ga = granularity_adjustment(np.ones(n), np.full(n, p), 1.0, rho, q)
    assert abs(var.value - lhp) < 0.1 * lhp  # the limit is being approached …
    # … and what is left is the first-order GA, up to O(1/n²)·n, the lattice step
    # and the numerical error estimate.
    assert abs(var.value - (lhp + ga)) <= 0.05 * abs(ga) + 1.0 + var.standard_error


def test_homogeneous_pool_tail_against_binomial_mixture_quadrature():
    # Independent check: P(D > d) = ∫ Binomial(n, p(z)).sf(d) φ(z) dz by adaptive quad.
    n, p, rho, q = 2_000, 0.02, 0.15, 0.995
    loading = math.sqrt(rho)
    dist = one_factor_loss_distribution(np.ones(n), np.full(n, p), np.full(n, loading),
                                        loss_unit=1.0, levels=(q,))
    var = dist.value_at_risk(q).value

    def tail(d):
        zq = -stats.norm.ppf(q)
        val, _ = integrate.quad(
            lambda z: stats.binom.sf(d, n, _conditional_pd(p, loading, z)) * stats.norm.pdf(z),
            -9, 9, points=[zq - 0.5, zq, zq + 0.5], limit=400, epsabs=1e-14, epsrel=1e-10)
        return val

    assert tail(var) <= 1 - q < tail(var - 1)
    assert dist.tail_probability(var).value == pytest.approx(tail(var), rel=1e-5)


def test_three_guarantees_against_enumeration():
    # Closed form for a tiny portfolio: P(D = d) = ∫ Π_i p_i(z)^{d_i}(1 − p_i(z))^{1−d_i} φ dz
    # over all 2³ default patterns (scipy quad), amounts on the lattice so rounding is exact.
    amount = np.array([3.0, 5.0, 7.0])
    pd = np.array([0.02, 0.05, 0.1])
    loading = np.array([0.3, 0.5, 0.6])
    dist = one_factor_loss_distribution(amount, pd, loading, loss_unit=1.0, quadrature_nodes=32)
    exact = np.zeros(16)
    for pattern in itertools.product([0, 1], repeat=3):
        d = np.array(pattern)

        def integrand(z, d=d):
            pz = _conditional_pd(pd, loading, z)
            return np.prod(np.where(d == 1, pz, 1 - pz)) * stats.norm.pdf(z)

        prob, _ = integrate.quad(integrand, -10, 10, epsabs=1e-15, epsrel=1e-12, limit=200)
        exact[int(amount @ d)] += prob
    np.testing.assert_allclose(dist.pmf[:16], exact, atol=2e-6)
    cap = 6.0
    tranche = dist.tranche(0.0, cap)
    tranche_el = float(np.minimum(np.arange(16), cap) @ exact)
    assert tranche.expected_loss.value == pytest.approx(tranche_el, abs=1e-5)
    assert abs(tranche.expected_loss.value - tranche_el) <= tranche.expected_loss.standard_error
    # and directly from the pmf, min(L, cap):
    assert tranche.expected_loss.value == pytest.approx(
        float(np.minimum(dist.support, cap) @ dist.pmf), rel=1e-14)


def test_tranche_with_off_lattice_cap_and_mezzanine(moderate_portfolio):
    amount, pd, loading = moderate_portfolio
    dist = one_factor_loss_distribution(amount, pd, loading)
    cap = 0.37 * dist.value_at_risk(0.99).value + 0.123
    first_loss = dist.tranche(0.0, cap)
    expected = float(np.minimum(dist.support, cap) @ dist.pmf)
    assert first_loss.expected_loss.value == pytest.approx(expected, rel=1e-13)
    assert first_loss.value_at_risk(0.999).value == pytest.approx(cap)
    senior = dist.tranche(cap, dist.support[-1] + 1.0)
    # first loss + the rest = the whole loss
    assert (first_loss.expected_loss.value + senior.expected_loss.value
            == pytest.approx(float(dist.support @ dist.pmf), rel=1e-12))


def test_expected_loss_is_sum_of_pd_times_amount(moderate_portfolio):
    amount, pd, loading = moderate_portfolio
    closed_form = float(amount @ pd)
    dist = one_factor_loss_distribution(amount, pd, loading)
    assert dist.expected_loss.value == pytest.approx(closed_form, rel=1e-14)
    assert dist.expected_loss.standard_error == 0.0
    mean = dist.mean()
    assert abs(mean.value - closed_form) <= mean.standard_error
    assert dist.pmf.sum() == pytest.approx(1.0, abs=1e-12)


def test_error_estimates_cover_the_actual_error(moderate_portfolio):
    amount, pd, loading = moderate_portfolio
    fast = one_factor_loss_distribution(amount, pd, loading)
    reference = one_factor_loss_distribution(amount, pd, loading, quadrature_nodes=64,
                                             lattice_points_per_var=8000,
                                             estimate_errors=False)
    for q in (0.99, 0.995, 0.999):
        for figure in ("value_at_risk", "expected_shortfall"):
            got = getattr(fast, figure)(q)
            ref = getattr(reference, figure)(q).value
            assert abs(got.value - ref) <= got.standard_error + 2 * reference.loss_unit, (
                figure, q)
            assert abs(got.value / ref - 1) < 0.005


def test_tail_probability_is_consistent_with_var(moderate_portfolio):
    amount, pd, loading = moderate_portfolio
    dist = one_factor_loss_distribution(amount, pd, loading)
    var = dist.value_at_risk(0.995).value
    assert dist.tail_probability(var).value <= 0.005
    assert dist.tail_probability(var - dist.loss_unit).value > 0.005
    assert dist.expected_shortfall(0.995).value >= var


def test_degenerate_portfolios():
    # PD 0 and 1, loading ±1 and zero amounts are all legal.
    dist = one_factor_loss_distribution([10.0, 20.0, 0.0, 5.0], [0.0, 1.0, 0.5, 0.3],
                                        [1.0, 0.0, 0.2, -1.0], loss_unit=1.0)
    assert dist.expected_loss.value == pytest.approx(21.5)
    assert dist.value_at_risk(0.5).value == pytest.approx(20.0)
    assert dist.value_at_risk(0.999).value == pytest.approx(25.0)


# ----------------------------------------------------------------- validation


def test_invalid_inputs_name_the_guarantee():
    with pytest.raises(InvalidArgument) as e:
        one_factor_loss_distribution([1.0, -2.0, 3.0, float("nan")], [0.1, 0.2, 1.5, 0.1],
                                     [0.3, 0.3, 0.3, 1.2])
    assert _field_names(e.value) == {
        "guarantees[1].loss_given_default_amount",
        "guarantees[3].loss_given_default_amount",
        "guarantees[2].probability_of_default",
        "guarantees[3].factor_loading",
    }


def test_invalid_shapes_and_levels():
    with pytest.raises(InvalidArgument) as e:
        one_factor_loss_distribution([1.0, 2.0], [0.1], [0.3, 0.3], levels=(0.99, 1.0))
    assert _field_names(e.value) == {"probability_of_default", "levels[1]"}
    with pytest.raises(InvalidArgument) as e:
        granularity_adjustment([1.0, 2.0], [0.1, float("inf")], 0.5, [0.1, 1.1], 0.999)
    assert _field_names(e.value) == {"guarantees[1].probability_of_default",
                                     "guarantees[1].correlation"}
    with pytest.raises(InvalidArgument):
        vasicek_loss_quantile(0.01, 0.2, 1.0)
