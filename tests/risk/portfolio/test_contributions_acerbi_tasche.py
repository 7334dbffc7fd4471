"""ES contributions are the Acerbi–Tasche allocation of the reported ES: they add up to it
also for lumpy losses with an atom at VaR (where E[L | L ≥ VaR] differs from ES)."""

import math

import numpy as np
import pytest
from scipy import special, stats

from services.risk.engine.portfolio import (
    BLOCK_SCENARIOS,
    Dependence,
    Fund,
    Portfolio,
    contribution_plan,
    risk_contributions,
)
from services.shared.errors import InvalidArgument

EXPOSURE = 1_000_000


def _homogeneous(n, pd, rho):
    return Portfolio.from_arrays(
        exposure_cents=np.full(n, EXPOSURE, np.int64), probability_of_default=np.full(n, pd),
        loss_given_default=1.0, factor_loadings=np.full(n, math.sqrt(rho)),
        sector=np.arange(n) % 2, sector_names=("a", "b"), branch=np.arange(n) % 12)


def _exact_es_and_ctl(n, pd, rho, level):
    """Exact ES and E[L | L ≥ VaR] (in units of one exposure) of the one-factor Vasicek
    homogeneous portfolio: a binomial mixture over the factor (Gauss–Hermite)."""
    z, w = np.polynomial.hermite_e.hermegauss(160)
    w = w / w.sum()
    p = special.ndtr((special.ndtri(pd) - math.sqrt(rho) * z) / math.sqrt(1 - rho))
    k = np.arange(n + 1)
    pmf = w @ stats.binom.pmf(k[None, :], n, p[:, None])
    pmf /= pmf.sum()
    cdf = np.cumsum(pmf)
    i = int(np.argmax(cdf >= level - 1e-15))
    es = (k[i + 1:] @ pmf[i + 1:] + k[i] * (cdf[i] - level)) / (1 - level)
    ctl = (k[i:] @ pmf[i:]) / pmf[i:].sum()
    return es, ctl


@pytest.mark.parametrize("method", ["monte_carlo", "importance_sampling"])
def test_es_contributions_add_up_to_the_reported_es_for_a_lumpy_portfolio(method):
    # 100 names, PD 1 %: the loss is a multiple of one exposure, with a heavy atom at VaR.
    p = _homogeneous(100, 0.01, 0.2)
    rc = risk_contributions(p, Fund(capital_cents=10**12), Dependence.one_factor(), seed=4,
                            scenarios=16 * BLOCK_SCENARIOS, level=0.999, method=method)
    es = rc.expected_shortfall_cents.value
    assert rc.method == method
    assert rc.guarantee_es_cents.sum() == pytest.approx(es, rel=1e-12)
    assert rc.conditional_tail_loss_cents == pytest.approx(es, rel=1e-12)
    assert sum(g.expected_shortfall_cents.value for g in rc.by_sector) == pytest.approx(
        es, rel=1e-12)
    assert sum(g.expected_shortfall_cents.value for g in rc.by_branch) == pytest.approx(
        es, rel=1e-12)
    assert (rc.guarantee_es_standard_error > 0).any()


def test_es_contributions_add_up_under_a_portfolio_cap_and_heterogeneous_exposures():
    rng = np.random.default_rng(2)
    n = 60
    p = Portfolio.from_arrays(
        exposure_cents=rng.integers(1, 5, n) * EXPOSURE, probability_of_default=0.02,
        loss_given_default=1.0, factor_loadings=np.full(n, 0.45))
    fund = Fund(capital_cents=0, portfolio_cap_rate=0.05)
    rc = risk_contributions(p, fund, Dependence.one_factor(), seed=7,
                            scenarios=8 * BLOCK_SCENARIOS, level=0.99, method="monte_carlo")
    assert rc.guarantee_es_cents.sum() == pytest.approx(rc.expected_shortfall_cents.value,
                                                        rel=1e-12)


def test_homogeneous_contributions_match_the_exact_es_share():
    # By symmetry each name's Acerbi–Tasche contribution is exactly ES / n. Here the atom at
    # VaR is large: E[L | L ≥ VaR] is 8.8 % below ES, far outside the Monte Carlo error.
    n, pd, rho, level = 40, 0.02, 0.2, 0.99
    es_exact, ctl_exact = _exact_es_and_ctl(n, pd, rho, level)
    assert ctl_exact < 0.95 * es_exact
    p = _homogeneous(n, pd, rho)
    rc = risk_contributions(p, Fund(capital_cents=10**12), Dependence.one_factor(), seed=11,
                            scenarios=256 * BLOCK_SCENARIOS, level=level,
                            method="monte_carlo")
    es = rc.expected_shortfall_cents
    c = rc.guarantee_es_cents / EXPOSURE
    se = rc.guarantee_es_standard_error / EXPOSURE
    share = es_exact / n
    assert abs(es.value / EXPOSURE - es_exact) < 4 * es.standard_error / EXPOSURE
    assert abs(c.sum() - es_exact) < 4 * es.standard_error / EXPOSURE
    assert abs(c.sum() - ctl_exact) > 8 * es.standard_error / EXPOSURE
    z = (c - share) / se
    assert np.abs(z).max() < 5.0
    assert abs(c.mean() - share) < 0.03 * share


def test_contributions_at_level_one_half_and_refusal_names_level():
    p = _homogeneous(30, 0.05, 0.2)
    fund = Fund(capital_cents=10**12)
    rc = risk_contributions(p, fund, Dependence.one_factor(), seed=1,
                            scenarios=2 * BLOCK_SCENARIOS, level=0.5)
    assert rc.level == 0.5
    assert rc.guarantee_es_cents.sum() == pytest.approx(rc.expected_shortfall_cents.value,
                                                        rel=1e-12)
    for bad in (0.3, 1.0, float("nan")):
        with pytest.raises(InvalidArgument) as err:
            risk_contributions(p, fund, Dependence.one_factor(), seed=1,
                               scenarios=BLOCK_SCENARIOS, level=bad)
        assert [v.field for v in err.value.violations] == ["level"]
    with pytest.raises(InvalidArgument) as err:
        contribution_plan(p, fund, Dependence.one_factor(), seed=1, level=0.2)
    assert [v.field for v in err.value.violations] == ["level"]
