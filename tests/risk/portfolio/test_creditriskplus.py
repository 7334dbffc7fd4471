"""CreditRisk+ against closed forms, published figures and an independent Monte Carlo."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from services.risk.engine.portfolio import Dependence, Fund, Portfolio, simulate_portfolio
from services.risk.engine.portfolio.creditriskplus import (
    band_exposures,
    creditriskplus_loss_distribution,
    creditriskplus_moments,
)
from services.shared.errors import InvalidArgument


def test_single_sector_single_band_is_negative_binomial():
    # One sector, one band ν: the default count is negative binomial with r = 1/σ² and
    # success probability 1/(1 + σ²λ), λ = Σ p_i (CSFB 1997, §A8: gamma-mixed Poisson).
    n, p, band, var = 40, 0.02, 3, 0.8
    dist = creditriskplus_loss_distribution(np.full(n, p), np.full(n, band), np.ones((n, 1)),
                                            [var])
    lam = n * p
    count = stats.nbinom(1.0 / var, 1.0 / (1.0 + var * lam))
    k = np.arange(dist.pmf.size // band)
    np.testing.assert_allclose(dist.pmf[band * k], count.pmf(k), atol=1e-14)
    off_band = np.ones(dist.pmf.size, bool)
    off_band[band * k] = False
    assert np.abs(dist.pmf[off_band]).max() < 1e-14
    q = 0.999
    assert dist.value_at_risk(q).value == band * count.ppf(q)


def test_moments_against_closed_forms_with_correlated_sectors():
    rng = np.random.default_rng(7)
    n = 300
    pd = rng.uniform(0.001, 0.05, n)
    bands = rng.integers(1, 30, n)
    weights = rng.dirichlet(np.ones(4), n)[:, :3]
    variances = np.array([0.4, 1.2, 2.0])
    dist = creditriskplus_loss_distribution(pd, bands, weights, variances,
                                            background_variance=0.3, loss_unit=2.5)
    mean, variance = creditriskplus_moments(pd, bands, weights, variances,
                                            background_variance=0.3, loss_unit=2.5)
    assert mean == pytest.approx(2.5 * float(pd @ bands), rel=1e-14)  # EL = u Σ p ν
    assert dist.expected_loss.value == pytest.approx(mean, rel=1e-14)
    assert float(dist.support @ dist.pmf) == pytest.approx(mean, rel=1e-10)
    assert float(((dist.support - mean) ** 2) @ dist.pmf) == pytest.approx(variance, rel=1e-9)


def test_published_two_sector_portfolio():
    # Bürgisser, Kurth, Wagner & Wolf, "Integrating correlations", Risk, July 1999,
    # tables A/B (as used by QuantLib test-suite/creditriskplus.cpp): 1000 obligors of
    # exposure 1 at PD 4 % in sector 1, 1000 of exposure 2 at PD 2 % in sector 2,
    # σ = 0.75 in each, sector correlation 0.5, unit 0.1: EL 80, sector UL 30.7 and
    # 31.3, total UL 53.1. In the compound-gamma model correlation 0.5 at variance
    # 0.5625 is σ_T² = σ_k² = 0.28125.
    pd = np.r_[np.full(1000, 0.04), np.full(1000, 0.02)]
    bands = np.r_[np.full(1000, 10), np.full(1000, 20)]
    weights = np.zeros((2000, 2))
    weights[:1000, 0] = 1.0
    weights[1000:, 1] = 1.0
    mean, variance = creditriskplus_moments(pd, bands, weights, [0.28125, 0.28125],
                                            background_variance=0.28125, loss_unit=0.1)
    assert mean == pytest.approx(80.0, abs=1e-9)
    assert np.sqrt(variance) == pytest.approx(53.1, abs=0.01)
    for sector, ul in ((0, 30.7), (1, 31.3)):
        rows = slice(1000 * sector, 1000 * (sector + 1))
        _, v = creditriskplus_moments(pd[rows], bands[rows], np.ones((1000, 1)), [0.5625],
                                      loss_unit=0.1)
        assert np.sqrt(v) == pytest.approx(ul, abs=0.05)
    dist = creditriskplus_loss_distribution(pd, bands, weights, [0.28125, 0.28125],
                                            background_variance=0.28125, loss_unit=0.1)
    assert float(((dist.support - 80.0) ** 2) @ dist.pmf) == pytest.approx(variance, rel=1e-9)


def _monte_carlo(pd, bands, weights, variances, background, scenarios, rng):
    """Direct simulation of the compound-gamma CreditRisk+ model (Giese 2003)."""
    t = rng.gamma(1.0 / background, background, scenarios) if background > 0 else np.ones(
        scenarios)
    sector = np.column_stack([rng.gamma(t / v, v) for v in variances])  # (S, K)
    idio = 1.0 - weights.sum(axis=1)
    intensity = pd[None, :] * (idio[None, :] + sector @ weights.T)  # (S, n)
    return rng.poisson(intensity) @ bands


def test_against_independent_monte_carlo():
    rng = np.random.default_rng(11)
    n = 60
    pd = rng.uniform(0.005, 0.06, n)
    bands = rng.integers(1, 12, n)
    weights = rng.dirichlet(np.ones(4), n)[:, :3] * 0.9
    variances = np.array([0.6, 1.5, 0.9])
    background = 0.25
    dist = creditriskplus_loss_distribution(pd, bands, weights, variances,
                                            background_variance=background)
    scenarios = 200_000
    losses = _monte_carlo(pd, bands, weights, variances, background, scenarios, rng)
    for q in (0.5, 0.9, 0.99, 0.999):
        x = dist.value_at_risk(q).value
        p_model = dist.tail_probability(x).value
        p_mc = float(np.mean(losses > x))
        se = np.sqrt(p_model * (1 - p_model) / scenarios)
        assert abs(p_mc - p_model) < 4.5 * se, (q, p_mc, p_model)
    mc_mean = losses.mean()
    assert abs(mc_mean - dist.expected_loss.value) < 4.5 * losses.std() / np.sqrt(scenarios)


def test_idiosyncratic_only_is_compound_poisson():
    # No sector weight: L = Σ ν_i N_i with independent Poisson(p_i) counts, computed
    # here by direct convolution of Poisson laws.
    pd = np.array([0.1, 0.3, 0.05])
    bands = np.array([1, 2, 5])
    dist = creditriskplus_loss_distribution(pd, bands, np.zeros((3, 1)), [1.0])
    size = 60
    law = np.zeros(size)
    law[0] = 1.0
    for p, b in zip(pd, bands, strict=True):
        single = np.zeros(size)
        single[:: b] = stats.poisson.pmf(np.arange(len(single[:: b])), p)
        law = np.convolve(law, single)[:size]
    m = min(size, dist.pmf.size)
    np.testing.assert_allclose(dist.pmf[:m], law[:m], atol=1e-15)
    assert law[m:].sum() <= dist.tail_probability(dist.support[-1] - 0.5).standard_error


def test_band_exposures_keep_expected_loss():
    amounts = np.array([0.2, 1.4, 2.6, 10.0])
    pd = np.array([0.1, 0.02, 0.03, 0.01])
    bands, intensity = band_exposures(amounts, pd, 1.0)
    assert bands.tolist() == [1, 1, 3, 10]
    np.testing.assert_allclose(intensity * bands, pd * amounts, rtol=1e-15)


def test_band_exposures_down_and_up_bracket_the_amounts():
    amounts = np.array([0.2, 1.4, 2.6, 10.0, 3.0 * (1.0 + 1e-12)])
    pd = np.array([0.1, 0.02, 0.03, 0.01, 0.05])
    down, _ = band_exposures(amounts, pd, 1.0, rounding="down")
    up, _ = band_exposures(amounts, pd, 1.0, rounding="up")
    # whole units (to 1e-9) stay put; under one unit: 1 down, 2 up
    assert down.tolist() == [1, 1, 2, 10, 3] and up.tolist() == [2, 2, 3, 10, 3]
    _, intensity = band_exposures(amounts, pd, 1.0, rounding="up",
                                      keep_expected_loss=[True, False, False, False, False])
    np.testing.assert_allclose(intensity, [0.1 * 0.2 / 2, 0.02, 0.03, 0.01, 0.05])
    with pytest.raises(InvalidArgument):
        band_exposures(amounts, pd, 1.0, rounding="sideways")


def test_invalid_inputs_name_the_obligor():
    with pytest.raises(InvalidArgument) as e:
        creditriskplus_loss_distribution([0.1, -0.5, float("nan")], [1, 2.5, -1],
                                         [[0.5], [0.7], [1.2]], [-1.0])
    fields = {v.field for v in e.value.violations}
    assert {"obligors[1].probability_of_default", "obligors[2].probability_of_default",
            "obligors[2].exposure_band", "sector_variances[0]"} <= fields
    with pytest.raises(InvalidArgument) as e:
        creditriskplus_loss_distribution([0.1, 0.2], [1, 2], [[0.7, 0.6], [0.1, 0.1]],
                                         [1.0, 1.0])
    assert {v.field for v in e.value.violations} == {"obligors[0].sector_weights"}


# ------------------------------------------------------------ through simulate_portfolio

def _book(pd, n: int = 8, loading: float = 0.4) -> Portfolio:
    # amounts of no common unit: banded to the nearest unit, some down
    return Portfolio.from_arrays(exposure_cents=1000 + 37 * np.arange(n),
                                 probability_of_default=pd, loss_given_default=0.5,
                                 factor_loadings=np.full(n, loading))


def _creditriskplus(book: Portfolio, dependence: Dependence | None = None):
    return simulate_portfolio(book, Fund(capital_cents=10**6),
                              dependence or Dependence.one_factor(), seed=1,
                              method="creditriskplus")


def test_a_pd_near_one_banded_down_is_an_intensity_above_one_not_a_bad_pd():
    # Issue 7: banding keeps each guarantee's EL, so an amount banded down has an
    # intensity above its PD; at PD 0.999 that passed 1, and the law refused it as
    # "guarantees[3].probability_of_default: must be in [0, 1]", a PD that was in it.
    book = _book(0.999)
    result = _creditriskplus(book)
    assert result.expected_loss_cents.value == pytest.approx(
        float(np.sum(0.999 * 0.5 * book.exposure_cents)), rel=1e-9)
    _, intensity = band_exposures([1.4], [0.9], 1.0)
    law = creditriskplus_loss_distribution(intensity, [1], [[0.5]], [1.0])
    assert intensity[0] > 1 and law.expected_loss.value == pytest.approx(0.9 * 1.4)


def test_a_certain_default_is_refused_naming_its_row_and_what_to_do():
    pd = np.full(8, 0.02)
    pd[5] = 1.0
    with pytest.raises(InvalidArgument) as err:
        _creditriskplus(_book(pd))
    fields = [v.field for v in err.value.violations]
    assert fields == ["method", "guarantees[5].probability_of_default"]
    assert "monte_carlo" in err.value.violations[1].description


def test_a_calibrated_gamma_variance_past_the_bound_is_refused_before_the_run():
    # PDs of 1e-8 with loadings of 0.9: matching the copula's joint defaults needs a gamma
    # variance of ~9e6; the run refused it as "sector_variances[0]", no field of the model.
    with pytest.raises(InvalidArgument) as err:
        _creditriskplus(_book(1e-8, loading=0.9))
    assert [v.field for v in err.value.violations] == ["method",
                                                      "dependence.sector_variances"]
    given = Dependence(np.ones((1, 1)), sector_variances=np.array([2.0]))
    assert _creditriskplus(_book(1e-8, loading=0.9), given).method == "creditriskplus"


def test_a_gamma_variance_at_the_bound_coarsens_the_lattice_rather_than_failing():
    # A variance of 1e6 (the model's bound) gives a tail far beyond EL + 8 sd: its first
    # lattice needed 7e6 points, over the 4.2e6 limit, and the run ended RESOURCE_EXHAUSTED
    # "choose a larger loss_unit" (no field of the request). The unit is now coarsened.
    book = Portfolio.from_arrays(exposure_cents=5_000_000 + 1013 * np.arange(6),
                                 probability_of_default=0.02, loss_given_default=0.45,
                                 factor_loadings=np.full(6, 0.4))
    result = _creditriskplus(book, Dependence(np.ones((1, 1)),
                                              sector_variances=np.array([1e6])))
    assert result.expected_loss_cents.value == pytest.approx(
        float(np.sum(0.02 * 0.45 * book.exposure_cents)), rel=1e-9)
    top = result.tail_risk[-1]
    assert top.expected_shortfall_cents.value >= top.value_at_risk_cents.value > 0
    assert top.value_at_risk_cents.standard_error > 0  # what the coarse unit cost
