"""Server interceptors that wrap each method's behavior once.

grpc.aio asks an interceptor for the handler on every call; building the wrapped handler
each time would cost more than what it wraps. :class:`BehaviorWrapper` wraps it once per
method (again only if the server hands out another handler) and leaves the choice of
wrapper to its subclass.
"""

from __future__ import annotations

from collections.abc import Callable

import grpc

_KINDS = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")


class BehaviorWrapper(grpc.aio.ServerInterceptor):
    """Subclasses say which methods they wrap (:meth:`wraps`) and how (:meth:`wrap`)."""

    def __init__(self) -> None:
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def wraps(self, method: str) -> bool:
        return True

    def wrap(self, method: str, behavior: Callable) -> Callable:
        raise NotImplementedError

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not self.wraps(method):
            return handler
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = handler
        for kind in _KINDS:
            behavior = getattr(handler, kind)
            if behavior is not None:
                wrapped = handler._replace(**{kind: self.wrap(method, behavior)})
                break
        self._wrapped[method] = (handler, wrapped)
        return wrapped
