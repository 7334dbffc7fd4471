"""Input checks of the portfolio model: every bad field named with its row, all at once."""

import numpy as np
import pytest

from services.risk.engine.portfolio import (
    MAX_GUARANTEES,
    Dependence,
    Fund,
    Portfolio,
    sector_loadings,
    simulate_portfolio,
    validate_model,
)
from services.shared.errors import InvalidArgument, ResourceExhausted


def _portfolio(n=30, **over):
    args = dict(exposure_cents=np.full(n, 1_000_000, np.int64),
                probability_of_default=np.full(n, 0.01), loss_given_default=0.5,
                factor_loadings=np.full((n, 1), 0.4))
    args.update(over)
    return Portfolio.from_arrays(**args)


def _fields(exc):
    return {v.field for v in exc.value.violations}


def test_every_bad_field_is_named_with_its_row_at_once():
    pd = np.full(30, 0.01)
    pd[17] = 1.5
    pd[3] = np.nan
    exposure = np.full(30, 1_000_000, np.int64)
    exposure[5] = -1
    loadings = np.full((30, 1), 0.4)
    loadings[9] = 1.2  # R² = 1.44 > 1
    p = _portfolio(probability_of_default=pd, exposure_cents=exposure, factor_loadings=loadings)
    with pytest.raises(InvalidArgument) as exc:
        validate_model(p, Fund(capital_cents=-5), Dependence.one_factor())
    assert _fields(exc) == {"guarantees[17].probability_of_default",
                            "guarantees[3].probability_of_default",
                            "guarantees[5].exposure_cents", "guarantees[9].factor_loadings",
                            "fund.capital_cents"}


def test_loadings_whose_r2_exceeds_one_under_the_factor_correlation():
    # Each loading alone is fine (0.6² + 0.6² = 0.72) but with correlation 0.9 between the
    # factors R² = wᵀΣw = 0.72 + 2·0.9·0.36 = 1.368 > 1.
    w = np.tile([0.6, 0.6], (4, 1))
    w[0] = [0.6, 0.0]
    p = _portfolio(n=4, factor_loadings=w)
    sigma = np.array([[1.0, 0.9], [0.9, 1.0]])
    with pytest.raises(InvalidArgument) as exc:
        validate_model(p, Fund(capital_cents=0), Dependence(sigma))
    assert _fields(exc) == {f"guarantees[{i}].factor_loadings" for i in (1, 2, 3)}
    validate_model(p, Fund(capital_cents=0), Dependence(np.eye(2)))


def test_factor_correlation_not_positive_definite():
    p = _portfolio(n=3, factor_loadings=sector_loadings(np.array([0, 1, 2]), 0.3, 3))
    # Pairwise plausible, jointly impossible: eigenvalue 1 - 2·0.9 < 0 ... (-0.9 twice).
    sigma = np.array([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]])
    with pytest.raises(InvalidArgument) as exc:
        validate_model(p, Fund(capital_cents=0), Dependence(sigma))
    assert _fields(exc) == {"dependence.factor_correlation"}
    assert "positive definite" in str(exc.value)


def test_student_t_needs_degrees_of_freedom_and_copula_is_known():
    p = _portfolio(n=2)
    with pytest.raises(InvalidArgument) as exc:
        validate_model(p, Fund(capital_cents=0), Dependence(np.ones((1, 1)), "student_t", None))
    assert _fields(exc) == {"dependence.degrees_of_freedom"}
    with pytest.raises(InvalidArgument) as exc:
        validate_model(p, Fund(capital_cents=0), Dependence(np.ones((1, 1)), "clayton"))
    assert _fields(exc) == {"dependence.copula"}


def test_beta_lgd_std_must_be_feasible_and_curve_must_rise():
    std = np.zeros(4)
    std[2] = 0.6  # mean 0.5: a Beta needs std² < 0.25
    curve = np.tile([0.01, 0.02, 0.03], (4, 1))
    curve[1] = [0.02, 0.01, 0.03]
    p = _portfolio(n=4, loss_given_default_std=std, cumulative_default_probability=curve)
    with pytest.raises(InvalidArgument) as exc:
        validate_model(p, Fund(capital_cents=0, horizon_years=4), Dependence.one_factor())
    assert _fields(exc) == {"guarantees[2].loss_given_default_std",
                            "guarantees[1].cumulative_default_probability",
                            "guarantees.cumulative_default_probability"}  # 3 years < horizon 4


@pytest.mark.parametrize("std", [5e-324, 1e-160, 1e-155])
def test_a_beta_lgd_std_too_small_for_its_shape_parameters_is_refused(std):
    # Found by the API fuzzing: a std whose square underflows (5e-324) or whose Beta shape
    # parameters mean·(1 - mean)/std² overflow passed "std² < mean·(1 - mean)", and every
    # figure of the simulation came back NaN (EvaluateIncrementalRisk answered OK with a
    # NaN expected-loss change).
    sd = np.zeros(4)
    sd[1] = std
    p = _portfolio(n=4, loss_given_default_std=sd)
    with pytest.raises(InvalidArgument) as exc:
        validate_model(p, Fund(capital_cents=10**8), Dependence.one_factor())
    assert _fields(exc) == {"guarantees[1].loss_given_default_std"}


def test_a_tiny_but_usable_beta_lgd_std_gives_finite_figures():
    sd = np.zeros(4)
    sd[1] = 1e-150
    result = simulate_portfolio(_portfolio(n=4, loss_given_default_std=sd),
                                Fund(capital_cents=10**8), Dependence.one_factor(), seed=1,
                                scenarios=1024, method="monte_carlo")
    assert np.isfinite(result.expected_loss_cents.value)
    assert all(np.isfinite(t.expected_shortfall_cents.value) for t in result.tail_risk)


def test_amounts_fee_rates_and_the_total_exposure_have_upper_bounds():
    # Found by the API fuzzing: a fee rate of 1e14 or an exposure of 2**63 - 1 passed, and
    # the answer's int64 sums (fee income, guaranteed volume) overflowed: INTERNAL.
    n = 4
    p = _portfolio(n=n, exposure_cents=np.array([2**63 - 1, 10, 10, 10], np.int64),
                   cap_cents=np.array([10, 10**15 + 1, 10, 10], np.int64),
                   deductible_cents=np.array([0, 0, 10**15 + 1, 0], np.int64),
                   fee_rate=np.array([0.0, 0.0, 0.0, 1e14]))
    with pytest.raises(InvalidArgument) as exc:
        validate_model(p, Fund(capital_cents=10**8), Dependence.one_factor())
    assert _fields(exc) == {"guarantees[0].exposure_cents", "guarantees[1].cap_cents",
                            "guarantees[2].deductible_cents", "guarantees[3].fee_rate",
                            "guarantees"}  # the total exposure, too
    within = _portfolio(n=1001, exposure_cents=np.full(1001, 10**15, np.int64))
    with pytest.raises(InvalidArgument) as exc:
        validate_model(within, Fund(capital_cents=10**8), Dependence.one_factor())
    assert _fields(exc) == {"guarantees"}  # 1.001e18 cents in all


@pytest.mark.parametrize("rate", [0.0, -0.0, 1e-12, 1.5, float("nan")])
def test_a_portfolio_cap_rate_must_cap_at_something(rate):
    # Found walking the fund analyst's journey: portfolio_cap_rate 0 capped the fund's
    # payouts at EUR 0 (a riskless fund, every figure 0) while the result's cap of 0 read
    # "no cap". A cap is given by a rate in (0, 1] that caps at a cent at least; no cap
    # is an absent rate.
    p = _portfolio(n=30)  # a guaranteed volume of EUR 300,000
    with pytest.raises(InvalidArgument) as exc:
        validate_model(p, Fund(capital_cents=10**8, portfolio_cap_rate=rate),
                       Dependence.one_factor())
    assert _fields(exc) == {"fund.portfolio_cap_rate"}
    validate_model(p, Fund(capital_cents=10**8), Dependence.one_factor())
    validate_model(p, Fund(capital_cents=10**8, portfolio_cap_rate=1e-7),  # 3 cents
                   Dependence.one_factor())
    r = simulate_portfolio(p, Fund(capital_cents=10**8, portfolio_cap_rate=0.01),
                           Dependence.one_factor(), seed=1, scenarios=1024)
    assert r.portfolio_cap_cents == 300_000  # 1 % of the volume, exactly


def test_a_guarantee_rate_must_cover_a_share_above_0():
    rate = np.full(30, 0.8)
    rate[4], rate[11] = 0.0, 1.2
    with pytest.raises(InvalidArgument) as exc:
        validate_model(_portfolio(guarantee_rate=rate), Fund(capital_cents=0),
                       Dependence.one_factor())
    assert _fields(exc) == {"guarantees[4].guarantee_rate", "guarantees[11].guarantee_rate"}
    validate_model(_portfolio(guarantee_rate=1.0), Fund(capital_cents=0),
                   Dependence.one_factor())


@pytest.mark.parametrize("variance", [1e-310, 5e-324, 1e7])
def test_creditriskplus_variances_are_bounded_before_the_run(variance):
    # Found by the API fuzzing: a subnormal gamma variance crashed the CreditRisk+ run (NaN
    # to integer: INTERNAL); one above the law's bound was refused only by the law, naming
    # its internal parameters, once an operation had started.
    p = _portfolio(n=4)
    for dependence in (Dependence(np.ones((1, 1)), sector_variances=np.array([variance])),
                       Dependence(np.ones((1, 1)), background_variance=variance)):
        with pytest.raises(InvalidArgument) as exc:
            validate_model(p, Fund(capital_cents=10**8), dependence)
        assert _fields(exc) <= {"dependence.sector_variances",
                                "dependence.background_variance"}


def test_money_must_be_integer_cents():
    with pytest.raises(InvalidArgument) as exc:
        _portfolio(n=3, exposure_cents=np.array([1.5, 2.0, 3.0]))
    assert _fields(exc) == {"guarantees.exposure_cents"}


def test_from_rows_names_the_row():
    rows = [dict(exposure_cents=100_000, probability_of_default=0.01, loss_given_default=0.4,
                 factor_loadings=[0.3], branch="TEM", sector="health")
            for _ in range(20)]
    rows[17]["probability_of_default"] = -0.1
    rows[4]["branch"] = "XYZ"
    rows[6]["exposure_cents"] = 10.5
    with pytest.raises(InvalidArgument) as exc:
        validate_model(Portfolio.from_rows(rows), Fund(capital_cents=0), Dependence.one_factor())
    assert "guarantees[4].branch" in _fields(exc) and "guarantees[6].exposure_cents" in _fields(exc)
    rows[4]["branch"], rows[6]["exposure_cents"] = "STM", 10
    with pytest.raises(InvalidArgument) as exc:
        validate_model(Portfolio.from_rows(rows), Fund(capital_cents=0), Dependence.one_factor())
    assert _fields(exc) == {"guarantees[17].probability_of_default"}


def test_size_bound_is_resource_exhausted_and_a_million_rows_are_accepted():
    with pytest.raises(ResourceExhausted, match="2000000"):
        _portfolio(n=MAX_GUARANTEES + 1, factor_loadings=np.full((1, 1), 0.3))
    big = _portfolio(n=1_000_000, factor_loadings=np.full((1, 1), 0.3))
    validate_model(big, Fund(capital_cents=0), Dependence.one_factor())


def test_many_bad_rows_are_summarised_not_listed():
    pd = np.full(5000, 2.0)
    with pytest.raises(InvalidArgument) as exc:
        _portfolio(n=5000, probability_of_default=pd).validate()
    assert len(exc.value.violations) == 101
    assert exc.value.violations[-1].field == "guarantees.probability_of_default"


def test_simulation_rejects_bad_method_and_levels():
    p = _portfolio(n=5)
    with pytest.raises(InvalidArgument) as exc:
        simulate_portfolio(p, Fund(capital_cents=0), Dependence.one_factor(), seed=1,
                           method="magic")
    assert _fields(exc) == {"method"}
    with pytest.raises(InvalidArgument) as exc:
        simulate_portfolio(p, Fund(capital_cents=0), Dependence.one_factor(), seed=1,
                           method="monte_carlo", levels=(0.99, 1.0), scenarios=1000)
    assert _fields(exc) == {"levels[1]"}
