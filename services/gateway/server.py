"""The gateway: the one public door. Serves ``ijh.risk.v1.RiskService`` and
``ijh.funding.v1.FundingService`` by forwarding to the risk and funding services,
and reports each public service's health from its backend's health.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ijh.funding.v1 import funding_pb2
from ijh.risk.v1 import risk_pb2

from services.gateway.proxy import ServiceProxy, service_config
from services.shared.config import Settings, client_options, load_settings
from services.shared.logs import configure_logging
from services.shared.server import Registration, ServiceRuntime

log = logging.getLogger(__name__)

RISK_SERVICE = risk_pb2.DESCRIPTOR.services_by_name["RiskService"]
FUNDING_SERVICE = funding_pb2.DESCRIPTOR.services_by_name["FundingService"]
HEALTH_POLL_SECONDS = 2.0


@dataclass
class Backend:
    """One backend service behind the gateway."""

    service: object  # ServiceDescriptor
    address: str
    channel: grpc.aio.Channel | None = None


def backend_channel(address: str, settings: Settings, services) -> grpc.aio.Channel:
    """A channel with the shared keepalive/size options and the retry service config."""
    options = [*client_options(settings), ("grpc.service_config", service_config(services))]
    return grpc.aio.insecure_channel(address, options=options)


async def _watch_backends(runtime: ServiceRuntime, backends: list[Backend]) -> None:
    """Mirror each backend's health onto the gateway's status for that service."""
    last: dict[str, int] = {}
    while True:
        for backend in backends:
            name = backend.service.full_name
            try:
                reply = await health_pb2_grpc.HealthStub(backend.channel).Check(
                    health_pb2.HealthCheckRequest(service=name), timeout=1.0)
                status = reply.status
            except grpc.aio.AioRpcError:
                status = health_pb2.HealthCheckResponse.NOT_SERVING
            if last.get(name) != status:
                await runtime.health.set(name, status)
                last[name] = status
                log.info("backend health", extra={
                    "backend": name,
                    "status": health_pb2.HealthCheckResponse.ServingStatus.Name(status)})
        await asyncio.sleep(HEALTH_POLL_SECONDS)


def build_gateway(settings: Settings) -> tuple[ServiceRuntime, list[Backend]]:
    """The gateway runtime and its backends (channels created inside the running loop)."""
    backends = [Backend(RISK_SERVICE, settings.risk_address),
                Backend(FUNDING_SERVICE, settings.funding_address)]
    registrations = []
    for backend in backends:
        backend.channel = backend_channel(backend.address, settings, [backend.service])
        proxy = ServiceProxy(backend.service, backend.channel, settings.backend_deadline)
        registrations.append(Registration(
            full_name=backend.service.full_name,
            add_to_server=lambda handler, server: server.add_generic_rpc_handlers([handler]),
            servicer=proxy))

    async def close_channels() -> None:
        for backend in backends:
            await backend.channel.close()

    runtime = ServiceRuntime("gateway", settings.gateway_address, settings, registrations,
                             on_stop=[close_channels])
    return runtime, backends


async def main() -> None:
    settings = load_settings()
    configure_logging("gateway", settings.log_level)
    runtime, backends = build_gateway(settings)
    watcher = asyncio.create_task(_watch_backends_after_start(runtime, backends))
    try:
        await runtime.run_until_signalled()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


async def _watch_backends_after_start(runtime: ServiceRuntime, backends: list[Backend]) -> None:
    while runtime.server is None:
        await asyncio.sleep(0.01)
    await _watch_backends(runtime, backends)
