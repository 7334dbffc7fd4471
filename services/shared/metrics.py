"""Operations: the Prometheus metric names every service uses, the call observer every
server runs (request id, one access log line, request metrics), and the metrics HTTP
endpoint.

One name per concept, defined here so the gateway and the backends agree:

- ``<prefix>_requests_total{method,code}``, ``<prefix>_request_seconds{method,code}``,
  ``<prefix>_in_flight{method}``: per-call counts, latency and concurrency (the gateway's
  prefix is ``ijh_gateway``);
- ``ijh_gateway_refusals_total{reason}``: calls the gateway refused at the door (a place
  among its concurrency limits wanting included: ``GATEWAY_BUSY``,
  ``TOO_MANY_CONCURRENT_CALLS``, ``TOO_MANY_STREAMS_WITHOUT_TOKEN``);
- ``ijh_gateway_streams_without_token``: ``Health/Watch`` and reflection streams open on
  the gateway (they need no token, are bounded on their own and are not in
  ``ijh_gateway_in_flight``);
- ``ijh_event_publish_failures_total``: events the publisher gave up on (read from
  :attr:`services.shared.events.EventPublisher.failures` at scrape time);
- ``ijh_nats_connected``: 1 while the service is connected to NATS, else 0;
- ``ijh_outbox_publish_failures_total``: funding outbox publishes that failed (each is
  retried with the same event id; nothing is lost, but events are late): rises during a
  NATS outage while ``ijh_event_publish_failures_total`` does not;
- ``ijh_outbox_backlog``: events stored in the funding outbox and not yet published;
- ``ijh_outbox_dead``: outbox events the broker can never accept (e.g. too large), set
  aside so later ones go out; anything above 0 wants an operator;
- ``ijh_outbox_counted_timestamp_seconds``: when those two were read from the ledger
  database (Unix time; 0 before the first read, and then the two are not exposed). The
  relay counts every few seconds and a scrape shows its last count, so a scrape never
  waits on the database; a time that stops moving means the database does not answer;
- ``ijh_operations_in_flight``: long-running operations not yet done;
- ``ijh_tls_certificate_expiry_timestamp_seconds{tls,role}``: when the loaded TLS
  certificate ends (Unix time; the first of its chain to end), for each TLS setup
  (``tls``: ``public``, the gateway's port; ``internal``, between the services) and use
  (``role``: ``server``, ``client``, or ``ca``: the first of the CA bundle to end). It moves
  when renewed files are taken; alert on it coming near.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable

import grpc
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from services.shared.logs import bind_request_id
from services.shared.wrapping import BehaviorWrapper

log = logging.getLogger(__name__)


GATEWAY_PREFIX = "ijh_gateway"
REFUSALS = "ijh_gateway_refusals_total"
TOKENLESS_STREAMS = "ijh_gateway_streams_without_token"
EVENT_PUBLISH_FAILURES = "ijh_event_publish_failures"  # exposed with the _total suffix
NATS_CONNECTED = "ijh_nats_connected"
OUTBOX_PUBLISH_FAILURES = "ijh_outbox_publish_failures"  # exposed with the _total suffix
OUTBOX_BACKLOG = "ijh_outbox_backlog"
OUTBOX_DEAD = "ijh_outbox_dead"
OUTBOX_COUNTED = "ijh_outbox_counted_timestamp_seconds"
OPERATIONS_IN_FLIGHT = "ijh_operations_in_flight"
TLS_CERTIFICATE_EXPIRY = "ijh_tls_certificate_expiry_timestamp_seconds"

# Latency buckets in seconds: sub-millisecond door checks up to minute-long simulations.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                   1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# Probes and the backends' health polling would drown the access log.
_QUIET_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
# Client-side health checking (a caller balancing over replicas) holds one open per
# connection: counted, it would read as a call in flight for good. (The gateway counts
# its own in ijh_gateway_streams_without_token.)
_HEALTH_WATCH = "/grpc.health.v1.Health/Watch"


class CallMetrics:
    """Request count, latency and in-flight gauge of one server, named ``<prefix>_*``."""

    def __init__(self, prefix: str, registry: CollectorRegistry = REGISTRY):
        self.requests = Counter(f"{prefix}_requests", "Calls finished, by method and status code",
                                ["method", "code"], registry=registry)
        self.seconds = Histogram(f"{prefix}_request_seconds",
                                 "Call duration in seconds, by method and status code",
                                 ["method", "code"], buckets=LATENCY_BUCKETS, registry=registry)
        self.in_flight = Gauge(f"{prefix}_in_flight", "Calls being served, by method",
                               ["method"], registry=registry)


class CallObserver(BehaviorWrapper):
    """Runs around every unary and server-streaming call of a server: puts the request id
    in the log context (so every log line of the call carries it), writes one access
    line (method, code, duration) and, given :class:`CallMetrics`, records them."""

    def __init__(self, metrics: CallMetrics | None = None):
        super().__init__()
        self.metrics = metrics

    def wrap(self, method: str, behavior: Callable) -> Callable:
        if not (inspect.iscoroutinefunction(behavior) or inspect.isasyncgenfunction(behavior)):
            return behavior  # a synchronous behavior: left as it is
        if method == _HEALTH_WATCH:
            return behavior  # a caller's standing watch, open for hours: not a call served
        return self._observe(method, behavior, method.startswith(_QUIET_PREFIXES))

    def _observe(self, method: str, behavior: Callable, quiet: bool) -> Callable:
        series = _MethodSeries(self.metrics, method, quiet)

        if inspect.isasyncgenfunction(behavior):
            async def observed_stream(request, context):
                start = series.start(context)
                code = "UNKNOWN"
                try:
                    async for reply in behavior(request, context):
                        yield reply
                    code = _code_name(context, "OK")
                except BaseException as exc:
                    code = _ended_code(context, exc)
                    raise
                finally:
                    series.finish(code, start)
            return observed_stream

        async def observed(request, context):
            start = series.start(context)
            code = "UNKNOWN"
            try:
                result = await behavior(request, context)
                code = _code_name(context, "OK")
                return result
            except BaseException as exc:
                code = _ended_code(context, exc)
                raise
            finally:
                series.finish(code, start)
        return observed


class _MethodSeries:
    """One method's request id, access line and metric series; the labelled series are
    looked up once, not on every call (the lookups cost more than the updates)."""

    def __init__(self, metrics: CallMetrics | None, method: str, quiet: bool):
        self.metrics = metrics
        self.method = method
        self.level = logging.DEBUG if quiet else logging.INFO
        self.in_flight = metrics.in_flight.labels(method) if metrics is not None else None
        self._by_code: dict[str, tuple] = {}

    def start(self, context) -> float:
        bind_request_id(context)
        if self.in_flight is not None:
            self.in_flight.inc()
        return time.perf_counter()

    def finish(self, code: str, start: float) -> None:
        """Record the call on the loop's next turn. This runs before grpc sends the reply;
        deferred, the access line and metric updates run once the reply is on its way
        instead of on the caller's critical path (call_soon keeps the request id's
        context). The duration is taken now."""
        seconds = time.perf_counter() - start
        asyncio.get_running_loop().call_soon(self._record, code, seconds)

    def _record(self, code: str, seconds: float) -> None:
        if self.metrics is not None:
            self.in_flight.dec()
            series = self._by_code.get(code)
            if series is None:
                series = self._by_code[code] = (
                    self.metrics.requests.labels(self.method, code),
                    self.metrics.seconds.labels(self.method, code))
            series[0].inc()
            series[1].observe(seconds)
        if log.isEnabledFor(self.level):
            log.log(self.level, "call", extra={
                "method": self.method, "code": code,
                "duration_ms": round(seconds * 1000, 3)})


def _ended_code(context, exc: BaseException) -> str:
    """The status of a call its handler left by an exception. grpc cancels the handler
    when the caller goes away or its deadline passes (a stream's generator is closed
    instead when that happens while a reply is being sent): no server error."""
    if isinstance(exc, asyncio.CancelledError | GeneratorExit) and context.code() is None:
        remaining = context.time_remaining()
        return ("DEADLINE_EXCEEDED" if remaining is not None and remaining <= 0
                else "CANCELLED")
    return _code_name(context, "UNKNOWN")


def _code_name(context, default: str) -> str:
    code = context.code()
    if code is None:
        return default
    if isinstance(code, grpc.StatusCode):
        return code.name
    try:
        return grpc.StatusCode(code).name  # some versions keep the raw tuple/int
    except ValueError:
        return default


class EventPublisherCollector:
    """Exposes ``ijh_event_publish_failures_total`` and ``ijh_nats_connected`` read from a
    publisher at scrape time."""

    def __init__(self, publisher):
        self.publisher = publisher

    def collect(self):
        yield CounterMetricFamily(EVENT_PUBLISH_FAILURES,
                                  "Events the publisher gave up on after retrying",
                                  value=self.publisher.failures)
        yield GaugeMetricFamily(NATS_CONNECTED, "1 while connected to NATS, else 0",
                                value=1 if self.publisher.is_connected else 0)


class OutboxCollector:
    """Exposes ``ijh_outbox_publish_failures_total``, and the relay's last count of the
    outbox (``ijh_outbox_backlog``, ``ijh_outbox_dead``, read when
    ``ijh_outbox_counted_timestamp_seconds``): attributes only, never the database."""

    def __init__(self, relay):
        self.relay = relay

    def collect(self):
        yield CounterMetricFamily(OUTBOX_PUBLISH_FAILURES,
                                  "Outbox publishes that failed; each is retried",
                                  value=self.relay.publish_failures)
        counts = self.relay.counts
        if counts is not None:  # none read yet: no figure rather than a false 0
            yield GaugeMetricFamily(OUTBOX_BACKLOG, "Events in the outbox not yet published",
                                    value=counts.backlog)
            yield GaugeMetricFamily(OUTBOX_DEAD, "Outbox events set aside as never "
                                    "publishable", value=counts.dead)
        yield GaugeMetricFamily(OUTBOX_COUNTED, "When the outbox backlog and dead events "
                                "were last read from the database (Unix time; 0: never)",
                                value=counts.read_at if counts is not None else 0)


class TlsExpiryCollector:
    """Exposes ``ijh_tls_certificate_expiry_timestamp_seconds`` of the files loaded now."""

    def __init__(self, sources):
        self.sources = sources

    def collect(self):
        family = GaugeMetricFamily(
            TLS_CERTIFICATE_EXPIRY, "When the loaded TLS certificate ends (Unix time), by "
            "TLS setup and use", labels=["tls", "role"])
        for source in self.sources:
            for role, timestamp in source.expiry():
                family.add_metric([source.name, role], timestamp)
        yield family


def new_registry() -> CollectorRegistry:
    """A service's own registry with the process, platform and GC collectors (no
    ``*_created`` series: they double the scrape)."""
    disable_created_metrics()
    registry = CollectorRegistry()
    for collector in (ProcessCollector, PlatformCollector, GCCollector):
        collector(registry=registry)
    return registry


def register_event_publisher(publisher, registry: CollectorRegistry = REGISTRY) -> None:
    """Export ``publisher.failures`` and ``publisher.is_connected`` (an
    :class:`~services.shared.events.EventPublisher`)."""
    registry.register(EventPublisherCollector(publisher))


def register_outbox_relay(relay, registry: CollectorRegistry = REGISTRY) -> None:
    """Export ``relay.publish_failures`` and ``relay.counts`` (a funding ``OutboxRelay``)."""
    registry.register(OutboxCollector(relay))


def register_tls(sources, registry: CollectorRegistry = REGISTRY) -> None:
    """Export the expiry of each :class:`~services.shared.tls.TlsSource`'s loaded files."""
    registry.register(TlsExpiryCollector(sources))


def operations_in_flight_gauge(registry: CollectorRegistry = REGISTRY) -> Gauge:
    """Long-running operations started and not yet done."""
    return Gauge(OPERATIONS_IN_FLIGHT, "Long-running operations not yet done",
                 registry=registry)


def parse_address(address: str) -> tuple[str, int] | None:
    """``host:port`` -> (host, port); ``0``, ``off`` or a port of 0 -> None (disabled)."""
    address = address.strip()
    if address.lower() in ("", "0", "off", "none"):
        return None
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"metrics address {address!r} is not host:port")
    if int(port) == 0:
        return None
    return host or "127.0.0.1", int(port)


def serve_metrics(address: str, registry: CollectorRegistry = REGISTRY):
    """Serve ``/metrics`` over HTTP on ``address`` (a daemon thread); None when disabled."""
    parsed = parse_address(address)
    if parsed is None:
        return None
    host, port = parsed
    server, _thread = start_http_server(port, addr=host, registry=registry)
    log.info("metrics served", extra={"metrics_address": f"{host}:{port}"})
    return server
