"""The adapter's run of one portfolio simulation validates the model once (when the
request arrives, so a bad one is refused before anything starts), and the engine trusts
that validation for the simulation and for its contributions."""

from __future__ import annotations

import pytest
from ijh.risk.v1 import risk_pb2 as r

from services.risk.portfolio_run import PortfolioLimits, PortfolioRun
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


async def test_a_stop_while_contributions_are_computed_ends_the_run_without_them():
    # After the simulation, the contributions are two more passes over the scenarios: they
    # report their share done and stop between blocks when the run is stopped (a cancel).
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

    assert await run.response(on_share) is None
    assert shares and shares[0] < 0.5  # reported from the first pass on


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
