"""A running set of the three services as real processes, for tests.

The gateway serves TLS with bearer tokens: each stack gets its own development PKI
and demo tokens under ``var_dir`` (:mod:`services.gateway.dev_pki`), and its own internal
keys (``IJH_CALLER_KEY_DIR``): a test calling a backend directly signs the caller it
claims to be with :meth:`Stack.signed` (or a :func:`signing_channel`) with the gateway's
keys, as the gateway does. ``start_stack(..., internal_tls=True)`` runs mutual TLS
between the services (each with its development certificate of the internal CA) and a
plaintext health-only probe port on each service."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import grpc

from services.embedded import ServiceProcess
from services.gateway.dev_pki import INTERNAL_SERVICES, DevPki, ensure_caller_keys, ensure_dev_pki
from services.shared.caller import caller_signers, read_caller_keys, signed_metadata
from services.shared.caller_assertion import GATEWAY, CallerKeys
from services.shared.nats_server import NatsServer, free_port


@dataclass
class Stack:
    """Addresses and processes of one running set of services."""

    nats: NatsServer
    risk: ServiceProcess
    funding: ServiceProcess
    gateway: ServiceProcess
    var_dir: Path
    pki: DevPki | None = None
    metrics_address: str = ""  # the gateway's /metrics (host:port)
    risk_metrics_address: str = ""
    funding_metrics_address: str = ""
    internal_tls: bool = False  # mutual TLS between the services (and probe ports)

    def internal_credentials(self, service: str = "gateway") -> grpc.ChannelCredentials:
        """Mutual TLS to a backend as ``service`` (its development internal certificate)."""
        return grpc.ssl_channel_credentials(
            self.pki.internal_ca.read_bytes(),
            private_key=self.pki.internal_key(service).read_bytes(),
            certificate_chain=self.pki.internal_cert(service).read_bytes())

    @property
    def processes(self) -> list[ServiceProcess]:
        return [self.risk, self.funding, self.gateway]

    def token(self, name: str = "officer") -> str:
        """A demo bearer token of this stack (agency, agency2, officer, officer2, analyst,
        admin)."""
        return self.pki.token(name)

    def gateway_credentials(self, token_name: str | None = None) -> grpc.ChannelCredentials:
        """TLS trusting this stack's CA, with a demo token on every call when named."""
        tls = grpc.ssl_channel_credentials(self.pki.ca.read_bytes())
        if token_name is None:
            return tls
        return grpc.composite_channel_credentials(
            tls, grpc.access_token_call_credentials(self.token(token_name)))

    def gateway_channel(self, token_name: str | None = "officer") -> grpc.Channel:
        """A blocking channel to the gateway (TLS; the officer's token unless told)."""
        return grpc.secure_channel(self.gateway.address, self.gateway_credentials(token_name))

    @property
    def caller_keys(self) -> CallerKeys:
        """The gateway's internal keys: those it signs with and the backends verify."""
        return keys_of(self.var_dir)

    def signed(self, method: str, subject: str = "t-officer", role: str = "officer",
               business_id: str = "", request_id: str = "") -> tuple[tuple[str, str], ...]:
        """Metadata for one direct call to a backend as the gateway would send it: the
        request id, the caller ``subject``/``role``/``business_id`` and their assertion for
        ``method`` (``/ijh.funding.v1.FundingService/ComputeGrant``)."""
        return signed_metadata(self.caller_keys, method, subject, role, business_id,
                               request_id)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def caller_key_env(var_dir: Path) -> dict[str, str]:
    """``IJH_CALLER_KEY_DIR`` of development keys under ``var_dir`` (made if missing),
    for a test that starts a service of its own."""
    return {"IJH_CALLER_KEY_DIR": str(ensure_caller_keys(var_dir))}


def keys_of(var_dir: Path, service: str = GATEWAY) -> CallerKeys:
    """``service``'s keys in :func:`caller_key_env` under ``var_dir`` (the gateway's: a
    test calling a backend directly vouches for its caller as the gateway does)."""
    return read_caller_keys(ensure_caller_keys(var_dir), service)


def signing_channel(address: str, keys: CallerKeys, subject: str = "t-officer",
                    role: str = "officer", business_id: str = "") -> grpc.aio.Channel:
    """A plaintext grpc.aio channel to a backend that signs every call as one caller."""
    return grpc.aio.insecure_channel(
        address, interceptors=caller_signers(keys, subject, role, business_id))


# A port free_port() found free can be taken before the service binds it (as the local
# port of any outgoing connection, or by another test run on the machine): a start
# refused for a port in use is tried again, on new ports.
PORT_ATTEMPTS = 3
_PORT_TAKEN = ("cannot listen on", "Address already in use")


def start_stack(nats: NatsServer, var_dir: Path, extra_env: dict[str, str] | None = None,
                *, start_gateway_only: bool = False, internal_tls: bool = False,
                service_env: dict[str, dict[str, str]] | None = None) -> Stack:
    """Start risk, funding and gateway on free ports against ``nats``; wait for SERVING.
    ``internal_tls``: mutual TLS between them, and on each a probe port
    (``IJH_<SERVICE>_PROBE_ADDRESS``, in its ``env``). ``service_env``: settings of one
    service (by name), over all the others (e.g. where its certificate files are)."""
    var_dir.mkdir(parents=True, exist_ok=True)
    logs = [var_dir / f"{name}.log" for name in ("risk", "funding", "gateway")]
    for attempt in range(1, PORT_ATTEMPTS + 1):
        written = {log: log.stat().st_size if log.exists() else 0 for log in logs}
        try:
            return _start_stack(nats, var_dir, extra_env, start_gateway_only, internal_tls,
                                service_env)
        except RuntimeError:
            new = "".join(log.read_bytes()[written[log]:].decode(errors="replace")
                          for log in logs if log.exists())
            if attempt == PORT_ATTEMPTS or not any(text in new for text in _PORT_TAKEN):
                raise
    raise AssertionError("unreachable")


def _start_stack(nats: NatsServer, var_dir: Path, extra_env: dict[str, str] | None,
                 start_gateway_only: bool, internal_tls: bool,
                 service_env: dict[str, dict[str, str]] | None) -> Stack:
    pki = ensure_dev_pki(var_dir)
    addresses = {name: f"127.0.0.1:{free_port()}" for name in ("risk", "funding", "gateway")}
    metrics_address = f"127.0.0.1:{free_port()}"
    env = {
        "IJH_NATS_URL": nats.url,
        "IJH_VAR_DIR": str(var_dir),
        "IJH_RISK_ADDRESS": addresses["risk"],
        "IJH_FUNDING_ADDRESS": addresses["funding"],
        "IJH_GATEWAY_ADDRESS": addresses["gateway"],
        "IJH_GRACE_SECONDS": "2",
        "IJH_DRAIN_SECONDS": "0",  # no drain: the tests that observe one set it
        "IJH_BACKEND_DEADLINE_SECONDS": "5",
        "IJH_GATEWAY_METRICS_ADDRESS": metrics_address,
        "IJH_RISK_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        "IJH_FUNDING_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        "IJH_GATEWAY_RATE_PER_SECOND": "500",
        "IJH_GATEWAY_RATE_BURST": "500",
        **pki.gateway_env(),
        **caller_key_env(var_dir),
        **(extra_env or {}),
    }
    own_env: dict[str, dict[str, str]] = {name: {} for name in INTERNAL_SERVICES}
    if internal_tls:
        own_env = {name: pki.internal_tls_env(name) for name in INTERNAL_SERVICES}
        for name in INTERNAL_SERVICES:
            own_env[name][f"IJH_{name.upper()}_PROBE_ADDRESS"] = f"127.0.0.1:{free_port()}"
    processes = {name: ServiceProcess(name, addresses[name],
                                      {**env, **own_env[name], **(service_env or {}).get(name, {})},
                                      var_dir / f"{name}.log")
                 for name in addresses}
    if internal_tls:  # health checked as the gateway would: its certificate
        for name in ("risk", "funding"):
            processes[name].tls_ca = pki.internal_ca
            processes[name].tls_client = (pki.internal_cert("gateway"),
                                          pki.internal_key("gateway"))
    processes["gateway"].tls_ca = pki.ca
    processes["gateway"].tls_client = (pki.client_cert, pki.client_key)  # used under mTLS
    order = ["gateway"] if start_gateway_only else ["risk", "funding", "gateway"]
    try:
        for name in order:
            processes[name].start()
        for name in order:
            processes[name].wait_serving()
        if not start_gateway_only:  # the gateway mirrors its backends' health every 2 s
            for service in ("ijh.risk.v1.RiskService", "ijh.funding.v1.FundingService"):
                processes["gateway"].wait_serving(service)
    except BaseException:
        for name in reversed(order):  # a failed start leaves no process behind
            processes[name].kill()
        raise
    return Stack(nats, processes["risk"], processes["funding"], processes["gateway"], var_dir,
                 pki, env["IJH_GATEWAY_METRICS_ADDRESS"], env["IJH_RISK_METRICS_ADDRESS"],
                 env["IJH_FUNDING_METRICS_ADDRESS"], internal_tls)


def wait_for_text(path: Path, text: str, timeout: float = 5.0) -> str:
    """``path``'s content once it holds ``text`` (a log line being written), or as it is
    when ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        content = path.read_text()
        if text in content or time.monotonic() > deadline:
            return content
        time.sleep(0.05)
