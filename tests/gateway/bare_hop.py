"""The floor under the gateway's cost: a bare grpc.aio hop that forwards every unary call's
bytes to one backend, with no TLS, token, checks, metrics or logs. It does what any hop
to a backend must: it gives each call a request id and signs a caller (one officer) for
it with the internal key (:mod:`services.shared.caller_assertion`), as the gateway does,
over mutual TLS when ``IJH_INTERNAL_TLS_*`` is set in its environment (as the gateway's).
The door bench runs it beside the gateway so that what the hop itself costs on this
machine, and what the door adds on top of it, are measured in the same run.

Run: ``python -m tests.gateway.bare_hop LISTEN_ADDRESS BACKEND_ADDRESS CALLER_KEY_DIR``.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import grpc

from services.shared.caller import read_caller_keys, signed_metadata
from services.shared.caller_assertion import GATEWAY, CallerKeys
from services.shared.config import load_settings
from services.shared.tls import internal_channel, internal_tls


class BareHop(grpc.GenericRpcHandler):
    """Forwards any unary method, bytes in and bytes out."""

    def __init__(self, channel: grpc.aio.Channel, keys: CallerKeys):
        self.channel = channel
        self.keys = keys
        self.handlers: dict[str, grpc.RpcMethodHandler] = {}

    def service(self, handler_call_details):
        path = handler_call_details.method
        handler = self.handlers.get(path)
        if handler is None:
            backend = self.channel.unary_unary(path, _registered_method=True)

            async def forward(request: bytes, context) -> bytes:
                metadata = signed_metadata(self.keys, path, "dev-officer-1", "officer",
                                           request_id=uuid.uuid4().hex)
                return await backend(request, timeout=context.time_remaining(),
                                     metadata=metadata)
            handler = self.handlers[path] = grpc.unary_unary_rpc_method_handler(forward)
        return handler


async def serve(listen: str, backend: str, key_dir: str) -> None:
    keys = read_caller_keys(Path(key_dir), GATEWAY)
    tls = internal_tls(load_settings(), calls={"backend": backend})
    async with internal_channel(backend, tls, options=[]) as channel:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers([BareHop(channel, keys)])
        if server.add_insecure_port(listen) == 0:
            raise SystemExit(f"cannot listen on {listen}")
        await server.start()
        await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], sys.argv[2], sys.argv[3]))
