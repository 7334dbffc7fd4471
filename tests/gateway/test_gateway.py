"""The gateway and the service frame: health, reflection, deadlines, retries, shutdown."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from google.rpc import code_pb2, error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from grpc_status import rpc_status
from ijh.funding.v1 import funding_pb2, funding_pb2_grpc
from ijh.risk.v1 import risk_pb2, risk_pb2_grpc

from services.gateway.proxy import service_config
from services.shared.nats_server import free_port
from tests.stack import start_stack

PUBLIC = ["ijh.risk.v1.RiskService", "ijh.funding.v1.FundingService"]


def _grant_request() -> funding_pb2.ComputeGrantRequest:
    return funding_pb2.ComputeGrantRequest(
        reference_date="2025-05-05",
        applicant=funding_pb2.Applicant(kind="contracting_authority", business_id="0201256-6"),
        procurement_kind="new_product_or_service",
        cost_lines=[funding_pb2.CostLine(category="purchased_expert_services",
                                         amount_cents=100_00)])


def _estimate_request() -> risk_pb2.EstimateProcurementRiskRequest:
    item = risk_pb2.CostItem(name="a", distribution=risk_pb2.CostDistribution(fixed_cents=1))
    return risk_pb2.EstimateProcurementRiskRequest(
        model=risk_pb2.ProcurementModel(cost_items=[item]),
        simulation=risk_pb2.SimulationOptions(scenario_count=100))


def _channel(stack, process, token_name: str | None = "officer") -> grpc.Channel:
    """Plaintext to a backend; TLS (+ a demo token) to the gateway."""
    if process is stack.gateway:
        return stack.gateway_channel(token_name)
    return grpc.insecure_channel(process.address)


def test_every_service_reports_serving(stack):
    expected = [(stack.risk, ["", "ijh.risk.v1.RiskService"]),
                (stack.funding, ["", "ijh.funding.v1.FundingService"]),
                (stack.gateway, ["", *PUBLIC])]
    for process, names in expected:
        # Probes need no token, but the gateway's port is TLS only.
        with _channel(stack, process, token_name=None) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for name in names:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING, (process, name)


def test_gateway_reflection_lists_the_public_services(stack):
    with stack.gateway_channel(token_name=None) as channel:
        services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
    assert set(PUBLIC) <= services
    assert "grpc.health.v1.Health" in services


def test_backend_down_gives_unavailable_not_a_hang(nats_server, tmp_path):
    # The gateway alone, its backends pointing at ports where nothing listens.
    stack = start_stack(nats_server, tmp_path, {
        "IJH_RISK_ADDRESS": f"127.0.0.1:{free_port()}",
        "IJH_FUNDING_ADDRESS": f"127.0.0.1:{free_port()}",
    }, start_gateway_only=True)
    try:
        with stack.gateway_channel() as channel:
            with pytest.raises(grpc.RpcError) as failure:
                funding_pb2_grpc.FundingServiceStub(channel).ComputeGrant(
                    _grant_request(), timeout=20)
            # Not DEADLINE_EXCEEDED: the gateway answers before the caller's deadline.
            assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
            health = health_pb2_grpc.HealthStub(channel)
            for _ in range(50):
                reply = health.Check(health_pb2.HealthCheckRequest(
                    service="ijh.funding.v1.FundingService"), timeout=5)
                if reply.status == health_pb2.HealthCheckResponse.NOT_SERVING:
                    break
                time.sleep(0.1)
            assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        stack.gateway.stop()


def _gateway_health(channel, service: str) -> int:
    return health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=5).status


def _wait_health(channel, service: str, status: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while _gateway_health(channel, service) != status:
        assert time.monotonic() < deadline, f"{service} never became {status}"
        time.sleep(0.1)


def _assert_names_the_backend(error: grpc.RpcError, backend: str) -> None:
    """UNAVAILABLE in the gateway's words: the service, a reason, RetryInfo, no address."""
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert error.details() == f"the {backend} service is unavailable; retry shortly"
    status = rpc_status.from_call(error)
    info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
    assert any(d.Unpack(info) for d in status.details)
    assert info.reason == "BACKEND_UNAVAILABLE" and info.metadata["service"] == backend
    assert any(d.Unpack(retry) for d in status.details)
    assert "127.0.0.1" not in str(error)


def test_one_backend_killed_the_other_still_served(nats_server, tmp_path):
    stack = start_stack(nats_server, tmp_path)
    try:
        stack.risk.kill()
        with stack.gateway_channel() as channel:
            # At once (the health poll has not seen it yet) and once the poll has.
            for _ in range(2):
                with pytest.raises(grpc.RpcError) as failure:
                    risk_pb2_grpc.RiskServiceStub(channel).EstimateProcurementRisk(
                        _estimate_request(), timeout=20)  # valid: the door lets it through
                _assert_names_the_backend(failure.value, "risk")
                _wait_health(channel, PUBLIC[0], health_pb2.HealthCheckResponse.NOT_SERVING)
            reply = funding_pb2_grpc.FundingServiceStub(channel).ComputeGrant(
                _grant_request(), timeout=20)
            assert reply.grant_cents == 50_00
        log = (tmp_path / "gateway.log").read_text()
        assert '"backend unavailable"' in log and "backend refused" not in log
    finally:
        stack.stop()


def test_a_hung_backend_is_refused_at_once_and_served_again_when_it_resumes(nats_server,
                                                                          tmp_path):
    stack = start_stack(nats_server, tmp_path)
    try:
        with stack.gateway_channel() as channel:
            funding = funding_pb2_grpc.FundingServiceStub(channel)
            stack.funding.process.send_signal(signal.SIGSTOP)
            _wait_health(channel, PUBLIC[1], health_pb2.HealthCheckResponse.NOT_SERVING)
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as failure:
                funding.ComputeGrant(_grant_request(), timeout=20)
            assert time.monotonic() - started < 2, "forwarded to a backend found hung"
            _assert_names_the_backend(failure.value, "funding")
            stack.funding.process.send_signal(signal.SIGCONT)
            _wait_health(channel, PUBLIC[1], health_pb2.HealthCheckResponse.SERVING)
            assert funding.ComputeGrant(_grant_request(), timeout=20).grant_cents == 50_00
    finally:
        stack.funding.process.send_signal(signal.SIGCONT)
        stack.stop()


def test_backend_error_details_pass_through_the_gateway_unchanged(stack):
    request = _grant_request()
    request.cost_lines[0].category = "champagne"
    answers = {}
    for process in (stack.funding, stack.gateway):
        # Directly: signed for the officer, as the gateway would.
        metadata = (stack.signed("/ijh.funding.v1.FundingService/ComputeGrant")
                    if process is stack.funding else ())
        with _channel(stack, process) as channel, pytest.raises(grpc.RpcError) as failure:
            funding_pb2_grpc.FundingServiceStub(channel).ComputeGrant(request, timeout=10,
                                                                      metadata=metadata)
        status = rpc_status.from_call(failure.value)
        answers[process.module] = (failure.value.code(), status)
    direct_code, direct = answers["funding"]
    via_code, via = answers["gateway"]
    assert direct_code == via_code == grpc.StatusCode.INVALID_ARGUMENT
    assert direct.code == code_pb2.INVALID_ARGUMENT
    assert via.SerializeToString() == direct.SerializeToString()


@pytest.mark.parametrize("module", ["risk", "funding", "gateway"])
def test_sigterm_stops_cleanly_within_the_grace_period(nats_server, tmp_path, module):
    stack = start_stack(nats_server, tmp_path)
    try:
        process = getattr(stack, module)
        process.process.send_signal(signal.SIGTERM)
        # Grace is 2 s in tests; a clean exit code 0 well inside grace + start-up slack.
        try:
            code = process.process.wait(timeout=2 + 8)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{module} did not exit after SIGTERM")
        assert code == 0
        log = process.log_path.read_text()
        assert '"message": "stopping"' in log and '"message": "stopped"' in log
        assert "Traceback" not in log
    finally:
        stack.stop()


def _service_with(methods: dict[str, int]):
    file = descriptor_pb2.FileDescriptorProto(name="t/retry.proto", package="t.v1",
                                              syntax="proto3")
    file.message_type.add(name="M")
    service = file.service.add(name="S")
    for name, level in methods.items():
        method = service.method.add(name=name, input_type=".t.v1.M", output_type=".t.v1.M")
        method.options.idempotency_level = level
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(file.SerializeToString())
    return pool.FindServiceByName("t.v1.S")


def test_retry_policy_covers_idempotent_methods_only():
    options = descriptor_pb2.MethodOptions
    service = _service_with({"Get": options.NO_SIDE_EFFECTS, "Create": options.IDEMPOTENT,
                          "Approve": options.IDEMPOTENCY_UNKNOWN})
    config = json.loads(service_config(service, "127.0.0.1:50053"))
    retried = {n["method"] for c in config["methodConfig"] if "retryPolicy" in c
               for n in c["name"]}
    assert retried == {"Get", "Create"}
    policy = config["methodConfig"][0]["retryPolicy"]
    assert policy["retryableStatusCodes"] == ["UNAVAILABLE"]
