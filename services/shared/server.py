"""The gRPC server frame every service runs in.

One place decides: health per service name (grpcio-health-checking), reflection,
message-size and keepalive options, JSON logs with the caller's request id and one
access line per call (:class:`~services.shared.metrics.CallObserver`), TLS when
credentials are given (the gateway), and graceful shutdown on
SIGTERM/SIGINT (health goes NOT_SERVING first so balancers stop sending, then
in-flight calls get ``grace`` seconds).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.shared.config import Settings, server_options
from services.shared.metrics import CallObserver, serve_metrics

log = logging.getLogger(__name__)


@dataclass
class Registration:
    """One gRPC service to serve: its generated ``add_*_to_server`` and servicer."""

    full_name: str  # e.g. "ijh.funding.v1.FundingService"
    add_to_server: Callable
    servicer: object


@dataclass
class ServiceRuntime:
    """A running grpc.aio server with health and reflection."""

    name: str
    address: str
    settings: Settings
    registrations: Sequence[Registration]
    interceptors: Sequence[grpc.aio.ServerInterceptor] = ()
    # TLS for the port; None serves plaintext (backends, reachable by the gateway only).
    credentials: grpc.ServerCredentials | None = None
    # Request id + access log (+ metrics when it has them); a plain one when None.
    observer: CallObserver | None = None
    # Calls served at once; beyond it gRPC answers RESOURCE_EXHAUSTED (None: no cap).
    max_concurrent_calls: int | None = None
    # Prometheus /metrics over HTTP for this service ("" or "0": none).
    metrics_address: str = ""
    metrics_registry: object | None = None  # a prometheus_client CollectorRegistry
    on_start: Sequence[Callable[[], Awaitable[None]]] = ()
    on_stop: Sequence[Callable[[], Awaitable[None]]] = ()
    server: grpc.aio.Server | None = None
    health: health.aio.HealthServicer = field(default_factory=health.aio.HealthServicer)
    port: int = 0

    async def start(self) -> int:
        """Run start hooks, bind, serve, mark every service SERVING; returns the port."""
        for hook in self.on_start:
            await hook()
        if self.metrics_registry is not None:
            self._metrics_http = serve_metrics(self.metrics_address, self.metrics_registry)
        observer = self.observer or CallObserver()
        self.server = grpc.aio.server(
            interceptors=[observer, *self.interceptors], options=server_options(self.settings),
            maximum_concurrent_rpcs=self.max_concurrent_calls)
        for registration in self.registrations:
            registration.add_to_server(registration.servicer, self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        names = [r.full_name for r in self.registrations]
        reflection.enable_server_reflection(
            [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME], self.server)
        if self.credentials is None:
            self.port = self.server.add_insecure_port(self.address)
        else:
            self.port = self.server.add_secure_port(self.address, self.credentials)
        if self.port == 0:
            raise OSError(f"{self.name}: cannot listen on {self.address}")
        await self.server.start()
        await self.set_serving(True)
        log.info("serving", extra={"address": self.address, "port": self.port,
                                   "services": names})
        return self.port

    async def set_serving(self, serving: bool) -> None:
        """Report SERVING or NOT_SERVING for every service (e.g. from backend health)."""
        status = (health_pb2.HealthCheckResponse.SERVING if serving
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        for service_name in ["", *(r.full_name for r in self.registrations)]:
            await self.health.set(service_name, status)

    async def stop(self) -> None:
        """Graceful stop: NOT_SERVING, then up to ``grace`` seconds for in-flight calls."""
        if self.server is None:
            return
        await self.health.enter_graceful_shutdown()
        log.info("stopping", extra={"grace_seconds": self.settings.grace})
        await self.server.stop(self.settings.grace)
        for hook in self.on_stop:
            try:
                await hook()
            except Exception:
                log.exception("shutdown hook failed")
        if getattr(self, "_metrics_http", None) is not None:
            await asyncio.to_thread(self._metrics_http.shutdown)
            self._metrics_http.server_close()
        self.server = None
        log.info("stopped")

    async def run_until_signalled(self) -> None:
        """Start, then serve until SIGTERM or SIGINT, then stop gracefully."""
        await self.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        await self.stop()
