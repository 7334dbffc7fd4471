"""TLS as the services use it: certificate files read at start, each checked for what
it must be, turned into gRPC credentials, and read again whenever they change.

gRPC takes any bytes as PEM and fails later, with a misleading "Failed to bind" or a
handshake that fails on every call (logged by gRPC's C core at INFO, if at all): so each
file is read here, under the variable that names it, and a wrong one is a
ConfigurationError (one ``cannot start`` line, exit 2). Two TLS setups use it: the
gateway's public port (``IJH_GATEWAY_TLS_*``) and the mutual TLS between the services
(``IJH_INTERNAL_TLS_*``): risk and funding serve it and require a client certificate
from the internal CA; the gateway, and funding calling risk, present theirs and check
the backend's against that CA for the host of the address they call.

A certificate outside its validity window is refused too (peers would refuse it on every
handshake; ``CLOCK_SKEW`` allowed before its start), one of the chain expiring within
``EXPIRY_WARNING_DAYS`` is one WARNING, and a CA bundle certificate outside its window,
or ending within those days, a WARNING (refused when none is valid: no peer could be
trusted). A calling service's certificate without the name IJH_INTERNAL_TLS_CALLERS gives
that service is refused as well (:class:`OwnName`): the services it calls would refuse
every call it made.

Certificates are renewed while the services run (cert-manager rewrites a mounted Secret
at two thirds of a certificate's life): a :class:`TlsSource` is a
:class:`~services.shared.file_source.FileSource`, its files' stat checked every
``IJH_TLS_RELOAD_SECONDS`` (following symlinks: Kubernetes swaps a ``..data`` link), a
changed set taken only when :func:`read_tls` takes it, whole; a half-written or wrong set
is one WARNING and the loaded one stays. A server port picks the new set up at its next
handshake (:meth:`TlsSource.server_credentials`); a channel to another service is
replaced (:class:`ReloadingChannel`), calls in flight ending on the old one.

gRPC keeps the set it serves when it cannot load a new one (its C core logs
"Handshaker factory creation failed" and nothing tells Python), so what :func:`read_tls`
takes must be what gRPC takes: a key of a type its TLS cannot use is refused here
(:func:`_unusable_by_grpc`; RSA-PSS among them, which cryptography reads as any RSA key),
and so is a certificate of an RSA-PSS key.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import functools
import ipaddress
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, PublicKeyAlgorithmOID

from services.shared.config import ConfigurationError, Settings
from services.shared.file_source import FileSource

log = logging.getLogger(__name__)

EXPIRY_WARNING_DAYS = 14
# A host clock this far behind the issuer's still takes a certificate issued just now
# (cert-manager sets its not-before to the moment of issue).
CLOCK_SKEW = dt.timedelta(minutes=5)
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
_USES = {SERVER_AUTH: "serverAuth (a backend serves it)",
         CLIENT_AUTH: "clientAuth (it is presented when calling a backend)"}
# What a certificate of each use is, as the expiry gauge labels it.
_ROLES = {SERVER_AUTH: "server", CLIENT_AUTH: "client"}
INTERNAL_TLS = ("IJH_INTERNAL_TLS_CERT", "IJH_INTERNAL_TLS_KEY", "IJH_INTERNAL_TLS_CA")
# A channel replaced for new files keeps its calls in flight this long at most (the
# longest a stream through the gateway may run); its old certificate is still valid.
RETIRED_CHANNEL_GRACE_SECONDS = 3600.0


@dataclass(frozen=True)
class TlsFiles:
    """A certificate chain and its key, and the CA bundle peers must chain to (PEM bytes,
    checked); when the chain's first certificate to end does, and the bundle's among
    those valid when read."""

    chain: bytes
    key: bytes
    ca: bytes | None = None
    not_after: dt.datetime | None = None
    ca_not_after: dt.datetime | None = None

    def server_configuration(self) -> grpc.ServerCertificateConfiguration:
        """Serve the chain; with a CA, trust client certificates chaining to it."""
        return grpc.ssl_server_certificate_configuration([(self.key, self.chain)],
                                                         root_certificates=self.ca)

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """Call presenting the chain, trusting a server whose certificate chains to the CA
        and names the host called (gRPC checks both)."""
        return grpc.ssl_channel_credentials(self.ca, private_key=self.key,
                                            certificate_chain=self.chain)

# The SANs gRPC lists among a peer's identities, and how a name of each kind is shown.
_SAN_KINDS: dict[type, str] = {x509.DNSName: "DNS", x509.UniformResourceIdentifier: "URI",
                               x509.IPAddress: "IP", x509.RFC822Name: "email"}


@dataclass(frozen=True)
class CertificateName:
    """A name a certificate gives its holder (:func:`certificate_names`)."""

    kind: str  # "DNS", "URI", "IP", "email", or "CN" (the subject's, without SANs)
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"

    def matches(self, wanted: str) -> bool:
        """Whether this name is ``wanted``: a DNS name in any case (DNS ignores it, RFC
        4343), and so a CN (a host name to TLS); an IP address however written; a URI or
        an email address exactly."""
        if self.kind in ("DNS", "CN"):
            return self.value.encode().lower() == wanted.encode().lower()  # ASCII only
        if self.kind == "IP":
            try:
                return ipaddress.ip_address(self.value) == ipaddress.ip_address(wanted)
            except ValueError:
                return False
        return self.value == wanted


def certificate_names(certificate: x509.Certificate) -> tuple[CertificateName, ...]:
    """The names ``certificate`` gives its holder, as gRPC reads a peer's identities: its
    DNS, URI, IP address and email SANs; without SANs, its subject's (first) CN. The one
    reading of them: of a caller's certificate (:class:`~services.shared.caller.
    CallerCheck`) and of a service's own (:func:`read_tls`)."""
    try:
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        sans = None
    if sans is not None and len(sans.value):  # a SAN of another kind too: no CN then
        return tuple(CertificateName(kind, str(san.value)) for san in sans.value
                     if (kind := _SAN_KINDS.get(type(san))))
    return tuple(CertificateName("CN", str(attribute.value)) for attribute
                 in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[:1])


@functools.lru_cache(maxsize=64)
def pem_certificate_names(pem: bytes) -> tuple[CertificateName, ...]:
    """:func:`certificate_names` of a PEM certificate (a peer's, as gRPC hands it over
    with each call: kept for the next calls over it); ValueError if it is not one."""
    return certificate_names(x509.load_pem_x509_certificate(pem))


def names_include(names: Sequence[CertificateName], wanted: str) -> bool:
    """Whether one of ``names`` is ``wanted`` (:meth:`CertificateName.matches`)."""
    return any(name.matches(wanted) for name in names)


@dataclass(frozen=True)
class OwnName:
    """The name a service's own certificate must carry (:func:`read_tls`): ``name``, which
    ``setting`` gives ``service``; the services it calls serve its calls only over a
    certificate that names it."""

    service: str
    name: str
    setting: str = "IJH_INTERNAL_TLS_CALLERS"


def _read(variable: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"{variable}: cannot read {path} ({exc.strerror})") from None


def _not_pem(variable: str, path: str, exc: Exception) -> ConfigurationError:
    return ConfigurationError(f"{variable}: {path} is not a PEM file of that kind "
                              f"(unencrypted): {exc}")


def _outside_validity(certificate: x509.Certificate, now: dt.datetime) -> str | None:
    """Why ``certificate`` is not valid at ``now`` (naming it and the date), or None."""
    subject = certificate.subject.rfc4514_string()
    if now + CLOCK_SKEW < certificate.not_valid_before_utc:
        return f"{subject} is not valid yet: not before {certificate.not_valid_before_utc}"
    if now > certificate.not_valid_after_utc:
        return f"{subject} has expired: not after {certificate.not_valid_after_utc}"
    return None


def _issued_by_one_of(certificate: x509.Certificate,
                      authorities: Sequence[x509.Certificate]) -> bool:
    """Whether ``certificate`` is one of ``authorities`` or signed by one of them."""
    for authority in authorities:
        if certificate == authority:
            return True
        try:
            certificate.verify_directly_issued_by(authority)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return True
    return False


# The curves of the EC keys gRPC's TLS (BoringSSL) serves and presents. Measured with
# grpcio 1.85: a certificate on secp256k1, a brainpool curve or P-224, an Ed448 or a DSA
# one fails to load (at start a "Failed to bind"; renewed, the old set stays served), an
# Ed25519 or P-521 one loads but no gRPC peer completes a handshake with it.
_GRPC_CURVES = (ec.SECP256R1, ec.SECP384R1)


# An RSA key restricted to PSS (``openssl genpkey -algorithm RSA-PSS``): cryptography reads
# it as any RSA key, gRPC's TLS loads neither it nor a certificate of it.
_RSASSA_PSS = PublicKeyAlgorithmOID.RSASSA_PSS
_PSS = f"RSA-PSS (id-RSASSA-PSS, {_RSASSA_PSS.dotted_string})"
_RSASSA_PSS_DER = bytes.fromhex("06092a864886f70d01010a")  # that OID, DER-encoded
_PKCS8 = re.compile(rb"-----BEGIN PRIVATE KEY-----(.+?)-----END PRIVATE KEY-----", re.S)


def _is_rsa_pss(pem: bytes) -> bool:
    """Whether ``pem`` is a PKCS#8 private key of algorithm id-RSASSA-PSS: PrivateKeyInfo
    is SEQUENCE { INTEGER version, SEQUENCE { OID algorithm, ... }, ... }."""
    found = _PKCS8.search(pem)
    if found is None:  # PKCS#1 ("RSA PRIVATE KEY") is plain RSA
        return False
    try:
        der = base64.b64decode(b"".join(found.group(1).split()), validate=True)
        at = _contents(der, 0)  # into PrivateKeyInfo
        at += 2 + der[at + 1]  # past the version (a one-byte INTEGER)
        at = _contents(der, at)  # into the AlgorithmIdentifier
    except (ValueError, IndexError):
        return False
    return der[at:at + len(_RSASSA_PSS_DER)] == _RSASSA_PSS_DER


def _contents(der: bytes, at: int) -> int:
    """Where the contents of the DER element at ``at`` start."""
    length = der[at + 1]
    return at + 2 + (length & 0x7F if length & 0x80 else 0)


def _unusable_by_grpc(private_key, pem: bytes) -> str | None:
    """What kind ``private_key`` (read from ``pem``) is, when gRPC's TLS cannot serve or
    present its certificate."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        return _PSS if _is_rsa_pss(pem) else None
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return None if isinstance(private_key.curve, _GRPC_CURVES) else \
            f"EC on {private_key.curve.name}"
    return type(private_key).__name__.removesuffix("PrivateKey")


def read_tls(cert: tuple[str, str], key: tuple[str, str], ca: tuple[str, str] | None = None,
             uses: Sequence[x509.ObjectIdentifier] = (), *,
             chain_to_ca: bool = False, own_name: OwnName | None = None) -> TlsFiles:
    """The files named by ``(variable, path)`` pairs, checked: a chain of certificates, an
    unencrypted private key of its first one, a CA bundle (none when ``ca`` or its path is
    empty); and when the certificate limits its extended key usage, each of ``uses`` in
    it (TLS peers refuse a certificate used for what it does not list); with ``own_name``,
    that name among the certificate's (:func:`certificate_names`); a key gRPC can use
    (:func:`_unusable_by_grpc`); every certificate
    of the chain within its validity window (a WARNING when one ends within
    ``EXPIRY_WARNING_DAYS``), and some of the bundle's (a WARNING for each outside it);
    with ``chain_to_ca``, the chain ending at the bundle (the peers trust that bundle:
    mutual TLS between the services)."""
    chain, private = _read(*cert), _read(*key)
    try:
        certificates = x509.load_pem_x509_certificates(chain)
    except (ValueError, TypeError) as exc:
        raise _not_pem(*cert, exc) from None
    first = certificates[0]
    try:
        private_key = serialization.load_pem_private_key(private, password=None)
    except (ValueError, TypeError) as exc:
        raise _not_pem(*key, exc) from None
    if unusable := _unusable_by_grpc(private_key, private):
        raise ConfigurationError(f"{key[0]}: {key[1]}: its key is {unusable}: gRPC's TLS "
                                 "takes only RSA and ECDSA P-256 or P-384 keys")
    if first.public_key_algorithm_oid == _RSASSA_PSS:
        raise ConfigurationError(f"{cert[0]}: {cert[1]}: its key is {_PSS}: gRPC's TLS "
                                 "cannot load such a certificate; issue it for an RSA key "
                                 "(rsaEncryption) or an ECDSA P-256 or P-384 one")
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if private_key.public_key().public_bytes(*spki) != first.public_key().public_bytes(*spki):
        raise ConfigurationError(f"{key[0]}: {key[1]} is not the key of the certificate in "
                                 f"{cert[0]} ({cert[1]})")
    try:
        listed = first.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        listed = None  # no extended key usage: any use
    missing = [_USES[use] for use in uses if listed is not None and use not in listed]
    if missing:
        raise ConfigurationError(f"{cert[0]}: {cert[1]}: its extended key usage lacks "
                                 f"{' and '.join(missing)}")
    if own_name is not None and not names_include(names := certificate_names(first),
                                                  own_name.name):
        # Every call it carried would be refused: found here, not by the callers' users.
        raise ConfigurationError(
            f"{cert[0]}: {cert[1]}: it names {', '.join(map(str, names)) or 'nothing'}, not "
            f"{own_name.name}, {own_name.service}'s name in {own_name.setting}: the services "
            f"{own_name.service} calls would refuse every call over it (PERMISSION_DENIED, "
            "CALLER_CERTIFICATE_NOT_ALLOWED)")
    now = dt.datetime.now(dt.UTC)
    for certificate in certificates:
        if problem := _outside_validity(certificate, now):
            raise ConfigurationError(f"{cert[0]}: {cert[1]}: {problem}")
    soonest = min(certificates, key=lambda certificate: certificate.not_valid_after_utc)
    if soonest.not_valid_after_utc - now < dt.timedelta(days=EXPIRY_WARNING_DAYS):
        log.warning("certificate expires soon: renew it", extra={
            "variable": cert[0], "path": cert[1],
            "certificate": soonest.subject.rfc4514_string(),
            "not_after": str(soonest.not_valid_after_utc)})
    bundle = ca_not_after = None
    if ca is not None and ca[1]:
        bundle = _read(*ca)
        try:
            authorities = x509.load_pem_x509_certificates(bundle)
        except (ValueError, TypeError) as exc:
            raise _not_pem(*ca, exc) from None
        outside = [_outside_validity(authority, now) for authority in authorities]
        problems = [problem for problem in outside if problem]
        if len(problems) == len(authorities):
            raise ConfigurationError(f"{ca[0]}: {ca[1]}: no certificate in it is valid now: "
                                     f"{'; '.join(problems)}")
        for problem in problems:  # e.g. the old root, kept while the CA is rotated
            log.warning("CA certificate not valid now",
                        extra={"variable": ca[0], "path": ca[1], "problem": problem})
        for authority in authorities:
            left = authority.not_valid_after_utc - now
            if dt.timedelta(0) <= left < dt.timedelta(days=EXPIRY_WARNING_DAYS):
                log.warning("CA certificate expires soon: add its successor to the bundle",
                            extra={"variable": ca[0], "path": ca[1],
                                   "certificate": authority.subject.rfc4514_string(),
                                   "not_after": str(authority.not_valid_after_utc)})
        ca_not_after = min(authority.not_valid_after_utc
                           for authority, problem in zip(authorities, outside, strict=True)
                           if not problem)
        # A set being rotated in halves (a new certificate, the CA of the old) is refused
        # here, not by every peer at its handshake.
        if chain_to_ca and not _issued_by_one_of(certificates[-1], authorities):
            raise ConfigurationError(
                f"{cert[0]}: {cert[1]}: not issued by a certificate of {ca[0]} ({ca[1]}): "
                "the other services, trusting that bundle, would refuse it")
    return TlsFiles(chain, private, bundle, soonest.not_valid_after_utc, ca_not_after)


class TlsSource(FileSource[TlsFiles]):
    """One TLS setup: its files (``(variable, path)`` pairs as for :func:`read_tls`) read
    and checked now (a ConfigurationError: the service cannot start), then again by
    :meth:`poll` whenever their stat changes (:class:`~services.shared.file_source.
    FileSource`). A set :func:`read_tls` takes replaces :attr:`files`: the port serving it
    hands it to the next handshakes, channels made by :func:`internal_channel` are
    replaced. A set it refuses (a file half-written, a key of another certificate, another
    CA's certificate, a certificate without ``own_name``, a key gRPC cannot use) is one
    WARNING, and the loaded set stays. ``name`` ("public", "internal") labels its log
    lines and expiry gauge."""

    kind = "TLS files"
    field = "tls"

    def __init__(self, name: str, cert: tuple[str, str], key: tuple[str, str],
                 ca: tuple[str, str] | None = None,
                 uses: Sequence[x509.ObjectIdentifier] = (), *, chain_to_ca: bool = False,
                 own_name: OwnName | None = None):
        self.roles = [_ROLES[use] for use in uses]  # what the certificate is used for
        super().__init__(name, [path for _, path in (cert, key, ca or ("", ""))],
                         functools.partial(read_tls, cert, key, ca, uses,
                                           chain_to_ca=chain_to_ca, own_name=own_name))
        self._told = self._expiry_state()  # read_tls has warned of an expiry near

    @property
    def files(self) -> TlsFiles:
        """The set loaded last."""
        return self.current

    def _taken(self, old: TlsFiles, new: TlsFiles) -> None:
        self._told = self._expiry_state()
        first = x509.load_pem_x509_certificates(new.chain)[0]
        log.info("TLS files reloaded", extra={
            "tls": self.name, "certificate": first.subject.rfc4514_string(),
            "serial": f"{first.serial_number:x}", "not_after": str(new.not_after)})

    def _polled(self) -> None:
        self._tell_expiry()

    def _expiry_state(self) -> str:
        left = self.files.not_after - dt.datetime.now(dt.UTC)
        return ("expired" if left < dt.timedelta(0)
                else "soon" if left < dt.timedelta(days=EXPIRY_WARNING_DAYS) else "")

    def _tell_expiry(self) -> None:
        """A certificate ending while the service runs, its files unchanged: said once
        when it comes within EXPIRY_WARNING_DAYS, once more when it has expired."""
        state = self._expiry_state()
        if state and state != self._told:
            self._told = state
            level, message = ((logging.ERROR, "TLS certificate expired: peers refuse every "
                               "handshake; renew its files") if state == "expired"
                              else (logging.WARNING, "certificate expires soon: renew it"))
            log.log(level, message, extra={"tls": self.name, "paths": self._paths,
                                           "not_after": str(self.files.not_after)})

    def server_credentials(self) -> grpc.ServerCredentials:
        """Credentials serving the loaded set, the set loaded at each new handshake (a
        client certificate chaining to the CA required when there is one)."""
        served = self.files

        def fetch() -> grpc.ServerCertificateConfiguration | None:
            # gRPC calls this on a thread of its own before each handshake: None keeps
            # the configuration it has.
            nonlocal served
            files = self.files
            if files is served:
                return None
            served = files
            return files.server_configuration()

        return grpc.dynamic_ssl_server_credentials(
            served.server_configuration(), fetch,
            require_client_authentication=served.ca is not None)

    def expiry(self) -> list[tuple[str, float]]:
        """``(role, notAfter as a Unix time)`` of the loaded set: the chain's first to end
        for each use, and the CA bundle's ("ca")."""
        rows = [(role, self.files.not_after.timestamp()) for role in self.roles]
        if self.files.ca_not_after is not None:
            rows.append(("ca", self.files.ca_not_after.timestamp()))
        return rows


def internal_tls(settings: Settings, *, serves: bool = False,
                 calls: Mapping[str, str] | None = None,
                 own_name: OwnName | None = None) -> TlsSource | None:
    """This service's mutual TLS with the others (``IJH_INTERNAL_TLS_*``: all three or
    none; none is plaintext), for a service that ``serves`` the others and/or ``calls``
    them at these ``{variable: target}`` addresses; its certificate, at start and when
    renewed, carrying ``own_name`` (a caller's, :func:`~services.shared.caller.
    own_certificate_name`)."""
    paths = settings.internal_tls_paths
    if not any(paths):
        return None
    missing = [variable for variable, path in zip(INTERNAL_TLS, paths, strict=True) if not path]
    if missing:
        raise ConfigurationError(
            f"{', '.join(missing)}: not set: mutual TLS between the services needs "
            f"{', '.join(INTERNAL_TLS)} together (none of them: plaintext)")
    for variable, target in (calls or {}).items():
        # gRPC checks a server's certificate against the host of the target; a list of
        # addresses has none (its whole text is taken for the name, which no SAN matches).
        if target.startswith(("ipv4:", "ipv6:")) and "," in target:
            raise ConfigurationError(
                f"{variable}: {target!r}: with IJH_INTERNAL_TLS_* set, name the replicas by "
                "one DNS name that their certificates carry (e.g. "
                "dns:///risk-headless.ijh.svc.cluster.local:50052), not a list of addresses")
    uses = [use for use, needed in ((SERVER_AUTH, serves), (CLIENT_AUTH, bool(calls)))
            if needed]
    return TlsSource("internal", *zip(INTERNAL_TLS, paths, strict=True), uses=uses,
                     chain_to_ca=True, own_name=own_name)


class ReloadingChannel(grpc.aio.Channel):
    """A channel to another service under mutual TLS that a new one (the same target,
    options and interceptors) replaces when its :class:`TlsSource` takes new files: calls
    made from then on use the new certificate; those in flight end on the old channel,
    closed once they have (at most RETIRED_CHANNEL_GRACE_SECONDS). Multi-callables and
    stubs made from it follow the replacement, and so does a wait for its state."""

    def __init__(self, target: str, tls: TlsSource,
                 make: Callable[[TlsFiles], grpc.aio.Channel]):
        self.target = target
        self._tls, self._make = tls, make
        self.channel = make(tls.files)  # the current one
        self._retiring: set[asyncio.Task] = set()
        # Done when the current channel is replaced (then a new one for the next).
        self._replaced = asyncio.get_running_loop().create_future()
        tls.subscribe(self._replace, f"channel to {target}")

    def _replace(self, files: TlsFiles) -> None:
        old, self.channel = self.channel, self._make(files)
        replaced, self._replaced = self._replaced, asyncio.get_running_loop().create_future()
        replaced.set_result(None)
        # close(grace) returns as soon as the old channel's last call has ended.
        retiring = asyncio.get_running_loop().create_task(
            old.close(RETIRED_CHANNEL_GRACE_SECONDS))
        self._retiring.add(retiring)
        retiring.add_done_callback(self._retiring.discard)
        log.info("channel replaced for new TLS files", extra={"target": self.target})

    async def close(self, grace: float | None = None) -> None:
        self._tls.unsubscribe(self._replace)
        await asyncio.gather(self.channel.close(grace), self._end_retiring(grace))

    async def _end_retiring(self, grace: float | None) -> None:
        if self._retiring and grace:
            await asyncio.wait(self._retiring, timeout=grace)
        for retiring in list(self._retiring):
            retiring.cancel()  # the process is ending: its calls are abandoned

    async def __aenter__(self) -> ReloadingChannel:
        return self

    async def __aexit__(self, exc_type, exc_val, exc_tb) -> None:
        await self.close()

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return self.channel.get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state) -> None:
        """Return when the current channel's state changes, or when a new channel replaces
        it (whose state :meth:`get_state` then reads, perhaps the same): the old one,
        closing, takes no new call, stays as it was while a call ends on it, and refuses
        to be watched."""
        replaced = self._replaced
        watch = asyncio.ensure_future(self.channel.wait_for_state_change(last_observed_state))
        try:
            await asyncio.wait((watch, replaced), return_when=asyncio.FIRST_COMPLETED)
        finally:
            watch.cancel()
        if replaced.done():
            watch.add_done_callback(_ignore_outcome)  # the old channel's
        else:
            watch.result()  # what the watch raised, if anything

    async def channel_ready(self) -> None:
        # As grpc.aio's, on this channel's state: the current channel's, replaced or not.
        state = self.get_state(try_to_connect=True)
        while state != grpc.ChannelConnectivity.READY:
            await self.wait_for_state_change(state)
            state = self.get_state(try_to_connect=True)

    def unary_unary(self, *args, **kwargs):
        return _Current(self, "unary_unary", args, kwargs)

    def unary_stream(self, *args, **kwargs):
        return _Current(self, "unary_stream", args, kwargs)

    def stream_unary(self, *args, **kwargs):
        return _Current(self, "stream_unary", args, kwargs)

    def stream_stream(self, *args, **kwargs):
        return _Current(self, "stream_stream", args, kwargs)


def _ignore_outcome(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: asyncio logs none never retrieved


class _Current:
    """A multi-callable of a :class:`ReloadingChannel`: each call on its current channel."""

    def __init__(self, owner: ReloadingChannel, kind: str, args: tuple, kwargs: dict):
        self._owner, self._kind, self._args, self._kwargs = owner, kind, args, kwargs
        self._made: tuple[grpc.aio.Channel, Callable] | None = None

    def __call__(self, *args, **kwargs):
        channel = self._owner.channel
        if self._made is None or self._made[0] is not channel:
            self._made = channel, getattr(channel, self._kind)(*self._args, **self._kwargs)
        return self._made[1](*args, **kwargs)


def internal_channel(target: str, tls: TlsSource | None, options: Sequence[tuple[str, object]],
                     interceptors: Sequence[grpc.aio.ClientInterceptor] = ()
                     ) -> grpc.aio.Channel:
    """A channel to another service at ``target``: mutual TLS when ``tls`` is given
    (:func:`internal_tls`; a :class:`ReloadingChannel`), else plaintext."""
    if tls is None:
        return grpc.aio.insecure_channel(target, options=options,
                                         interceptors=list(interceptors))
    return ReloadingChannel(target, tls, lambda files: grpc.aio.secure_channel(
        target, files.channel_credentials(), options=options,
        interceptors=list(interceptors)))
