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


def to_status(exc: errors.DomainError) -> status_pb2.Status:
    """The ``google.rpc.Status`` for a domain error."""
    if isinstance(exc, errors.InvalidArgument):
        bad = error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in exc.violations[:errors.MAX_REPORTED_VIOLATIONS]])
        return status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=str(exc),
                                 details=[_pack(bad)])
    if isinstance(exc, errors.FailedPrecondition):
        failure = error_details_pb2.PreconditionFailure(violations=[
            error_details_pb2.PreconditionFailure.Violation(
                type=v.type, subject=v.subject, description=v.description)
            for v in exc.violations])
        return status_pb2.Status(code=code_pb2.FAILED_PRECONDITION, message=str(exc),
                                 details=[_pack(failure)])
    if isinstance(exc, errors.NotFound):
        info = error_details_pb2.ResourceInfo(resource_name=exc.resource,
                                              description=str(exc))
        return status_pb2.Status(code=code_pb2.NOT_FOUND, message=str(exc),
                                 details=[_pack(info)])
    if isinstance(exc, errors.PermissionDenied) and exc.reason:
        return status_pb2.Status(code=code_pb2.PERMISSION_DENIED, message=str(exc),
                                 details=[_pack(_reason(exc))])
    if isinstance(exc, errors.Unavailable):
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(round(exc.retry_after_seconds * 1000))
        return status_pb2.Status(
            code=code_pb2.UNAVAILABLE, message=str(exc),
            details=[_pack(_reason(exc)), _pack(error_details_pb2.RetryInfo(retry_delay=delay))])
    code = {
        errors.ResourceExhausted: code_pb2.RESOURCE_EXHAUSTED,
        errors.AlreadyExists: code_pb2.ALREADY_EXISTS,
        errors.PermissionDenied: code_pb2.PERMISSION_DENIED,
        errors.Unauthenticated: code_pb2.UNAUTHENTICATED,
    }.get(type(exc), code_pb2.FAILED_PRECONDITION)
    return status_pb2.Status(code=code, message=str(exc))


def _reason(exc: errors.PermissionDenied | errors.Unavailable) -> error_details_pb2.ErrorInfo:
    return error_details_pb2.ErrorInfo(reason=exc.reason, domain=errors.REASON_DOMAIN,
                                       metadata=exc.metadata)


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
