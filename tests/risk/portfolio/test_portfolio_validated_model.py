"""One validation per run: a ValidatedModel is checked once and trusted by every entry
point; a plain Portfolio is still checked by each entry point it reaches."""

from __future__ import annotations

import numpy as np
import pytest

from services.risk.engine.portfolio import (
    BLOCK_SCENARIOS,
    Dependence,
    Fund,
    Portfolio,
    ValidatedModel,
    check_model_method,
    contribution_plan,
    merge_shards,
    risk_contributions,
    simulate_portfolio,
    simulate_shard,
    validated_model,
)
from services.risk.engine.portfolio import montecarlo as mc
from services.shared.errors import InvalidArgument
from tests.risk.portfolio.counting import count_model_checks

SIGMA = np.array([[1.0, 0.3], [0.3, 1.0]])


def _book(n: int = 60, pd=0.03, loadings=None) -> Portfolio:
    rng = np.random.default_rng(4)
    sector = np.arange(n) % 2
    return Portfolio.from_arrays(
        exposure_cents=rng.integers(1_000_000, 20_000_000, n), probability_of_default=pd,
        loss_given_default=0.45, sector=sector, sector_names=("a", "b"),
        factor_loadings=(np.eye(2)[sector] * 0.5 if loadings is None else loadings))


def test_a_validated_model_comes_only_from_validation():
    with pytest.raises(TypeError):
        ValidatedModel(_book(), Fund(capital_cents=0), Dependence(SIGMA))
    bad = _book(pd=np.where(np.arange(60) == 7, 1.5, 0.03))
    with pytest.raises(InvalidArgument) as err:
        validated_model(bad, Fund(capital_cents=0), Dependence(SIGMA))
    assert [v.field for v in err.value.violations] == ["guarantees[7].probability_of_default"]
    model = validated_model(_book(), Fund(capital_cents=0), Dependence(SIGMA))
    with pytest.raises(TypeError):  # the model already holds them
        simulate_portfolio(model, Fund(capital_cents=0), Dependence(SIGMA), seed=1)


def test_every_entry_point_still_checks_a_plain_portfolio():
    bad = _book(pd=np.where(np.arange(60) == 7, 1.5, 0.03))
    fund, dep = Fund(capital_cents=0), Dependence(SIGMA)
    calls = [
        lambda: simulate_portfolio(bad, fund, dep, seed=1, scenarios=BLOCK_SCENARIOS),
        lambda: simulate_portfolio(bad, fund, dep, seed=1, method="creditriskplus"),
        lambda: risk_contributions(bad, fund, dep, seed=1, scenarios=BLOCK_SCENARIOS),
        lambda: contribution_plan(bad, fund, dep, seed=1, method="monte_carlo"),
        lambda: simulate_shard(bad, fund, dep, seed=1, block_range=(0, 1)),
        lambda: mc.SimulationPlan(bad, fund, dep, seed=1),
    ]
    for call in calls:
        with pytest.raises(InvalidArgument) as err:
            call()
        assert "guarantees[7].probability_of_default" in {v.field for v in err.value.violations}


def test_a_validated_model_is_not_checked_again_and_gives_the_same_bits(monkeypatch):
    book, fund, dep = _book(), Fund(capital_cents=10**8), Dependence(SIGMA)
    kw = dict(seed=3, scenarios=8 * BLOCK_SCENARIOS, method="importance_sampling")
    plain = simulate_portfolio(book, fund, dep, **kw)
    plain_c = risk_contributions(book, fund, dep, seed=3, scenarios=4 * BLOCK_SCENARIOS)
    plain_s = merge_shards([simulate_shard(book, fund, dep, seed=3, block_range=(0, 2))])
    model = validated_model(book, fund, dep)
    calls = count_model_checks(monkeypatch)
    check_model_method(model, "importance_sampling", "simulation.method")
    trusted = simulate_portfolio(model, **kw)
    trusted_c = risk_contributions(model, seed=3, scenarios=4 * BLOCK_SCENARIOS)
    trusted_s = merge_shards([simulate_shard(model, seed=3, block_range=(0, 2))])
    assert calls == {"validate": 0, "tail": 1}  # the tail's sides: once for the whole run
    assert trusted == plain and trusted_s == plain_s
    assert trusted_c.guarantee_es_cents.tobytes() == plain_c.guarantee_es_cents.tobytes()
    assert trusted_c.by_sector == plain_c.by_sector


def test_the_method_check_of_a_validated_model_names_the_callers_field():
    mixed = np.where(np.arange(60)[:, None] % 2 == 0, 0.5, -0.5) * np.eye(2)[np.arange(60) % 2]
    model = validated_model(_book(loadings=mixed), Fund(capital_cents=0), Dependence(SIGMA))
    for method in ("importance_sampling", "semi_analytic"):
        with pytest.raises(InvalidArgument) as err:
            check_model_method(model, method, "simulation.method")
        assert err.value.violations[0].field == "simulation.method"
        assert "two-sided" in err.value.violations[0].description
    check_model_method(model, "monte_carlo", "simulation.method")
    check_model_method(model, "auto", "simulation.method")
