"""``make run``: the embedded default in one terminal.

Starts a local nats-server with JetStream (store under ``var/nats``) unless
``IJH_NATS_URL`` points at an existing server (its ports must be free: a port taken is
named, and no other server there is ever taken for it; a NATS that exits is restarted,
with a back-off and at most 5 times in 10 minutes), then the risk, funding and gateway
services as child processes, waits until each reports SERVING, and prints how to call
the gateway. The gateway serves TLS with bearer tokens: unless ``IJH_GATEWAY_TLS_CERT``
is set, a development CA, certificate, signing key and demo tokens are made (or kept)
under ``var/dev-pki`` and ``var/tokens`` (:mod:`services.gateway.dev_pki`); unless
``IJH_CALLER_KEY_DIR`` is set, the three services share the development keys
``var/dev-pki/caller-keys/`` that sign the caller identity the gateway forwards (each
service reads the files of its own links). The services talk plaintext to each other
on loopback unless ``IJH_EMBEDDED_INTERNAL_TLS=1``: then mutual TLS, each with its
development certificate of the internal CA (``var/dev-pki/internal/``). Ctrl-C (or
SIGTERM, or SIGHUP when its terminal closes), at any time, start-up included (waiting
for a service to be SERVING ends at once), stops the gateway first, then the backends,
then NATS, each gracefully: they run in sessions of their own so that a terminal's signal
reaches only the launcher. A launcher killed outright (SIGKILL) takes them with it: the
kernel sends each SIGTERM when it dies (:mod:`services.shared.child_process`). The tests
start the same processes through :class:`ServiceProcess`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.gateway.dev_pki import (
    INTERNAL_SERVICES,
    DevPki,
    ensure_caller_keys,
    ensure_dev_pki,
)
from services.shared.child_process import Interrupted, ending_with_this_thread
from services.shared.config import REPO_ROOT, settings_for_tool
from services.shared.nats_server import NatsServer, PortInUse


@dataclass
class ServiceProcess:
    """One service (``python -m services.<module>``) as a child process."""

    module: str  # "risk", "funding" or "gateway"
    address: str
    env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    process: subprocess.Popen | None = None
    tls_ca: Path | None = None  # the CA of a TLS port (the gateway); None: plaintext
    tls_client: tuple[Path, Path] | None = None  # (cert, key) for probing a mutual-TLS port
    end_with_launcher: bool = False  # SIGTERM when the starting thread ends (child_process)

    def start(self) -> ServiceProcess:
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        stderr = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        # Own session: a Ctrl-C reaches the launcher only, which stops children in order.
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.module}"], cwd=REPO_ROOT, env=env,
            stderr=stderr, start_new_session=True,
            preexec_fn=ending_with_this_thread() if self.end_with_launcher else None)
        if stderr:
            stderr.close()
        return self

    def wait_serving(self, service: str = "", timeout_seconds: float = 120.0,
                     stop: threading.Event | None = None) -> None:
        """Block until the health service answers SERVING for ``service``; ``Interrupted``
        as soon as ``stop`` is set (Ctrl-C while a service starts)."""
        stop = stop or threading.Event()
        deadline = time.monotonic() + timeout_seconds
        if self.tls_ca is None:
            channel = grpc.insecure_channel(self.address)
        else:
            key, cert = ((self.tls_client[1].read_bytes(), self.tls_client[0].read_bytes())
                         if self.tls_client else (None, None))
            channel = grpc.secure_channel(self.address, grpc.ssl_channel_credentials(
                self.tls_ca.read_bytes(), private_key=key, certificate_chain=cert))
        with channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if stop.is_set():
                    raise Interrupted(f"stopped while {self.module} was starting")
                if self.process and self.process.poll() is not None:
                    raise RuntimeError(f"{self.module} exited with {self.process.returncode}")
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(service=service),
                                       timeout=1.0)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                stop.wait(0.1)
        raise TimeoutError(f"{self.module} not SERVING at {self.address}")

    def stop(self, timeout_seconds: float = 15.0) -> int | None:
        """SIGTERM, wait for a clean exit, SIGKILL after ``timeout_seconds``."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_seconds)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: a crash."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


_STALE_HINT = "pgrep -af 'nats-server -c|services[.](risk|funding|gateway)'"


@dataclass
class RestartBudget:
    """How NATS is brought back when it exits: at once the first time, then after 1, 2,
    4, 8 s; more than ``limit`` restarts within ``window_seconds`` is a fault a restart
    does not cure (a corrupt store, a port taken meanwhile), so the launcher stops."""

    limit: int = 5
    window_seconds: float = 600.0
    first_delay: float = 1.0
    times: list[float] = field(default_factory=list)

    def next_delay(self, now: float) -> float | None:
        """Seconds to wait before this restart, or None: give up."""
        self.times = [t for t in self.times if now - t < self.window_seconds]
        if len(self.times) >= self.limit:
            return None
        delay = 0.0 if not self.times else self.first_delay * 2 ** (len(self.times) - 1)
        self.times.append(now)
        return delay


def _banner(gateway: str, nats_url: str, pki: DevPki | None, metrics: str,
            backend_metrics: str, internal_tls: str) -> str:
    if pki is not None:
        ca, token = _relative(pki.ca), _relative(pki.token_path("officer"))
        tls = (f"  TLS CA / tokens        {ca}   {_relative(pki.tokens)}/<role>.jwt"
               "   (DEVELOPMENT ONLY)\n")
        call = (f'  .venv/bin/grpcurl -cacert {ca} -H "authorization: Bearer $(cat {token})" \\\n'
                f"      -d @ {gateway} ijh.funding.v1.FundingService/ComputeGrant "
                "< examples/grant.json")
    else:
        tls = ""
        call = (f"  .venv/bin/grpcurl -cacert <your CA> -H \"authorization: Bearer <token>\" "
                f"-d @ {gateway} ijh.funding.v1.FundingService/ComputeGrant < examples/grant.json")
    return f"""
IJH Risk & Funding Services are running.
  gateway (public gRPC, TLS)  {gateway}
  gateway metrics        http://{metrics}/metrics
  risk, funding metrics  {backend_metrics}
  NATS JetStream         {nats_url}   (events on subjects ijh.>, stream IJH_EVENTS)
  between the services   {internal_tls}
{tls}
Try, in another shell:
{call}
  .venv/bin/python -m services.watch_events --nats-url {nats_url}   # each CloudEvent as it arrives

Ctrl-C stops everything.
"""


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def main() -> int:
    settings = settings_for_tool("make run")
    # From the start: a Ctrl-C while NATS or a service starts ends the waiting at once and
    # stops what has started (a wait may be long: a database that does not answer).
    stop = threading.Event()
    for stopping in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(stopping, lambda *_: stop.set())
    var = settings.var_path
    (var / "logs").mkdir(parents=True, exist_ok=True)
    pki: DevPki | None = None
    gateway_env: dict[str, str] = {}
    if not settings.gateway_tls_cert:
        pki = ensure_dev_pki(var)
        gateway_env = {k: v for k, v in pki.gateway_env().items() if not os.environ.get(k)}
    nats: NatsServer | None = None
    nats_url = os.environ.get("IJH_NATS_URL", "")
    if not nats_url:
        nats = NatsServer(var / "nats", port=int(settings.embedded_nats_port),
                          monitor_port=int(settings.embedded_nats_monitor_port),
                          end_with_launcher=True)
        try:
            nats.start(stop=stop)
        except Interrupted:
            print("stopped.", flush=True)
            return 0
        except PortInUse as exc:
            variable = ("IJH_EMBEDDED_NATS_PORT" if exc.role == "client"
                        else "IJH_EMBEDDED_NATS_MONITOR_PORT")
            print(f"cannot start the embedded NATS: {exc} (127.0.0.1:{exc.port}, "
                  f"{variable}).\nIs another `make run` still running (or left by a "
                  f"launcher that was killed: {_STALE_HINT})? Stop it, or set {variable} "
                  "to a free port, or IJH_NATS_URL to use a NATS server of your own.",
                  file=sys.stderr)
            return 1
        except (RuntimeError, TimeoutError) as exc:
            print(f"cannot start the embedded NATS on port {nats.port}: {exc}\n"
                  f"Is another `make run` still running (or left by a launcher that was "
                  f"killed: {_STALE_HINT})? Or set IJH_NATS_URL.", file=sys.stderr)
            return 1
        nats_url = nats.url
    env = {"IJH_NATS_URL": nats_url}
    # Per service: its IJH_INTERNAL_TLS_*, and how to check a backend's health under them.
    internal = {name: {} for name in INTERNAL_SERVICES}
    probe: dict = {}
    if settings.embedded_mutual_tls:
        dev = pki or ensure_dev_pki(var)
        internal = {name: dev.internal_tls_env(name) for name in INTERNAL_SERVICES}
        probe = {"tls_ca": dev.internal_ca,
                 "tls_client": (dev.internal_cert("gateway"), dev.internal_key("gateway"))}
    elif settings.internal_tls_ca:  # your own, the same for the three
        probe = {"tls_ca": Path(settings.internal_tls_ca),
                 "tls_client": (Path(settings.internal_tls_cert),
                                Path(settings.internal_tls_key))}
    if not settings.caller_key_dir:  # the backends believe only what the gateway signs
        env["IJH_CALLER_KEY_DIR"] = str(ensure_caller_keys(var))
    if not os.environ.get("IJH_DRAIN_SECONDS"):
        env["IJH_DRAIN_SECONDS"] = "0"  # no load balancer to drain from: Ctrl-C stops at once
    backends = [ServiceProcess(name, address, {**env, **internal[name]},
                               var / "logs" / f"{name}.log", end_with_launcher=True, **probe)
                for name, address in (("risk", settings.risk_address),
                                      ("funding", settings.funding_address))]
    gateway = ServiceProcess("gateway", settings.gateway_address,
                             {**env, **gateway_env, **internal["gateway"]},
                             var / "logs" / "gateway.log",
                             # With your own certificate the probe trusts the chain served.
                             tls_ca=pki.ca if pki else Path(settings.gateway_tls_cert),
                             end_with_launcher=True)
    started: list[ServiceProcess] = []
    restarts = RestartBudget()
    code = 0
    try:
        for service in [*backends, gateway]:
            if stop.is_set():
                raise Interrupted("stopped during start-up")
            started.append(service.start())
            service.wait_serving(stop=stop)
        print(_banner(settings.gateway_address, nats_url, pki,
                      settings.gateway_metrics_address,
                      f"http://{settings.risk_metrics_address}/metrics   "
                      f"http://{settings.funding_metrics_address}/metrics",
                      "mutual TLS" if probe else
                      "plaintext on loopback (IJH_EMBEDDED_INTERNAL_TLS=1: mutual TLS)"),
              flush=True)
        print(f"logs: {var / 'logs'}/*.log", flush=True)
        while not stop.is_set():
            if nats is not None and nats.process.poll() is not None:
                # The services keep working without it (funding's outbox holds the events)
                # and reconnect by themselves: bring it back on the same port and store,
                # unless it keeps exiting (then something is wrong that a restart won't fix).
                exited = nats.process.returncode
                delay = restarts.next_delay(time.monotonic())
                if delay is None:
                    print(f"NATS exited ({exited}) again after {restarts.limit} restarts "
                          f"within {restarts.window_seconds:.0f} s; stopping: see "
                          f"{nats.log_path}", file=sys.stderr, flush=True)
                    stop.set()
                    code = 1
                    break
                print(f"NATS exited ({exited}); restarting it on {nats_url}"
                      + (f" in {delay:.0f} s" if delay else ""), file=sys.stderr, flush=True)
                if stop.wait(delay):
                    break
                try:
                    nats.start(stop=stop)
                except (RuntimeError, TimeoutError) as exc:
                    print(f"cannot restart NATS: {exc}; stopping", file=sys.stderr)
                    stop.set()
                    code = 1
                    break
            for service in started:
                if service.process.poll() is not None:
                    print(f"{service.module} exited ({service.process.returncode}); "
                          f"see {service.log_path}", file=sys.stderr)
                    stop.set()
                    code = 1
            stop.wait(0.5)
    except Interrupted as exc:
        print(f"{exc}: stopping what started", flush=True)
    except (RuntimeError, TimeoutError) as exc:
        print(f"start-up failed: {exc}; see {var / 'logs'}", file=sys.stderr)
        code = 1
    finally:
        print("stopping...", flush=True)
        for service in reversed(started):
            service.stop()
        if nats is not None:
            nats.stop()
        print("stopped.", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
