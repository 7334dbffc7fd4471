"""Several replicas of a backend behind the gateway, as real processes. A target naming
them (here ``ipv4:a,b``; a headless Service's ``dns:///`` name in a cluster): calls are
spread over every replica, none is sent to one draining to stop, and when every one is
draining the gateway answers in its own words, at once. One address (``host:port``, a
single replica or a load balancer): its draining replica is still sent calls, which it
still serves, until the gateway's health poll has missed twice."""

from __future__ import annotations

import signal
import time
import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ijh.risk.v1 import risk_pb2, risk_pb2_grpc

from services.embedded import ServiceProcess
from services.shared.nats_server import free_port
from tests.gateway.test_gateway import _assert_names_the_backend
from tests.stack import start_stack, wait_for_text

RISK = "ijh.risk.v1.RiskService"


def _call(stub, label: str) -> str:
    """One call through the gateway; its request id, which the serving replica logs."""
    request_id = f"{label}-{uuid.uuid4().hex}"
    stub.ListOperations(risk_pb2.ListOperationsRequest(page_size=1), timeout=20,
                        metadata=[("x-request-id", request_id)])
    return request_id


def _served_by(replicas, request_ids: list[str]) -> list[set[str]]:
    """Which of ``request_ids`` each replica's log shows it served, once every one is
    logged somewhere (a call's access line is written just after its reply)."""
    deadline = time.monotonic() + 10
    while True:
        contents = [replica.log_path.read_text() for replica in replicas]
        served = [{r for r in request_ids if r in content} for content in contents]
        if set().union(*served) == set(request_ids) or time.monotonic() > deadline:
            return served
        time.sleep(0.05)


def _drain(replica: ServiceProcess) -> None:
    """SIGTERM: it reports NOT_SERVING and goes on serving for its drain (20 s)."""
    replica.process.send_signal(signal.SIGTERM)
    assert '"stopping"' in wait_for_text(replica.log_path, '"stopping"', 20)


@pytest.fixture
def replicas(nats_server, tmp_path):
    """The session-like stack, plus two risk replicas of their own that drain 20 s, and a
    gateway in front of them reached as ``make_gateway(risk_address)``."""
    stack = start_stack(nats_server, tmp_path)
    started: list[ServiceProcess] = []

    def start(module: str, name: str, **env: str) -> ServiceProcess:
        address = f"127.0.0.1:{free_port()}"
        process = ServiceProcess(module, address, {
            **getattr(stack, module).env, f"IJH_{module.upper()}_ADDRESS": address,
            f"IJH_{module.upper()}_METRICS_ADDRESS": "0", **env}, tmp_path / f"{name}.log")
        if module == "gateway":
            process.tls_ca = stack.pki.ca
        started.append(process.start())
        process.wait_serving(RISK if module == "gateway" else "")
        return process

    risks = [start("risk", f"risk-{n}", IJH_DRAIN_SECONDS="20") for n in (1, 2)]

    def make_gateway(risk_address: str) -> grpc.Channel:
        gateway = start("gateway", "gateway-2", IJH_RISK_ADDRESS=risk_address)
        return grpc.secure_channel(gateway.address, stack.gateway_credentials("officer"))

    try:
        yield risks, make_gateway
    finally:
        for process in started:
            process.kill()  # the drains would take 20 s each
        stack.stop()


def test_calls_spread_over_replicas_and_none_reach_one_draining(replicas):
    (first, second), make_gateway = replicas
    with make_gateway(f"ipv4:{first.address},{second.address}") as channel:
        stub = risk_pb2_grpc.RiskServiceStub(channel)
        spread = [_call(stub, "spread") for _ in range(12)]
        first_served, second_served = _served_by([first, second], spread)
        assert first_served and second_served, "all calls went to one replica"
        assert first_served | second_served == set(spread)

        _drain(second)
        time.sleep(0.5)  # its NOT_SERVING reaches the gateway's watch of it within moments
        drained = [_call(stub, "drained") for _ in range(12)]
        assert _served_by([first, second], drained) == [set(drained), set()]
        assert second.process.poll() is None, "it would still have served them"
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=RISK), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING

        # Every replica draining: refused at once, in the gateway's words (RetryInfo).
        _drain(first)
        time.sleep(0.5)
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as failure:
            _call(stub, "none-left")
        assert time.monotonic() - started < 5
        _assert_names_the_backend(failure.value, "risk")
        assert first.process.poll() is None and second.process.poll() is None


def test_one_address_keeps_its_draining_replica_until_the_poll_misses_twice(replicas):
    # A load balancer's address: one connection, to one replica. Health checked on that
    # connection would refuse every call while the replica drains, though it still serves.
    (first, _), make_gateway = replicas
    with make_gateway(first.address) as channel:
        stub = risk_pb2_grpc.RiskServiceStub(channel)
        _drain(first)
        served = [_call(stub, "draining")]  # at once: the poll has not missed yet
        assert _served_by([first], served) == [set(served)]
