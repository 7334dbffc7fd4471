"""The call observer's status label for calls the caller ends: over real gRPC, a cancel or
a passed deadline is CANCELLED / DEADLINE_EXCEEDED, never UNKNOWN (an alert on UNKNOWN must
not fire for them), whether the handler is waiting or a stream is blocked sending."""

from __future__ import annotations

import asyncio

import grpc
from prometheus_client import generate_latest

from services.shared import metrics


async def _slow_unary(request, context):
    await asyncio.sleep(5)
    return b"x"


async def _flooding_stream(request, context):
    while True:
        yield b"y" * 1_000_000  # flow control blocks the send once the caller stops reading


def _codes(registry, method: str) -> dict[str, float]:
    codes = {}
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith("t_requests_total") and f'method="{method}"' in line:
            codes[line.split('code="')[1].split('"')[0]] = float(line.rsplit(" ", 1)[1])
    return codes


async def test_calls_their_callers_end_are_not_counted_as_unknown():
    registry = metrics.new_registry()
    server = grpc.aio.server(interceptors=[metrics.CallObserver(
        metrics.CallMetrics("t", registry))])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("t.S", {
        "U": grpc.unary_unary_rpc_method_handler(_slow_unary),
        "F": grpc.unary_stream_rpc_method_handler(_flooding_stream)})])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(
                f"127.0.0.1:{port}", options=[("grpc.max_receive_message_length", -1)]) as ch:
            for _ in range(2):
                call = ch.unary_unary("/t.S/U")(b"")
                await asyncio.sleep(0.1)
                call.cancel()
            for _ in range(5):
                stream = ch.unary_stream("/t.S/F")(b"")
                await stream.read()
                await asyncio.sleep(0.1)  # the handler is now blocked in a send
                stream.cancel()
            stream = ch.unary_stream("/t.S/F")(b"", timeout=0.3)
            await stream.read()
            await asyncio.sleep(0.6)
            stream.cancel()
        await asyncio.sleep(0.5)  # the observer records on the loop's next turns
    finally:
        await server.stop(None)
    assert _codes(registry, "/t.S/U") == {"CANCELLED": 2.0}
    stream_codes = _codes(registry, "/t.S/F")
    assert "UNKNOWN" not in stream_codes, stream_codes
    assert sum(stream_codes.values()) == 6.0


async def test_a_standing_health_watch_is_not_a_call_in_flight():
    # A caller balancing over replicas keeps one Watch open per connection for hours.
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    registry = metrics.new_registry()
    server = grpc.aio.server(interceptors=[metrics.CallObserver(
        metrics.CallMetrics("t", registry))])
    checker = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            watch = stub.Watch(health_pb2.HealthCheckRequest())
            assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
            await stub.Check(health_pb2.HealthCheckRequest())
            text = generate_latest(registry).decode()
            assert 'method="/grpc.health.v1.Health/Check"' in text  # observed
            assert "Health/Watch" not in text
            watch.cancel()
    finally:
        await server.stop(0)
