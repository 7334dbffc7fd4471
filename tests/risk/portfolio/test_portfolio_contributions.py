"""Euler risk contributions and the incremental risk of a candidate guarantee."""

import numpy as np
import pytest

from services.risk.engine.portfolio import (
    BLOCK_SCENARIOS,
    BRANCHES,
    Dependence,
    Fund,
    Portfolio,
    incremental_risk,
    risk_contributions,
    sector_loadings,
)

SIGMA2 = np.array([[1.0, 0.4], [0.4, 1.0]])


def _portfolio(n=400, seed=0):
    rng = np.random.default_rng(seed)
    sector = rng.integers(0, 2, n)
    return Portfolio.from_arrays(
        exposure_cents=rng.integers(1_000_000, 20_000_000, n),
        probability_of_default=rng.uniform(0.005, 0.04, n), loss_given_default=0.5,
        factor_loadings=sector_loadings(sector, 0.5, 2), sector=sector,
        sector_names=("health", "transport"), branch=rng.integers(0, 12, n))


def test_es_contributions_add_up_per_guarantee_sector_and_branch():
    p = _portfolio()
    rc = risk_contributions(p, Fund(capital_cents=0, portfolio_cap_rate=0.5), Dependence(SIGMA2),
                            seed=4, scenarios=16 * BLOCK_SCENARIOS, level=0.99)
    total = rc.guarantee_es_cents.sum()
    # Full allocation: contributions sum to the reported ES (Acerbi–Tasche).
    assert np.isclose(total, rc.conditional_tail_loss_cents, rtol=1e-12)
    es = rc.expected_shortfall_cents
    assert abs(total - es.value) <= 4 * es.standard_error + 0.01 * es.value
    assert np.isclose(sum(g.expected_shortfall_cents.value for g in rc.by_sector), total, rtol=1e-9)
    assert np.isclose(sum(g.expected_shortfall_cents.value for g in rc.by_branch), total, rtol=1e-9)
    for k, name in enumerate(BRANCHES):
        mine = rc.guarantee_es_cents[p.branch == k].sum()
        assert np.isclose(rc.by_branch[k].expected_shortfall_cents.value, mine, rtol=1e-9), name
    var = rc.value_at_risk_cents.value
    assert abs(rc.guarantee_var_cents.sum() - var) < 0.03 * var
    assert (rc.guarantee_es_standard_error > 0).any()


def test_exchangeable_guarantees_get_equal_contributions_and_zero_pd_gets_none():
    # By symmetry E[L_i | L ≥ VaR] is the same for identical guarantees; a guarantee that
    # cannot default contributes exactly 0.
    n = 300
    pd = np.full(n, 0.02)
    pd[-1] = 0.0
    p = Portfolio.from_arrays(exposure_cents=np.full(n, 1_000_000, np.int64),
                              probability_of_default=pd, loss_given_default=1.0,
                              factor_loadings=np.full((n, 1), 0.45))
    rc = risk_contributions(p, Fund(capital_cents=0), Dependence.one_factor(), seed=1,
                            scenarios=16 * BLOCK_SCENARIOS, level=0.99)
    c, se = rc.guarantee_es_cents[:-1], rc.guarantee_es_standard_error[:-1]
    assert rc.guarantee_es_cents[-1] == 0.0
    z = (c - c.mean()) / se
    assert np.abs(z).max() < 5.0
    assert 0.5 < z.std() < 1.5  # the reported SEs match the actual scatter


def test_incremental_risk_of_a_candidate_on_common_random_numbers():
    p = _portfolio(n=300)
    fund = Fund(capital_cents=300_000_000, horizon_years=2)
    dep = Dependence(SIGMA2)
    nothing = Portfolio.from_arrays(exposure_cents=np.array([0]), probability_of_default=0.5,
                                    loss_given_default=1.0, factor_loadings=[[0.5, 0.0]])
    none = incremental_risk(p, fund, dep, nothing, seed=3, scenarios=8 * BLOCK_SCENARIOS)
    assert none.expected_loss_change_cents.value == 0.0
    assert all(t.expected_shortfall_change_cents.value == 0.0
               and t.value_at_risk_change_cents.value == 0.0 for t in none.tail_risk)
    assert all(e.value == 0.0 for e in none.exhaustion_probability_change_by_year)

    exposure, pd = 50_000_000, 0.03
    cand = Portfolio.from_arrays(exposure_cents=np.array([exposure]), probability_of_default=pd,
                                 loss_given_default=0.5, factor_loadings=[[0.5, 0.0]])
    ir = incremental_risk(p, fund, dep, cand, seed=3, scenarios=16 * BLOCK_SCENARIOS)
    # ΔEL = P(default within 2 years) · payout: 1 - (1 - 0.03)² of 0.5 · exposure.
    exact = (1 - (1 - pd) ** 2) * 0.5 * exposure
    d = ir.expected_loss_change_cents
    assert abs(d.value - exact) <= 4 * d.standard_error + 1e-12 * exact  # exact: no cap
    for t in ir.tail_risk:
        es_change = t.expected_shortfall_change_cents
        assert es_change.value > 0
        # Common random numbers: the change is far more precise than either level.
        assert es_change.standard_error < 0.3 * t.expected_shortfall_after_cents.standard_error
        change = t.value_at_risk_change_cents
        assert change.value >= -4 * change.standard_error
    after = ir.exhaustion_probability_after_by_year
    before = ir.exhaustion_probability_before_by_year
    assert all(a.value >= b.value for a, b in zip(after, before, strict=True))


def test_contributions_asked_to_go_on_are_the_same_and_stop_when_told():
    # A service asks between blocks whether to go on (a cancelled operation): the figures
    # do not depend on being asked, and a "no" stops the work within a block.
    p, fund, dep = _portfolio(n=200), Fund(capital_cents=0), Dependence(SIGMA2)
    kw = dict(seed=9, scenarios=12 * BLOCK_SCENARIOS, level=0.99)
    plain = risk_contributions(p, fund, dep, **kw)
    asked: list[tuple[int, int]] = []
    watched = risk_contributions(p, fund, dep, on_block=lambda d, t: asked.append((d, t)) or True,
                                 **kw)
    assert np.array_equal(watched.guarantee_es_cents, plain.guarantee_es_cents)
    assert np.array_equal(watched.guarantee_var_cents, plain.guarantee_var_cents)
    assert watched.expected_shortfall_cents == plain.expected_shortfall_cents
    assert {t for _, t in asked} == {24}  # two passes over 12 blocks
    assert [d for d, _ in asked] == sorted(d for d, _ in asked) and asked[-1][0] == 23

    seen = []

    def stop_in_second_pass(done: int, total: int) -> bool:
        seen.append(done)
        return done < 15

    assert risk_contributions(p, fund, dep, on_block=stop_in_second_pass, **kw) is None
    assert seen[-1] == 15  # no block was simulated after the "no"


def test_the_expected_loss_change_of_a_candidate_is_exact_without_a_cap():
    # Its own expected loss is known: Σ P(default) · E[payout]. Importance sampling's
    # uneven weights had made the paired estimate 3.6e7 ± 4.4e6 against the exact 4.5e7.
    p = _portfolio(n=300)
    candidate = Portfolio.from_arrays(exposure_cents=np.array([50_000_000_00]),
                                      probability_of_default=0.02, loss_given_default=0.45,
                                      factor_loadings=np.array([[0.5, 0.0]]))
    change = incremental_risk(p, Fund(capital_cents=0), Dependence(SIGMA2), candidate, seed=1,
                              scenarios=8 * BLOCK_SCENARIOS).expected_loss_change_cents
    assert change.value == pytest.approx(0.02 * 0.45 * 50_000_000_00, rel=1e-12)
    assert change.standard_error == 0.0
