"""A procurement estimate the service takes must be able to end within its call, and one
whose call ends first must stop computing.

2,000 PERT cost items take ~7 s per 80,000 scenarios on this machine: the 2,000,000
scenarios the service allowed them were minutes, far past the gateway's 30 s deadline,
and after the DEADLINE_EXCEEDED the worker thread went on computing for no one (~9 s
measured). The risk servicer here runs in this process behind a real gRPC server on
loopback, so the test sees the engine's chunks and the end of its run."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from ijh.risk.v1 import risk_pb2 as r
from ijh.risk.v1 import risk_pb2_grpc

from services.risk import server as risk_server
from services.risk.engine.procurement import risk as engine_risk
from services.risk.engine.procurement import simulation
from services.shared.config import load_settings
from services.shared.nats_server import free_port


@pytest.fixture
async def stub():
    events = SimpleNamespace(publish_soon=lambda event: None)
    servicer = risk_server.RiskServicer(load_settings({}), events)
    server = grpc.aio.server()
    risk_pb2_grpc.add_RiskServiceServicer_to_server(servicer, server)
    address = f"127.0.0.1:{free_port()}"
    server.add_insecure_port(address)
    await server.start()
    channel = grpc.aio.insecure_channel(address)
    try:
        yield risk_pb2_grpc.RiskServiceStub(channel)
    finally:
        await channel.close()
        await server.stop(None)


def _heavy(items: int = 2_000, activities: int = 200) -> r.ProcurementModel:
    model = r.ProcurementModel(kind=r.PROCUREMENT_KIND_NEW_PRODUCT_OR_SERVICE,
                               novelty=r.NOVELTY_LEVEL_NEW_TO_SECTOR, budget_cents=100_000)
    for i in range(items):
        model.cost_items.add(name=f"item{i}").distribution.pert.CopyFrom(
            r.PertCents(min_cents=1, mode_cents=5, max_cents=90))
    for j in range(activities):
        activity = model.activities.add(name=f"step{j}")
        activity.duration.pert.CopyFrom(r.PertDays(min_days=1, mode_days=2, max_days=5))
        if j:
            activity.predecessors.append(f"step{j - 1}")
    return model


def _violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    found = {}
    for detail in rpc_status.from_call(error).details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            for v in bad.field_violations:
                assert v.field not in found, ("one violation a field", found, v)
                found[v.field] = v.description
    return found


async def test_scenarios_times_inputs_is_bounded_naming_both(stub):
    request = r.EstimateProcurementRiskRequest(
        model=_heavy(), simulation=r.SimulationOptions(scenario_count=2_000_000, seed=1))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.EstimateProcurementRisk(request, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    said = _violations(err.value)["simulation.scenario_count"]
    assert "2,200 inputs" in said and "2,000 cost items" in said and "200 activities" in said
    assert f"at most {risk_server.MAX_INPUT_SCENARIOS // 2_200:,} scenarios" in said
    assert "2,000,000 × 2,200" in said
    # Past the scenario bound itself, that bound is the one said (not "at most 90,909").
    request.simulation.scenario_count = 10**12
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.EstimateProcurementRisk(request, timeout=30)
    said = _violations(err.value)["simulation.scenario_count"]
    assert said.startswith("at most 2,000,000 scenarios per request"), said
    request.simulation.scenario_count = 2_000_000
    # The guarantee's evaluation runs the same scenarios: the same bound.
    guarantee = r.EvaluateProcurementGuaranteeRequest(
        model=request.model, simulation=request.simulation,
        terms=r.GuaranteeTerms(covered_loss=r.COVERED_LOSS_COST_OVERRUN, guarantee_rate=0.5,
                               cap_cents=1_000))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.EvaluateProcurementGuarantee(guarantee, timeout=30)
    assert "simulation.scenario_count" in _violations(err.value)


@pytest.mark.parametrize("how", ["deadline", "cancel"])
async def test_a_call_that_ends_stops_the_computation(stub, monkeypatch, how):
    chunks: list[float] = []  # when each chunk was drawn
    ended: list[tuple[float, str]] = []  # when the run ended, and how
    chunk, simulate = simulation._Sampler.chunk, engine_risk.simulate

    def counted_chunk(self, *args, **kwargs):
        chunks.append(time.monotonic())
        return chunk(self, *args, **kwargs)

    def watched_simulate(*args, **kwargs):
        try:
            result = simulate(*args, **kwargs)
        except BaseException as exc:
            ended.append((time.monotonic(), type(exc).__name__))
            raise
        ended.append((time.monotonic(), "finished"))
        return result

    monkeypatch.setattr(simulation._Sampler, "chunk", counted_chunk)
    monkeypatch.setattr(engine_risk, "simulate", watched_simulate)
    # Within the work bound (1.6e8 of 2e8): ~7 s of work, in 20 chunks of 4,096 scenarios.
    request = r.EstimateProcurementRiskRequest(
        model=_heavy(), simulation=r.SimulationOptions(scenario_count=80_000, seed=1))
    if how == "deadline":
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.EstimateProcurementRisk(request, timeout=1.5)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    else:
        call = stub.EstimateProcurementRisk(request, timeout=60)
        while not chunks:  # the run has begun
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
    gone = time.monotonic()
    drawn = len(chunks)
    while not ended and time.monotonic() < gone + 20:
        await asyncio.sleep(0.05)
    assert ended, "the run did not end"
    when, how_it_ended = ended[0]
    # Stopped between chunks (a chunk takes ~0.35 s here), not run to its end (~7 s).
    assert how_it_ended == "RunStopped", (how_it_ended, when - gone, len(chunks))
    # At most the chunk under way and one more after the call ended (no clock: a loaded
    # machine draws a chunk in seconds, not ~0.35 s).
    assert len(chunks) <= drawn + 2 < 20
