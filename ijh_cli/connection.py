"""Where the gateway is and who we are: flags, environment, config file, then defaults.

Precedence, first found wins, per setting:

1. flags: ``--gateway``, ``--ca-cert``, ``--token`` / ``--token-file`` / ``--role``,
   ``--client-cert``, ``--client-key``;
2. environment: ``IJH_GATEWAY``, ``IJH_CA_CERT``, ``IJH_TOKEN`` / ``IJH_TOKEN_FILE`` /
   ``IJH_ROLE``, ``IJH_CLIENT_CERT``, ``IJH_CLIENT_KEY``;
3. one config file (TOML): ``--config`` or ``IJH_CONFIG`` if given, else ``./ijh.toml``,
   else ``~/.config/ijh/config.toml`` (``$XDG_CONFIG_HOME/ijh/config.toml``); keys
   ``gateway``, ``ca_cert``, ``token``, ``token_file``, ``role``, ``client_cert``,
   ``client_key``, ``var_dir`` (relative paths are relative to the file);
4. defaults for a checkout after ``make run``: gateway ``127.0.0.1:50051``, CA
   ``<var>/dev-pki/ca.pem`` and token ``<var>/tokens/<role>.jwt`` when present, where
   ``<var>`` is ``IJH_VAR_DIR`` or ``./var`` and ``<role>`` is the command's own user
   (agency for risk estimates, officer for grants and decisions, analyst for the
   portfolio). Without any CA the system's trusted roots are used.

Within one level a token beats a token file beats a role.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from ijh_cli.errors import AUTH, OTHER, REFUSED, UNAVAILABLE, USAGE, CliError
from ijh_cli.output import eur

DEFAULT_GATEWAY = "127.0.0.1:50051"
CONFIG_KEYS = {"gateway", "ca_cert", "token", "token_file", "role", "client_cert",
               "client_key", "var_dir"}


@dataclass
class ConnectionFlags:
    """What the user gave on the command line (None: not given)."""

    gateway: str | None = None
    ca_cert: str | None = None
    token: str | None = None
    token_file: str | None = None
    role: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    config: str | None = None
    timeout_seconds: float | None = None


@dataclass
class Connection:
    """The resolved settings, with where each came from (``ijh config show``)."""

    gateway: str
    ca_cert: Path | None
    token: str | None
    client_cert: Path | None
    client_key: Path | None
    origin: dict[str, str] = field(default_factory=dict)

    def channel(self) -> grpc.Channel:
        """A TLS channel to the gateway with the bearer token on every call."""
        try:
            root = self.ca_cert.read_bytes() if self.ca_cert else None
            key = self.client_key.read_bytes() if self.client_key else None
            chain = self.client_cert.read_bytes() if self.client_cert else None
        except OSError as exc:
            raise CliError(f"cannot read {exc.filename}: {exc.strerror}", USAGE) from None
        creds = grpc.ssl_channel_credentials(root, private_key=key, certificate_chain=chain)
        if self.token:
            creds = grpc.composite_channel_credentials(
                creds, grpc.access_token_call_credentials(self.token))
        options = [("grpc.max_receive_message_length", 64 * 1024 * 1024),
                   ("grpc.max_send_message_length", 8 * 1024 * 1024)]
        return grpc.secure_channel(self.gateway, creds, options)


def _config_file(flags: ConnectionFlags, env: dict[str, str]) -> Path | None:
    explicit = flags.config or env.get("IJH_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise CliError(f"config file {path} does not exist", USAGE)
        return path.resolve()
    local = Path("ijh.toml")
    if local.is_file():
        return local.resolve()
    base = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    user = base / "ijh" / "config.toml"
    return user if user.is_file() else None


def _read_config(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CliError(f"{path}: not a readable TOML config: {exc}", USAGE) from None
    unknown = set(data) - CONFIG_KEYS
    if unknown:
        raise CliError(f"{path}: unknown key(s) {', '.join(sorted(unknown))} (expected "
                       f"{', '.join(sorted(CONFIG_KEYS))})", USAGE)
    out = {}
    for key, value in data.items():
        text = str(value)
        if key in {"ca_cert", "token_file", "client_cert", "client_key", "var_dir"}:
            text = str(path.parent / Path(text).expanduser())
        out[key] = text
    return out


def resolve(flags: ConnectionFlags, default_role: str,
            env: dict[str, str] | None = None) -> Connection:
    """Apply the precedence of the module docstring."""
    env = dict(os.environ) if env is None else env
    config_path = _config_file(flags, env)
    config = _read_config(config_path)
    origin: dict[str, str] = {}

    def pick(name: str, flag: str | None, env_name: str) -> str | None:
        for value, where in ((flag, "flag"), (env.get(env_name), f"env {env_name}"),
                             (config.get(name), f"config {config_path}")):
            if value:
                origin[name] = where
                return value
        return None

    var_dir = Path(env.get("IJH_VAR_DIR") or config.get("var_dir") or "var")
    gateway = pick("gateway", flags.gateway, "IJH_GATEWAY") or DEFAULT_GATEWAY
    origin.setdefault("gateway", "default")
    ca = pick("ca_cert", flags.ca_cert, "IJH_CA_CERT")
    if ca is None and (var_dir / "dev-pki" / "ca.pem").is_file():
        ca = str(var_dir / "dev-pki" / "ca.pem")
        origin["ca_cert"] = "default (make run's development CA)"
    elif ca is None:  # said when a handshake fails: make run's gateway is not trusted then
        origin["ca_cert"] = (f"none given, and make run's "
                             f"{(var_dir / 'dev-pki' / 'ca.pem').absolute()} does not exist: "
                             "the system's trusted roots")
    token = _token(flags, env, config, config_path, var_dir, default_role, origin)
    client_cert = pick("client_cert", flags.client_cert, "IJH_CLIENT_CERT")
    client_key = pick("client_key", flags.client_key, "IJH_CLIENT_KEY")
    if bool(client_cert) != bool(client_key):
        raise CliError("mutual TLS needs both a client certificate and its key "
                       "(--client-cert and --client-key, or IJH_CLIENT_CERT and "
                       "IJH_CLIENT_KEY)", USAGE)
    return Connection(gateway, Path(ca) if ca else None, token,
                      Path(client_cert) if client_cert else None,
                      Path(client_key) if client_key else None, origin)


def _read_token(path: str) -> str:
    try:
        token = Path(path).expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CliError(f"cannot read the token file {path}: {exc.strerror}", USAGE) from None
    if not token:
        raise CliError(f"the token file {path} is empty", USAGE)
    return token


def _token(flags, env, config, config_path, var_dir: Path, default_role: str,
           origin: dict[str, str]) -> str | None:
    levels = [("flag", flags.token, flags.token_file, flags.role),
              ("env", env.get("IJH_TOKEN"), env.get("IJH_TOKEN_FILE"), env.get("IJH_ROLE")),
              (f"config {config_path}", config.get("token"), config.get("token_file"),
               config.get("role"))]
    for where, token, token_file, role in levels:
        if token:
            origin["token"] = f"{where} (token)"
            return token.strip()
        if token_file:
            origin["token"] = f"{where} (token file {token_file})"
            return _read_token(token_file)
        if role:
            path = var_dir / "tokens" / f"{role}.jwt"
            if not path.is_file():
                raise CliError(f"no token for role {role!r}: {path} does not exist (run "
                               "`make run` once, or pass --token-file)", USAGE)
            origin["token"] = f"{where} (role {role}: {path})"
            return _read_token(str(path))
    path = var_dir / "tokens" / f"{default_role}.jwt"
    if path.is_file():
        origin["token"] = f"default (role {default_role}: {path})"
        return _read_token(str(path))
    origin["token"] = "none"
    return None


# ------------------------------------------------------------------ errors of calls

_EXIT_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: REFUSED,
    grpc.StatusCode.FAILED_PRECONDITION: REFUSED,
    grpc.StatusCode.ALREADY_EXISTS: REFUSED,  # a request id reused for another request
    grpc.StatusCode.UNAUTHENTICATED: AUTH,
    grpc.StatusCode.PERMISSION_DENIED: AUTH,
    grpc.StatusCode.UNAVAILABLE: UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: UNAVAILABLE,
}


def _answered(exc: grpc.RpcError) -> bool:
    """True when a server sent the status (it always sends trailers: details, pushback,
    the request id); False when the call never reached one (no connection)."""
    try:
        return bool(exc.trailing_metadata())
    except (AttributeError, TypeError):
        return False


# The services say amounts in cents ("3495000 cents"); the command takes euros
# (--expected-grant-eur 34950): each such figure is shown in euros too, exactly.
_CENTS = re.compile(r"(?<![\w.,-])(\d{1,18}) cents\b")


def _with_euros(match: re.Match) -> str:
    return f"{match[0]} ({eur(int(match[1]))})"


# A bound on a field in cents, as the request's validation says it ("less than or equal
# to 1000000000000000"), without the unit: it is said in euros, the unit the user typed.
_BOUND = re.compile(r"(?<![\w€\[-])(?<!\d[.,])(\d{1,18})(?![\w%\]-]|[.,]\d|\s+cents\b)")


def _bounds_in_euros(field: str, description: str) -> str:
    if not field.endswith("_cents"):
        return description
    return _BOUND.sub(lambda match: eur(int(match[1])), description)


# The services bound what a status carries (services/shared/grpc_errors.py): the message
# to MAX_MESSAGE_BYTES, each text of a detail to MAX_TEXT_BYTES. A text past its bound
# keeps its start and its end around " ... ", so a long reason arrives cut mid-word.
_MESSAGE_BYTES = 640
_TEXT_BYTES = 300


def _shortened(text: str, limit: int) -> bool:
    """Whether the service cut ``text`` to ``limit`` bytes: its start and end around
    " ... ", within a few bytes of the bound (a character is never split)."""
    return " ... " in text and limit - 12 <= len(text.encode()) < limit


def _restored(text: str, message: str, said_as: str = "") -> tuple[str, bool]:
    """A detail's text whole, and whether it is: one the service shortened is found whole
    in the status message, which has more room, when it is there (after ``said_as``, as
    the message introduces it: "TYPE subject: ")."""
    if not _shortened(text, _TEXT_BYTES) or text in message:
        return text, True
    message_cut = _shortened(message, _MESSAGE_BYTES)
    at = text.find(" ... ")
    while at >= 0:
        head, tail = said_as + text[:at], text[at + 5:]
        start = message.find(head)
        while start >= 0:
            end = message.find(tail, start + len(head))
            # Not across the message's own cut: that would join two texts.
            if end >= 0 and not (message_cut and " ... " in message[start + len(head):end]):
                return message[start + len(said_as):end + len(tail)], True
            start = message.find(head, start + 1)
        at = text.find(" ... ", at + 1)
    return text, False


def _only_joins(message: str, violations: list[tuple[str, str, str]]) -> bool:
    """Whether ``message`` says nothing but ``violations`` (type, subject, description):
    each description is in it, or it is their join ("TYPE subject: description; ...")
    cut as the services cut a long message, so that a refusal is not said twice."""
    if all(description in message for _, _, description in violations):
        return True
    joined = "; ".join(f"{kind} {subject}: {description}"
                       for kind, subject, description in violations)
    at = message.find(" ... ")
    while at >= 0:
        if joined.startswith(message[:at]) and joined.endswith(message[at + 5:]):
            return True
        at = message.find(" ... ", at + 1)
    return False


def _reason(text: str, whole: bool) -> str:
    return text if whole else f"{text} (the service shortened this text)"


def rpc_error(exc: grpc.RpcError, locate=None, connection: Connection | None = None
              ) -> CliError:
    """A gRPC failure as a CliError: the status, every detail, and field violations
    mapped back to ``file:line: field`` by ``locate(proto_path) -> str | None``."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    message = str(exc.details() if hasattr(exc, "details") else exc)
    lines = [f"{code.name}: {message}"]
    try:
        status = rpc_status.from_call(exc) if hasattr(exc, "trailing_metadata") else None
    except ValueError:
        status = None
    for detail in status.details if status else ():
        bad = error_details_pb2.BadRequest()
        failure = error_details_pb2.PreconditionFailure()
        info = error_details_pb2.ErrorInfo()
        retry = error_details_pb2.RetryInfo()
        resource = error_details_pb2.ResourceInfo()
        if detail.Unpack(bad):
            lines[0] = f"{code.name}: the service refused {len(bad.field_violations)} field(s):"
            for v in bad.field_violations:
                where = locate(v.field) if locate else None
                description = _bounds_in_euros(v.field, _reason(
                    *_restored(v.description, message, f"{v.field}: ")))
                lines.append(f"  {where}: {description} (field {v.field})" if where
                             else f"  {v.field}: {description}")
        elif detail.Unpack(failure):
            reasons = [(v.type, v.subject,
                        *_restored(v.description, message, f"{v.type} {v.subject}: "))
                       for v in failure.violations]
            if _only_joins(message, [r[:3] for r in reasons]) or _shortened(message,
                                                                             _MESSAGE_BYTES):
                # The message only joins the violations, or is a cut copy of them: list
                # them once, one a line, each whole where the status has it whole.
                lines[0] = f"{code.name}: {len(reasons)} precondition(s) not met:"
            lines += [f"  {kind} {subject}: {_reason(description, whole)}"
                      for kind, subject, description, whole in reasons]
        elif detail.Unpack(info):
            extra = ", ".join(f"{k}={v}" for k, v in sorted(info.metadata.items()))
            lines.append(f"  reason {info.reason}" + (f" ({extra})" if extra else ""))
        elif detail.Unpack(retry):
            lines.append(f"  retry after {retry.retry_delay.ToTimedelta().total_seconds():g} s")
        elif detail.Unpack(resource):
            description, whole = _restored(resource.description, message)
            # Said already when the message has it, whole or cut as it is (it starts so).
            if description not in message and (
                    whole or not message.startswith(description.split(" ... ")[0])):
                lines.append(f"  {resource.resource_name}: {_reason(description, whole)}")
    if code == grpc.StatusCode.ALREADY_EXISTS:
        lines.append("  a request id names one write: repeated with the same content it is "
                     "answered again, with other content refused; for another write give a "
                     "new --request-id (or none: a new one is made)")
    if code == grpc.StatusCode.UNAUTHENTICATED and connection is not None:
        lines.append(f"  token: {connection.origin.get('token', 'none')}; pass --role, "
                     "--token-file or IJH_TOKEN_FILE")
    if code == grpc.StatusCode.UNAVAILABLE and connection is not None:
        ca = (f"{connection.ca_cert} (from {connection.origin.get('ca_cert', 'default')})"
              if connection.ca_cert else connection.origin.get("ca_cert", "system roots"))
        if "handshake" in message.lower():
            if "CERTIFICATE_VERIFY_FAILED" in message:  # gRPC core's words hide the cause
                lines = [f"{code.name}: the TLS handshake with the gateway "
                         f"{connection.gateway} failed: its certificate is not signed by "
                         "the CA this command trusts"]
            lines += [f"  CA: {ca}",
                      "  point the command at the CA that signed the gateway's certificate: "
                      "--ca-cert PATH or IJH_CA_CERT=PATH (make run's is var/dev-pki/ca.pem "
                      "in the checkout; IJH_VAR_DIR=CHECKOUT/var finds it and the demo "
                      "tokens from anywhere)"]
        elif _answered(exc):
            # The gateway answered: a service behind it is down (the message says
            # which); RetryInfo, when sent, has already said when to retry.
            if not any(line.startswith("  retry after") for line in lines):
                lines.append("  retry shortly")
        else:
            lines.append(f"  gateway {connection.gateway} (from "
                         f"{connection.origin['gateway']}); CA {ca}. Is `make run` going?")
    return CliError("\n".join(_CENTS.sub(_with_euros, line) for line in lines),
                    _EXIT_BY_CODE.get(code, OTHER))
