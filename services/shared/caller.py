"""The caller's identity as the gateway passes it to the backends (gRPC metadata), and
the signed assertion that lets a backend believe it.

The gateway sets ``x-ijh-caller-*`` after checking the bearer token (it never forwards
any a client sent) and signs them, bound to the method, the request id and a short
expiry (:mod:`services.shared.caller_assertion`), with the key of its link to that
backend in ``IJH_CALLER_KEY_DIR``. Each backend verifies that signature in one place,
:class:`CallerCheck`, which :class:`~services.shared.server.ServiceRuntime` puts before
every method of its services: a call without a good one is refused UNAUTHENTICATED
(``ErrorInfo`` reason ``CALLER_ASSERTION_*``: "call through the gateway") before any
handler reads the identity. Reaching a backend's port is therefore not enough to act as
an officer or an agency; the network policy is defence in depth.

A backend calling another (funding asking risk for a risk figure) signs as itself,
with the key of its own link: subject = its service name, role ``service``
(:func:`caller_signers`). The gateway may not vouch for that role, nor another service
for anything else; funding trusts no signer but the gateway.

Under mutual TLS with ``IJH_INTERNAL_TLS_CALLERS`` (:func:`caller_certificate_names`), the
check also wants the connection's client certificate to name the service that signed (its
names as :func:`~services.shared.tls.certificate_names` reads them; a DNS name in any case,
a URI as written): any certificate of the internal CA opens the port, but only the
gateway's carries calls signed by the gateway (so risk serves the gateway and funding,
funding the gateway alone). Refused: PERMISSION_DENIED, ``ErrorInfo``
``CALLER_CERTIFICATE_NOT_ALLOWED``. So that a certificate issued or renewed without its
name is not found that way, the gateway and funding check their own for theirs
(:func:`own_certificate_name`).
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from services.shared import caller_assertion
from services.shared.caller_assertion import (
    LINKS,
    SERVICE_ROLE,
    AssertionRefused,
    CallerKeys,
    key_file_name,
    links_of,
)
from services.shared.config import ConfigurationError, Settings
from services.shared.errors import REASON_DOMAIN
from services.shared.file_source import FileSource
from services.shared.grpc_errors import abort
from services.shared.logs import REQUEST_ID_KEY, new_request_id, request_id_var
from services.shared.tls import CertificateName, OwnName, names_include, pem_certificate_names
from services.shared.wrapping import BehaviorWrapper

log = logging.getLogger(__name__)

SUBJECT_KEY = "x-ijh-caller-subject"
ROLE_KEY = "x-ijh-caller-role"
BUSINESS_ID_KEY = "x-ijh-caller-business-id"
ASSERTION_KEY = "x-ijh-caller-assertion"
#: The metadata that says who is calling: a call carries these from its signer only.
IDENTITY_KEYS = (SUBJECT_KEY, ROLE_KEY, BUSINESS_ID_KEY, ASSERTION_KEY)


def caller_metadata(context) -> dict[str, str]:
    """Subject, role, business ID and assertion from a call's metadata ("" where absent).
    On a backend's own services :class:`CallerCheck` has verified them before any handler
    runs; it reads them with this same function."""
    metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
    return {key: metadata.get(key, "").strip() for key in IDENTITY_KEYS}


def caller_keys(settings: Settings, service: str) -> CallerKeySource:
    """``service``'s keys from ``IJH_CALLER_KEY_DIR``, taken again when their files change;
    ConfigurationError naming what is missing: every service needs the keys of all its
    links."""
    if not settings.caller_key_dir:
        raise ConfigurationError(
            "IJH_CALLER_KEY_DIR: not set: the gateway signs the caller identity it forwards "
            "and the backends verify it, each link with its own key file (`make run` makes "
            "var/dev-pki/caller-keys/; it replaces IJH_CALLER_KEY_FILE, see "
            "deploy/README.md)")
    return CallerKeySource(Path(settings.caller_key_dir), service)


class CallerKeySource(FileSource[CallerKeys]):
    """A service's caller keys (:func:`read_caller_keys`), read now and again when their
    files change (:class:`~services.shared.file_source.FileSource`), so that a link's key
    is rotated while the services run: the new key added second on both sides, then moved
    first, then the old one dropped. It reads as the :class:`CallerKeys` loaded last
    (``service``, ``to``, ``trusted``), which is what signing and verifying read at each
    call: a key dropped verifies nothing from the next call on. A set refused (a file
    missing or wrong, a key in two files) is one WARNING and the loaded keys stay."""

    kind = "caller keys"
    field = "caller_keys"

    def __init__(self, directory: Path, service: str):
        self.directory = directory

        def read() -> CallerKeys:
            try:
                return read_caller_keys(directory, service)
            except ValueError as exc:
                raise ConfigurationError(f"IJH_CALLER_KEY_DIR: {exc}") from None

        super().__init__(service, [str(directory / key_file_name(*link))
                                   for link in links_of(service)], read)
        # What a pod started mid-rotation holds, as the lines of a reload say it.
        for link in links_of(service):
            self._log.info("caller keys loaded", extra=self._link_fields(self.current, link))

    @property
    def service(self) -> str:
        return self.current.service

    @property
    def to(self) -> Mapping[str, tuple[bytes, ...]]:
        return self.current.to

    @property
    def trusted(self) -> Mapping[str, tuple[bytes, ...]]:
        return self.current.trusted

    def __repr__(self) -> str:
        return f"CallerKeySource({self.directory}, {self.current!r})"

    def _taken(self, old: CallerKeys, new: CallerKeys) -> None:
        for link in links_of(new.service):
            if _link_keys(old, link) != _link_keys(new, link):
                self._log.info("caller keys reloaded", extra=self._link_fields(new, link))

    @staticmethod
    def _link_fields(keys: CallerKeys, link: tuple[str, str]) -> dict[str, object]:
        """A link's file, the keys it holds and the one that signs, by fingerprint (never a
        key): what a step of a rotation is checked by."""
        held = _link_keys(keys, link)
        return {"caller_keys": keys.service, "file": key_file_name(*link),
                "keys": [key_fingerprint(key) for key in held],
                "signs": key_fingerprint(held[0]) if link[0] == keys.service else None}


def _link_keys(keys: CallerKeys, link: tuple[str, str]) -> tuple[bytes, ...]:
    signer, audience = link
    return keys.to[audience] if signer == keys.service else keys.trusted[signer]


def key_fingerprint(key: bytes) -> str:
    """A key as a log line may name it: the start of its SHA-256 (``sha256:1a2b3c4d5e6f``),
    with which ``sha256sum`` of the key's line (without its newline) begins."""
    return f"sha256:{hashlib.sha256(key).hexdigest()[:12]}"


CERTIFICATE_NOT_ALLOWED = "CALLER_CERTIFICATE_NOT_ALLOWED"


def _internal_callers(settings: Settings, mutual_tls: bool) -> tuple[dict[str, str], list[str]]:
    """IJH_INTERNAL_TLS_CALLERS ({} when not set) and what is wrong with it for any service
    (a name not of a service that calls another); ConfigurationError when it is set
    without mutual TLS."""
    names = settings.internal_callers
    if names and not mutual_tls:
        raise ConfigurationError("IJH_INTERNAL_TLS_CALLERS: set, but not IJH_INTERNAL_TLS_*: "
                                 "there is no client certificate to check without mutual TLS")
    signers = {signer for signer, _ in LINKS}
    unknown = sorted(set(names) - signers)
    problems = [f"{', '.join(unknown)}: not a service that calls another (those are "
                f"{', '.join(sorted(signers))})"] if unknown else []
    return names, problems


def _refuse_callers(problems: list[str]) -> None:
    if problems:
        raise ConfigurationError(f"IJH_INTERNAL_TLS_CALLERS: {'; '.join(problems)}")


def caller_certificate_names(settings: Settings, service: str,
                             mutual_tls: bool) -> dict[str, str] | None:
    """The name in the certificate of each service that may call ``service`` (the signers
    of its links), from IJH_INTERNAL_TLS_CALLERS; None when it is not set (any certificate
    of the internal CA). ConfigurationError when set without mutual TLS, or a name missing
    or not of a service that calls another."""
    names, problems = _internal_callers(settings, mutual_tls)
    if not names:
        return None
    missing = [signer for signer, audience in LINKS if audience == service
               and signer not in names]
    if missing:
        problems.append(f"no name for {', '.join(missing)}, which calls {service}")
    _refuse_callers(problems)
    return {signer: names[signer] for signer, audience in LINKS if audience == service}


def own_certificate_name(settings: Settings, service: str) -> OwnName | None:
    """For ``service`` calling others (the gateway, funding): the name IJH_INTERNAL_TLS_CALLERS
    gives it, which its own internal certificate must then carry, at start and in each
    renewed set (:func:`~services.shared.tls.internal_tls`): the services it calls would
    refuse every call over one without it. None when the setting is not set.
    ConfigurationError as :func:`caller_certificate_names`, or when it names no name for
    ``service``."""
    mutual_tls = any(settings.internal_tls_paths)  # internal_tls refuses one or two
    names, problems = _internal_callers(settings, mutual_tls)
    if not names:
        return None
    audiences = [audience for signer, audience in LINKS if signer == service]
    if not audiences:
        raise ValueError(f"{service} calls no other service: its certificate names no caller")
    if service not in names:
        problems.append(f"no name for {service}, which calls {' and '.join(audiences)}: they "
                        "check its certificate for it, and so does it")
    _refuse_callers(problems)
    return OwnName(service, names[service])


def read_caller_keys(directory: Path, service: str) -> CallerKeys:
    """The key files in ``directory`` of the links ``service`` is on
    (:data:`caller_assertion.LINKS`); ValueError naming a file missing or wrong (never a
    key), or two of them holding one key: that would let the holder of one link's key
    vouch over the other (each pair of links shares a service, which finds it)."""
    if not links_of(service):
        raise ValueError(f"{service}: no link names this service")
    link_keys = {}
    for link in links_of(service):
        path = directory / key_file_name(*link)
        try:
            link_keys[link] = caller_assertion.parse_keys(path.read_text("ascii"))
        except (OSError, ValueError) as exc:
            detail = ("not ASCII text" if isinstance(exc, UnicodeDecodeError)
                      else exc.strerror or exc if isinstance(exc, OSError) else exc)
            raise ValueError(f"{path}: {detail} ({service} needs the key of its link "
                             f"{link[0]} → {link[1]})") from None
    holder: dict[bytes, tuple[str, str]] = {}
    for link, keys in link_keys.items():
        for key in keys:
            other = holder.setdefault(key, link)
            if other != link:
                raise ValueError(f"{directory}: {key_file_name(*other)} and "
                                 f"{key_file_name(*link)} hold the same key: each link needs "
                                 "a key of its own (`openssl rand -hex 32` for each)")
    return CallerKeys.of(service, link_keys)


def identity_metadata(keys: CallerKeys | CallerKeySource, method: str, request_id: str,
                      subject: str, role: str, business_id: str = "",
                      now: float | None = None) -> list[tuple[str, str]]:
    """The caller's identity as a call to ``method`` under ``request_id`` carries it: subject,
    role, business ID (when there is one) and their assertion (the ``IDENTITY_KEYS``)."""
    assertion = caller_assertion.sign(keys, method, request_id, subject, role,
                                      business_id, time.time() if now is None else now)
    pairs = [(SUBJECT_KEY, subject), (ROLE_KEY, role)]
    if business_id:
        pairs.append((BUSINESS_ID_KEY, business_id))
    pairs.append((ASSERTION_KEY, assertion))
    return pairs


def signed_metadata(keys: CallerKeys | CallerKeySource, method: str, subject: str, role: str,
                    business_id: str = "", request_id: str = "",
                    now: float | None = None) -> tuple[tuple[str, str], ...]:
    """The metadata of one signed call: request id (a new one unless given), identity and
    assertion."""
    request_id = request_id or new_request_id()
    return ((REQUEST_ID_KEY, request_id),
            *identity_metadata(keys, method, request_id, subject, role, business_id, now))


def _client_certificate_names(context) -> tuple[CertificateName, ...]:
    """The names of the client certificate of the call's connection (none without one)."""
    pems = (context.auth_context() or {}).get("x509_pem_cert") or ()
    try:
        return pem_certificate_names(pems[0]) if pems else ()
    except ValueError:
        return ()


def _pack(message) -> any_pb2.Any:
    detail = any_pb2.Any()
    detail.Pack(message)
    return detail


async def _deny(method: str, context, code: int, reason: str, message: str,
                logged: Mapping[str, object], **metadata: str) -> None:
    """Refuse a call to ``method``: one "caller refused" log line (with ``logged``), then
    abort with ``code``, ``message`` and an ``ErrorInfo`` of ``reason`` (its metadata the
    method and ``metadata``)."""
    log.warning("caller refused", extra={"method": method, "reason": reason, **logged,
                                         "peer": context.peer()})
    info = error_details_pb2.ErrorInfo(reason=reason, domain=REASON_DOMAIN,
                                       metadata={"method": method, **metadata})
    await abort(context, status_pb2.Status(code=code, message=message, details=[_pack(info)]))


class CallerCheck(BehaviorWrapper):
    """Verifies the caller assertion of every call to ``services`` (full names; health
    and reflection stay open to probes) before its handler runs; refuses the call
    UNAUTHENTICATED with an ``ErrorInfo`` and a log line otherwise. The request id it
    checks against is the one the call is logged under (``request_id_var``, bound by the
    CallObserver that runs first), so the signed id is the one every log line carries."""

    def __init__(self, keys: CallerKeys | CallerKeySource, services: Iterable[str],
                 clock: Callable[[], float] = time.time,
                 certificate_names: Mapping[str, str] | None = None):
        super().__init__()
        self.keys = keys
        self.prefixes = tuple(f"/{name}/" for name in services)
        self.clock = clock
        # signer -> the name its client certificate must carry (caller_certificate_names)
        self.certificate_names = certificate_names

    def wraps(self, method: str) -> bool:
        return method.startswith(self.prefixes)

    def wrap(self, method: str, behavior: Callable) -> Callable:
        check = self.check
        if inspect.isasyncgenfunction(behavior):
            async def checked_stream(request, context):
                await check(method, context)
                async for reply in behavior(request, context):
                    yield reply
            return checked_stream

        if not inspect.iscoroutinefunction(behavior):
            raise TypeError(f"{method}: CallerCheck needs an async handler")

        async def checked(request, context):
            await check(method, context)
            return await behavior(request, context)
        return checked

    async def check(self, method: str, context) -> None:
        """Return when the call's assertion vouches for its identity; else abort."""
        caller = caller_metadata(context)
        try:
            signer = caller_assertion.verify(
                self.keys, caller[ASSERTION_KEY], method, request_id_var.get(),
                caller[SUBJECT_KEY], caller[ROLE_KEY], caller[BUSINESS_ID_KEY], self.clock())
        except AssertionRefused as refused:
            await self._refuse(method, context, caller, refused)
            return
        if self.certificate_names is not None:
            await self._check_certificate(method, context, signer)

    async def _check_certificate(self, method: str, context, signer: str) -> None:
        """Abort unless the connection's client certificate names ``signer``: its SANs,
        or its CN when it has none (:func:`~services.shared.tls.certificate_names`)."""
        wanted = self.certificate_names[signer]
        names = _client_certificate_names(context)
        if names_include(names, wanted):
            return
        await _deny(method, context, code_pb2.PERMISSION_DENIED, CERTIFICATE_NOT_ALLOWED,
                    f"the client certificate of this connection is not the {signer}'s: "
                    f"only the {signer} calls as the {signer}",
                    logged={"signer": signer, "wanted": wanted,
                            "certificate": [str(name) for name in names]},
                    signer=signer)

    @staticmethod
    async def _refuse(method: str, context, caller: dict[str, str],
                      refused: AssertionRefused) -> None:
        await _deny(method, context, code_pb2.UNAUTHENTICATED, refused.reason,
                    f"{refused}: the caller identity is not vouched for; call through the "
                    "gateway",
                    logged={"detail": str(refused), "subject": caller[SUBJECT_KEY],
                            "role": caller[ROLE_KEY]})


class _Signing:
    """Signs the details of each outgoing call as one caller."""

    def __init__(self, keys: CallerKeys | CallerKeySource, subject: str, role: str,
                 business_id: str):
        self.keys = keys
        self.subject, self.role, self.business_id = subject, role, business_id

    def __call__(self, details):
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        pairs = [(k, v) for k, v in (details.metadata or ()) if k not in IDENTITY_KEYS]
        request_id = next((v for k, v in pairs if k == REQUEST_ID_KEY), "") \
            or request_id_var.get()
        pairs = [(k, v) for k, v in pairs if k != REQUEST_ID_KEY]
        pairs.extend(signed_metadata(self.keys, method, self.subject, self.role,
                                     self.business_id, request_id))
        return grpc.aio.ClientCallDetails(details.method, details.timeout,
                                          grpc.aio.Metadata(*pairs), details.credentials,
                                          details.wait_for_ready)


class _SignUnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, sign: _Signing):
        self.sign = sign

    async def intercept_unary_unary(self, continuation, client_call_details, request):
        return await continuation(self.sign(client_call_details), request)


class _SignUnaryStream(grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, sign: _Signing):
        self.sign = sign

    async def intercept_unary_stream(self, continuation, client_call_details, request):
        return await continuation(self.sign(client_call_details), request)


class _SignStreamUnary(grpc.aio.StreamUnaryClientInterceptor):
    def __init__(self, sign: _Signing):
        self.sign = sign

    async def intercept_stream_unary(self, continuation, client_call_details,
                                     request_iterator):
        return await continuation(self.sign(client_call_details), request_iterator)


class _SignStreamStream(grpc.aio.StreamStreamClientInterceptor):
    def __init__(self, sign: _Signing):
        self.sign = sign

    async def intercept_stream_stream(self, continuation, client_call_details,
                                      request_iterator):
        return await continuation(self.sign(client_call_details), request_iterator)


def caller_signers(keys: CallerKeys | CallerKeySource, subject: str, role: str = SERVICE_ROLE,
                   business_id: str = "") -> list[grpc.aio.ClientInterceptor]:
    """grpc.aio client interceptors (one per call kind: a channel files an interceptor
    under the first kind it is) that sign every call of a channel as one caller, e.g. a
    backend calling another as itself. The request id signed is the one the call sends
    (``x-request-id``), else that of the call being served, else a new one."""
    sign = _Signing(keys, subject, role, business_id)
    return [_SignUnaryUnary(sign), _SignUnaryStream(sign), _SignStreamUnary(sign),
            _SignStreamStream(sign)]
