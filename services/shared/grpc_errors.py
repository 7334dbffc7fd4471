"""The one error mapper: domain error -> gRPC status with ``google.rpc`` details.

Servicer methods are wrapped by :func:`translate_errors`; a domain error becomes its
status with details, anything unexpected becomes INTERNAL with a reference the
operator can find in the logs (never a traceback to the client).
"""

from __future__ import annotations

import functools
import inspect
import logging
import uuid
from collections.abc import Callable

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.shared import errors

log = logging.getLogger(__name__)

DETAILS_KEY = "grpc-status-details-bin"


def _pack(message) -> any_pb2.Any:
    detail = any_pb2.Any()
    detail.Pack(message)
    return detail


# A status travels in the call's trailers, and gRPC refuses trailers above 8 KiB on a
# random share of calls and all above 16 KiB: the caller then gets RESOURCE_EXHAUSTED
# ("received metadata size exceeds soft limit", naming header sizes) in place of the
# answer. A domain error's words may quote the caller's input (a 5,000-character phase
# name, an operation name of 70,000), so what the mapper sends is bounded: the message (at
# most 3 bytes a byte once percent-encoded), each text in a detail, and a detail's list of
# violations to those that fit. A text too long keeps its start and its end ("...; and 40
# more") around an ellipsis.
MAX_MESSAGE_BYTES = 640
MAX_TEXT_BYTES = 300
MAX_DETAIL_BYTES = 3584


def clip(text: str, limit_bytes: int) -> str:
    """``text`` if its UTF-8 form fits ``limit_bytes``, else its start and its end around
    " ... " within that many bytes (never splitting a character)."""
    data = text.encode()
    if len(data) <= limit_bytes:
        return text
    keep = (limit_bytes - 5) // 2
    return (data[:keep].decode(errors="ignore") + " ... "
            + data[len(data) - keep:].decode(errors="ignore"))


def _fitting(container, field_name: str, items):
    """``container`` with the first ``items`` appended to its repeated ``field_name`` while
    its serialized size stays within MAX_DETAIL_BYTES (the first item always)."""
    target = getattr(container, field_name)
    for item in items:
        if len(target) and container.ByteSize() + item.ByteSize() + 4 > MAX_DETAIL_BYTES:
            break
        target.append(item)
    return container


def to_status(exc: errors.DomainError) -> status_pb2.Status:
    """The ``google.rpc.Status`` for a domain error, its texts bounded (``clip``)."""
    message = clip(str(exc), MAX_MESSAGE_BYTES)
    if isinstance(exc, errors.InvalidArgument):
        bad = _fitting(error_details_pb2.BadRequest(), "field_violations", (
            error_details_pb2.BadRequest.FieldViolation(
                field=clip(v.field, MAX_TEXT_BYTES),
                description=clip(v.description, MAX_TEXT_BYTES))
            for v in exc.violations[:errors.MAX_REPORTED_VIOLATIONS]))
        return status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message,
                                 details=[_pack(bad)])
    if isinstance(exc, errors.FailedPrecondition):
        failure = _fitting(error_details_pb2.PreconditionFailure(), "violations", (
            error_details_pb2.PreconditionFailure.Violation(
                type=clip(v.type, MAX_TEXT_BYTES), subject=clip(v.subject, MAX_TEXT_BYTES),
                description=clip(v.description, MAX_TEXT_BYTES))
            for v in exc.violations))
        return status_pb2.Status(code=code_pb2.FAILED_PRECONDITION, message=message,
                                 details=[_pack(failure)])
    if isinstance(exc, errors.NotFound):
        info = error_details_pb2.ResourceInfo(resource_name=clip(exc.resource, MAX_TEXT_BYTES),
                                              description=clip(str(exc), MAX_TEXT_BYTES))
        return status_pb2.Status(code=code_pb2.NOT_FOUND, message=message,
                                 details=[_pack(info)])
    if isinstance(exc, errors.PermissionDenied) and exc.reason:
        return status_pb2.Status(code=code_pb2.PERMISSION_DENIED, message=message,
                                 details=[_pack(_reason(exc))])
    if isinstance(exc, errors.Unavailable):
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(round(exc.retry_after_seconds * 1000))
        return status_pb2.Status(
            code=code_pb2.UNAVAILABLE, message=message,
            details=[_pack(_reason(exc)), _pack(error_details_pb2.RetryInfo(retry_delay=delay))])
    code = {
        errors.ResourceExhausted: code_pb2.RESOURCE_EXHAUSTED,
        errors.AlreadyExists: code_pb2.ALREADY_EXISTS,
        errors.PermissionDenied: code_pb2.PERMISSION_DENIED,
        errors.Unauthenticated: code_pb2.UNAUTHENTICATED,
    }.get(type(exc), code_pb2.FAILED_PRECONDITION)
    return status_pb2.Status(code=code, message=message)


def _reason(exc: errors.PermissionDenied | errors.Unavailable) -> error_details_pb2.ErrorInfo:
    return error_details_pb2.ErrorInfo(
        reason=exc.reason, domain=errors.REASON_DOMAIN,
        metadata={k: clip(v, MAX_TEXT_BYTES) for k, v in exc.metadata.items()})


def status_for(exc: BaseException) -> status_pb2.Status:
    """The status a caller gets for ``exc``: the domain error's own, else INTERNAL."""
    return to_status(exc) if isinstance(exc, errors.DomainError) else internal_status(exc)


def internal_status(exc: BaseException) -> status_pb2.Status:
    """INTERNAL with an incident reference; the traceback goes to the log only."""
    incident = uuid.uuid4().hex[:12]
    log.error("unexpected error", exc_info=exc, extra={"incident": incident})
    return status_pb2.Status(
        code=code_pb2.INTERNAL,
        message=f"internal error (incident {incident}); the operators have the details")


# gRFC A6 server pushback: a negative value asks a client's retry policy not to retry.
# An UNAVAILABLE of ours means a dependency is down and says when to try again
# (RetryInfo); the gateway's transparent retries of its backend would only repeat it.
_NO_RETRY = (("grpc-retry-pushback-ms", "-1"),)


async def abort(context: grpc.aio.ServicerContext, status: status_pb2.Status) -> None:
    """End the call with a rich status (raises, as ``context.abort`` does)."""
    call_status = rpc_status.to_status(status)
    if status.code == code_pb2.UNAVAILABLE:
        call_status = _Status(call_status.code, call_status.details,
                              call_status.trailing_metadata + _NO_RETRY)
    await context.abort_with_status(call_status)


class _Status(grpc.Status):
    def __init__(self, code, details, trailing_metadata):
        self.code, self.details, self.trailing_metadata = code, details, trailing_metadata


def translate_errors(method: Callable) -> Callable:
    """Wrap an async servicer method (unary or server-streaming) with the error mapper."""

    async def _handle(exc: BaseException, context) -> None:
        await abort(context, status_for(exc))

    if inspect.isasyncgenfunction(method):
        @functools.wraps(method)
        async def stream_wrapper(self, request, context):
            try:
                async for item in method(self, request, context):
                    yield item
            except (grpc.aio.AbortError, grpc.aio.UsageError, GeneratorExit):
                raise
            except Exception as exc:
                await _handle(exc, context)
        return stream_wrapper

    @functools.wraps(method)
    async def unary_wrapper(self, request, context):
        try:
            return await method(self, request, context)
        except (grpc.aio.AbortError, grpc.aio.UsageError):
            raise
        except Exception as exc:
            await _handle(exc, context)
    return unary_wrapper


def status_from_error(error: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    """The rich status carried by a failed call, if the server sent one."""
    return rpc_status.from_call(error)
