"""The adapter's run of one portfolio simulation validates the model once (when the
request arrives, so a bad one is refused before anything starts), and the engine trusts
that validation for the simulation and for its contributions."""

from __future__ import annotations

import pytest
from ijh.risk.v1 import risk_pb2 as r

from services.risk import translate
from services.risk.portfolio_run import PortfolioLimits, PortfolioRun, prepared_run
from services.shared.errors import InvalidArgument
from tests.risk.portfolio.counting import count_model_checks

LIMITS = PortfolioLimits(max_guarantees=10_000, max_scenarios=10**6)


def _request(method, factors: int, pd: float = 0.02) -> tuple[r.SimulatePortfolioRequest,
                                                               list[r.Guarantee]]:
    first = r.SimulatePortfolioRequest(
        fund=r.FundTerms(capital_cents=10**10, horizon_years=1),
        dependence=r.Dependence(factor_correlation=[1.0, 0.3, 0.3, 1.0] if factors == 2
                                else [1.0]),
        simulation=r.PortfolioSimulationOptions(scenario_count=4096, seed=5, method=method,
                                                include_contributions=True))
    guarantees = [r.Guarantee(id=f"g{i}", exposure_cents=5_000_000 + 1000 * i,
                              probability_of_default=pd, loss_given_default=0.45,
                              sector="s", branch="TEM",
                              counterparty_kind=r.COUNTERPARTY_KIND_COMPANY,
                              factor_loadings=[0.4] * factors) for i in range(120)]
    return first, guarantees


@pytest.mark.parametrize(("method", "factors"), [
    (r.PORTFOLIO_METHOD_UNSPECIFIED, 1),  # auto: semi-analytic, contributions by IS
    (r.PORTFOLIO_METHOD_IMPORTANCE_SAMPLING, 2),
    (r.PORTFOLIO_METHOD_MONTE_CARLO, 2)])
async def test_a_run_validates_its_model_once(monkeypatch, method, factors):
    calls = count_model_checks(monkeypatch)
    run = PortfolioRun(*_request(method, factors), LIMITS)
    assert calls["validate"] == 1
    async for _ in run.progress():
        pass
    result = await run.response()
    assert len(result.contributions.top_guarantees) == 20
    assert calls["validate"] == 1
    assert calls["tail"] <= 1  # the tail's sides: once at most, whoever asks first


async def test_a_bad_request_is_refused_before_the_run_starts():
    first, guarantees = _request(r.PORTFOLIO_METHOD_MONTE_CARLO, 1)
    guarantees[3].probability_of_default = 1.5
    with pytest.raises(InvalidArgument) as err:
        PortfolioRun(first, guarantees, LIMITS)
    assert [v.field for v in err.value.violations] == ["guarantees[3].probability_of_default"]


async def test_a_guarantee_rate_of_0_is_refused_and_an_absent_one_is_1():
    # Found walking the fund analyst's journey: a rate given as 0 was read as 1 (100 %
    # cover). The service checks it itself (a caller without the gateway, or rows past
    # its rules), naming the row; a rate left out is still the whole loss.
    first, guarantees = _request(r.PORTFOLIO_METHOD_MONTE_CARLO, 1)
    guarantees[7].guarantee_rate = 0.0
    with pytest.raises(InvalidArgument) as err:
        prepared_run(first, guarantees, LIMITS, prefix="simulation.")
    assert [v.field for v in err.value.violations] == [
        "simulation.guarantees[7].guarantee_rate"]
    guarantees[7].guarantee_rate = 0.5
    guarantees[8].ClearField("guarantee_rate")
    rates = PortfolioRun(first, guarantees, LIMITS).model.portfolio.guarantee_rate
    assert rates[7] == 0.5 and rates[8] == 1.0 and rates[0] == 1.0


async def test_a_stop_while_contributions_are_computed_keeps_the_simulations_result():
    # After the simulation, the contributions are two more passes over the scenarios: they
    # report their share done and stop between blocks when the run is stopped (a cancel).
    # Found walking the fund analyst's journey: such a stop threw the finished
    # simulation's figures away; they are whole, and kept, the result saying what is
    # missing.
    first, guarantees = _request(r.PORTFOLIO_METHOD_MONTE_CARLO, 2)
    first.simulation.scenario_count = 100 * 1024  # long enough for the loop to answer
    run = PortfolioRun(first, guarantees, LIMITS)
    assert run.passes == 3
    async for _ in run.progress():
        pass
    assert not run.stop.is_set()  # a finished simulation leaves the contributions to run
    shares: list[float] = []

    def on_share(share: float) -> None:
        shares.append(share)
        run.stop.set()

    result = await run.response(on_share)
    assert shares and shares[0] < 0.5  # reported from the first pass on
    assert result.contributions_stopped and not result.HasField("contributions")
    assert "risk contributions not computed: stopped" in result.notes[-1]
    whole = translate.portfolio_result(run.result, run.guarantee_count)
    assert result.scenario_count == whole.scenario_count == 100 * 1024
    assert list(result.tail_risk) == list(whole.tail_risk)
    assert result.expected_loss_cents == whole.expected_loss_cents


@pytest.mark.parametrize("method", [r.PORTFOLIO_METHOD_MONTE_CARLO,
                                    r.PORTFOLIO_METHOD_IMPORTANCE_SAMPLING])
async def test_a_run_stopped_at_its_target_error_computes_contributions_on_as_many_scenarios(
        method):
    # A target error that is met early shortens the whole run, contributions included;
    # the result says how many scenarios and which method the contributions used. (Plain
    # MC at 99.9 % stops no sooner than 64 tail scenarios, ~64 blocks: MIN_STOP_TAIL_SCENARIOS.)
    first, guarantees = _request(method, 2, pd=0.05)
    first.simulation.scenario_count = 128 * 1024
    first.simulation.target_relative_error = 0.2
    run = PortfolioRun(first, guarantees, LIMITS)
    async for _ in run.progress():
        pass
    result = await run.response()
    assert 0 < result.scenario_count < 128 * 1024  # stopped early
    assert result.contributions.scenario_count == result.scenario_count
    assert result.contributions.method == r.PORTFOLIO_METHOD_IMPORTANCE_SAMPLING  # one-sided


async def test_contributions_of_a_law_use_the_scenarios_asked_for():
    run = PortfolioRun(*_request(r.PORTFOLIO_METHOD_SEMI_ANALYTIC, 1), LIMITS)
    async for _ in run.progress():
        pass
    result = await run.response()
    assert result.contributions.scenario_count == 4096


def _set(message, **values):
    for name, value in values.items():
        setattr(message, name, value)


@pytest.mark.parametrize(("method", "factors", "mutate", "fields"), [
    (r.PORTFOLIO_METHOD_SEMI_ANALYTIC, 2, lambda first, rows: None,
     {"dependence.factor_correlation"}),
    (r.PORTFOLIO_METHOD_SEMI_ANALYTIC, 1,
     lambda first, rows: _set(first.dependence, copula=r.COPULA_STUDENT_T,
                              degrees_of_freedom=5),
     {"dependence.copula"}),
    (r.PORTFOLIO_METHOD_SEMI_ANALYTIC, 1,
     lambda first, rows: _set(rows[7], loss_given_default_std=0.1),
     {"guarantees[7].loss_given_default_std"}),
    (r.PORTFOLIO_METHOD_SEMI_ANALYTIC, 1,
     lambda first, rows: _set(first.fund, horizon_years=3, annual_fee_income_cents=10**6),
     {"fund.horizon_years", "fund.annual_fee_income_cents"}),
    (r.PORTFOLIO_METHOD_CREDITRISKPLUS, 1,
     lambda first, rows: (_set(first.fund, horizon_years=2), _set(rows[4], fee_rate=0.01)),
     {"fund.horizon_years", "guarantees[4].fee_rate"}),
    (r.PORTFOLIO_METHOD_CREDITRISKPLUS, 1,
     lambda first, rows: _set(rows[9], probability_of_default=1.0),
     {"guarantees[9].probability_of_default"}),
    # its SEs were measured to understate the error on the t copula (docs/PERFORMANCE.md)
    (r.PORTFOLIO_METHOD_IMPORTANCE_SAMPLING, 2,
     lambda first, rows: _set(first.dependence, copula=r.COPULA_STUDENT_T,
                              degrees_of_freedom=4),
     {"dependence.copula"}),
])
async def test_a_method_the_model_cannot_run_is_refused_before_the_run_starts(
        method, factors, mutate, fields):
    # Issue 7: these were checked only once the run had started, so a long-running
    # operation was accepted and then ended INVALID_ARGUMENT, naming "method" (no field
    # of the request). Now the request is refused when it arrives: one violation on the
    # method, and one on each field in the method's way.
    first, guarantees = _request(method, factors)
    first.simulation.include_contributions = False
    mutate(first, guarantees)
    with pytest.raises(InvalidArgument) as err:
        prepared_run(first, guarantees, LIMITS)  # the request's own field names
    named = [v.field for v in err.value.violations]
    assert named[0] == "simulation.method"
    assert set(named[1:]) == fields
    name = r.PortfolioMethod.Name(method).removeprefix("PORTFOLIO_METHOD_").lower()
    assert all(name in v.description for v in err.value.violations)
    # auto and monte_carlo run the same model
    for other in (r.PORTFOLIO_METHOD_UNSPECIFIED, r.PORTFOLIO_METHOD_MONTE_CARLO):
        first.simulation.method = other
        PortfolioRun(first, guarantees, LIMITS)
