"""Importance sampling is not run on the Student-t copula: its factor shift does not reach
the copula's common scale W, from which a t book's tail mostly comes, and its SEs were
measured to understate the error there (EL beyond 3 SEs in 34-41 % of runs;
``measure_t_copula_is``, docs/PERFORMANCE.md). ``auto`` runs plain Monte Carlo, and an
explicit request is refused before anything runs, naming the method and the copula."""

import numpy as np
import pytest

from services.risk.engine.portfolio import (
    BLOCK_SCENARIOS,
    Dependence,
    Fund,
    Portfolio,
    check_model_method,
    choose_method,
    simulate_portfolio,
    validated_model,
)
from services.risk.engine.portfolio.contributions import contribution_plan, incremental_risk
from services.shared.errors import InvalidArgument
from tests.risk.portfolio.test_portfolio_montecarlo import SIGMA3, _mixed

FUND = Fund(capital_cents=4 * 10**7, horizon_years=3, portfolio_cap_rate=0.12,
            annual_fee_income_cents=10**6)
LEVELS = (0.99, 0.999)


@pytest.mark.parametrize("dependence", [Dependence(np.eye(3), "student_t", 4.0),
                                        Dependence(SIGMA3, "student_t", 10.0)])
def test_auto_runs_plain_monte_carlo_on_a_t_copula_book(dependence):
    p = _mixed(n=60, beta=False)
    gaussian = Dependence(dependence.factor_correlation)
    # the same book with the Gaussian copula: a tail importance sampling would take
    assert choose_method(p, FUND, gaussian, LEVELS) == "importance_sampling"
    assert choose_method(p, FUND, dependence, LEVELS) == "monte_carlo"
    r = simulate_portfolio(p, FUND, dependence, seed=1, levels=LEVELS,
                           scenarios=BLOCK_SCENARIOS)
    assert r.method == "monte_carlo" and r.importance_mixture == ()


def test_importance_sampling_on_a_t_copula_is_refused_naming_the_method_and_the_copula():
    p = _mixed(n=60, beta=False)
    dependence = Dependence(np.eye(3), "student_t", 8.0)
    model = validated_model(p, FUND, dependence)
    with pytest.raises(InvalidArgument) as err:
        check_model_method(model, "importance_sampling", "simulation.method")
    named = [v.field for v in err.value.violations]
    assert named == ["simulation.method", "dependence.copula"]
    assert all("use monte_carlo or auto" in v.description for v in err.value.violations)
    assert "standard errors" in err.value.violations[0].description
    with pytest.raises(InvalidArgument) as err:  # the engine's own entry point too
        simulate_portfolio(p, FUND, dependence, seed=1, method="importance_sampling",
                           scenarios=BLOCK_SCENARIOS)
    assert [v.field for v in err.value.violations] == ["method", "dependence.copula"]
    for method in ("monte_carlo", "auto"):
        check_model_method(model, method)



def test_contributions_and_incremental_risk_run_plain_monte_carlo_on_the_t_copula():
    """Contributions and incremental risk pick their method themselves (``mc.default_method``):
    on a t book plain Monte Carlo as well, and importance_sampling asked for is refused."""
    p = _mixed(n=60, beta=False)
    t_copula = Dependence(np.eye(3), "student_t", 8.0)
    assert contribution_plan(p, FUND, t_copula, seed=1).spec.method == "monte_carlo"
    assert contribution_plan(p, FUND, Dependence(np.eye(3)), seed=1).spec.method == \
        "importance_sampling"
    candidate = Portfolio.from_arrays(exposure_cents=np.array([10_000_000]),
                                      probability_of_default=0.02, loss_given_default=0.45,
                                      factor_loadings=np.array([[0.5, 0.0, 0.0]]))
    assert incremental_risk(p, FUND, t_copula, candidate, seed=1,
                            scenarios=BLOCK_SCENARIOS).method == "monte_carlo"
    with pytest.raises(InvalidArgument) as refused:
        incremental_risk(p, FUND, t_copula, candidate, seed=1, scenarios=BLOCK_SCENARIOS,
                         method="importance_sampling")
    assert [v.field for v in refused.value.violations] == ["method", "dependence.copula"]
