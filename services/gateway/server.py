"""The gateway: the one public door. Serves ``ijh.risk.v1.RiskService`` and
``ijh.funding.v1.FundingService`` over TLS (mutual TLS when a client CA is configured)
by forwarding to the risk and funding services once the door's checks pass
(:mod:`services.gateway.door`), over mutual TLS too when ``IJH_INTERNAL_TLS_*`` is set,
and reports each public service's health from its backend's health. Health and
reflection need no token (probes), but TLS all the same (or ``IJH_GATEWAY_PROBE_ADDRESS``,
health alone in plaintext). Prometheus metrics are served over HTTP on
``IJH_GATEWAY_METRICS_ADDRESS``.
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
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
)

from services.gateway.door import ConcurrencyLimits, Door, RateLimiter, TokenlessStreams
from services.gateway.identity import TokenVerifier
from services.gateway.policy import unresolved_owner_fields
from services.gateway.proxy import ServiceProxy, service_config
from services.shared import metrics
from services.shared.caller import caller_keys, own_certificate_name
from services.shared.caller_assertion import GATEWAY, audience_of
from services.shared.config import (
    ConfigurationError,
    Settings,
    client_options,
    names_replicas,
)
from services.shared.server import (
    Registration,
    ServiceRuntime,
    cannot_start,
    service_settings,
)
from services.shared.tls import SERVER_AUTH, TlsSource, internal_channel, internal_tls

log = logging.getLogger(__name__)

RISK_SERVICE = risk_pb2.DESCRIPTOR.services_by_name["RiskService"]
FUNDING_SERVICE = funding_pb2.DESCRIPTOR.services_by_name["FundingService"]
HEALTH_POLL_SECONDS = 2.0
# While a backend is down its calls are refused at once: poll it more often so that it
# is served again soon after it recovers.
HEALTH_POLL_WHILE_DOWN_SECONDS = 0.5
HEALTH_MISSES_FOR_DOWN = 2
# gRPC's own bound on calls at once, this many times the door's limits: a bound on
# memory only. It counts every call from its arrival, before its request (or token) is
# read, and refuses past it by itself ("Concurrent RPC limit exceeded!", counted nowhere),
# so it is set where the door's limits, which count and say why, always come first.
GRPC_BOUND_FACTOR = 4


@dataclass
class Backend:
    """One backend service behind the gateway."""

    name: str  # as answers name it: "risk", "funding"
    service: object  # ServiceDescriptor
    address: str
    channel: grpc.aio.Channel | None = None
    # The health polls' verdict; None until the first poll (not known: not refused).
    status: int | None = None
    misses: int = 0  # polls in a row that found it NOT_SERVING or unreachable

    def down(self) -> bool:
        """True when the last poll found it NOT_SERVING or unreachable. Not for a target
        naming replicas: the channel itself sends only to those SERVING and fails at once
        when none is; a poll reaches one replica, and two slow ones would refuse calls
        the others could serve."""
        return (self.status == health_pb2.HealthCheckResponse.NOT_SERVING
                and not names_replicas(self.address))


def backend_channel(address: str, settings: Settings, service,
                    tls: TlsSource | None) -> grpc.aio.Channel:
    """A channel to ``service`` at ``address`` (one address, or a target naming its
    replicas) with the shared keepalive/size options and the balancing and retry service
    config; mutual TLS when ``tls`` is given (the channel replaced when its files are
    renewed). The health polls (and the client-side health checks of a target naming
    replicas) share it."""
    options = [*client_options(settings),
               ("grpc.service_config", service_config(service, address))]
    return internal_channel(address, tls, options)


async def _watch_backends(runtime: ServiceRuntime, backends: list[Backend]) -> None:
    """Mirror each backend's health onto the gateway's status for that service and onto
    ``Backend.status``, which the proxy reads to refuse calls to a backend that is down."""
    while True:
        for backend in backends:
            name = backend.service.full_name
            try:
                reply = await health_pb2_grpc.HealthStub(backend.channel).Check(
                    health_pb2.HealthCheckRequest(service=name), timeout=1.0)
                status = reply.status
            except grpc.aio.AioRpcError:
                status = health_pb2.HealthCheckResponse.NOT_SERVING
            # One missed poll (a busy loop, a GC pause) is not "down": calls would be
            # refused that the backend still serves. Down takes HEALTH_MISSES_FOR_DOWN.
            if status == health_pb2.HealthCheckResponse.SERVING:
                backend.misses = 0
            else:
                backend.misses += 1
                if backend.misses < HEALTH_MISSES_FOR_DOWN and backend.status is not None:
                    continue
            if backend.status != status:
                await runtime.health.set(name, status)
                backend.status = status
                log.info("backend health", extra={
                    "backend": name,
                    "status": health_pb2.HealthCheckResponse.ServingStatus.Name(status)})
        await asyncio.sleep(HEALTH_POLL_WHILE_DOWN_SECONDS
                            if any(b.down() or b.misses for b in backends)
                            else HEALTH_POLL_SECONDS)


def public_tls(settings: Settings) -> TlsSource:
    """The public port's TLS from IJH_GATEWAY_TLS_* (client certificates required when a
    client CA is set), taken again when its files are renewed."""
    if not settings.gateway_tls_cert or not settings.gateway_tls_key:
        raise ConfigurationError("IJH_GATEWAY_TLS_CERT and IJH_GATEWAY_TLS_KEY must be set: "
                                 "the gateway serves TLS only (`make run` makes dev ones)")
    return TlsSource("public", ("IJH_GATEWAY_TLS_CERT", settings.gateway_tls_cert),
                     ("IJH_GATEWAY_TLS_KEY", settings.gateway_tls_key),
                     ("IJH_GATEWAY_TLS_CLIENT_CA", settings.gateway_tls_client_ca),
                     uses=[SERVER_AUTH])


@dataclass
class GatewayMetrics:
    """The gateway's Prometheus registry and series."""

    registry: CollectorRegistry
    calls: metrics.CallMetrics
    refusals: Counter
    tokenless_streams: Gauge

    @classmethod
    def create(cls) -> GatewayMetrics:
        registry = metrics.new_registry()
        refusals = Counter(metrics.REFUSALS.removesuffix("_total"),
                           "Calls refused at the gateway's door, by reason", ["reason"],
                           registry=registry)
        tokenless = Gauge(metrics.TOKENLESS_STREAMS,
                          "Health/Watch and reflection streams open (they need no token)",
                          registry=registry)
        return cls(registry, metrics.CallMetrics(metrics.GATEWAY_PREFIX, registry), refusals,
                   tokenless)


def build_gateway(settings: Settings) -> tuple[ServiceRuntime, list[Backend]]:
    """The gateway runtime and its backends (channels created inside the running loop)."""
    if settings.gateway_max_request >= settings.max_message:
        raise ConfigurationError("IJH_GATEWAY_MAX_REQUEST_BYTES must be below "
                                 "IJH_MAX_MESSAGE_BYTES (the backends' limit)")
    unresolved = unresolved_owner_fields([RISK_SERVICE, FUNDING_SERVICE])
    if unresolved:
        raise ConfigurationError(f"authorization table names missing fields: {unresolved}")
    served_tls = public_tls(settings)
    # Its certificate must carry the name the backends check it for (IJH_INTERNAL_TLS_CALLERS).
    backend_tls = internal_tls(settings, calls={"IJH_RISK_ADDRESS": settings.risk_address,
                                                "IJH_FUNDING_ADDRESS": settings.funding_address},
                               own_name=own_certificate_name(settings, GATEWAY))
    gateway_metrics = GatewayMetrics.create()
    # Both taken again when their files change (the runtime watches them).
    verifier, signing_keys = TokenVerifier.from_settings(settings), caller_keys(settings, GATEWAY)
    # One set of places for both services' calls.
    limits = ConcurrencyLimits(settings.gateway_max_concurrent,
                               settings.gateway_max_concurrent_per_caller)
    door = Door(verifier, RateLimiter(settings.gateway_rate, settings.gateway_burst),
                settings.gateway_max_request, gateway_metrics.refusals, signing_keys, limits)
    backends = [Backend("risk", RISK_SERVICE, settings.risk_address),
                Backend("funding", FUNDING_SERVICE, settings.funding_address)]
    registrations = []
    for backend in backends:
        # The door signs with the key of the method's package; it must be this backend's.
        if audience_of(f"/{backend.service.full_name}/") != backend.name:
            raise ConfigurationError(f"{backend.service.full_name}: its package does not "
                                     f"name the {backend.name} service it is forwarded to")
        backend.channel = backend_channel(backend.address, settings, backend.service,
                                          backend_tls)
        proxy = ServiceProxy(backend.service, backend.channel, settings.backend_deadline,
                             hooks=[door], max_request_bytes=settings.gateway_max_request,
                             backend=backend.name, backend_down=backend.down,
                             admit=door.admit)
        registrations.append(Registration(
            full_name=backend.service.full_name,
            add_to_server=lambda handler, server: server.add_generic_rpc_handlers([handler]),
            servicer=proxy))

    async def close_channels() -> None:
        for backend in backends:
            await backend.channel.close()

    runtime = ServiceRuntime("gateway", settings.gateway_address, settings, registrations,
                             on_stop=[close_channels],
                             metrics_address=settings.gateway_metrics_address,
                             metrics_registry=gateway_metrics.registry,
                             tls=served_tls, channel_tls=backend_tls,
                             watched=[verifier.source, signing_keys],
                             probe_address=settings.gateway_probe_address,
                             observer=metrics.CallObserver(gateway_metrics.calls),
                             interceptors=[TokenlessStreams(
                                 settings.gateway_max_tokenless_streams,
                                 gateway_metrics.refusals, gateway_metrics.tokenless_streams)],
                             max_concurrent_calls=GRPC_BOUND_FACTOR * (
                                 settings.gateway_max_concurrent
                                 + settings.gateway_max_tokenless_streams))
    return runtime, backends


async def main() -> None:
    settings = service_settings("gateway")
    try:
        runtime, backends = build_gateway(settings)
    except ConfigurationError as exc:  # names its variable
        cannot_start(exc)
    except (OSError, ValueError) as exc:
        cannot_start(f"{type(exc).__name__}: {exc}")
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
