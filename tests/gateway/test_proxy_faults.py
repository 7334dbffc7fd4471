"""The proxy in front of a backend that is down, hung or refusing on its own account:
an in-process gateway (real grpc.aio over loopback, no door) and a real backend server."""

from __future__ import annotations

import asyncio
import logging
import time

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2
from grpc_status import rpc_status
from ijh.funding.v1 import funding_pb2

from services.gateway.proxy import BACKEND_RETRY_SECONDS, ServiceProxy
from services.gateway.server import FUNDING_SERVICE
from services.shared import errors, grpc_errors
from services.shared.nats_server import free_port

PATH = "/ijh.funding.v1.FundingService/ComputeGrant"


class _Backend(grpc.GenericRpcHandler):
    """Answers every call as ``behaviour`` says: hang, refuse on its own account (as
    funding does when the risk service is down), or echo."""

    def __init__(self):
        self.behaviour = "echo"

    def service(self, details):
        async def answer(request: bytes, context):
            if self.behaviour == "hang":
                await asyncio.sleep(30)
            if self.behaviour == "own outage":
                await grpc_errors.abort(context, grpc_errors.to_status(errors.Unavailable(
                    "RISK_CHECK_UNAVAILABLE", "the risk-appetite check could not be made",
                    7.0, {"dependency": "risk"})))
            return request
        return grpc.unary_unary_rpc_method_handler(answer)


async def _gateway(backend_address: str, deadline: float = 5.0, down=lambda: False):
    channel = grpc.aio.insecure_channel(backend_address)
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([ServiceProxy(FUNDING_SERVICE, channel, deadline,
                                                  backend="funding", backend_down=down)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, channel, grpc.aio.insecure_channel(f"127.0.0.1:{port}")


@pytest.fixture
async def backend():
    handler = _Backend()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([handler])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield handler, f"127.0.0.1:{port}"
    await server.stop(0)


async def _call(client: grpc.aio.Channel, timeout: float = 10.0):
    request = funding_pb2.ComputeGrantRequest(reference_date="2025-05-05")
    call = client.unary_unary(PATH, request_serializer=type(request).SerializeToString,
                              response_deserializer=type(request).FromString)
    return await call(request, timeout=timeout)


def _details(error: grpc.aio.AioRpcError):
    status = rpc_status.from_call(error)
    info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
    found_info = any(d.Unpack(info) for d in status.details)
    found_retry = any(d.Unpack(retry) for d in status.details)
    return (info if found_info else None), (retry if found_retry else None)


def assert_backend_unavailable(error: grpc.aio.AioRpcError, backend: str) -> None:
    """The gateway's own answer for a backend it cannot reach."""
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error.details() == f"the {backend} service is unavailable; retry shortly"
    info, retry = _details(error)
    assert info.reason == "BACKEND_UNAVAILABLE" and dict(info.metadata) == {"service": backend}
    assert retry.retry_delay.ToTimedelta().total_seconds() == BACKEND_RETRY_SECONDS
    assert ("grpc-retry-pushback-ms", "-1") in tuple(error.trailing_metadata())
    assert "127.0.0.1" not in str(error) and "ipv4" not in str(error)


async def test_an_unreachable_backend_is_named_with_retry_info_and_no_address(caplog):
    server, channel, client = await _gateway(f"127.0.0.1:{free_port()}")  # nothing listens
    try:
        with caplog.at_level(logging.INFO, logger="services.gateway.proxy"), \
                pytest.raises(grpc.aio.AioRpcError) as failure:
            await _call(client)
        assert_backend_unavailable(failure.value, "funding")
        logged = [r for r in caplog.records if r.name == "services.gateway.proxy"]
        assert [(r.getMessage(), r.levelname, r.backend) for r in logged] == [
            ("backend unavailable", "WARNING", "funding")]
        assert "refused" not in caplog.text.replace("Connection refused", "")
    finally:
        await client.close()
        await server.stop(0)
        await channel.close()


async def test_a_backends_own_unavailable_passes_unchanged(backend):
    handler, address = backend
    handler.behaviour = "own outage"
    server, channel, client = await _gateway(address)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await _call(client)
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
        assert failure.value.details() == "the risk-appetite check could not be made"
        info, retry = _details(failure.value)
        assert info.reason == "RISK_CHECK_UNAVAILABLE"
        assert retry.retry_delay.seconds == 7
        assert rpc_status.from_call(failure.value).code == code_pb2.UNAVAILABLE
    finally:
        await client.close()
        await server.stop(0)
        await channel.close()


async def test_a_hung_backend_is_named_when_its_deadline_passes(backend):
    handler, address = backend
    handler.behaviour = "hang"
    server, channel, client = await _gateway(address, deadline=0.5)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await _call(client, timeout=10)
        assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert failure.value.details() == \
            "the funding service did not answer within the deadline"
    finally:
        await client.close()
        await server.stop(0)
        await channel.close()


async def test_a_backend_found_down_is_refused_at_once_and_served_once_up(backend):
    handler, address = backend
    handler.behaviour = "hang"  # were the call forwarded, it would wait its deadline
    down = True
    server, channel, client = await _gateway(address, deadline=20, down=lambda: down)
    try:
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await _call(client, timeout=20)
        assert time.monotonic() - started < 2
        assert_backend_unavailable(failure.value, "funding")
        down, handler.behaviour = False, "echo"
        reply = await _call(client)
        assert reply.reference_date == "2025-05-05"
    finally:
        await client.close()
        await server.stop(0)
        await channel.close()


async def test_one_missed_health_poll_does_not_mark_a_backend_down():
    # A single failed Check (a busy loop, a GC pause) must not refuse calls the backend
    # still serves: down takes HEALTH_MISSES_FOR_DOWN polls in a row; SERVING resets.
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    from services.gateway import server as gateway_server
    from services.shared.config import load_settings
    from services.shared.server import ServiceRuntime

    backend_server = grpc.aio.server()
    checker = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checker, backend_server)
    port = backend_server.add_insecure_port("127.0.0.1:0")
    await backend_server.start()
    name = FUNDING_SERVICE.full_name
    await checker.set(name, health_pb2.HealthCheckResponse.SERVING)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    backend = gateway_server.Backend("funding", FUNDING_SERVICE, f"127.0.0.1:{port}", channel)
    runtime = ServiceRuntime("gateway", "127.0.0.1:0", load_settings(), registrations=[])
    watcher = asyncio.create_task(gateway_server._watch_backends(runtime, [backend]))
    try:
        async def until(condition, seconds=10.0):
            deadline = time.monotonic() + seconds
            while not condition():
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)

        await until(lambda: backend.status == health_pb2.HealthCheckResponse.SERVING)
        await checker.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await until(lambda: backend.misses == 1)
        assert not backend.down()
        await until(lambda: backend.down())
        assert backend.misses >= gateway_server.HEALTH_MISSES_FOR_DOWN
        await checker.set(name, health_pb2.HealthCheckResponse.SERVING)
        await until(lambda: not backend.down())
        assert backend.misses == 0
    finally:
        watcher.cancel()
        await channel.close()
        await backend_server.stop(None)


def test_only_a_single_address_is_refused_on_the_polls_word():
    # A target naming replicas is balanced by the channel itself, over those SERVING; a
    # poll reaching one slow replica must not refuse calls the others could serve.
    from grpc_health.v1 import health_pb2

    from services.gateway import server as gateway_server

    for address, refused in (("127.0.0.1:50053", True),
                             ("dns:///funding-headless:50053", False),
                             ("ipv4:10.0.0.5:50053,10.0.0.6:50053", False)):
        backend = gateway_server.Backend("funding", FUNDING_SERVICE, address)
        backend.status = health_pb2.HealthCheckResponse.NOT_SERVING
        assert backend.down() is refused
