"""CreditRisk+ through ``simulate_portfolio`` against its exact law, built here from
scipy alone (not the engine's FFT): one sector, default counts Poisson (idiosyncratic
share) plus negative binomial (the gamma sector), split between payout sizes
binomially. Payouts that share a unit must come out exact; payouts that do not must
carry a standard error that covers the banding error."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import signal, stats

from services.risk.engine.portfolio import (
    Dependence,
    Fund,
    Portfolio,
    creditriskplus_parameters,
    simulate_portfolio,
)

LEVELS = (0.9, 0.99, 0.999)
ACCURACY = 0.005  # the default target_relative_error


def _exact_law(intensity_by_size, payouts, weight, variance):
    """Atoms and probabilities of Σ_s payout_s · N_s for one or two payout sizes s: N_s
    = idiosyncratic Poisson(λ_s (1 − w)) + its binomial share λ_s/Σλ of the sector count
    M ~ NB(shape 1/σ², mean w Σλ)."""
    lam = np.asarray(intensity_by_size, dtype=float)
    kmax = 20_000 if lam.size == 1 else 1_000
    k = np.arange(kmax + 1)
    shape = 1.0 / variance
    mean = weight * lam.sum()
    sector = stats.nbinom.pmf(k, shape, shape / (shape + mean))
    idio = [stats.poisson.pmf(k, x * (1.0 - weight)) for x in lam]
    if lam.size == 1:
        counts = np.convolve(sector, idio[0])[: kmax + 1]
        return payouts[0] * k, counts
    m1, m2 = np.meshgrid(k, k, indexing="ij")
    m = m1 + m2
    joint = np.where(m <= kmax, sector[np.minimum(m, kmax)]
                     * stats.binom.pmf(m1, m, lam[0] / lam.sum()), 0.0)
    counts = signal.fftconvolve(joint, np.outer(idio[0], idio[1]))[: kmax + 1, : kmax + 1]
    loss = (payouts[0] * m1 + payouts[1] * m2).ravel()
    order = np.argsort(loss, kind="stable")
    return loss[order], np.clip(counts.ravel()[order], 0.0, None)


def _exact_figures(atoms, pmf, capital):
    cdf = np.cumsum(pmf)
    out = {"P(L > capital)": float(pmf[atoms > capital].sum())}
    for q in LEVELS:
        i = int(np.searchsorted(cdf, q - 1e-13))
        var = float(atoms[i])
        out[f"VaR {q}"] = var
        out[f"ES {q}"] = (float(pmf[i + 1:] @ atoms[i + 1:]) + var * (cdf[i] - q)) / (1 - q)
    return out


def _book(sizes, rho):
    """sizes: (count, exposure cents, LGD, PD) per payout size; one factor."""
    n = sum(c for c, *_ in sizes)
    return Portfolio.from_arrays(
        exposure_cents=np.concatenate([np.full(c, e) for c, e, _, _ in sizes]).astype(np.int64),
        probability_of_default=np.concatenate([np.full(c, p) for c, _, _, p in sizes]),
        loss_given_default=np.concatenate([np.full(c, g) for c, _, g, _ in sizes]),
        factor_loadings=np.full((n, 1), math.sqrt(rho)))


def _check(sizes, rho, capital):
    portfolio, fund = _book(sizes, rho), Fund(capital_cents=capital)
    dependence = Dependence.one_factor()
    # the engine's own mapping (tested elsewhere); the law of it is what is checked here
    params = creditriskplus_parameters(portfolio, fund, dependence)
    assert params.sector_variances.size == 1 and params.background_variance == 0.0
    ends = np.cumsum([0] + [c for c, *_ in sizes])
    payouts = [float(params.payout_cents[a]) for a in ends[:-1]]
    lam = [float(params.intensity[a:b, -1].sum()) for a, b in itertools.pairwise(ends)]
    atoms, pmf = _exact_law(lam, payouts, float(params.sector_weights[0, 0]),
                            float(params.sector_variances[0]))
    assert 1.0 - pmf.sum() < 1e-9  # the counts' range holds the law (to far below the errors)
    exact = _exact_figures(atoms, pmf, capital)
    r = simulate_portfolio(portfolio, fund, dependence, seed=0, method="creditriskplus",
                           levels=LEVELS)
    got = {"P(L > capital)": r.exhaustion_probability_by_year[0]}
    for t in r.tail_risk:
        got[f"VaR {t.level}"] = t.value_at_risk_cents
        got[f"ES {t.level}"] = t.expected_shortfall_cents
    errors = {}
    for name, want in exact.items():
        est = got[name]
        error = abs(est.value - want)
        scale = max(want, 1.0 - max(LEVELS)) if name.startswith("P") else max(want, 1.0)
        errors[name] = error / scale
        tiny = 1e-9 * scale + 1e-12
        assert error <= max(ACCURACY * scale, 3.0 * est.standard_error) + tiny, (
            name, est, want)
        # the error estimate may be pessimistic, never blind to the error
        assert error <= 3.0 * est.standard_error + tiny, (name, est, want)
    return r, exact, got, errors


def test_equal_payouts_are_exact_at_the_audit_points():
    # 500 × payout 1e6 at PD 0.5 %, ρ 0.3: the unit was scale/points (payout 153.83 →
    # 154 units), VaR 99 % 22,726,650 ± 13,720 against 23,000,000
    r, exact, got, errors = _check([(500, 2_000_000, 0.5, 0.005)], 0.3, 10_000_000)
    assert got["VaR 0.99"].value == exact["VaR 0.99"] == 23_000_000
    assert got["VaR 0.999"].value == exact["VaR 0.999"] == 96_000_000
    assert max(errors.values()) < 1e-9
    assert "payout quantum 1e+06 cents" in r.notes[2]


def test_capital_on_an_atom_counts_only_losses_above_it():
    # 100 × payout 1e6 at PD 2 %, ρ 0.2, capital exactly ten payouts: ten defaults must
    # not exhaust it (they landed at 10,010,909: P 0.015057 ± 1.2e-10 against 0.013301)
    _, exact, got, errors = _check([(100, 2_000_000, 0.5, 0.02)], 0.2, 10_000_000)
    assert got["P(L > capital)"].value == pytest.approx(exact["P(L > capital)"], rel=1e-9)
    assert got["VaR 0.999"].value == exact["VaR 0.999"] == 40_000_000
    assert max(errors.values()) < 1e-9


@pytest.mark.parametrize("sizes, rho, capital", [
    # two sizes with no common unit (1,530,000.45 cents: gcd with 1e6 is 0.05 cent)
    ([(50, 2_000_000, 0.5, 0.02), (50, 3_400_001, 0.45, 0.02)], 0.2, 30_000_000),
    # a few large payouts over a staircase of small ones (banded 10.34 → 10 units, the
    # count quantile moved by a step while both EL-kept variants agreed with it)
    ([(5, 30_000_001, 0.6, 0.02), (300, 700_003, 0.6, 0.02)], 0.3, 40_000_000),
])
def test_payouts_without_a_common_unit_carry_an_honest_error(sizes, rho, capital):
    r, _, _, errors = _check(sizes, rho, capital)
    assert "payout quantum" not in r.notes[2]
    assert max(errors.values()) > 1e-7  # banded: not exact, so the check above has teeth


@pytest.mark.filterwarnings("error")
def test_one_obligor_is_exact_and_warns_nothing():
    # one obligor of 521 units overflowed r ** bands in the radius search
    _, _, _, errors = _check([(1, 1_000_000, 0.5, 0.05)], 0.3, 10_000_000)
    assert max(errors.values()) < 1e-9


def test_two_sectors_with_a_background_against_giese_compound_gamma():
    # Giese's compound gamma: given the background T ~ Gamma(1/σ_T², σ_T²), sector k's
    # systematic defaults are negative binomial (shape T/σ_k², mean μ_k·T); the rest
    # Poisson. Mixed over T by quadrature on its quantiles, with log-spaced cells for the
    # upper tail (a midpoint rule there missed mass: ES 99.9 % 2e-4 low, an audit's false
    # alarm). The engine's law agrees to the reference's own accuracy (mean 1e-7).
    n1, p1, w1, n2, p2, w2 = 80, 0.02, 0.3, 50, 0.04, 0.2
    s1, s2, s_t = 0.8, 1.5, 0.4
    loadings = np.zeros((n1 + n2, 2))
    loadings[:n1, 0], loadings[n1:, 1] = math.sqrt(w1), math.sqrt(w2)
    book = Portfolio.from_arrays(
        exposure_cents=np.r_[np.full(n1, 2_000_000), np.full(n2, 4_000_000)].astype(np.int64),
        probability_of_default=np.r_[np.full(n1, p1), np.full(n2, p2)],
        loss_given_default=0.5, factor_loadings=loadings)
    dependence = Dependence(np.eye(2), sector_variances=np.array([s1, s2]),
                            background_variance=s_t)
    top = 400  # defaults (payout units of 1e6); the mass beyond is < 1e-12

    def every_other(pmf):  # the second sector pays two units per default
        spread = np.zeros(2 * pmf.size - 1)
        spread[::2] = pmf
        return spread[:top + 1]

    def negative_binomial(shape, mean, size):
        return stats.nbinom.pmf(np.arange(size), shape, shape / (shape + mean))

    k = np.arange(top + 1)
    rest = np.convolve(stats.poisson.pmf(k, n1 * p1 * (1 - w1)),
                       every_other(stats.poisson.pmf(k, n2 * p2 * (1 - w2))))[:top + 1]
    edges = np.r_[np.linspace(0.0, 0.99, 1501), 1.0 - np.logspace(-2, -12, 1501)[1:]]
    cells = 0.5 * (edges[:-1] + edges[1:])
    background = stats.gamma.ppf(cells, 1.0 / s_t, scale=s_t)
    systematic = np.zeros(top + 1)
    for t, weight in zip(background, np.diff(edges), strict=True):
        first = negative_binomial(t / s1, n1 * p1 * w1 * t, top + 1)
        second = every_other(negative_binomial(t / s2, n2 * p2 * w2 * t, top + 1))
        systematic += weight * np.convolve(first, second)[:top + 1]
    pmf = np.convolve(rest, systematic)[:top + 1]
    assert abs(pmf @ k - (n1 * p1 + 2 * n2 * p2)) < 1e-5  # the reference's own accuracy
    expected = _exact_figures(k * 1e6, pmf / pmf.sum(), 20_000_000)
    result = simulate_portfolio(book, Fund(capital_cents=20_000_000), dependence, seed=1,
                                method="creditriskplus", levels=LEVELS)
    got = {"P(L > capital)": result.exhaustion_probability_by_year[0].value}
    for t in result.tail_risk:
        got[f"VaR {t.level}"] = t.value_at_risk_cents.value
        got[f"ES {t.level}"] = t.expected_shortfall_cents.value
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=2e-5), name
