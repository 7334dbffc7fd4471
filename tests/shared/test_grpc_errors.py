"""The one error mapper over real gRPC: reasons travel as google.rpc details, and an
UNAVAILABLE of ours (a dependency down, nothing done) is not repeated by a caller's
retry policy, such as the gateway's towards its backends."""

from __future__ import annotations

import json

import grpc
from google.rpc import code_pb2, error_details_pb2
from grpc_status import rpc_status

from services.shared.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PreconditionViolation,
    Unavailable,
)
from services.shared.grpc_errors import MAX_MESSAGE_BYTES, clip, translate_errors

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


# Found by the API fuzzing: a cost item's phase of 1,000 "é" (or 5,000 "x") was quoted in
# the refusal's message and in its BadRequest; the trailers passed gRPC's metadata limit
# (8 KiB soft, 16 KiB hard) and the caller got RESOURCE_EXHAUSTED "received metadata size
# exceeds soft limit" (its details still saying INVALID_ARGUMENT), or a GetOperation of a
# 70,000-character name RESOURCE_EXHAUSTED in place of NOT_FOUND.

async def test_a_refusal_quoting_a_huge_input_arrives_as_itself():
    phase = "é" * 10_000
    bad = InvalidArgument([
        FieldViolation("model.cost_items[0].phase", f"unknown phase {phase!r}; phases: a, b"),
        FieldViolation("model.cost_items[1].distribution.triangular.min_cents",
                       "must not exceed mode_cents")])
    failure, _ = await _call(bad)
    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    request = error_details_pb2.BadRequest()
    assert rpc_status.from_call(failure).details[0].Unpack(request)
    first, second = request.field_violations
    assert first.field == "model.cost_items[0].phase"
    assert first.description.startswith("unknown phase 'éé")
    assert first.description.endswith("'; phases: a, b")  # its start and its end
    assert second.description == "must not exceed mode_cents"
    assert len(failure.details().encode()) <= MAX_MESSAGE_BYTES
    assert failure.details().endswith("must not exceed mode_cents")


async def test_not_found_of_a_huge_name_arrives_as_itself():
    failure, _ = await _call(NotFound("operations/" + "y" * 70_000))
    assert failure.code() == grpc.StatusCode.NOT_FOUND
    info = error_details_pb2.ResourceInfo()
    assert rpc_status.from_call(failure).details[0].Unpack(info)
    assert info.resource_name.startswith("operations/yyy")


async def test_long_violations_travel_as_many_as_fit_and_the_message_counts_all():
    bad = InvalidArgument([FieldViolation(f"guarantees[{i}].sector", "x" * 290)
                           for i in range(50)])
    failure, _ = await _call(bad)
    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    request = error_details_pb2.BadRequest()
    assert rpc_status.from_call(failure).details[0].Unpack(request)
    assert 1 <= len(request.field_violations) < 50
    assert [v.field for v in request.field_violations] == [
        f"guarantees[{i}].sector" for i in range(len(request.field_violations))]
    assert failure.details().endswith("; and 40 more")


async def test_a_long_precondition_failure_arrives_as_itself():
    failure, _ = await _call(FailedPrecondition([
        PreconditionViolation("DE_MINIMIS", f"beneficiary/{'z' * 20_000}", "over the ceiling")
        for _ in range(20)]))
    assert failure.code() == grpc.StatusCode.FAILED_PRECONDITION
    precondition = error_details_pb2.PreconditionFailure()
    assert rpc_status.from_call(failure).details[0].Unpack(precondition)
    assert precondition.violations[0].type == "DE_MINIMIS"


def test_clip_keeps_whole_characters_and_both_ends():
    assert clip("short", 10) == "short"
    clipped = clip("😀" * 100 + "end", 60)
    assert len(clipped.encode()) <= 60 and clipped.endswith("end") and " ... " in clipped
    assert "\ufffd" not in clipped
