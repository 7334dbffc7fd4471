"""Several replicas of a backend behind the gateway, as real processes: calls are spread
over every replica its address names, and none is sent to a replica that is draining to
stop (client-side health checking), while the gateway stays SERVING."""

from __future__ import annotations

import signal
import time
import uuid

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ijh.risk.v1 import risk_pb2, risk_pb2_grpc

from services.embedded import ServiceProcess
from services.shared.nats_server import free_port
from tests.stack import start_stack, wait_for_text

RISK = "ijh.risk.v1.RiskService"


def _call(stub, label: str) -> str:
    """One call through the gateway; its request id, which the serving replica logs."""
    request_id = f"{label}-{uuid.uuid4().hex}"
    stub.ListOperations(risk_pb2.ListOperationsRequest(page_size=1), timeout=20,
                        metadata=[("x-request-id", request_id)])
    return request_id


def _served_by(log_paths, request_ids: list[str]) -> list[set[str]]:
    """Which of ``request_ids`` each replica's log shows it served, once every one is
    logged somewhere (a call's access line is written just after its reply)."""
    deadline = time.monotonic() + 10
    while True:
        contents = [path.read_text() for path in log_paths]
        served = [{r for r in request_ids if r in content} for content in contents]
        if set().union(*served) == set(request_ids) or time.monotonic() > deadline:
            return served
        time.sleep(0.05)


def test_calls_spread_over_replicas_and_none_reach_one_draining(nats_server, tmp_path):
    stack = start_stack(nats_server, tmp_path)
    second_address = f"127.0.0.1:{free_port()}"
    # It drains long enough for the calls below: still serving, but NOT_SERVING.
    second = ServiceProcess("risk", second_address, {
        **stack.risk.env, "IJH_RISK_ADDRESS": second_address, "IJH_RISK_METRICS_ADDRESS": "0",
        "IJH_DRAIN_SECONDS": "20"}, tmp_path / "risk2.log")
    gateway_address = f"127.0.0.1:{free_port()}"
    gateway = ServiceProcess("gateway", gateway_address, {
        **stack.gateway.env, "IJH_GATEWAY_ADDRESS": gateway_address,
        "IJH_GATEWAY_METRICS_ADDRESS": "0",
        # A gRPC target naming both replicas, as a headless Service's DNS name would.
        "IJH_RISK_ADDRESS": f"ipv4:{stack.risk.address},{second_address}"},
        tmp_path / "gateway2.log")
    gateway.tls_ca = stack.pki.ca
    logs = [stack.risk.log_path, second.log_path]
    try:
        second.start().wait_serving()
        gateway.start().wait_serving(RISK)
        with grpc.secure_channel(gateway_address,
                                 stack.gateway_credentials("officer")) as channel:
            stub = risk_pb2_grpc.RiskServiceStub(channel)
            spread = [_call(stub, "spread") for _ in range(12)]
            first_served, second_served = _served_by(logs, spread)
            assert first_served and second_served, "all calls went to one replica"
            assert first_served | second_served == set(spread)

            second.process.send_signal(signal.SIGTERM)
            assert '"stopping"' in wait_for_text(second.log_path, '"stopping"', 20)
            # Its NOT_SERVING reaches the gateway's watch of it within moments.
            wait_for_text(gateway.log_path, "never appears", 0.5)
            drained = [_call(stub, "drained") for _ in range(12)]
            assert _served_by(logs, drained) == [set(drained), set()]
            assert second.process.poll() is None, "it would still have served them"
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=RISK), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        gateway.stop()
        second.stop(timeout_seconds=5)
        stack.stop()
