"""The semi-analytic law on small, lumpy books against the exact binomial mixture.

With n equal guarantees the number of defaults K is, given the factor Z, binomial with
p(Z) = Φ((Φ⁻¹(PD) − √ρ Z)/√(1 − ρ)); its law is that binomial integrated over Z ~ N(0, 1)
(here with scipy's adaptive quadrature, independent of the engine). Such a law is a few
large steps in the factor, which a coarse outer rule misses while its error estimate,
comparing amounts only, stays near zero.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from services.risk.engine.portfolio import Dependence, Fund, Portfolio, simulate_portfolio
from tests.risk.portfolio.exact_laws import var_es_of_lattice

UNIT = 1_000_000


def _exact_pmf(n: int, pd: float, rho: float) -> np.ndarray:
    k = np.arange(n + 1)
    c, b, s = special.ndtri(pd), math.sqrt(rho), math.sqrt(1 - rho)

    def term(z, j):
        p = special.ndtr((c - b * z) / s)
        return stats.binom.pmf(j, n, p) * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

    pmf = np.array([integrate.quad(term, -12, 12, args=(j,), points=[-4, 0, 4],
                                   limit=400, epsabs=1e-14, epsrel=1e-12)[0] for j in k])
    return pmf / pmf.sum()


@pytest.mark.parametrize(("n", "pd", "rho"), [(20, 0.05, 0.3), (10, 0.1, 0.1),
                                              (30, 0.02, 0.2), (50, 0.01, 0.3)])
def test_semi_analytic_matches_the_exact_binomial_mixture(n, pd, rho):
    capital = int(2.5 * UNIT)  # between two atoms: exhaustion = P(K ≥ 3)
    book = Portfolio.from_arrays(exposure_cents=np.full(n, UNIT, np.int64),
                                 probability_of_default=np.full(n, pd), loss_given_default=1.0,
                                 factor_loadings=np.full(n, math.sqrt(rho)))
    result = simulate_portfolio(book, Fund(capital_cents=capital), Dependence.one_factor(),
                                seed=0, levels=(0.99, 0.995, 0.999))
    assert result.method == "semi_analytic"
    pmf = _exact_pmf(n, pd, rho)
    for level in (0.99, 0.995, 0.999):
        var, es = var_es_of_lattice(pmf, level, UNIT)
        got = result.at(level)
        v, e = got.value_at_risk_cents, got.expected_shortfall_cents
        # the accuracy asked (0.5 %) or, where the estimate admits more, its estimate
        assert abs(v.value - var) <= max(0.005 * var, 3 * v.standard_error), (level, v, var)
        assert abs(e.value - es) <= max(0.005 * es, 3 * e.standard_error), (level, e, es)
    el = result.expected_loss_cents
    assert abs(el.value - n * pd * UNIT) <= max(0.005 * n * pd * UNIT, 3 * el.standard_error)
    exhausted = float(pmf[3:].sum())
    p = result.exhaustion_probability_by_year[0]
    assert abs(p.value - exhausted) <= max(0.005 * exhausted, 3 * p.standard_error), (p, exhausted)


@pytest.mark.parametrize(("n", "pd", "rho"), [(10, 0.0005, 0.2), (50, 0.0001, 0.3),
                                              (200, 0.00002, 0.2)])
def test_a_book_without_loss_at_the_lower_levels_is_exact_there_and_needs_no_refinement(
        n, pd, rho):
    # P(no default) > 99.5 %: VaR 99 % and 99.5 % are 0, the no-loss atom, which neither
    # the lattice nor floating-point rounding can move, so they carry no lattice error and
    # are no scale for the rounding floor (relative to 1 cent it asked for 4x nodes).
    book = Portfolio.from_arrays(exposure_cents=np.full(n, UNIT, np.int64),
                                 probability_of_default=np.full(n, pd), loss_given_default=1.0,
                                 factor_loadings=np.full(n, math.sqrt(rho)))
    result = simulate_portfolio(book, Fund(capital_cents=10 * UNIT), Dependence.one_factor(),
                                seed=0, method="semi_analytic", levels=(0.99, 0.995, 0.999))
    assert any(note.startswith("pass 1:") for note in result.notes), result.notes
    pmf = _exact_pmf(n, pd, rho)
    for level in (0.99, 0.995, 0.999):
        var, es = var_es_of_lattice(pmf, level, UNIT)
        got = result.at(level)
        v, e = got.value_at_risk_cents, got.expected_shortfall_cents
        if var == 0.0:
            assert v.value == 0.0 and v.standard_error < 100, v  # under one euro
        assert abs(v.value - var) <= max(0.005 * var, 3 * v.standard_error), (level, v, var)
        assert abs(e.value - es) <= max(0.005 * es, 3 * e.standard_error), (level, e, es)
