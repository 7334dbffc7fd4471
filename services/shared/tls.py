"""TLS as the services use it: certificate files read once at start, each checked for
what it must be, and turned into gRPC credentials.

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
``EXPIRY_WARNING_DAYS`` is one WARNING at start, and a CA bundle certificate outside its
window, or ending within those days, a WARNING (refused when none is valid: no peer
could be trusted). Files are read at start only: a running service does
not notice its certificate expiring, so renewal means a restart.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from services.shared.config import ConfigurationError, Settings

log = logging.getLogger(__name__)

EXPIRY_WARNING_DAYS = 14
# A host clock this far behind the issuer's still takes a certificate issued just now
# (cert-manager sets its not-before to the moment of issue).
CLOCK_SKEW = dt.timedelta(minutes=5)
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
_USES = {SERVER_AUTH: "serverAuth (a backend serves it)",
         CLIENT_AUTH: "clientAuth (it is presented when calling a backend)"}
INTERNAL_TLS = ("IJH_INTERNAL_TLS_CERT", "IJH_INTERNAL_TLS_KEY", "IJH_INTERNAL_TLS_CA")


@dataclass(frozen=True)
class TlsFiles:
    """A certificate chain and its key, and the CA bundle peers must chain to (PEM bytes,
    checked)."""

    chain: bytes
    key: bytes
    ca: bytes | None = None

    def server_credentials(self) -> grpc.ServerCredentials:
        """Serve with the chain; with a CA, require a client certificate chaining to it."""
        return grpc.ssl_server_credentials([(self.key, self.chain)], root_certificates=self.ca,
                                           require_client_auth=self.ca is not None)

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """Call presenting the chain, trusting a server whose certificate chains to the CA
        and names the host called (gRPC checks both)."""
        return grpc.ssl_channel_credentials(self.ca, private_key=self.key,
                                            certificate_chain=self.chain)


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


def read_tls(cert: tuple[str, str], key: tuple[str, str], ca: tuple[str, str] | None = None,
             uses: Sequence[x509.ObjectIdentifier] = ()) -> TlsFiles:
    """The files named by ``(variable, path)`` pairs, checked: a chain of certificates, an
    unencrypted private key of its first one, a CA bundle (none when ``ca`` or its path is
    empty); and when the certificate limits its extended key usage, each of ``uses`` in
    it (TLS peers refuse a certificate used for what it does not list); every certificate
    of the chain within its validity window (a WARNING when one ends within
    ``EXPIRY_WARNING_DAYS``), and some of the bundle's (a WARNING for each outside it)."""
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
    now = dt.datetime.now(dt.UTC)
    for certificate in certificates:
        if problem := _outside_validity(certificate, now):
            raise ConfigurationError(f"{cert[0]}: {cert[1]}: {problem}")
    soonest = min(certificates, key=lambda certificate: certificate.not_valid_after_utc)
    if soonest.not_valid_after_utc - now < dt.timedelta(days=EXPIRY_WARNING_DAYS):
        log.warning("certificate expires soon: renew it, then restart", extra={
            "variable": cert[0], "path": cert[1],
            "certificate": soonest.subject.rfc4514_string(),
            "not_after": str(soonest.not_valid_after_utc)})
    bundle = None
    if ca is not None and ca[1]:
        bundle = _read(*ca)
        try:
            authorities = x509.load_pem_x509_certificates(bundle)
        except (ValueError, TypeError) as exc:
            raise _not_pem(*ca, exc) from None
        problems = [problem for authority in authorities
                    if (problem := _outside_validity(authority, now))]
        if len(problems) == len(authorities):
            raise ConfigurationError(f"{ca[0]}: {ca[1]}: no certificate in it is valid now: "
                                     f"{'; '.join(problems)}")
        for problem in problems:  # e.g. the old root, kept while the CA is rotated
            log.warning("CA certificate not valid now",
                        extra={"variable": ca[0], "path": ca[1], "problem": problem})
        for authority in authorities:
            left = authority.not_valid_after_utc - now
            if dt.timedelta(0) <= left < dt.timedelta(days=EXPIRY_WARNING_DAYS):
                log.warning("CA certificate expires soon: add its successor to the bundle, "
                            "then restart", extra={
                                "variable": ca[0], "path": ca[1],
                                "certificate": authority.subject.rfc4514_string(),
                                "not_after": str(authority.not_valid_after_utc)})
    return TlsFiles(chain, private, bundle)


def internal_tls(settings: Settings, *, serves: bool = False,
                 calls: Mapping[str, str] | None = None) -> TlsFiles | None:
    """This service's mutual TLS with the others (``IJH_INTERNAL_TLS_*``: all three or
    none; none is plaintext), for a service that ``serves`` the others and/or ``calls``
    them at these ``{variable: target}`` addresses."""
    paths = (settings.internal_tls_cert, settings.internal_tls_key, settings.internal_tls_ca)
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
    return read_tls(*zip(INTERNAL_TLS, paths, strict=True), uses=uses)


def internal_channel(target: str, tls: TlsFiles | None, options: Sequence[tuple[str, object]],
                     interceptors: Sequence[grpc.aio.ClientInterceptor] = ()
                     ) -> grpc.aio.Channel:
    """A channel to another service at ``target``: mutual TLS when ``tls`` is given
    (:func:`internal_tls`), else plaintext."""
    if tls is None:
        return grpc.aio.insecure_channel(target, options=options,
                                         interceptors=list(interceptors))
    return grpc.aio.secure_channel(target, tls.channel_credentials(), options=options,
                                   interceptors=list(interceptors))
