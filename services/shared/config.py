"""The one config loader: every setting comes from an environment variable with a
documented default. ``python -m services.shared.config`` prints the table the
README shows, so the two never drift (a test checks it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _setting(env: str, default: str, doc: str):
    return field(default=default, metadata={"env": env, "doc": doc})


@dataclass(frozen=True)
class Settings:
    """All settings of all three services. Strings as read; typed accessors below."""

    gateway_address: str = _setting(
        "IJH_GATEWAY_ADDRESS", "127.0.0.1:50051", "where the public gateway listens")
    risk_address: str = _setting(
        "IJH_RISK_ADDRESS", "127.0.0.1:50052", "where the risk service listens / is reached")
    funding_address: str = _setting(
        "IJH_FUNDING_ADDRESS", "127.0.0.1:50053", "where the funding service listens / is reached")
    nats_url: str = _setting(
        "IJH_NATS_URL", "nats://127.0.0.1:4322",
        "NATS server with JetStream; `make run` starts an embedded one here unless set")
    embedded_nats_port: str = _setting(
        "IJH_EMBEDDED_NATS_PORT", "4322", "`make run`: port of the embedded NATS server")
    embedded_nats_monitor_port: str = _setting(
        "IJH_EMBEDDED_NATS_MONITOR_PORT", "8322",
        "`make run`: HTTP monitoring port of the embedded NATS server")
    event_stream: str = _setting(
        "IJH_EVENT_STREAM", "IJH_EVENTS", "JetStream stream holding every `ijh.>` event")
    var_dir: str = _setting(
        "IJH_VAR_DIR", str(REPO_ROOT / "var"), "local state: NATS store, SQLite, logs")
    database_url: str = _setting(
        "IJH_DATABASE_URL", "", "funding ledger database; empty means SQLite under IJH_VAR_DIR")
    log_level: str = _setting("IJH_LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR")
    grace_seconds: str = _setting(
        "IJH_GRACE_SECONDS", "5", "on SIGTERM/SIGINT: seconds in-flight calls may finish")
    backend_deadline_seconds: str = _setting(
        "IJH_BACKEND_DEADLINE_SECONDS", "30",
        "gateway: deadline on each backend call (shortened to the caller's own deadline)")
    max_message_bytes: str = _setting(
        "IJH_MAX_MESSAGE_BYTES", str(64 * 1024 * 1024),
        "largest gRPC message sent or received by any service")
    max_scenarios: str = _setting(
        "IJH_MAX_SCENARIOS", "2000000",
        "largest scenario count of a procurement risk estimate")
    max_guarantees: str = _setting(
        "IJH_MAX_GUARANTEES", "2000000", "largest portfolio a simulation accepts")
    operation_retention_seconds: str = _setting(
        "IJH_OPERATION_RETENTION_SECONDS", "86400",
        "how long a finished long-running operation and its result are kept")
    max_portfolio_scenarios: str = _setting(
        "IJH_MAX_PORTFOLIO_SCENARIOS", "50000000",
        "largest scenario count of a portfolio simulation")
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
    jwt_public_keys: str = _setting(
        "IJH_JWT_PUBLIC_KEYS", "",
        "gateway: comma-separated paths of PEM public keys (ES256/RS256) trusted to sign "
        "bearer tokens")
    jwt_jwks_file: str = _setting(
        "IJH_JWT_JWKS_FILE", "", "gateway: path of a JWKS file of further trusted signing keys")
    jwt_issuers: str = _setting(
        "IJH_JWT_ISSUERS", "", "gateway: comma-separated trusted token issuers (`iss`; required)")
    jwt_audience: str = _setting(
        "IJH_JWT_AUDIENCE", "ijh-gateway", "gateway: the audience (`aud`) tokens must name")
    jwt_leeway_seconds: str = _setting(
        "IJH_JWT_LEEWAY_SECONDS", "30", "gateway: clock skew allowed on `exp`/`nbf`/`iat`")
    gateway_max_request_bytes: str = _setting(
        "IJH_GATEWAY_MAX_REQUEST_BYTES", str(4 * 1024 * 1024),
        "gateway: largest request it forwards (must be below IJH_MAX_MESSAGE_BYTES); "
        "larger ones get RESOURCE_EXHAUSTED")
    gateway_rate_per_second: str = _setting(
        "IJH_GATEWAY_RATE_PER_SECOND", "20",
        "gateway: calls per second each caller (token subject) may make on average")
    gateway_rate_burst: str = _setting(
        "IJH_GATEWAY_RATE_BURST", "40", "gateway: calls a caller may make at once above the rate")
    gateway_max_concurrent_calls: str = _setting(
        "IJH_GATEWAY_MAX_CONCURRENT_CALLS", "1000",
        "gateway: calls it serves at once, all callers together (streams count while open); "
        "more get RESOURCE_EXHAUSTED")
    gateway_metrics_address: str = _setting(
        "IJH_GATEWAY_METRICS_ADDRESS", "127.0.0.1:9464",
        "gateway: Prometheus `/metrics` over HTTP; `0` disables")
    risk_metrics_address: str = _setting(
        "IJH_RISK_METRICS_ADDRESS", "127.0.0.1:9465",
        "risk: Prometheus `/metrics` (operations in flight, event-publish failures); `0` "
        "disables")
    funding_metrics_address: str = _setting(
        "IJH_FUNDING_METRICS_ADDRESS", "127.0.0.1:9466",
        "funding: Prometheus `/metrics` (outbox backlog, event-publish failures); `0` "
        "disables")

    # Typed views: the one place that parses.
    @property
    def grace(self) -> float:
        return float(self.grace_seconds)

    @property
    def backend_deadline(self) -> float:
        return float(self.backend_deadline_seconds)

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
    def jwt_leeway(self) -> float:
        return float(self.jwt_leeway_seconds)

    @property
    def var_path(self) -> Path:
        return Path(self.var_dir)

    @property
    def ledger_url(self) -> str:
        """The ledger database: IJH_DATABASE_URL, else SQLite ``funding.sqlite3`` under
        IJH_VAR_DIR (the same file name as ``storage.engine.default_url``)."""
        return self.database_url or f"sqlite+pysqlite:///{self.var_path / 'funding.sqlite3'}"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every ``IJH_*`` setting from ``environ`` (default: the process environment)."""
    environ = os.environ if environ is None else environ
    values = {}
    for f in fields(Settings):
        env = f.metadata["env"]
        if env in environ and environ[env] != "":
            values[f.name] = environ[env]
    return Settings(**values)


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
    ]


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
