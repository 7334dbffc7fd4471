"""RiskService.SimulatePortfolio and EvaluateIncrementalRisk through the gateway."""

from __future__ import annotations

import asyncio
import json
import uuid

import grpc
import nats
import numpy as np
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from ijh.risk.v1 import risk_pb2 as r
from ijh.risk.v1 import risk_pb2_grpc
from scipy.stats import norm

from tests.stack import start_stack

BRANCHES = ["VNK", "UM", "OM", "SM", "PLM", "VM", "OKM", "MMM", "LVM", "TEM", "STM", "YM"]


def _guarantees(n: int, *, pd: float = 0.01, lgd: float = 0.5, exposure: int = 1_000_000_00,
                loading: float = 0.4) -> list[r.Guarantee]:
    return [r.Guarantee(id=f"g{i}", exposure_cents=exposure, probability_of_default=pd,
                        loss_given_default=lgd, sector=("health", "transport")[i % 2],
                        branch=BRANCHES[i % 12], counterparty_kind=r.COUNTERPARTY_KIND_COMPANY,
                        factor_loadings=[loading]) for i in range(n)]


def _first(scenarios: int, method=r.PORTFOLIO_METHOD_MONTE_CARLO, seed: int = 7,
           **options) -> r.SimulatePortfolioRequest:
    return r.SimulatePortfolioRequest(
        fund=r.FundTerms(capital_cents=5_000_000_000_00, horizon_years=1),
        dependence=r.Dependence(),
        simulation=r.PortfolioSimulationOptions(scenario_count=scenarios, seed=seed,
                                                method=method, **options))


async def _simulate(channel, messages, timeout=120) -> tuple[list, r.PortfolioRiskResult]:
    stub = risk_pb2_grpc.RiskServiceStub(channel)

    async def requests():
        for message in messages:
            yield message

    progress, result = [], None
    async for reply in stub.SimulatePortfolio(requests(), timeout=timeout):
        if reply.HasField("progress"):
            progress.append(reply.progress)
        else:
            result = reply.result
    return progress, result


async def test_expected_loss_matches_closed_form_with_progress(gateway_channel):
    first = _first(40 * 1024)
    first.guarantees.extend(_guarantees(500))
    progress, result = await _simulate(gateway_channel, [first])
    # EL = sum PD x LGD x exposure (guarantee rate 1, no cap, no deductible).
    expected = 500 * 0.01 * 0.5 * 1_000_000_00
    # No portfolio cap: the closed form itself (nothing of it is sampled).
    assert result.expected_loss_cents.value == pytest.approx(expected, rel=1e-12)
    assert result.expected_loss_cents.standard_error == 0
    assert result.scenario_count == 40 * 1024 and result.seed == 7
    assert result.method == r.PORTFOLIO_METHOD_MONTE_CARLO
    assert [t.level for t in result.tail_risk] == pytest.approx([0.99, 0.995, 0.999])
    assert len(progress) >= 2
    done = [p.scenarios_done for p in progress]
    assert done == sorted(done) and done[-1] <= 40 * 1024
    assert result.guarantee_count == 500
    assert result.horizon_years == 1  # the years the loss covers


async def test_the_result_names_the_horizon_its_loss_covers(gateway_channel):
    # Found walking the fund analyst's journey: a VaR over five years (cumulative) and
    # one over a year were both "VaR 99.9 %". 0 in the request is 1.
    for asked, covered in ((5, 5), (0, 1)):
        first = _first(1024)
        first.fund.horizon_years = asked
        first.guarantees.extend(_guarantees(20))
        _, result = await _simulate(gateway_channel, [first])
        assert result.horizon_years == covered
        assert len(result.exhaustion_probability_by_year) == covered


async def test_chunked_upload_equals_inline(gateway_channel):
    guarantees = _guarantees(900)
    inline = _first(8 * 1024)
    inline.guarantees.extend(guarantees)
    chunks = [_first(8 * 1024)] + [r.SimulatePortfolioRequest() for _ in range(2)]
    for k, chunk in enumerate(chunks):
        chunk.guarantees.extend(guarantees[k * 300:(k + 1) * 300])
    _, one = await _simulate(gateway_channel, [inline])
    _, many = await _simulate(gateway_channel, chunks)
    assert one.SerializeToString() == many.SerializeToString()


async def test_semi_analytic_meets_the_vasicek_limit_for_a_granular_pool(gateway_channel):
    # Large homogeneous pool (Vasicek 2002): the q-quantile of the loss fraction is
    # Phi((Phi^-1(p) + sqrt(rho) Phi^-1(q)) / sqrt(1 - rho)); 4,000 equal guarantees.
    n, pd, rho, lgd, exposure = 4000, 0.02, 0.16, 0.5, 10_000_00
    first = _first(0, method=r.PORTFOLIO_METHOD_SEMI_ANALYTIC)
    first.guarantees.extend(_guarantees(n, pd=pd, lgd=lgd, exposure=exposure,
                                        loading=rho ** 0.5))
    _, result = await _simulate(gateway_channel, [first])
    assert result.method == r.PORTFOLIO_METHOD_SEMI_ANALYTIC
    q = 0.999
    limit = norm.cdf((norm.ppf(pd) + rho ** 0.5 * norm.ppf(q)) / (1 - rho) ** 0.5)
    var = next(t for t in result.tail_risk if t.level == pytest.approx(q))
    # Finite n adds a granularity term of order 1/n: within 3 % here.
    assert var.value_at_risk_cents.value / (n * exposure * lgd) == pytest.approx(limit, rel=0.03)


async def test_contributions_add_up_and_name_groups(gateway_channel):
    first = _first(16 * 1024, method=r.PORTFOLIO_METHOD_IMPORTANCE_SAMPLING,
                   include_contributions=True, top_guarantees=5)
    first.guarantees.extend(_guarantees(300))
    progress, result = await _simulate(gateway_channel, [first])
    contributions = result.contributions
    assert len(contributions.top_guarantees) == 5
    assert contributions.top_guarantees[0].id.startswith("g")
    by_sector = sum(g.expected_shortfall_cents.value for g in contributions.by_sector)
    by_branch = sum(g.expected_shortfall_cents.value for g in contributions.by_branch)
    assert by_sector == pytest.approx(contributions.conditional_tail_loss_cents, rel=1e-9)
    assert by_branch == pytest.approx(contributions.conditional_tail_loss_cents, rel=1e-9)
    assert {g.name for g in contributions.by_sector} == {"health", "transport"}
    # Found walking the fund analyst's journey: the contribution passes streamed no
    # progress (the last said "1 s left", then nothing for 47 s). Both phases report,
    # each with its share, and the share of the whole run only grows.
    phases = [p.phase for p in progress]
    assert r.SIMULATION_PHASE_SIMULATING in phases
    contributing = [p for p in progress if p.phase == r.SIMULATION_PHASE_CONTRIBUTIONS]
    assert phases == sorted(phases) and len(contributing) >= 10
    assert contributing[0].phase_done_share == 0 and contributing[-1].phase_done_share > 0.9
    assert contributing[0].done_share == pytest.approx(1 / 3)  # two passes of three left
    done = [p.done_share for p in progress]
    assert done == sorted(done) and done[-1] < 1
    assert contributing[-1].scenarios_done == result.scenario_count  # the final figures
    top = result.tail_risk[-1]
    assert contributing[-1].expected_shortfall_cents == top.expected_shortfall_cents
    assert not result.contributions_stopped


async def test_cancel_stops_the_simulation_and_the_service_stays_healthy(gateway_channel):
    first = _first(4_000 * 1024)  # far more than the test waits for
    first.guarantees.extend(_guarantees(2000))
    stub = risk_pb2_grpc.RiskServiceStub(gateway_channel)

    async def requests():
        yield first

    call = stub.SimulatePortfolio(requests(), timeout=120)
    async for reply in call:
        assert reply.HasField("progress")
        break
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call.read()
    # The backend stopped its work: a small simulation answers promptly afterwards.
    quick = _first(2048)
    quick.guarantees.extend(_guarantees(10))
    _, result = await _simulate(gateway_channel, [quick], timeout=30)
    assert result.scenario_count == 2048


async def test_deadline_is_honoured(gateway_channel):
    first = _first(40_000 * 1024)
    first.guarantees.extend(_guarantees(2000))
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await _simulate(gateway_channel, [first], timeout=1.5)
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def _bad_fields(error) -> dict[str, str]:
    status = rpc_status.from_call(error)  # the gateway's refusals lead with an ErrorInfo
    bad = error_details_pb2.BadRequest()
    assert status is not None and any(detail.Unpack(bad) for detail in status.details)
    return {v.field: v.description for v in bad.field_violations}


@pytest.mark.parametrize("mutate, field", [
    (lambda m: setattr(m.guarantees[17], "probability_of_default", 1.5),
     "guarantees[17].probability_of_default"),
    (lambda m: setattr(m.guarantees[3], "exposure_cents", -1), "guarantees[3].exposure_cents"),
    (lambda m: m.guarantees[5].factor_loadings.__setitem__(0, 1.2),
     "guarantees[5].factor_loadings"),
    (lambda m: setattr(m.guarantees[8], "branch", "XYZ"), "guarantees[8].branch"),
    (lambda m: m.dependence.factor_correlation.extend([1.0, 1.5, 1.5, 1.0]),
     "dependence.factor_correlation"),
    # Found by the API fuzzing: the engine's own names came back (background_variance is
    # no field of Dependence), or a run had started before the engine refused.
    (lambda m: setattr(m.dependence, "creditriskplus_background_variance", -1.0),
     "dependence.creditriskplus_background_variance"),
    (lambda m: m.dependence.creditriskplus_sector_variances.extend([1e-310]),
     "dependence.creditriskplus_sector_variances"),
    (lambda m: (setattr(m.simulation, "method", r.PORTFOLIO_METHOD_CREDITRISKPLUS),
                setattr(m.simulation, "target_relative_error", 5.0)),
     "simulation.target_relative_error"),
    (lambda m: setattr(m.guarantees[4], "fee_rate", 1e14), "guarantees[4].fee_rate"),
    # Issue 7: a method the model cannot run was refused once the run had started,
    # naming "method", no field of the request.
    (lambda m: (setattr(m.simulation, "method", r.PORTFOLIO_METHOD_SEMI_ANALYTIC),
                setattr(m.dependence, "copula", r.COPULA_STUDENT_T),
                setattr(m.dependence, "degrees_of_freedom", 5)), "dependence.copula"),
    (lambda m: (setattr(m.simulation, "method", r.PORTFOLIO_METHOD_CREDITRISKPLUS),
                setattr(m.guarantees[2], "probability_of_default", 1.0)),
     "guarantees[2].probability_of_default"),
    (lambda m: setattr(m.guarantees[6], "exposure_cents", 2**63 - 1),
     "guarantees[6].exposure_cents"),
    # A cap rate of 0 capped the fund's payouts at nothing: a riskless fund, silently.
    (lambda m: setattr(m.fund, "portfolio_cap_rate", 0.0), "fund.portfolio_cap_rate"),
    # A guarantee rate of 0 was read as 1: 100 % cover (absent is 1).
    (lambda m: setattr(m.guarantees[11], "guarantee_rate", 0.0),
     "guarantees[11].guarantee_rate"),
])
async def test_bad_portfolio_names_field_and_row(gateway_channel, mutate, field):
    first = _first(1024)
    first.guarantees.extend(_guarantees(20))
    if field == "dependence.factor_correlation":
        for g in first.guarantees:
            g.factor_loadings[:] = [0.3, 0.3]
    mutate(first)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await _simulate(gateway_channel, [first])
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in _bad_fields(failure.value)


def test_portfolio_above_the_bound_is_refused(nats_server, tmp_path):
    stack = start_stack(nats_server, tmp_path, {"IJH_MAX_GUARANTEES": "100"})
    try:
        first = _first(1024)
        first.guarantees.extend(_guarantees(101))
        with stack.gateway_channel("analyst") as channel:
            stub = risk_pb2_grpc.RiskServiceStub(channel)
            with pytest.raises(grpc.RpcError) as failure:
                list(stub.SimulatePortfolio(iter([first]), timeout=30))
        assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "guarantees[100]" in _bad_fields(failure.value)  # the first row too many
        # Found by the stream fuzzing: past the bound in the second of many chunks, the
        # refusal came while the gateway still forwarded chunks, and grpc.aio's failed
        # write turned it into INTERNAL "Internal error from Core" (grpc/grpc#36066).
        chunks = [_first(1024)] + [r.SimulatePortfolioRequest() for _ in range(200)]
        for chunk in chunks:
            chunk.guarantees.extend(_guarantees(60 if chunk is chunks[0] else 500))
        with stack.gateway_channel("analyst") as channel:
            stub = risk_pb2_grpc.RiskServiceStub(channel)
            with pytest.raises(grpc.RpcError) as failure:
                list(stub.SimulatePortfolio(iter(chunks), timeout=30))
        assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "guarantees[100]" in _bad_fields(failure.value)
    finally:
        stack.stop()


async def test_options_in_a_later_message_are_refused(gateway_channel):
    # Found by the stream fuzzing: options in a later message were ignored, so a client
    # that changed them midway got figures for options it did not mean. Many chunks
    # follow, so the refusal comes while the gateway still forwards them.
    first = _first(1024)
    first.guarantees.extend(_guarantees(20))
    again = r.SimulatePortfolioRequest(fund=r.FundTerms(capital_cents=1))
    messages = [first, again] + [r.SimulatePortfolioRequest(guarantees=_guarantees(500))
                                 for _ in range(200)]
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await _simulate(gateway_channel, messages)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(_bad_fields(failure.value)) == {"fund"}
    assert "message 1" in _bad_fields(failure.value)["fund"]


async def test_a_start_the_method_cannot_run_is_refused_at_once(gateway_channel):
    # Issue 7: the start was accepted and its operation ended INVALID_ARGUMENT; now the
    # start itself names the method and the fields in its way, in the request's paths.
    simulation = _first(1024, method=r.PORTFOLIO_METHOD_SEMI_ANALYTIC)
    simulation.fund.horizon_years = 3
    simulation.fund.annual_fee_income_cents = 1_000_000
    simulation.guarantees.extend(_guarantees(20))
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await risk_pb2_grpc.RiskServiceStub(gateway_channel).StartPortfolioSimulation(
            r.StartPortfolioSimulationRequest(request_id=uuid.uuid4().hex,
                                              simulation=simulation), timeout=30)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = _bad_fields(failure.value)
    assert set(fields) == {"simulation.simulation.method", "simulation.fund.horizon_years",
                           "simulation.fund.annual_fee_income_cents"}
    assert "monte_carlo" in fields["simulation.simulation.method"]


async def test_a_million_guarantees_are_accepted(gateway_channel):
    n, chunk = 1_000_000, 50_000  # a chunk must stay under the gateway's 4 MiB
    template = _guarantees(12, pd=0.002, exposure=50_000_00, loading=0.3)
    messages = [_first(1024, method=r.PORTFOLIO_METHOD_MONTE_CARLO)]
    for start in range(0, n, chunk):
        message = messages[0] if start == 0 else r.SimulatePortfolioRequest()
        message.guarantees.extend(template[i % 12] for i in range(start, start + chunk))
        if start:
            messages.append(message)
    _, result = await _simulate(gateway_channel, messages, timeout=300)
    assert result.guarantee_count == n
    expected = n * 0.002 * 0.5 * 50_000_00
    assert result.expected_loss_cents.value == pytest.approx(expected, rel=1e-12)


async def test_incremental_risk_of_a_candidate(gateway_channel):
    stub = risk_pb2_grpc.RiskServiceStub(gateway_channel)
    portfolio = _guarantees(400)
    request = r.EvaluateIncrementalRiskRequest(
        portfolio=portfolio, fund=r.FundTerms(capital_cents=10**12, horizon_years=1),
        simulation=r.PortfolioSimulationOptions(scenario_count=16 * 1024, seed=3))
    request.candidate.CopyFrom(_guarantees(1, exposure=0)[0])
    nothing = await stub.EvaluateIncrementalRisk(request, timeout=60)
    assert nothing.expected_loss_change_cents.value == 0
    assert all(t.expected_shortfall_change_cents.value == 0 for t in nothing.tail_risk)

    request.candidate.exposure_cents = 20_000_000_00
    request.candidate.probability_of_default = 0.05
    added = await stub.EvaluateIncrementalRisk(request, timeout=60)
    expected = 0.05 * 0.5 * 20_000_000_00
    change = added.expected_loss_change_cents
    assert abs(change.value - expected) < 4 * change.standard_error + 1
    top = added.tail_risk[-1]
    assert top.expected_shortfall_change_cents.value > 0
    after, before = top.expected_shortfall_after_cents, top.expected_shortfall_before_cents
    assert np.isclose(after.value - before.value, top.expected_shortfall_change_cents.value,
                      rtol=1e-6)


@pytest.mark.parametrize("mutate, field", [
    (lambda q: setattr(q.portfolio[3], "probability_of_default", 1.5),
     "portfolio[3].probability_of_default"),
    (lambda q: setattr(q.portfolio[2], "deductible_cents", -1), "portfolio[2].deductible_cents"),
    (lambda q: q.portfolio[1].cumulative_default_probability.extend([0.01]),  # 1 year < 3
     "portfolio[1].cumulative_default_probability"),
    (lambda q: setattr(q.candidate, "loss_given_default", 2.0), "candidate.loss_given_default"),
    (lambda q: setattr(q.candidate, "branch", "XYZ"), "candidate.branch"),
])
async def test_incremental_risk_names_the_requests_own_fields(gateway_channel, mutate, field):
    # Found by the API fuzzing: the engine's names came back as they were, naming
    # "guarantees[3]..." and "candidate[0]..." of a request whose rows are "portfolio" and
    # whose candidate is one message.
    request = r.EvaluateIncrementalRiskRequest(
        portfolio=_guarantees(6), candidate=_guarantees(1)[0],
        fund=r.FundTerms(capital_cents=10**12, horizon_years=3),
        simulation=r.PortfolioSimulationOptions(scenario_count=1024, seed=3))
    mutate(request)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await risk_pb2_grpc.RiskServiceStub(gateway_channel).EvaluateIncrementalRisk(
            request, timeout=60)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(_bad_fields(failure.value)) == {field}


async def test_creditriskplus_runs_with_given_sector_variances(gateway_channel):
    # CreditRisk+ keeps expected loss exact: EL = sum PD x LGD x exposure.
    first = _first(0, method=r.PORTFOLIO_METHOD_CREDITRISKPLUS)
    first.dependence.creditriskplus_sector_variances.append(0.8)
    first.guarantees.extend(_guarantees(300))
    _, result = await _simulate(gateway_channel, [first])
    assert result.method == r.PORTFOLIO_METHOD_CREDITRISKPLUS
    expected = 300 * 0.01 * 0.5 * 1_000_000_00
    assert result.expected_loss_cents.value == pytest.approx(expected, rel=1e-9)
    top = result.tail_risk[-1]
    assert top.expected_shortfall_cents.value >= top.value_at_risk_cents.value > expected


async def _simulated_event(stack, channel, first) -> dict:
    """The data of the ijh.risk.portfolio.simulated event of streaming ``first``."""
    nc = await nats.connect(stack.nats.url)
    try:
        subscription = await nc.subscribe("ijh.risk.portfolio.simulated")
        _, result = await _simulate(channel, [first])
        subject = f"portfolio-simulations/seed-{result.seed}"
        while True:
            event = json.loads((await subscription.next_msg(timeout=30)).data)
            if event["subject"] == subject:
                return event["data"]
    finally:
        await nc.close()


async def test_the_simulated_event_names_the_level_of_each_figure(stack, gateway_channel):
    # Found walking the fund analyst's journey: the event's "999" fields held the highest
    # level asked, whatever it was (VaR95 with levels (0.95,)).
    first = _first(2048, seed=60_001, levels=[0.95])
    first.guarantees.extend(_guarantees(50))
    data = await _simulated_event(stack, gateway_channel, first)
    assert [t["level"] for t in data["tail_risk"]] == [0.95]
    assert data["tail_risk"][0]["value_at_risk_cents"] > 0
    assert "value_at_risk_999_cents" not in data
    assert "expected_shortfall_999_cents" not in data

    first = _first(2048, seed=60_002, levels=[0.999, 0.99])
    first.fund.horizon_years = 4
    first.guarantees.extend(_guarantees(50))
    data = await _simulated_event(stack, gateway_channel, first)
    assert data["horizon_years"] == 4  # the years its losses cover
    assert [t["level"] for t in data["tail_risk"]] == [0.99, 0.999]
    at_999 = data["tail_risk"][1]
    assert data["value_at_risk_999_cents"] == at_999["value_at_risk_cents"]
    assert data["expected_shortfall_999_cents"] == at_999["expected_shortfall_cents"]
