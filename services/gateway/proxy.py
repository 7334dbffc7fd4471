"""Forwarding of the public services to their backends, built from the proto
descriptors so that a new RPC needs no gateway code.

Each backend call gets a deadline (the caller's, capped by the configured backend
deadline). Retries come from the gRPC service config and apply only to methods whose
proto declares ``idempotency_level`` NO_SIDE_EFFECTS or IDEMPOTENT, and only on
UNAVAILABLE. A backend's status code and ``google.rpc`` details reach the caller
unchanged.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message_factory import GetMessageClass

from services.shared.logs import request_id_var

log = logging.getLogger(__name__)

REQUEST_ID_KEY = "x-request-id"
# Trailing metadata that carries a backend's verdict back to the caller.
_PASSED_TRAILERS = ("grpc-status-details-bin", "retry-after", REQUEST_ID_KEY)

_IDEMPOTENT = {descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS,
               descriptor_pb2.MethodOptions.IDEMPOTENT}


def is_idempotent(method: MethodDescriptor) -> bool:
    """True when the proto says a retry cannot act twice."""
    return method.GetOptions().idempotency_level in _IDEMPOTENT


def service_config(services: Sequence[ServiceDescriptor]) -> str:
    """gRPC service config JSON: retry UNAVAILABLE for idempotent methods only."""
    idempotent = [{"service": s.full_name, "method": m.name}
                  for s in services for m in s.methods if is_idempotent(m)]
    config = {"methodConfig": []}
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


@dataclass
class CallContext:
    """What a hook sees of one forwarded call."""

    method: MethodDescriptor
    request: object
    context: grpc.aio.ServicerContext
    request_id: str


# A hook may inspect (and refuse, by aborting) a call before it is forwarded.
RequestHook = Callable[[CallContext], object]


class ServiceProxy(grpc.GenericRpcHandler):
    """Serves one public service by forwarding every method to one backend channel."""

    def __init__(self, service: ServiceDescriptor, channel: grpc.aio.Channel,
                 backend_deadline_seconds: float, hooks: Sequence[RequestHook] = ()):
        self.descriptor = service
        self.channel = channel
        self.backend_deadline = backend_deadline_seconds
        self.hooks = list(hooks)
        self._handlers = {f"/{service.full_name}/{m.name}": self._handler(m)
                          for m in service.methods}

    def service_name(self) -> str:
        return self.descriptor.full_name

    def service(self, handler_call_details):
        """grpc's GenericRpcHandler lookup: the handler of one method path, or None."""
        return self._handlers.get(handler_call_details.method)

    def _handler(self, method: MethodDescriptor) -> grpc.RpcMethodHandler:
        request_class = GetMessageClass(method.input_type)
        response_class = GetMessageClass(method.output_type)
        path = f"/{self.descriptor.full_name}/{method.name}"
        if method.client_streaming:
            raise NotImplementedError(f"{path}: client streaming is not forwarded yet")
        if method.server_streaming:
            backend = self.channel.unary_stream(
                path, request_serializer=request_class.SerializeToString,
                response_deserializer=response_class.FromString)
            return grpc.unary_stream_rpc_method_handler(
                self._forward_stream(method, backend),
                request_deserializer=request_class.FromString,
                response_serializer=response_class.SerializeToString)
        backend = self.channel.unary_unary(
            path, request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString)
        return grpc.unary_unary_rpc_method_handler(
            self._forward_unary(method, backend),
            request_deserializer=request_class.FromString,
            response_serializer=response_class.SerializeToString)

    async def _prepare(self, method, request, context) -> tuple[float, tuple]:
        incoming = dict(context.invocation_metadata() or ())
        request_id = incoming.get(REQUEST_ID_KEY) or uuid.uuid4().hex
        request_id_var.set(request_id)
        await context.send_initial_metadata(((REQUEST_ID_KEY, request_id),))
        call = CallContext(method, request, context, request_id)
        for hook in self.hooks:
            result = hook(call)
            if hasattr(result, "__await__"):
                await result
        remaining = context.time_remaining()
        timeout = self.backend_deadline if remaining is None else min(
            self.backend_deadline, max(remaining, 0.0))
        return timeout, ((REQUEST_ID_KEY, request_id),)

    @staticmethod
    async def _relay_error(error: grpc.aio.AioRpcError, context) -> None:
        trailers = tuple((k, v) for k, v in (error.trailing_metadata() or ())
                         if k in _PASSED_TRAILERS)
        log.info("backend refused", extra={"code": error.code().name})
        await context.abort(error.code(), error.details() or "", trailers)

    def _forward_unary(self, method, backend):
        async def forward(request, context):
            timeout, metadata = await self._prepare(method, request, context)
            try:
                return await backend(request, timeout=timeout, metadata=metadata)
            except grpc.aio.AioRpcError as error:
                await self._relay_error(error, context)
        return forward

    def _forward_stream(self, method, backend):
        async def forward(request, context):
            timeout, metadata = await self._prepare(method, request, context)
            call = backend(request, timeout=timeout, metadata=metadata)
            try:
                async for reply in call:
                    yield reply
            except grpc.aio.AioRpcError as error:
                await self._relay_error(error, context)
            finally:
                call.cancel()  # the caller left: stop the backend's work too
        return forward
