"""Portfolio simulations as long-running operations, through the gateway."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid

import grpc
import nats
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from ijh.risk.v1 import risk_pb2 as r
from ijh.risk.v1 import risk_pb2_grpc

from services.embedded import ServiceProcess
from services.shared.nats_server import free_port
from tests.stack import caller_key_env, keys_of, signing_channel


def _simulation(guarantees: int, scenarios: int, seed: int = 11) -> r.SimulatePortfolioRequest:
    request = r.SimulatePortfolioRequest(
        fund=r.FundTerms(capital_cents=10**12, horizon_years=2),
        simulation=r.PortfolioSimulationOptions(scenario_count=scenarios, seed=seed,
                                                method=r.PORTFOLIO_METHOD_MONTE_CARLO))
    request.guarantees.extend(
        r.Guarantee(id=f"g{i}", exposure_cents=5_000_000, probability_of_default=0.02,
                    loss_given_default=0.45, sector="energy", branch="YM",
                    counterparty_kind=r.COUNTERPARTY_KIND_PUBLIC_UNIT, factor_loadings=[0.35])
        for i in range(guarantees))
    return request


def _start(simulation, request_id=None) -> r.StartPortfolioSimulationRequest:
    return r.StartPortfolioSimulationRequest(request_id=request_id or uuid.uuid4().hex,
                                             simulation=simulation)


@pytest.fixture
def analyst(stack):
    async def open_channel():
        return grpc.aio.secure_channel(stack.gateway.address,
                                       stack.gateway_credentials("analyst"))
    return open_channel


async def test_started_polled_and_listed(analyst):
    channel = await analyst()
    stub = risk_pb2_grpc.RiskServiceStub(channel)
    started = (await stub.StartPortfolioSimulation(_start(_simulation(200, 8 * 1024)))).operation
    assert started.name.startswith("operations/")
    assert started.metadata.guarantee_count == 200
    assert started.metadata.horizon_years == 2  # the years its loss covers
    # Its size is known from the start: 0 of N, not 0/0, until the first chunk.
    assert started.metadata.progress.scenarios_total == 8 * 1024
    assert started.metadata.progress.scenarios_done == 0
    operation = started
    for _ in range(300):
        operation = (await stub.GetOperation(r.GetOperationRequest(name=started.name))).operation
        if operation.done:
            break
        await asyncio.sleep(0.05)
    assert operation.done and operation.HasField("response")
    assert operation.response.scenario_count == 8 * 1024
    assert operation.response.horizon_years == 2
    assert operation.metadata.end_time
    listed = await stub.ListOperations(r.ListOperationsRequest(page_size=100))
    mine = [o for o in listed.operations if o.name == started.name]
    # A list's view: done, no error, and the result left to GetOperation.
    assert len(mine) == 1 and mine[0].done and not mine[0].HasField("response")
    assert mine[0].metadata == operation.metadata
    await channel.close()


async def test_same_request_id_returns_the_same_operation(analyst):
    channel = await analyst()
    stub = risk_pb2_grpc.RiskServiceStub(channel)
    request = _start(_simulation(50, 2048))
    first = (await stub.StartPortfolioSimulation(request)).operation
    again = (await stub.StartPortfolioSimulation(request)).operation
    assert first.name == again.name
    # The same id with another simulation is a mistake, not a retry: refused, and the
    # first operation is not handed out for it.
    other = _start(_simulation(50, 2048, seed=12), request_id=request.request_id)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await stub.StartPortfolioSimulation(other)
    assert failure.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert first.name in failure.value.details()
    await channel.close()


async def test_a_start_without_a_seed_gets_one_from_its_request_id(stack, analyst):
    # Found walking the fund analyst's journey: a detached run's seed was not known until
    # it ended (the metadata had none), so one interrupted could not be run again with
    # the same figures. Without a seed the service derives one from the request_id: a
    # retry is the same simulation, and the metadata names the seed (and the method).
    simulation = _simulation(50, 2048)
    simulation.simulation.ClearField("seed")
    simulation.simulation.method = r.PORTFOLIO_METHOD_UNSPECIFIED
    request = _start(simulation)
    channel = await analyst()
    stub = risk_pb2_grpc.RiskServiceStub(channel)
    started = (await stub.StartPortfolioSimulation(request)).operation
    seed = started.metadata.seed
    assert seed != 0
    assert started.metadata.method == r.PORTFOLIO_METHOD_SEMI_ANALYTIC  # what auto runs
    assert (await stub.StartPortfolioSimulation(request)).operation.name == started.name
    operation = started
    while not operation.done:
        operation = (await stub.WaitOperation(r.WaitOperationRequest(
            name=started.name, timeout_seconds=10))).operation
    assert operation.response.seed == seed
    assert operation.response.method == operation.metadata.method
    listed = await stub.ListOperations(r.ListOperationsRequest(page_size=100))
    assert [o.metadata.seed for o in listed.operations if o.name == started.name] == [seed]
    await channel.close()
    # Another caller's start with the same request_id is theirs, with the same seed: the
    # same figures (as a retry after the first had expired would get).
    async with grpc.aio.secure_channel(stack.gateway.address,
                                       stack.gateway_credentials("officer")) as officer:
        theirs = (await risk_pb2_grpc.RiskServiceStub(officer).StartPortfolioSimulation(
            request)).operation
    assert theirs.name != started.name and theirs.metadata.seed == seed


async def test_a_request_id_is_the_callers_own(stack, analyst):
    """Another caller using the same request_id starts their own simulation."""
    request = _start(_simulation(50, 2048))
    channel = await analyst()
    first = (await risk_pb2_grpc.RiskServiceStub(channel).StartPortfolioSimulation(
        request)).operation
    await channel.close()
    async with grpc.aio.secure_channel(stack.gateway.address,
                                       stack.gateway_credentials("officer")) as officer:
        theirs = (await risk_pb2_grpc.RiskServiceStub(officer).StartPortfolioSimulation(
            request)).operation
    assert theirs.name != first.name
    assert theirs.metadata.creator != first.metadata.creator


async def test_cancelled_operation_ends_with_cancelled_and_partial_progress(analyst):
    channel = await analyst()
    stub = risk_pb2_grpc.RiskServiceStub(channel)
    started = (await stub.StartPortfolioSimulation(
        _start(_simulation(3000, 2_000 * 1024)))).operation
    for _ in range(600):  # wait for the first progress report (about 1/20 of the run)
        operation = (await stub.GetOperation(r.GetOperationRequest(name=started.name))).operation
        if operation.metadata.progress.scenarios_done:
            break
        await asyncio.sleep(0.05)
    cancelled = (await stub.CancelOperation(r.CancelOperationRequest(name=started.name))
                 ).operation
    while not cancelled.done:  # it stops at its next chunk boundary
        cancelled = (await stub.WaitOperation(r.WaitOperationRequest(
            name=started.name, timeout_seconds=10))).operation
    assert cancelled.error.code == grpc.StatusCode.CANCELLED.value[0]
    progress = cancelled.metadata.progress
    assert 0 < progress.scenarios_done < progress.scenarios_total
    await channel.close()


async def test_a_cancel_while_contributions_are_computed_keeps_the_result(analyst):
    # The contributions are two more passes over the scenarios after the simulation: the
    # progress reports them (their phase and share) and the time left counts them, and a
    # cancel stops them too. Found walking the fund analyst's journey: that cancel threw
    # the finished simulation's figures away ("cancelled", "scenarios 102,400 / 102,400",
    # no result). The operation now ends done with the result, without contributions,
    # saying so (AIP-151: it completed despite the cancel).
    channel = await analyst()
    stub = risk_pb2_grpc.RiskServiceStub(channel)
    simulation = _simulation(3000, 400 * 1024)
    simulation.simulation.include_contributions = True
    started = (await stub.StartPortfolioSimulation(_start(simulation))).operation
    for _ in range(3000):  # until the contributions have reported some progress
        operation = (await stub.GetOperation(r.GetOperationRequest(name=started.name))).operation
        progress = operation.metadata.progress
        if operation.done or (progress.phase == r.SIMULATION_PHASE_CONTRIBUTIONS
                              and progress.phase_done_share > 0):
            break
        await asyncio.sleep(0.02)
    assert not operation.done, "the contributions ended before the test could cancel them"
    assert progress.scenarios_done == progress.scenarios_total == 400 * 1024
    assert 0 < progress.phase_done_share < 1 and 1 / 3 < progress.done_share < 1
    assert operation.metadata.seconds_left > 0.05  # the passes are not done
    cancelled = (await stub.CancelOperation(r.CancelOperationRequest(name=started.name))
                 ).operation
    assert cancelled.done  # within the cancel's wait: the passes stop between blocks
    assert not cancelled.HasField("error") and cancelled.HasField("response")
    result = cancelled.response
    assert result.contributions_stopped and not result.HasField("contributions")
    assert result.scenario_count == 400 * 1024 and result.tail_risk
    assert any("risk contributions not computed: cancelled on request" in note
               for note in result.notes)
    assert cancelled.metadata.contributions_stopped
    listed = await stub.ListOperations(r.ListOperationsRequest(page_size=100))
    mine = [o for o in listed.operations if o.name == started.name]
    assert mine[0].metadata.contributions_stopped and not mine[0].HasField("error")
    await channel.close()


async def test_completes_while_its_starter_is_away(analyst, stack):
    simulation = _simulation(400, 16 * 1024, seed=99)
    first = await analyst()
    started = (await risk_pb2_grpc.RiskServiceStub(first).StartPortfolioSimulation(
        _start(simulation))).operation
    await first.close()  # the starter disconnects

    second = await analyst()  # ...and comes back on a new connection
    stub = risk_pb2_grpc.RiskServiceStub(second)
    operation = started
    while not operation.done:
        operation = (await stub.WaitOperation(r.WaitOperationRequest(
            name=started.name, timeout_seconds=10))).operation
    assert operation.HasField("response")
    # The same seed streamed directly gives the same figures: the operation is the
    # same computation, only detached from the connection.
    streamed = None
    async for reply in stub.SimulatePortfolio(iter([simulation])):
        if reply.HasField("result"):
            streamed = reply.result
    assert operation.response.expected_loss_cents == streamed.expected_loss_cents
    assert list(operation.response.tail_risk) == list(streamed.tail_risk)
    await second.close()


async def test_progress_is_published_on_nats(analyst, stack):
    nc = await nats.connect(stack.nats.url)
    subscription = await nc.subscribe("ijh.risk.operation.progressed")
    channel = await analyst()
    started = (await risk_pb2_grpc.RiskServiceStub(channel).StartPortfolioSimulation(
        _start(_simulation(100, 8 * 1024)))).operation
    seen = []
    while True:
        message = await subscription.next_msg(timeout=30)
        event = json.loads(message.data)
        if event["subject"] == started.name:
            seen.append(event["data"])
            if event["data"].get("done"):
                break
    await nc.close()
    await channel.close()
    assert seen[-1]["done"] is True
    assert int(seen[-1]["scenarios_done"]) == 8 * 1024
    assert seen[-1]["phase"] == "simulating" and seen[-1]["phase_done_share"] == 1
    assert len(seen) >= 2
    # published in order, numbered so that a reader can drop a stale one
    assert [event["sequence"] for event in seen] == list(range(1, len(seen) + 1))


async def test_unknown_operation_is_not_found(analyst):
    channel = await analyst()
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await risk_pb2_grpc.RiskServiceStub(channel).GetOperation(
            r.GetOperationRequest(name="operations/nope"))
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND
    # Kept for the retention time (in NATS, across restarts); the answer says so.
    assert "retention" in failure.value.details() and "same seed" in failure.value.details()
    await channel.close()


@pytest.mark.parametrize("mutate, field", [
    (lambda s: setattr(s.guarantees[2], "probability_of_default", 1.5),
     "simulation.guarantees[2].probability_of_default"),
    (lambda s: setattr(s.guarantees[1], "counterparty_kind", 0),
     "simulation.guarantees[1].counterparty_kind"),
    (lambda s: setattr(s.dependence, "copula", r.COPULA_STUDENT_T),
     "simulation.dependence.degrees_of_freedom"),
    (lambda s: setattr(s.simulation, "scenario_count", 10**12),
     "simulation.simulation.scenario_count"),
])
async def test_a_bad_simulation_is_refused_naming_the_requests_own_fields(analyst, mutate,
                                                                         field):
    # Found by the API fuzzing: a start's simulation sits in its field "simulation", but
    # the refusal named "guarantees[2]..." and "dependence...", no fields of the request.
    simulation = _simulation(guarantees=4, scenarios=1024)
    mutate(simulation)
    channel = await analyst()
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await risk_pb2_grpc.RiskServiceStub(channel).StartPortfolioSimulation(
            _start(simulation), timeout=30)
    await channel.close()
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(failure.value)
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    assert {v.field for v in bad.field_violations} == {field}


async def test_agencies_may_not_start_portfolio_simulations(stack):
    async with grpc.aio.secure_channel(stack.gateway.address,
                                       stack.gateway_credentials("agency")) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await risk_pb2_grpc.RiskServiceStub(channel).StartPortfolioSimulation(
                _start(_simulation(5, 1024)))
    assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_shutdown_stops_running_operations_within_drain_and_grace(nats_server,
                                                                          tmp_path):
    drain, grace = 2.0, 2.0
    address = f"127.0.0.1:{free_port()}"
    risk = ServiceProcess("risk", address, {
        "IJH_NATS_URL": nats_server.url, "IJH_VAR_DIR": str(tmp_path),
        "IJH_RISK_ADDRESS": address, "IJH_RISK_METRICS_ADDRESS": "0",
        "IJH_DRAIN_SECONDS": str(drain), "IJH_GRACE_SECONDS": str(grace),
        **caller_key_env(tmp_path)}, tmp_path / "risk.log").start()
    try:
        await asyncio.to_thread(risk.wait_serving)
        async with signing_channel(address, keys_of(tmp_path), "t-analyst",
                                   "analyst") as channel:
            stub = risk_pb2_grpc.RiskServiceStub(channel)
            # Long: minutes, each chunk (the engine's stop points) seconds.
            started = (await stub.StartPortfolioSimulation(
                _start(_simulation(5000, 40_000 * 1024)))).operation
            await asyncio.sleep(0.5)
            risk.process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            await asyncio.sleep(0.5)
            with pytest.raises(grpc.aio.AioRpcError) as refused:  # during the drain
                await stub.StartPortfolioSimulation(_start(_simulation(5, 1024)))
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        code = await asyncio.to_thread(risk.process.wait, drain + grace + 6)
        took = time.monotonic() - signalled
    finally:
        risk.stop()
    assert code == 0
    assert took <= drain + grace + 4  # was 39 s with a grace of 5 s
    log = [json.loads(line) for line in (tmp_path / "risk.log").read_text().splitlines()
           if line.startswith("{")]
    done = [e for e in log if e["message"] == "operation done"]
    assert [(e["operation"], e["code"]) for e in done] == [(started.name, "ABORTED")]
    assert "stopped by a service shutdown" in done[0]["error"]
    assert "seed 11 gives the same figures" in done[0]["error"]  # the seed to start it with
    assert [e["message"] for e in log][-1] == "stopped"  # nothing after: no pending tasks
    assert not any(e["level"] == "ERROR" for e in log)
    assert "Task was destroyed" not in (tmp_path / "risk.log").read_text()
