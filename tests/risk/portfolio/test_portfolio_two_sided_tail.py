"""Two-sided tails: a factor loaded with both signs, or negatively correlated factors.

One importance-sampling shift, or one refined end of the factor in the semi-analytic law,
sees only one side of such a tail. ``auto`` must run plain Monte Carlo there (or, for a
one-factor book whose loadings are all ≤ 0, the mirrored semi-analytic law), and explicit
requests for the one-sided methods are refused. References: the exact law of the number of
defaults, a mixture of binomials integrated over the Gaussian factor(s) by Gauss–Hermite
quadrature (independent of the engine).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from services.risk.engine.portfolio import (
    Dependence,
    Fund,
    Portfolio,
    check_method,
    choose_method,
    incremental_risk,
    risk_contributions,
    simulate_portfolio,
    simulate_shard,
)
from services.shared.errors import InvalidArgument
from tests.risk.portfolio.exact_laws import var_es_of_lattice

UNIT = 1_000_000  # cents per default (exposure, LGD 1)
FUND = Fund(capital_cents=10**12)


def _book(loadings: np.ndarray, pd: float) -> Portfolio:
    n = loadings.shape[0]
    return Portfolio.from_arrays(exposure_cents=np.full(n, UNIT, np.int64),
                                 probability_of_default=np.full(n, pd),
                                 loss_given_default=1.0, factor_loadings=loadings)


def _conditional_binomials(count: int, pd: float, loading: float, z: np.ndarray) -> np.ndarray:
    """(nodes, count+1): P(k defaults among ``count`` names | factor value z)."""
    p = special.ndtr((special.ndtri(pd) - loading * z) / math.sqrt(1 - loading * loading))
    return stats.binom.pmf(np.arange(count + 1)[None, :], count, p[:, None])


def _mixture(pmfs_a: np.ndarray, pmfs_b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Σ_nodes weight · (law of group a ⊛ law of group b | node)."""
    out = np.zeros(pmfs_a.shape[1] + pmfs_b.shape[1] - 1)
    for w, a, b in zip(weight, pmfs_a, pmfs_b, strict=True):
        out += w * np.convolve(a, b)
    return out / out.sum()


def _agrees(result, pmf, levels) -> None:
    for level in levels:
        var, es = var_es_of_lattice(pmf, level, UNIT)
        got = result.at(level)
        v, e = got.value_at_risk_cents, got.expected_shortfall_cents
        assert abs(v.value - var) <= 4 * v.standard_error + UNIT, (level, v, var)
        assert abs(e.value - es) <= 4 * e.standard_error, (level, e, es)


def test_auto_runs_plain_monte_carlo_for_loadings_of_both_signs():
    beta = math.sqrt(0.3)
    loadings = np.where(np.arange(40) % 2 == 0, beta, -beta)
    book = _book(loadings, 0.05)
    levels = (0.99, 0.999)
    assert choose_method(book, FUND, Dependence.one_factor(), levels) == "monte_carlo"
    result = simulate_portfolio(book, FUND, Dependence.one_factor(), seed=11,
                                scenarios=256 * 1024, levels=levels)
    assert result.method == "monte_carlo"
    z, w = special.roots_hermitenorm(160)
    exact = _mixture(_conditional_binomials(20, 0.05, beta, z),
                     _conditional_binomials(20, 0.05, -beta, z), w)
    _agrees(result, exact, levels)


def test_auto_runs_plain_monte_carlo_for_negatively_correlated_factors():
    sector = np.arange(40) % 2
    loadings = np.zeros((40, 2))
    loadings[np.arange(40), sector] = 0.6
    book = _book(loadings, 0.03)
    dependence = Dependence(np.array([[1.0, -0.5], [-0.5, 1.0]]))
    levels = (0.99, 0.999)
    assert choose_method(book, FUND, dependence, levels) == "monte_carlo"
    result = simulate_portfolio(book, FUND, dependence, seed=5, scenarios=256 * 1024,
                                levels=levels)
    assert result.method == "monte_carlo"
    x, w = special.roots_hermitenorm(80)
    z1 = np.repeat(x, x.size)
    z2 = -0.5 * z1 + math.sqrt(0.75) * np.tile(x, x.size)
    exact = _mixture(_conditional_binomials(20, 0.03, 0.6, z1),
                     _conditional_binomials(20, 0.03, 0.6, z2), np.outer(w, w).ravel())
    _agrees(result, exact, levels)
    # positively correlated, all loadings >= 0: a one-sided tail, importance sampling
    assert choose_method(book, FUND, Dependence(np.array([[1.0, 0.5], [0.5, 1.0]])),
                         levels) == "importance_sampling"


def test_all_negative_one_factor_loadings_are_mirrored_exactly():
    beta = math.sqrt(0.2)
    levels = (0.99, 0.999)
    plus, minus = _book(np.full(400, beta), 0.02), _book(np.full(400, -beta), 0.02)
    assert choose_method(minus, FUND, Dependence.one_factor(), levels) == "semi_analytic"
    a = simulate_portfolio(plus, FUND, Dependence.one_factor(), seed=0, levels=levels)
    b = simulate_portfolio(minus, FUND, Dependence.one_factor(), seed=0, levels=levels)
    assert b.method == "semi_analytic"
    assert a.tail_risk == b.tail_risk and a.expected_loss_cents == b.expected_loss_cents
    z, w = special.roots_hermitenorm(160)
    # one group of 400 as two of 200: the same law
    exact = _mixture(_conditional_binomials(200, 0.02, -beta, z),
                     _conditional_binomials(200, 0.02, -beta, z), w)
    for level in levels:
        var, es = var_es_of_lattice(exact, level, UNIT)
        assert abs(b.at(level).value_at_risk_cents.value - var) <= 0.005 * var + UNIT
        assert abs(b.at(level).expected_shortfall_cents.value - es) <= 0.005 * es


def test_one_sided_methods_are_refused_on_two_sided_tails():
    beta = math.sqrt(0.3)
    mixed = _book(np.where(np.arange(40) % 2 == 0, beta, -beta), 0.05)
    one = Dependence.one_factor()
    for method in ("importance_sampling", "semi_analytic"):
        with pytest.raises(InvalidArgument) as err:
            simulate_portfolio(mixed, FUND, one, seed=1, scenarios=1024, method=method)
        assert err.value.violations[0].field == "method"
        assert "two-sided" in err.value.violations[0].description
        with pytest.raises(InvalidArgument) as err:
            check_method(mixed, one, method, "simulation.method")
        assert err.value.violations[0].field == "simulation.method"
    with pytest.raises(InvalidArgument):
        simulate_shard(mixed, FUND, one, seed=1, block_range=(0, 1),
                       method="importance_sampling")
    check_method(mixed, one, "monte_carlo", "simulation.method")  # accepted
    check_method(mixed, one, "auto", "simulation.method")

    two = np.zeros((40, 2))
    two[np.arange(40), np.arange(40) % 2] = 0.6
    negative = Dependence(np.array([[1.0, -0.5], [-0.5, 1.0]]))
    with pytest.raises(InvalidArgument):
        simulate_portfolio(_book(two, 0.03), FUND, negative, seed=1, scenarios=1024,
                           method="importance_sampling")
    # a factor loaded only negatively against a positive one: same sign once mirrored
    mirrored = two * np.where(np.arange(2) == 1, -1.0, 1.0)
    check_method(_book(mirrored, 0.03), negative, "importance_sampling")

    # contributions default to plain MC there; incremental refuses a shift that the
    # candidate's opposite sign would defeat
    contrib = risk_contributions(mixed, FUND, one, seed=1, scenarios=4096, level=0.99)
    assert contrib.method == "monte_carlo"
    plus = _book(np.full(20, beta), 0.05)
    with pytest.raises(InvalidArgument):
        incremental_risk(plus, FUND, one, _book(np.full(1, -beta), 0.05), seed=1,
                         scenarios=1024, levels=(0.99,), method="importance_sampling")
