"""The risk service answers its health checks while it reads a large portfolio.

Reading 200k guarantee messages into columns takes seconds of pure Python. Done on
the event loop, it silenced the process for that long: health checks (a liveness probe),
GetOperation and cancels all waited. It now runs in a worker thread. Measured as the
slowest health check answered while the start call was in flight, against that call's
length: a blocked loop makes the two about equal. Real risk process, gRPC on loopback."""

from __future__ import annotations

import asyncio
import threading
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ijh.risk.v1 import risk_pb2 as r

from tests.risk.test_operation_records import Risk, _channel, own_nats  # noqa: F401 (fixture)
from tests.risk.test_operations_api import _simulation, _start


def _poll_health(address: str, stop: threading.Event, answered: list[tuple[float, float]]):
    """Health checks back to back until ``stop``: (sent, took) of each."""
    with grpc.insecure_channel(address) as channel:
        check = health_pb2_grpc.HealthStub(channel).Check
        while not stop.is_set():
            sent = time.perf_counter()
            check(health_pb2.HealthCheckRequest(service=""), timeout=30)
            answered.append((sent, time.perf_counter() - sent))
            time.sleep(0.01)


async def test_health_is_answered_while_a_large_portfolio_is_read(own_nats, tmp_path):  # noqa: F811
    risk = await Risk(own_nats.url, tmp_path).start()
    try:
        request = _start(_simulation(200_000, 1024))
        payload = request.SerializeToString()  # the client's own work, before the clock
        stop, answered = threading.Event(), []
        poller = threading.Thread(target=_poll_health, args=(risk.address, stop, answered))
        poller.start()
        await asyncio.sleep(0.3)
        async with _channel(risk.address) as channel:  # signed as the gateway would
            start = channel.unary_unary(
                "/ijh.risk.v1.RiskService/StartPortfolioSimulation",
                request_serializer=lambda raw: raw,
                response_deserializer=r.StartPortfolioSimulationResponse.FromString)
            began = time.perf_counter()
            started = await start(payload, timeout=120)
            took = time.perf_counter() - began
        stop.set()
        await asyncio.to_thread(poller.join)
        during = [t for sent, t in answered if began <= sent <= began + took]
        assert started.operation.name
        assert len(during) >= 3, (took, answered)
        assert max(during) < took / 3, (took, max(during))  # blocked: about took
    finally:
        risk.stop()
