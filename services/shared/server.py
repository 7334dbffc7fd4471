"""The gRPC server frame every service runs in.

One place decides: health per service name (grpcio-health-checking), reflection,
message-size and keepalive options, on a backend the caller assertion checked before
every call (:class:`~services.shared.caller.CallerCheck`), JSON logs with the caller's
request id and one access line per call (:class:`~services.shared.metrics.CallObserver`),
TLS when its files are given (the gateway's public port; a backend's under internal
mutual TLS), those files, its channels', its caller keys and any other files it is given
checked every ``IJH_TLS_RELOAD_SECONDS`` and taken again when changed
(:class:`~services.shared.file_source.FileSource`), a plaintext port
answering health alone for probes that cannot speak TLS, a start refused in one log
line (exit 2) when the configuration is wrong, and graceful
shutdown on SIGTERM/SIGINT: health goes NOT_SERVING while calls are still served for
``drain`` seconds, so balancers (and the gateway's health poll) stop sending; then
in-flight calls get ``grace`` seconds; the whole stop is bounded by drain + grace.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NoReturn

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.shared.caller import CallerCheck, CallerKeySource
from services.shared.caller_assertion import CallerKeys
from services.shared.config import (
    ConfigurationError,
    Settings,
    load_settings,
    names_replicas,
    server_options,
)
from services.shared.file_source import FileSource, watch_files
from services.shared.logs import configure_logging
from services.shared.metrics import CallObserver, register_tls, serve_metrics
from services.shared.tls import TlsSource

log = logging.getLogger(__name__)

# Shutdown hooks (on_stop) get what is left of drain + grace, but at least this long in
# all: closing connections and publishing the last events take a moment. Each hook gets
# at least STOP_HOOK_FLOOR_SECONDS, so one that uses up the time (operations waiting for
# an engine chunk) does not starve the next (the event publisher's last events).
STOP_HOOKS_MIN_SECONDS = 2.0
STOP_HOOK_FLOOR_SECONDS = 1.0


def cannot_start(problem: object) -> NoReturn:
    """Refuse to start: one log line naming the problem, exit code 2 (configuration)."""
    log.error("cannot start", extra={"error": str(problem)})
    raise SystemExit(2)


def service_settings(service: str) -> Settings:
    """The settings, with JSON logs on stderr at their level; wrong settings are
    :func:`cannot_start` (logged at INFO level then: IJH_LOG_LEVEL may be what is wrong)."""
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        configure_logging(service)
        cannot_start(exc)
    configure_logging(service, settings.log_level)
    return settings


def end_process(code: int = 0) -> NoReturn:
    """Exit now, after a graceful stop. Engine work on a worker thread that was told to
    stop ends only at its next chunk (seconds, or more on a large run), and asyncio.run
    (its default executor) and the interpreter (thread joins) would wait for it past the
    grace period; its result is abandoned anyway."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _listen(server: grpc.aio.Server, address: str,
            credentials: grpc.ServerCredentials | None, variable: str) -> int:
    """Bind ``server`` to ``address`` (TLS with ``credentials``); the port, or a
    ConfigurationError naming ``variable``."""
    try:
        port = (server.add_insecure_port(address) if credentials is None
                else server.add_secure_port(address, credentials))
    except RuntimeError:  # grpcio: "Failed to bind"
        port = 0
    if port == 0:
        why = ("a target naming replicas says where callers reach them; a replica listens on "
               "host:port" if names_replicas(address)
               else "in use, or not an address of this host")
        raise ConfigurationError(f"{variable}: cannot listen on {address!r} ({why})")
    return port


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
    # TLS for the port (the gateway; a backend under IJH_INTERNAL_TLS_*); None: plaintext.
    tls: TlsSource | None = None
    # The TLS of this service's channels to others (as :func:`~services.shared.tls.
    # internal_channel` makes them): watched, and its expiry exported, with the port's.
    channel_tls: TlsSource | None = None
    # A plaintext port serving grpc.health.v1.Health alone, from the same servicer (so the
    # drain shows there too), for probes that cannot speak TLS ("": none).
    probe_address: str = ""
    # A backend's: every call to its services must carry a caller assertion signed with
    # one of these keys (services.shared.caller.CallerCheck; a CallerKeySource is
    # watched); None: no check (the gateway, which authenticates callers by their tokens).
    caller_keys: CallerKeys | CallerKeySource | None = None
    # With caller_keys: the name each signer's client certificate must carry
    # (services.shared.caller.caller_certificate_names); None: any of the internal CA.
    caller_certificates: Mapping[str, str] | None = None
    # Request id + access log (+ metrics when it has them); a plain one when None.
    observer: CallObserver | None = None
    # gRPC's own bound on calls at once, every call (health and reflection too) from its
    # arrival; beyond it gRPC answers RESOURCE_EXHAUSTED itself, counted and logged
    # nowhere (None: no bound). The gateway's limits are its door's; this is far above.
    max_concurrent_calls: int | None = None
    # Prometheus /metrics over HTTP for this service ("" or "0": none).
    metrics_address: str = ""
    metrics_registry: object | None = None  # a prometheus_client CollectorRegistry
    # Further files to take again when they change (the gateway's token keys and the
    # caller keys it signs with), polled with the TLS files.
    watched: Sequence[FileSource] = ()
    on_start: Sequence[Callable[[], Awaitable[None]]] = ()
    # Called when a shutdown begins, before the drain: stop work no call is waiting for
    # (it then has drain + grace to end).
    on_shutdown: Sequence[Callable[[], None]] = ()
    # Run in order once the server has stopped, within what is left of drain + grace.
    on_stop: Sequence[Callable[[], Awaitable[None]]] = ()
    server: grpc.aio.Server | None = None
    probe_server: grpc.aio.Server | None = None
    health: health.aio.HealthServicer = field(default_factory=health.aio.HealthServicer)
    port: int = 0
    probe_port: int = 0

    async def start(self) -> int:
        """Bind (a port in use is a ConfigurationError, found before slow start hooks),
        run start hooks, serve, mark every service SERVING; returns the port."""
        variable = f"IJH_{self.name.upper()}"
        # Once: funding serves and calls with one set of files.
        tls_sources = list({id(source): source for source in (self.tls, self.channel_tls)
                            if source}.values())
        if self.metrics_registry is not None and tls_sources:
            register_tls(tls_sources, self.metrics_registry)
        try:
            if self.metrics_registry is not None:
                self._metrics_http = serve_metrics(self.metrics_address, self.metrics_registry)
        except OSError as exc:
            raise ConfigurationError(f"{variable}_METRICS_ADDRESS: cannot listen on "
                                     f"{self.metrics_address!r} ({exc.strerror or exc})") from None
        observer = self.observer or CallObserver()
        names = [r.full_name for r in self.registrations]
        # The observer first: it binds the request id the check verifies, and logs and
        # counts a refused call like any other.
        checks = [] if self.caller_keys is None else [
            CallerCheck(self.caller_keys, names, certificate_names=self.caller_certificates)]
        self.server = grpc.aio.server(
            interceptors=[observer, *checks, *self.interceptors],
            options=server_options(self.settings),
            maximum_concurrent_rpcs=self.max_concurrent_calls)
        for registration in self.registrations:
            registration.add_to_server(registration.servicer, self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME], self.server)
        credentials = None if self.tls is None else self.tls.server_credentials()
        self.port = _listen(self.server, self.address, credentials, f"{variable}_ADDRESS")
        if self.probe_address:
            self.probe_server = grpc.aio.server(options=server_options(self.settings))
            health_pb2_grpc.add_HealthServicer_to_server(self.health, self.probe_server)
            self.probe_port = _listen(self.probe_server, self.probe_address, None,
                                      f"{variable}_PROBE_ADDRESS")
        for hook in self.on_start:
            await hook()
        await self.server.start()
        if self.probe_server is not None:
            await self.probe_server.start()
        await self.set_serving(True)
        # Polled together, each once; caller keys as a fixed CallerKeys (tests) are not.
        watched = list({id(source): source for source in (
            *tls_sources, self.caller_keys, *self.watched)
            if isinstance(source, FileSource)}.values())
        if watched:
            self._file_watch = asyncio.get_running_loop().create_task(
                watch_files(watched, self.settings.tls_reload))
        log.info("serving", extra={"address": self.address, "port": self.port,
                                   "tls": self.tls is not None,
                                   "probe_port": self.probe_port or None, "services": names})
        return self.port

    async def set_serving(self, serving: bool) -> None:
        """Report SERVING or NOT_SERVING for every service (e.g. from backend health)."""
        status = (health_pb2.HealthCheckResponse.SERVING if serving
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        for service_name in ["", *(r.full_name for r in self.registrations)]:
            await self.health.set(service_name, status)

    async def stop(self) -> None:
        """Graceful stop within drain + grace: NOT_SERVING at once, calls still served for
        ``drain`` seconds, then up to ``grace`` seconds for in-flight calls, then the
        stop hooks in what is left."""
        if self.server is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.drain + self.settings.grace
        if getattr(self, "_file_watch", None) is not None:
            self._file_watch.cancel()
        for notify in self.on_shutdown:
            notify()
        # NOT_SERVING for good: a later set_serving (the gateway's backend poll) is ignored.
        await self.health.enter_graceful_shutdown()
        log.info("stopping", extra={"drain_seconds": self.settings.drain,
                                    "grace_seconds": self.settings.grace})
        await asyncio.sleep(self.settings.drain)
        await asyncio.gather(*(server.stop(self.settings.grace)
                               for server in (self.server, self.probe_server) if server))
        hooks_until = max(deadline, loop.time() + STOP_HOOKS_MIN_SECONDS)
        for hook in self.on_stop:
            try:
                await asyncio.wait_for(hook(), max(hooks_until - loop.time(),
                                                   STOP_HOOK_FLOOR_SECONDS))
            except TimeoutError:
                log.warning("shutdown hook cut short at the end of the grace period",
                            extra={"hook": getattr(hook, "__qualname__", repr(hook))})
            except Exception:
                log.exception("shutdown hook failed")
        if getattr(self, "_metrics_http", None) is not None:
            await asyncio.to_thread(self._metrics_http.shutdown)
            self._metrics_http.server_close()
        self.server = self.probe_server = None
        log.info("stopped")

    async def run_until_signalled(self) -> NoReturn:
        """Start (a ConfigurationError is :func:`cannot_start`), serve until SIGTERM or
        SIGINT, stop gracefully, then :func:`end_process`."""
        try:
            await self.start()
        except ConfigurationError as exc:
            cannot_start(exc)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        await self.stop()
        end_process(0)
