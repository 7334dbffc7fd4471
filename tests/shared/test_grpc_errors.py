"""The one error mapper over real gRPC: reasons travel as google.rpc details, and an
UNAVAILABLE of ours (a dependency down, nothing done) is not repeated by a caller's
retry policy, such as the gateway's towards its backends."""

from __future__ import annotations

import json

import grpc
from google.rpc import code_pb2, error_details_pb2
from grpc_status import rpc_status

from services.shared.errors import FieldViolation, InvalidArgument, PermissionDenied, Unavailable
from services.shared.grpc_errors import translate_errors

METHOD = "/ijh.test.Errors/Call"
RETRYING = json.dumps({"methodConfig": [{
    "name": [{"service": "ijh.test.Errors"}],
    "retryPolicy": {"maxAttempts": 4, "initialBackoff": "0.01s", "maxBackoff": "0.05s",
                    "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]})


class _Servicer:
    def __init__(self, error: Exception):
        self.error, self.calls = error, 0

    @translate_errors
    async def call(self, request, context):
        self.calls += 1
        raise self.error


async def _call(error: Exception) -> tuple[grpc.aio.AioRpcError, int]:
    servicer = _Servicer(error)
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
        "ijh.test.Errors", {"Call": grpc.unary_unary_rpc_method_handler(servicer.call)})])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(
                f"127.0.0.1:{port}", options=[("grpc.enable_retries", 1),
                                              ("grpc.service_config", RETRYING)]) as channel:
            try:
                await channel.unary_unary(METHOD)(b"", timeout=10)
            except grpc.aio.AioRpcError as failure:
                return failure, servicer.calls
            raise AssertionError("the call succeeded")
    finally:
        await server.stop(None)


async def test_an_unavailable_dependency_is_answered_once_with_when_to_retry():
    failure, calls = await _call(Unavailable("RISK_CHECK_UNAVAILABLE", "risk is down", 5.0,
                                             {"dependency": "risk"}))
    assert calls == 1  # the retry policy was told not to repeat it (server pushback)
    assert failure.code() == grpc.StatusCode.UNAVAILABLE
    status = rpc_status.from_call(failure)
    info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info) and status.details[1].Unpack(retry)
    assert (info.reason, info.domain, dict(info.metadata)) == (
        "RISK_CHECK_UNAVAILABLE", "ijh", {"dependency": "risk"})
    assert retry.retry_delay.ToTimedelta().total_seconds() == 5.0


async def test_a_refusal_with_a_reason_carries_it_as_error_info():
    failure, calls = await _call(PermissionDenied("not yours", "NOT_YOUR_APPLICATION"))
    assert calls == 1 and failure.code() == grpc.StatusCode.PERMISSION_DENIED
    status = rpc_status.from_call(failure)
    info = error_details_pb2.ErrorInfo()
    assert status.code == code_pb2.PERMISSION_DENIED and status.details[0].Unpack(info)
    assert info.reason == "NOT_YOUR_APPLICATION"


async def test_a_backend_refusal_with_thousands_of_bad_fields_still_arrives():
    # The trailer carrying BadRequest has a 16 KiB hard limit: past it the caller got no
    # status at all. The first 50 travel; the message counts the rest.
    bad = InvalidArgument([FieldViolation(f"guarantees[{i}].probability_of_default",
                                          "must be in [0, 1]") for i in range(5000)])
    failure, _ = await _call(bad)
    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    request = error_details_pb2.BadRequest()
    assert rpc_status.from_call(failure).details[0].Unpack(request)
    assert len(request.field_violations) == 50
    assert failure.details().endswith("; and 4990 more")
