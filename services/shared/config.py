"""The one config loader: every setting comes from an environment variable with a
documented default. ``python -m services.shared.config`` prints the table the
README shows, so the two never drift (a test checks it).
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]


class ConfigurationError(Exception):
    """A service cannot start with these settings; the message names each variable."""


# Checks: each takes the setting's text and returns its typed value, or raises ValueError
# saying what is wrong (the loader adds the variable's name).
def _number(kind: type, what: str, minimum: float, *, above: bool = False,
            maximum: float = math.inf) -> Callable[[str], float]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(f"{text!r} is not {what}") from None
        low = value > minimum if above else value >= minimum
        if not (math.isfinite(value) and low and value <= maximum):
            bound = f"above {minimum:g}" if above else f"at least {minimum:g}"
            upper = f" and at most {maximum:g}" if maximum < math.inf else ""
            raise ValueError(f"{text!r}: must be {bound}{upper}")
        return value
    return parse


_seconds = _number(float, "a number of seconds", 0)
_positive_seconds = _number(float, "a number of seconds", 0, above=True)
_rate = _number(float, "a number", 0, above=True)
_count = _number(int, "a whole number", 1)
_port = _number(int, "a port number", 1, maximum=65535)
_message_bytes = _number(int, "a whole number of bytes", 1024, maximum=2**31 - 1)  # gRPC: int32


_TARGET_SCHEMES = ("dns:", "ipv4:", "ipv6:")


def _host_port(text: str) -> bool:
    host, _, port = text.rpartition(":")
    return bool(host) and port.isdigit() and int(port) <= 65535 and not any(
        c.isspace() or c in ",/" for c in host)


def _listen_address(text: str) -> str:
    """``host:port`` (``[::1]:port`` for IPv6) with a port of 0..65535."""
    if not _host_port(text):
        raise ValueError(f"{text!r} is not host:port (e.g. 127.0.0.1:50052)")
    return text


def _address(text: str) -> str:
    """A backend's: where it listens (``host:port``) and where its callers reach it: the
    same, or a gRPC target naming its replicas, ``dns:///host:port`` or
    ``ipv4:host:port,host:port`` (``ipv6:`` likewise)."""
    scheme = next((s for s in _TARGET_SCHEMES if text.startswith(s)), "")
    rest = text[len(scheme):]
    if scheme == "dns:":
        rest = rest.removeprefix("//").partition("/")[2] if rest.startswith("//") else rest
        parts = [rest]
    else:
        parts = rest.split(",") if scheme else [rest]
    if not all(_host_port(part) for part in parts):
        raise ValueError(f"{text!r} is not host:port (e.g. 127.0.0.1:50052) or, for the "
                         "service's callers, a target naming its replicas "
                         "(dns:///risk-headless:50052, ipv4:10.0.0.5:50052,10.0.0.6:50052)")
    return text


def _metrics_address(text: str) -> str:
    return text if text.strip().lower() in ("0", "off", "none") else _listen_address(text)


def _switch(text: str) -> str:
    if text not in ("0", "1"):
        raise ValueError(f"{text!r} is not 0 (off) or 1 (on)")
    return text


def _nats_url(text: str) -> str:
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("nats", "tls", "ws", "wss") or not parts.hostname:
        raise ValueError(f"{text!r} is not a NATS URL (e.g. nats://127.0.0.1:4222)")
    return text


def _stream_name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        raise ValueError(f"{text!r} is not a JetStream stream name (letters, digits, _ and -)")
    return text


def _stream_bytes(text: str) -> int:
    """0 (no limit) or a whole number of bytes, at least 1 MiB."""
    value = _number(int, "a whole number of bytes", 0)(text)
    if 0 < value < 2**20:
        raise ValueError(f"{text!r}: must be 0 (no limit) or at least 1048576 (1 MiB)")
    return value


def _database_url(text: str) -> str:
    """A SQLAlchemy URL of SQLite or PostgreSQL. Never echoes the text: it may hold a
    password."""
    from sqlalchemy.engine import make_url  # only the funding service needs SQLAlchemy
    from sqlalchemy.exc import ArgumentError
    try:
        backend = make_url(text).get_backend_name()
    except (ArgumentError, ValueError):
        raise ValueError("not a database URL (e.g. postgresql+psycopg://user@host:5432/ijh); "
                         "empty means SQLite under IJH_VAR_DIR") from None
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"a {backend} URL; the ledger runs on PostgreSQL or SQLite")
    return text


def _caller_key_dir(text: str) -> str:
    """A directory; which of its link key files a service needs, and whether they hold
    keys, is checked when it starts (:func:`services.shared.caller.read_caller_keys`)."""
    if not Path(text).is_dir():
        raise ValueError(f"{text}: not a directory (of the link key files gateway-funding.key, "
                         "gateway-risk.key, funding-risk.key)")
    return text


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _names_by_service(text: str) -> dict[str, str]:
    """``service=name`` pairs, comma-separated, a service once."""
    names: dict[str, str] = {}
    for pair in text.split(","):
        service, _, name = (part.strip() for part in pair.partition("="))
        if not service or not name:
            raise ValueError(f"{pair.strip()!r} is not service=name "
                             "(e.g. gateway=spiffe://ijh/gateway,funding=spiffe://ijh/funding)")
        if service in names:
            raise ValueError(f"{service} is named twice")
        names[service] = name
    return names


def _log_level(text: str) -> str:
    if text.upper() not in LOG_LEVELS:
        raise ValueError(f"{text!r} is not one of {', '.join(LOG_LEVELS)}")
    return text.upper()


def _setting(env: str, default: str, doc: str, check: Callable[[str], object] = str):
    return field(default=default, metadata={"env": env, "doc": doc, "check": check})


@dataclass(frozen=True)
class Settings:
    """All settings of all three services. Strings as read; typed accessors below."""

    gateway_address: str = _setting(
        "IJH_GATEWAY_ADDRESS", "127.0.0.1:50051", "where the public gateway listens",
        _listen_address)
    risk_address: str = _setting(
        "IJH_RISK_ADDRESS", "127.0.0.1:50052", "where the risk service listens / is reached; "
        "its callers may name several replicas with a gRPC target (`dns:///risk-headless:"
        "50052`, `ipv4:10.0.0.5:50052,10.0.0.6:50052`): calls go round-robin to those "
        "SERVING", _address)
    funding_address: str = _setting(
        "IJH_FUNDING_ADDRESS", "127.0.0.1:50053", "where the funding service listens / is "
        "reached (a gRPC target of several replicas for the gateway, as for risk)", _address)
    nats_url: str = _setting(
        "IJH_NATS_URL", "nats://127.0.0.1:4322",
        "NATS server with JetStream; `make run` starts an embedded one here unless set", _nats_url)
    embedded_nats_port: str = _setting(
        "IJH_EMBEDDED_NATS_PORT", "4322", "`make run`: port of the embedded NATS server", _port)
    embedded_nats_monitor_port: str = _setting(
        "IJH_EMBEDDED_NATS_MONITOR_PORT", "8322",
        "`make run`: HTTP monitoring port of the embedded NATS server", _port)
    embedded_internal_tls: str = _setting(
        "IJH_EMBEDDED_INTERNAL_TLS", "0",
        "`make run`: `1` runs mutual TLS between the services, each with its development "
        "certificate of the internal CA in `var/dev-pki/internal/`", _switch)
    event_stream: str = _setting(
        "IJH_EVENT_STREAM", "IJH_EVENTS", "JetStream stream holding every `ijh.>` event",
        _stream_name)
    event_stream_max_age_days: str = _setting(
        "IJH_EVENT_STREAM_MAX_AGE_DAYS", "3650",
        "days the event stream keeps an event (0: for ever); these three are applied when "
        "the stream is created, and to an existing one when a service connects "
        "(deploy/README.md)",
        _number(float, "a number of days", 0))
    event_stream_max_bytes: str = _setting(
        "IJH_EVENT_STREAM_MAX_BYTES", str(2**30),
        "the most the event stream holds (0: no limit); full, it refuses new events "
        "(the funding outbox keeps its own until there is room) rather than delete old "
        "ones; JetStream reserves it in the NATS store when it applies it", _stream_bytes)
    event_stream_replicas: str = _setting(
        "IJH_EVENT_STREAM_REPLICAS", "1",
        "copies of the event stream on a NATS cluster (1 to 5; more than 1 needs a "
        "clustered JetStream)", _number(int, "a whole number", 1, maximum=5))
    var_dir: str = _setting(
        "IJH_VAR_DIR", str(REPO_ROOT / "var"), "local state: NATS store, SQLite, logs")
    database_url: str = _setting(
        "IJH_DATABASE_URL", "", "funding ledger database; empty means SQLite under IJH_VAR_DIR",
        _database_url)
    log_level: str = _setting("IJH_LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR", _log_level)
    drain_seconds: str = _setting(
        "IJH_DRAIN_SECONDS", "2",
        "on SIGTERM/SIGINT: seconds health reports NOT_SERVING while calls are still "
        "served, so balancers and the gateway stop sending first (at once to a replica it "
        "reaches by a target naming replicas; else after two health polls, 2 s apart)",
        _seconds)
    grace_seconds: str = _setting(
        "IJH_GRACE_SECONDS", "5",
        "on SIGTERM/SIGINT, after the drain: seconds in-flight calls may finish", _seconds)
    backend_deadline_seconds: str = _setting(
        "IJH_BACKEND_DEADLINE_SECONDS", "30",
        "gateway: deadline on each backend call (shortened to the caller's own deadline)",
        _positive_seconds)
    max_connection_age_seconds: str = _setting(
        "IJH_MAX_CONNECTION_AGE_SECONDS", "300",
        "gateway, risk, funding: a connection to them is closed after about this long "
        "(GOAWAY, ±10 % jitter; calls in flight go on), so its caller resolves their "
        "address again and finds replicas added since", _positive_seconds)
    max_connection_age_grace_seconds: str = _setting(
        "IJH_MAX_CONNECTION_AGE_GRACE_SECONDS", "3900",
        "gateway, risk, funding: how long calls and streams in flight on a connection so "
        "closed may go on before it is cut (the default: a portfolio stream's hour, plus "
        "five minutes)", _positive_seconds)
    max_message_bytes: str = _setting(
        "IJH_MAX_MESSAGE_BYTES", str(64 * 1024 * 1024),
        "largest gRPC message sent or received by any service", _message_bytes)
    max_scenarios: str = _setting(
        "IJH_MAX_SCENARIOS", "2000000",
        "largest scenario count of a procurement risk estimate", _count)
    max_guarantees: str = _setting(
        "IJH_MAX_GUARANTEES", "2000000", "largest portfolio a simulation accepts", _count)
    operation_retention_seconds: str = _setting(
        "IJH_OPERATION_RETENTION_SECONDS", "86400",
        "how long a finished long-running operation and its result are kept (at least "
        "30: the risk service refuses less)", _seconds)
    max_portfolio_scenarios: str = _setting(
        "IJH_MAX_PORTFOLIO_SCENARIOS", "50000000",
        "largest scenario count of a portfolio simulation", _count)
    caller_key_dir: str = _setting(
        "IJH_CALLER_KEY_DIR", "",
        "gateway, risk, funding: directory of the internal keys with which the gateway (and "
        "funding calling risk) vouches for a caller and the backends verify it, one file a "
        "link: gateway-funding.key, gateway-risk.key, funding-risk.key (one key a line, at "
        "least 32 characters; the first signs, all verify; taken again when changed, see "
        "IJH_TLS_RELOAD_SECONDS); each service needs the files of its links only; required "
        "(`make run` makes `var/dev-pki/caller-keys/`)",
        _caller_key_dir)
    gateway_tls_cert: str = _setting(
        "IJH_GATEWAY_TLS_CERT", "",
        "gateway: PEM certificate chain it serves TLS with (required; `make run` uses "
        "`var/dev-pki/server.pem`)")
    gateway_tls_key: str = _setting(
        "IJH_GATEWAY_TLS_KEY", "", "gateway: PEM private key of that certificate (required)")
    gateway_tls_client_ca: str = _setting(
        "IJH_GATEWAY_TLS_CLIENT_CA", "",
        "gateway: PEM CA bundle; when set, callers must present a client certificate it "
        "signed (mutual TLS)")
    internal_tls_cert: str = _setting(
        "IJH_INTERNAL_TLS_CERT", "",
        "gateway, risk, funding: PEM certificate chain of this service for mutual TLS between "
        "the services (with IJH_INTERNAL_TLS_KEY and _CA; none of the three: plaintext): risk "
        "and funding serve it, the gateway and funding present it when calling one. Extended "
        "key usage: serverAuth (risk, funding), clientAuth (gateway, funding); SANs: the host "
        "its callers dial (of IJH_RISK_ADDRESS / IJH_FUNDING_ADDRESS, e.g. the headless "
        "Service's DNS name); issued under IJH_INTERNAL_TLS_CA (the others trust that)")
    internal_tls_key: str = _setting(
        "IJH_INTERNAL_TLS_KEY", "", "gateway, risk, funding: PEM private key of that "
        "certificate (unencrypted)")
    internal_tls_ca: str = _setting(
        "IJH_INTERNAL_TLS_CA", "",
        "gateway, risk, funding: PEM CA bundle the other services' internal certificates "
        "must chain to; risk and funding then accept only callers presenting one")
    internal_tls_callers: str = _setting(
        "IJH_INTERNAL_TLS_CALLERS", "",
        "gateway, risk, funding: with IJH_INTERNAL_TLS_*, the name each calling service's "
        "internal certificate carries, `gateway=<name>,funding=<name>` (a SAN, DNS or URI, "
        "or the CN of one without SANs; a DNS name or CN matches in any case, a URI only as "
        "written; the same value on every service): risk and funding then serve a call only "
        "over a connection whose client certificate names the service that signed its "
        "caller assertion, so risk serves the gateway and funding, funding the gateway "
        "alone; the gateway and funding check that their own certificate carries their "
        "name, at start (else they do not start) and in each renewed set (else refused, "
        "the loaded one kept); empty: any certificate of IJH_INTERNAL_TLS_CA (the dev PKI "
        "sets `spiffe://ijh-dev/<service>`)", _names_by_service)
    tls_reload_seconds: str = _setting(
        "IJH_TLS_RELOAD_SECONDS", "60",
        "gateway, risk, funding: how often the files of IJH_GATEWAY_TLS_*, "
        "IJH_INTERNAL_TLS_*, IJH_CALLER_KEY_DIR and (gateway) IJH_JWT_PUBLIC_KEYS and "
        "IJH_JWT_JWKS_FILE are checked for a change (their stat, symlinks followed); a "
        "changed set is taken without a restart once complete and valid (else one WARNING, "
        "and the loaded set stays)", _positive_seconds)
    jwt_public_keys: str = _setting(
        "IJH_JWT_PUBLIC_KEYS", "",
        "gateway: comma-separated paths of PEM public keys (ES256/RS256) trusted to sign "
        "bearer tokens (taken again when changed, as IJH_JWT_JWKS_FILE)")
    jwt_jwks_file: str = _setting(
        "IJH_JWT_JWKS_FILE", "", "gateway: path of a JWKS file of further trusted signing keys; "
        "taken again when it changes (IJH_TLS_RELOAD_SECONDS): a key added is trusted, one "
        "removed refused, from then on")
    jwt_issuers: str = _setting(
        "IJH_JWT_ISSUERS", "", "gateway: comma-separated trusted token issuers (`iss`; required)")
    jwt_audience: str = _setting(
        "IJH_JWT_AUDIENCE", "ijh-gateway", "gateway: the audience (`aud`) tokens must name")
    jwt_leeway_seconds: str = _setting(
        "IJH_JWT_LEEWAY_SECONDS", "30", "gateway: clock skew allowed on `exp`/`nbf`/`iat`",
        _seconds)
    gateway_max_request_bytes: str = _setting(
        "IJH_GATEWAY_MAX_REQUEST_BYTES", str(4 * 1024 * 1024),
        "gateway: largest request it forwards (must be below IJH_MAX_MESSAGE_BYTES); "
        "larger ones get RESOURCE_EXHAUSTED", _count)
    gateway_rate_per_second: str = _setting(
        "IJH_GATEWAY_RATE_PER_SECOND", "20",
        "gateway: calls per second each caller (token subject) may make on average", _rate)
    gateway_rate_burst: str = _setting(
        "IJH_GATEWAY_RATE_BURST", "40", "gateway: calls a caller may make at once above the rate",
        _rate)
    gateway_max_concurrent_calls: str = _setting(
        "IJH_GATEWAY_MAX_CONCURRENT_CALLS", "1000",
        "gateway: risk and funding calls it serves at once, all callers together, each "
        "counted once past the door's checks (a stream while open); more get "
        "RESOURCE_EXHAUSTED `GATEWAY_BUSY`. Health and reflection are not counted", _count)
    gateway_max_concurrent_calls_per_caller: str = _setting(
        "IJH_GATEWAY_MAX_CONCURRENT_CALLS_PER_CALLER", "50",
        "gateway: of those, calls one caller (token subject) may have at once; more get "
        "RESOURCE_EXHAUSTED `TOO_MANY_CONCURRENT_CALLS`", _count)
    gateway_max_streams_without_token: str = _setting(
        "IJH_GATEWAY_MAX_STREAMS_WITHOUT_TOKEN", "100",
        "gateway: `grpc.health.v1.Health/Watch` and reflection streams (which need no "
        "token) open at once on its TLS port; more get RESOURCE_EXHAUSTED "
        "`TOO_MANY_STREAMS_WITHOUT_TOKEN`. Health `Check` (what Kubernetes' `grpc:` probes "
        "call) is not counted", _count)
    gateway_metrics_address: str = _setting(
        "IJH_GATEWAY_METRICS_ADDRESS", "127.0.0.1:9464",
        "gateway: Prometheus `/metrics` over HTTP; `0` disables", _metrics_address)
    risk_metrics_address: str = _setting(
        "IJH_RISK_METRICS_ADDRESS", "127.0.0.1:9465",
        "risk: Prometheus `/metrics` (operations in flight, event-publish failures); `0` "
        "disables", _metrics_address)
    funding_metrics_address: str = _setting(
        "IJH_FUNDING_METRICS_ADDRESS", "127.0.0.1:9466",
        "funding: Prometheus `/metrics` (outbox backlog, event-publish failures); `0` "
        "disables", _metrics_address)
    gateway_probe_address: str = _setting(
        "IJH_GATEWAY_PROBE_ADDRESS", "",
        "gateway: a plaintext port serving only `grpc.health.v1.Health` (the same statuses, "
        "drain included), for probes that cannot speak TLS, such as Kubernetes' `grpc:` "
        "probes; empty: none", _listen_address)
    risk_probe_address: str = _setting(
        "IJH_RISK_PROBE_ADDRESS", "",
        "risk: as IJH_GATEWAY_PROBE_ADDRESS, for when its port serves mutual TLS",
        _listen_address)
    funding_probe_address: str = _setting(
        "IJH_FUNDING_PROBE_ADDRESS", "",
        "funding: as IJH_GATEWAY_PROBE_ADDRESS, for when its port serves mutual TLS",
        _listen_address)

    def __post_init__(self) -> None:
        """Check every setting now, at start, not when it is first used (a bad
        IJH_GRACE_SECONDS would otherwise surface only at SIGTERM)."""
        problems = []
        for f in fields(self):
            text = getattr(self, f.name)
            if text:  # empty: the setting is not used (e.g. no client CA)
                try:
                    f.metadata["check"](text)
                except ValueError as exc:
                    problems.append(f"{f.metadata['env']}: {exc}")
        if problems:
            raise ConfigurationError("; ".join(problems))

    # Typed views (of values checked above).
    @property
    def drain(self) -> float:
        return float(self.drain_seconds)

    @property
    def grace(self) -> float:
        return float(self.grace_seconds)

    @property
    def backend_deadline(self) -> float:
        return float(self.backend_deadline_seconds)

    @property
    def internal_tls_paths(self) -> tuple[str, str, str]:
        """IJH_INTERNAL_TLS_CERT, _KEY and _CA (any of them set: mutual TLS is meant)."""
        return self.internal_tls_cert, self.internal_tls_key, self.internal_tls_ca

    @property
    def internal_callers(self) -> dict[str, str]:
        return _names_by_service(self.internal_tls_callers) if self.internal_tls_callers else {}

    @property
    def tls_reload(self) -> float:
        return float(self.tls_reload_seconds)

    @property
    def max_message(self) -> int:
        return int(self.max_message_bytes)

    @property
    def gateway_max_request(self) -> int:
        return int(self.gateway_max_request_bytes)

    @property
    def gateway_rate(self) -> float:
        return float(self.gateway_rate_per_second)

    @property
    def gateway_burst(self) -> float:
        return float(self.gateway_rate_burst)

    @property
    def gateway_max_concurrent(self) -> int:
        return int(self.gateway_max_concurrent_calls)

    @property
    def gateway_max_concurrent_per_caller(self) -> int:
        return int(self.gateway_max_concurrent_calls_per_caller)

    @property
    def gateway_max_tokenless_streams(self) -> int:
        return int(self.gateway_max_streams_without_token)

    @property
    def max_connection_age_ms(self) -> int:
        return max(1, round(float(self.max_connection_age_seconds) * 1000))

    @property
    def max_connection_age_grace_ms(self) -> int:
        return max(1, round(float(self.max_connection_age_grace_seconds) * 1000))

    @property
    def jwt_leeway(self) -> float:
        return float(self.jwt_leeway_seconds)

    @property
    def embedded_mutual_tls(self) -> bool:
        return self.embedded_internal_tls == "1"

    @property
    def event_stream_max_age(self) -> float:
        """Seconds (0: for ever)."""
        return float(self.event_stream_max_age_days) * 86400

    @property
    def event_stream_bytes(self) -> int:
        return int(self.event_stream_max_bytes)

    @property
    def event_stream_replica_count(self) -> int:
        return int(self.event_stream_replicas)

    @property
    def var_path(self) -> Path:
        return Path(self.var_dir)

    @property
    def ledger_url(self) -> str:
        """The ledger database: IJH_DATABASE_URL, else SQLite ``funding.sqlite3`` under
        IJH_VAR_DIR (the same file name as ``storage.engine.default_url``)."""
        return self.database_url or f"sqlite+pysqlite:///{self.var_path / 'funding.sqlite3'}"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check every ``IJH_*`` setting from ``environ`` (default: the process
    environment); ConfigurationError names each one that is wrong."""
    environ = os.environ if environ is None else environ
    values = {}
    for f in fields(Settings):
        env = f.metadata["env"]
        if env in environ and environ[env] != "":
            values[f.name] = environ[env]
    return Settings(**values)


def settings_for_tool(program: str) -> Settings:
    """``load_settings`` for a command-line tool: a wrong setting is one line on stderr
    naming it, and exit code 2 (as the services' "cannot start"), not a traceback."""
    try:
        return load_settings()
    except ConfigurationError as exc:
        print(f"{program}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def settings_table() -> str:
    """The Markdown table of settings, as in the README."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for f in fields(Settings):
        default = f.default
        if f.name == "var_dir":
            default = "`var/` in the checkout"
        else:
            default = f"`{default}`" if default else "(empty)"
        rows.append(f"| `{f.metadata['env']}` | {default} | {f.metadata['doc']} |")
    return "\n".join(rows)


# Keepalive: one policy for both ends. Clients ping at most every CLIENT_KEEPALIVE_MS;
# servers accept pings that far apart (a server refusing more frequent pings than the
# client sends would answer GOAWAY too_many_pings).
CLIENT_KEEPALIVE_MS = 30_000
CLIENT_KEEPALIVE_TIMEOUT_MS = 10_000
SERVER_MIN_PING_INTERVAL_MS = 20_000


def server_options(settings: Settings) -> list[tuple[str, int]]:
    """gRPC server channel arguments shared by all three services."""
    return [
        ("grpc.max_send_message_length", settings.max_message),
        ("grpc.max_receive_message_length", settings.max_message),
        ("grpc.keepalive_time_ms", CLIENT_KEEPALIVE_MS * 4),
        ("grpc.keepalive_timeout_ms", CLIENT_KEEPALIVE_TIMEOUT_MS),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", SERVER_MIN_PING_INTERVAL_MS),
        ("grpc.http2.max_ping_strikes", 2),
        ("grpc.so_reuseport", 0),
        # A caller finds replicas only when it resolves their name again, which gRPC does
        # when a connection closes: closing each after a while (GOAWAY: calls in flight
        # finish, streams included) brings a replica added since into the rotation.
        ("grpc.max_connection_age_ms", settings.max_connection_age_ms),
        # ... within the grace: without one, a stream never ended by its caller kept its
        # connection, and what the server holds for it, for good.
        ("grpc.max_connection_age_grace_ms", settings.max_connection_age_grace_ms),
    ]


def names_replicas(target: str) -> bool:
    """Whether a backend address is a gRPC target naming its replicas one by one
    (``dns:///risk-headless:50052``, ``ipv4:10.0.0.5:50052,10.0.0.6:50052``), not one
    address (``host:port``: a single replica, or a load balancer in front of several)."""
    return target.startswith(_TARGET_SCHEMES)


def replica_balancing(service: str, target: str) -> dict:
    """gRPC service config (the part that is not per method) of a channel to ``service``
    at ``target``. A target naming replicas: calls spread round-robin over them, and none
    sent to a replica whose health for ``service`` is not SERVING (client-side health
    checking, gRFC A17: each replica's health Watch), such as one draining to stop. One
    address: gRPC's default, one connection; health checked there would refuse every call
    while the replica behind it drains, though it still serves them (the gateway's health
    poll takes two misses instead)."""
    if not names_replicas(target):
        return {}
    return {"loadBalancingConfig": [{"round_robin": {}}],
            "healthCheckConfig": {"serviceName": service}}


def client_options(settings: Settings) -> list[tuple[str, int]]:
    """gRPC client channel arguments matching :func:`server_options`."""
    return [
        ("grpc.max_send_message_length", settings.max_message),
        ("grpc.max_receive_message_length", settings.max_message),
        ("grpc.keepalive_time_ms", CLIENT_KEEPALIVE_MS),
        ("grpc.keepalive_timeout_ms", CLIENT_KEEPALIVE_TIMEOUT_MS),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.enable_retries", 1),
        # A backend that starts after its caller (or restarts) is found within ~2 s,
        # not after gRPC's default reconnect back-off of up to two minutes.
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.min_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 2000),
    ]


if __name__ == "__main__":
    print(settings_table())
