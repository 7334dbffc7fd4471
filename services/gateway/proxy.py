"""Forwarding of the public services to their backends, built from the proto
descriptors so that a new RPC needs no gateway code.

Each backend call gets a deadline (the caller's, capped by the configured backend
deadline). Retries come from the gRPC service config and apply only to methods whose
proto declares ``idempotency_level`` NO_SIDE_EFFECTS or IDEMPOTENT, and only on
UNAVAILABLE. A backend's status code and ``google.rpc`` details reach the caller
unchanged. A request larger than ``max_request_bytes`` is not even parsed, and bytes that
do not parse as the method's request are not one: the hooks see an
:class:`OversizedRequest` or an :class:`UndecodableRequest` and refuse it, after checking
its caller as for any call (and the proxy does, if no hook did).
Only the request id (the caller's ``x-request-id`` when it is fit to log, else a new one:
:func:`services.shared.logs.read_request_id`) and what hooks add (the caller's identity)
are forwarded as metadata, never the caller's own metadata.

A backend that cannot be reached (an UNAVAILABLE or DEADLINE_EXCEEDED the channel made,
not one the backend sent: those carry their own details and pass unchanged), or that
the gateway's health poll finds NOT_SERVING, is answered in the gateway's own words:
UNAVAILABLE naming the service, with ``ErrorInfo`` ``BACKEND_UNAVAILABLE`` and
``RetryInfo`` (gRPC core's text names internal addresses: the log has it, the caller
does not), or DEADLINE_EXCEEDED naming the service that did not answer in time.

Every answer carries the request id as a response header (initial metadata). On the
unary path that header is sent while the backend works, not before the call is
forwarded: an early, separate header write cost the caller a wakeup and the gateway a
write and a completion on the critical path (see docs/PERFORMANCE.md, issue 7). A
refusal (:meth:`CallContext.abort`) sends it before the error.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import grpc
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import DecodeError
from google.protobuf.message_factory import GetMessageClass
from google.rpc import code_pb2, status_pb2

from services.shared import errors, grpc_errors
from services.shared.config import replica_balancing
from services.shared.logs import REQUEST_ID_KEY, bind_request_id, request_id_var

log = logging.getLogger(__name__)

STREAM_DEADLINE_SECONDS = 3600.0
# Trailing metadata that carries a backend's verdict back to the caller.
# grpc-retry-pushback-ms: a backend asking callers not to retry (an outage of its own
# dependency; RetryInfo says when) asks the end caller too.
_PASSED_TRAILERS = ("grpc-status-details-bin", "retry-after", "grpc-retry-pushback-ms",
                    REQUEST_ID_KEY)

# How long a caller is told to wait when a backend is down: about one health poll.
BACKEND_RETRY_SECONDS = 2.0

_IDEMPOTENT = {descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS,
               descriptor_pb2.MethodOptions.IDEMPOTENT}


def is_idempotent(method: MethodDescriptor) -> bool:
    """True when the proto says a retry cannot act twice."""
    return method.GetOptions().idempotency_level in _IDEMPOTENT


def service_config(service: ServiceDescriptor, target: str) -> str:
    """gRPC service config JSON of a channel to ``service`` at ``target``: spread over
    the replicas SERVING when it names them (:func:`replica_balancing`), retry
    UNAVAILABLE for idempotent methods only."""
    idempotent = [{"service": service.full_name, "method": m.name}
                  for m in service.methods if is_idempotent(m)]
    config = {**replica_balancing(service.full_name, target), "methodConfig": []}
    if idempotent:
        config["methodConfig"].append({
            "name": idempotent,
            "retryPolicy": {
                "maxAttempts": 4,
                "initialBackoff": "0.05s",
                "maxBackoff": "0.5s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        })
    return json.dumps(config)


@dataclass(frozen=True)
class OversizedRequest:
    """Stands in for a request above the size limit, which is never parsed."""

    size_bytes: int


@dataclass(frozen=True)
class UndecodableRequest:
    """Stands in for bytes that do not parse as the method's request (not the protobuf
    binary encoding of its message). gRPC would answer a parse failure itself, UNKNOWN
    with its exception's class and an ERROR traceback, before any check of the caller."""

    size_bytes: int


@dataclass
class CallContext:
    """What a hook sees of one forwarded call."""

    method: MethodDescriptor
    request: object  # the parsed request, or an OversizedRequest
    context: grpc.aio.ServicerContext
    request_id: str
    # Metadata sent to the backend; hooks may add to it (e.g. the caller's identity).
    outgoing: list[tuple[str, str]] = field(default_factory=list)
    headers_sent: bool = False
    # Who the hooks found calling, kept for a stream's later messages.
    caller: object | None = None

    async def send_headers(self) -> None:
        """Send the response headers (the request id) unless they have been sent."""
        if not self.headers_sent:
            self.headers_sent = True
            await self.context.send_initial_metadata(((REQUEST_ID_KEY, self.request_id),))

    async def abort(self, status: status_pb2.Status) -> None:
        """Refuse the call with a rich status, the request id header first."""
        await self.send_headers()
        await grpc_errors.abort(self.context, status)


def undecodable_message(method: MethodDescriptor) -> str:
    """The refusal's words for an :class:`UndecodableRequest` to ``method``."""
    return (f"the request is not an {method.input_type.full_name} in the protobuf binary "
            f"encoding (send the message serialized as the proto defines it)")


# A hook may inspect (and refuse, by aborting) a call before it is forwarded.
RequestHook = Callable[[CallContext], object]


def backend_unavailable(backend: str) -> status_pb2.Status:
    """The answer for a backend that cannot serve now: no internal address, a reason a
    program can test and when to retry."""
    return grpc_errors.to_status(errors.Unavailable(
        "BACKEND_UNAVAILABLE", f"the {backend} service is unavailable; retry shortly",
        BACKEND_RETRY_SECONDS, {"service": backend}))


def _sent_by_backend(error: grpc.aio.AioRpcError) -> bool:
    """True when the backend itself chose the status. Our services send every status of
    their own with trailers (details, pushback); a call that never reached a working
    backend (connection refused, no answer in time) ends with none."""
    return bool(error.trailing_metadata())


class ServiceProxy(grpc.GenericRpcHandler):
    """Serves one public service by forwarding every method to one backend channel.

    ``backend`` names the backend in answers ("risk"); ``backend_down`` (when given) says
    whether the gateway's health poll found it NOT_SERVING or unreachable, in which case
    calls are refused at once instead of waiting out their deadline. ``admit`` (when
    given) is the last step before a call is forwarded (a stream: when it opens), once
    the hooks have passed it: it may refuse it, by aborting, or hold a place for it until
    it ends (the gateway's concurrency limits, :meth:`services.gateway.door.Door.admit`)."""

    def __init__(self, service: ServiceDescriptor, channel: grpc.aio.Channel,
                 backend_deadline_seconds: float, hooks: Sequence[RequestHook] = (),
                 max_request_bytes: int | None = None, *, backend: str = "",
                 backend_down: Callable[[], bool] = lambda: False,
                 admit: RequestHook | None = None):
        self.descriptor = service
        self.backend = backend or service.full_name
        self.backend_down = backend_down
        self.admit = admit
        self.channel = channel
        self.backend_deadline = backend_deadline_seconds
        self.hooks = list(hooks)
        self.max_request_bytes = max_request_bytes
        self._handlers = {f"/{service.full_name}/{m.name}": self._handler(m)
                          for m in service.methods}

    def service_name(self) -> str:
        return self.descriptor.full_name

    def service(self, handler_call_details):
        """grpc's GenericRpcHandler lookup: the handler of one method path, or None."""
        return self._handlers.get(handler_call_details.method)

    def _handler(self, method: MethodDescriptor) -> grpc.RpcMethodHandler:
        # Requests are parsed (the door reads them); responses pass through as bytes.
        request_class = GetMessageClass(method.input_type)
        path = f"/{self.descriptor.full_name}/{method.name}"
        limit = self.max_request_bytes

        def deserialize(raw: bytes, parse=request_class.FromString):
            if limit is not None and len(raw) > limit:
                return OversizedRequest(len(raw))
            try:
                return parse(raw)
            except DecodeError:
                return UndecodableRequest(len(raw))
        if method.client_streaming:
            # Streams (a portfolio sent in chunks) may run long: the caller's deadline
            # governs, capped at STREAM_DEADLINE_SECONDS.
            if not method.server_streaming:
                raise NotImplementedError(f"{path}: client-only streaming is not forwarded")
            backend = self.channel.stream_stream(
                path, request_serializer=request_class.SerializeToString,
                response_deserializer=None, _registered_method=True)
            return grpc.stream_stream_rpc_method_handler(
                self._forward_bidi(method, backend),
                request_deserializer=deserialize,
                response_serializer=None)
        if method.server_streaming:
            backend = self.channel.unary_stream(
                path, request_serializer=request_class.SerializeToString,
                response_deserializer=None, _registered_method=True)
            return grpc.unary_stream_rpc_method_handler(
                self._forward_stream(method, backend),
                request_deserializer=deserialize,
                response_serializer=None)
        backend = self.channel.unary_unary(
            path, request_serializer=request_class.SerializeToString,
            response_deserializer=None, _registered_method=True)
        return grpc.unary_unary_rpc_method_handler(
            self._forward_unary(method, backend),
            request_deserializer=deserialize,
            response_serializer=None)

    async def _prepare(self, method, request, context) -> tuple[CallContext, float, tuple]:
        # The server's CallObserver has set the request id; a bare proxy reads it here.
        request_id = request_id_var.get() or bind_request_id(context)
        call = CallContext(method, request, context, request_id, [(REQUEST_ID_KEY, request_id)])
        await self._check(call)
        if self.backend_down():
            log.info("backend unavailable", extra={"backend": self.backend,
                                                   "cause": "health check: not serving"})
            await call.abort(backend_unavailable(self.backend))
        if self.admit is not None:
            await self.admit(call)
        return call, _deadline(context, self.backend_deadline), tuple(call.outgoing)

    async def _check(self, call: CallContext) -> None:
        """Run the hooks on ``call.request``; refuse it if it is oversized or undecodable
        and no hook did."""
        for hook in self.hooks:
            result = hook(call)
            if hasattr(result, "__await__"):
                await result
        if isinstance(call.request, OversizedRequest):
            await call.abort(self._too_large(call.request))
        if isinstance(call.request, UndecodableRequest):
            await call.abort(status_pb2.Status(code=code_pb2.INVALID_ARGUMENT,
                                               message=undecodable_message(call.method)))

    def _too_large(self, request: OversizedRequest) -> status_pb2.Status:
        return status_pb2.Status(
            code=code_pb2.RESOURCE_EXHAUSTED,
            message=f"request of {request.size_bytes} bytes exceeds the limit of "
                    f"{self.max_request_bytes} bytes")

    async def _relay_replies(self, replies, call: CallContext):
        """Yield a backend stream's replies; relay its error; stop it when the caller
        leaves."""
        try:
            async for reply in replies:
                yield reply
        except grpc.aio.AioRpcError as error:
            await self._relay_error(error, call)
        finally:
            replies.cancel()

    async def _relay_error(self, error: grpc.aio.AioRpcError, call: CallContext) -> None:
        code = error.code()
        if not _sent_by_backend(error):
            if code == grpc.StatusCode.UNAVAILABLE:
                log.warning("backend unavailable", extra={
                    "backend": self.backend, "code": code.name, "error": error.details()})
                await call.abort(backend_unavailable(self.backend))
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                log.warning("backend did not answer in time", extra={
                    "backend": self.backend, "code": code.name})
                await call.send_headers()
                await call.context.abort(
                    code, f"the {self.backend} service did not answer within the deadline")
        trailers = tuple((k, v) for k, v in (error.trailing_metadata() or ())
                         if k in _PASSED_TRAILERS)
        log.info("backend error relayed", extra={"backend": self.backend, "code": code.name})
        await call.send_headers()
        await call.context.abort(code, error.details() or "", trailers)

    def _forward_unary(self, method, backend):
        async def forward(request, context):
            call, timeout, metadata = await self._prepare(method, request, context)
            reply = backend(request, timeout=timeout, metadata=metadata)
            # The backend call starts when this coroutine next yields; the header task,
            # queued after it, then writes the request id to the caller while the
            # backend works (and is done long before the answer is relayed).
            call.headers_sent = True
            headers = asyncio.ensure_future(
                context.send_initial_metadata(((REQUEST_ID_KEY, call.request_id),)))
            try:
                response = await reply
            except grpc.aio.AioRpcError as error:
                await headers
                await self._relay_error(error, call)
            except BaseException:
                headers.cancel()
                raise
            await headers
            return response
        return forward

    def _forward_bidi(self, method, backend):
        async def forward(request_iterator, context):
            # The caller is checked before any message is read, each message before it
            # is forwarded, and the first before the backend is called at all.
            call, _, metadata = await self._prepare(method, None, context)
            messages = aiter(request_iterator)
            first = await anext(messages, None)
            if first is not None:
                call.request = first
                await self._check(call)
                metadata = tuple(call.outgoing)  # as the hooks left it for this message
            await call.send_headers()

            async def requests():
                if first is not None:
                    yield first
                async for request in messages:
                    call.request = request
                    await self._check(call)
                    yield request

            replies = backend(requests(), timeout=_deadline(context, STREAM_DEADLINE_SECONDS),
                              metadata=metadata)
            async for reply in self._relay_replies(replies, call):
                yield reply
        return forward

    def _forward_stream(self, method, backend):
        async def forward(request, context):
            call, timeout, metadata = await self._prepare(method, request, context)
            await call.send_headers()
            async for reply in self._relay_replies(
                    backend(request, timeout=timeout, metadata=metadata), call):
                yield reply
        return forward


def _deadline(context, cap_seconds: float) -> float:
    """The backend call's timeout: the caller's remaining time, at most ``cap_seconds``."""
    remaining = context.time_remaining()
    return cap_seconds if remaining is None else min(cap_seconds, max(remaining, 0.0))
