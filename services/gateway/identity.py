"""Who is calling: bearer tokens (JWT, ES256 or RS256) verified against the trusted
signing keys, issuers and audience from configuration.

A token carries ``sub`` (the caller), ``role`` (agency, officer, analyst, admin) and,
for agencies, ``business_id`` (the Finnish Y-tunnus the caller acts for). A verified
token is cached until it expires, so a caller's next calls cost a dictionary lookup,
not a signature check.

The trusted keys' files (``IJH_JWT_PUBLIC_KEYS``, ``IJH_JWT_JWKS_FILE``) are read again
when they change (:class:`TokenKeySource`): an identity provider rotating its JWKS adds
the new key before signing with it and drops the old (or a leaked) one, and the gateway
follows without a restart. A key dropped authenticates nothing from that moment: the
cache of verified tokens is emptied with every new set. Dropped means removed from its
file, or its file removed: a revocation fails closed, down to no key at all.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from services.shared.business_id import is_valid_business_id as business_id_valid
from services.shared.config import ConfigurationError, Settings
from services.shared.file_source import FileSource

log = logging.getLogger(__name__)

ALGORITHMS = ("ES256", "RS256")
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub")
_CACHE_LIMIT = 10_000
# The subject travels to the backends as gRPC metadata, which carries printable ASCII only.
# At most 200 characters: the width of the ledger's actor columns.
_SUBJECT = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]{0,198}[\x21-\x7e])?")


class Role(enum.StrEnum):
    AGENCY = "agency"
    OFFICER = "officer"
    ANALYST = "analyst"
    ADMIN = "admin"


# Roles that act for one organisation and must name its business ID.
ROLES_WITH_BUSINESS_ID = frozenset({Role.AGENCY})


@dataclass(frozen=True)
class Caller:
    """A verified caller."""

    subject: str
    role: Role
    business_id: str  # empty for roles that act for the fund, not for an organisation
    issuer: str
    expires_at: float  # Unix seconds
    # The bearer token it was verified from: a stream verifies it again at each message.
    token: str = field(default="", repr=False, compare=False)


def with_article(word: str) -> str:
    """``word`` with its indefinite article: "an agency", "an officer", "a company"."""
    return f"{'an' if word[:1].lower() in tuple('aeiou') else 'a'} {word}"


class Unauthenticated(Exception):
    """The token is missing or not acceptable; ``reason`` is machine-readable
    (TOKEN_MISSING, TOKEN_MALFORMED, TOKEN_EXPIRED, TOKEN_NOT_YET_VALID, UNKNOWN_SIGNER,
    WRONG_ISSUER, WRONG_AUDIENCE, CLAIMS_INVALID)."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def algorithm_of(public_key) -> str:
    """The one algorithm a trusted key verifies: ES256 for EC P-256, RS256 for RSA."""
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve,
                                                                        ec.SECP256R1):
        return "ES256"
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RS256"
    raise ValueError("signing keys must be EC P-256 (ES256) or RSA (RS256)")


def key_id(public_key) -> str:
    """RFC 7638 JWK thumbprint (SHA-256) of an EC P-256 or RSA public key: the ``kid``."""
    algorithm_of(public_key)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        numbers = public_key.public_numbers()
        size = (public_key.curve.key_size + 7) // 8
        members = {"crv": "P-256", "kty": "EC",
                   "x": _b64(numbers.x.to_bytes(size, "big")),
                   "y": _b64(numbers.y.to_bytes(size, "big"))}
    elif isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        members = {"e": _b64(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
                   "kty": "RSA",
                   "n": _b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"))}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return _b64(hashlib.sha256(canonical).digest())


def load_signing_keys(pem_paths: Iterable[str], jwks_path: str = "") -> dict[str, object]:
    """Trusted public keys by ``kid``: PEM files (kid = thumbprint) and a JWKS file. A JWKS
    of no key (``{"keys": []}``: its provider trusts none) gives none, with a WARNING."""
    keys: dict[str, object] = {}
    for path in pem_paths:
        public_key = serialization.load_pem_public_key(Path(path).read_bytes())
        keys[key_id(public_key)] = public_key
    if jwks_path:
        document = json.loads(Path(jwks_path).read_text())
        if isinstance(document, dict) and document.get("keys") == []:
            log.warning("JWKS holds no key: none of it is trusted",
                        extra={"variable": "IJH_JWT_JWKS_FILE", "path": jwks_path})
            return keys
        for jwk in jwt.PyJWKSet.from_dict(document).keys:
            try:
                algorithm_of(jwk.key)
            except ValueError:
                # An identity provider's set may carry keys for others (P-384, Ed25519):
                # they can sign nothing here, and must not stop the gateway starting.
                log.warning("JWKS key skipped: not EC P-256 or RSA",
                            extra={"kid": jwk.key_id or "", "path": jwks_path})
                continue
            keys[jwk.key_id or key_id(jwk.key)] = jwk.key
    return keys


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class TokenKeySource(FileSource[dict[str, object]]):
    """The trusted token keys of ``IJH_JWT_PUBLIC_KEYS`` and ``IJH_JWT_JWKS_FILE``
    (:func:`load_signing_keys`, by ``kid``), read now and again when their files change
    (:class:`~services.shared.file_source.FileSource`). One taken is an INFO line naming
    the kids added and removed.

    A key removed must not stay trusted (it may have leaked): once running, a listed file
    that is gone, like a JWKS of no key, gives no key (a WARNING naming it) and the rest is
    taken, even nothing at all (an ERROR: every token is refused until a key is back). A
    file that cannot be read or parsed (half-written, of the wrong kind) is one WARNING and
    the loaded keys stay, lest it lock everyone out. At start a file missing, or no key at
    all, is a ConfigurationError."""

    kind = "token signing keys"
    field = "token_keys"

    def __init__(self, pem_paths: Sequence[str], jwks_path: str = ""):
        running = False

        def read() -> dict[str, object]:
            return _read_signing_keys(pem_paths, jwks_path, running)

        super().__init__("jwt", [*pem_paths, jwks_path], read)
        running = True
        # What a gateway started mid-rotation trusts, as the lines of a reload say it.
        self._log.info("token signing keys loaded",
                       extra={"token_keys": self.name, "kids": sorted(self.current)})

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenKeySource:
        return cls(_split(settings.jwt_public_keys), settings.jwt_jwks_file)

    def _taken(self, old: dict[str, object], new: dict[str, object]) -> None:
        self._log.info("token signing keys reloaded", extra={
            "token_keys": self.name, "added": sorted(new.keys() - old.keys()),
            "removed": sorted(old.keys() - new.keys()),
            "replaced": sorted(kid for kid in new.keys() & old.keys()
                               if new[kid] != old[kid]),
            "kids": sorted(new)})
        if not new:
            self._log.error("no token signing keys left: every token is refused "
                            "(UNAUTHENTICATED, UNKNOWN_SIGNER) until a key file is back",
                            extra={"token_keys": self.name})


def _read_signing_keys(pem_paths: Sequence[str], jwks_path: str,
                       running: bool) -> dict[str, object]:
    """:func:`load_signing_keys`; a ConfigurationError naming the variable and file that
    cannot be read as trusted keys. Once ``running``, a file gone gives no key (a WARNING),
    and the set may be empty; at start, either is a ConfigurationError."""
    keys: dict[str, object] = {}
    files = [("IJH_JWT_PUBLIC_KEYS", path, [path], "") for path in pem_paths]
    if jwks_path:
        files.append(("IJH_JWT_JWKS_FILE", jwks_path, [], jwks_path))
    for variable, path, pems, jwks in files:
        try:
            keys.update(load_signing_keys(pems, jwks))
        except (OSError, ValueError, TypeError, AttributeError, jwt.PyJWTError) as exc:
            if running and isinstance(exc, FileNotFoundError):
                # Removed from its Secret: revoked, not half-written (a Secret's files are
                # swapped whole).
                log.warning("token key file gone: its keys are trusted no more",
                            extra={"variable": variable, "path": path})
                continue
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise ConfigurationError(f"{variable}: {path}: not a file of trusted keys "
                                     f"({type(exc).__name__}: {detail})") from None
    if not keys and not running:
        raise ConfigurationError("no token signing keys configured (IJH_JWT_PUBLIC_KEYS or "
                                 "IJH_JWT_JWKS_FILE)")
    return keys


class _TrustedKeys:
    """A set of trusted keys and the one algorithm of each (those of one read)."""

    def __init__(self, keys: Mapping[str, object]):
        self.keys = dict(keys)
        self.algorithms = {name: algorithm_of(key) for name, key in self.keys.items()}


class TokenVerifier:
    """Verifies bearer tokens; one instance per gateway process. ``keys``: the trusted
    keys by kid, fixed, or a :class:`TokenKeySource` whose set loaded last is used."""

    def __init__(self, keys: Mapping[str, object] | TokenKeySource, issuers: Iterable[str],
                 audience: str, leeway_seconds: float = 30.0):
        self.source = keys if isinstance(keys, TokenKeySource) else None
        self.issuers = list(issuers)
        self.audience = audience
        self.leeway = leeway_seconds
        if not (keys.current if self.source is not None else keys):
            raise ValueError("no token signing keys configured (IJH_JWT_PUBLIC_KEYS or "
                             "IJH_JWT_JWKS_FILE)")
        if not self.issuers:
            raise ValueError("no trusted token issuers configured (IJH_JWT_ISSUERS)")
        self._loaded = self.source.current if self.source is not None else dict(keys)
        self._trusted = _TrustedKeys(self._loaded)
        self._cache: dict[str, Caller] = {}

    @property
    def keys(self) -> dict[str, object]:
        """The trusted keys by kid, as loaded last."""
        return self._current().keys

    def _current(self) -> _TrustedKeys:
        """The trusted keys; when a new set has been loaded, the cache emptied: a token a
        dropped key signed must not authenticate from its cache entry."""
        if self.source is not None and self.source.current is not self._loaded:
            self._loaded = self.source.current
            self._trusted = _TrustedKeys(self._loaded)
            self._cache.clear()
        return self._trusted

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenVerifier:
        return cls(TokenKeySource.from_settings(settings), _split(settings.jwt_issuers),
                   settings.jwt_audience, settings.jwt_leeway)

    def verify(self, token: str) -> Caller:
        """The caller a token names, or :class:`Unauthenticated` with the reason."""
        trusted = self._current()
        cached = self._cache.get(token)
        if cached is not None:
            if time.time() <= cached.expires_at + self.leeway:
                return cached
            del self._cache[token]
            raise Unauthenticated("TOKEN_EXPIRED", "the token has expired")
        caller = self._verify(token, trusted)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[token] = caller
        return caller

    def _verify(self, token: str, trusted: _TrustedKeys) -> Caller:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated("TOKEN_MALFORMED", "the bearer token is not a JWT") from exc
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise Unauthenticated("TOKEN_MALFORMED",
                                  f"token algorithm must be one of {', '.join(ALGORITHMS)}")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise Unauthenticated("TOKEN_MALFORMED", "the token's kid must be a string")
        if kid is not None and kid not in trusted.keys:
            raise Unauthenticated("UNKNOWN_SIGNER", "the token's signing key is not trusted")
        # Only keys of the token's algorithm are tried: an RSA key never meets ES256.
        candidates = [key for name, key in trusted.keys.items()
                      if (kid is None or name == kid) and trusted.algorithms[name] == algorithm]
        claims = None
        for key in candidates:
            try:
                claims = jwt.decode(
                    token, key, algorithms=[algorithm], audience=self.audience,
                    issuer=self.issuers, leeway=self.leeway,
                    options={"require": list(REQUIRED_CLAIMS)})
                break
            except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError):
                continue
            except jwt.ExpiredSignatureError as exc:
                raise Unauthenticated("TOKEN_EXPIRED", "the token has expired") from exc
            except jwt.ImmatureSignatureError as exc:
                raise Unauthenticated("TOKEN_NOT_YET_VALID", "the token is not valid yet") from exc
            except jwt.InvalidAudienceError as exc:
                raise Unauthenticated("WRONG_AUDIENCE",
                                      f"the token is not for audience {self.audience}") from exc
            except jwt.InvalidIssuerError as exc:
                raise Unauthenticated("WRONG_ISSUER", "the token's issuer is not trusted") from exc
            except jwt.MissingRequiredClaimError as exc:
                raise Unauthenticated("CLAIMS_INVALID", str(exc)) from exc
            except jwt.PyJWTError as exc:
                raise Unauthenticated("TOKEN_MALFORMED", str(exc)) from exc
        if claims is None:
            raise Unauthenticated("UNKNOWN_SIGNER", "the token is not signed by a trusted key")
        return self._caller(claims, token)

    @staticmethod
    def _caller(claims: Mapping, token: str) -> Caller:
        try:
            role = Role(claims.get("role", ""))
        except ValueError as exc:
            raise Unauthenticated("CLAIMS_INVALID",
                                  f"unknown role {claims.get('role')!r}") from exc
        # Only an agency acts for an organisation; any other role's business_id is neither
        # checked nor forwarded (the backends would verify it, stripped, against what was
        # signed).
        business_id = str(claims.get("business_id", "")) if role in ROLES_WITH_BUSINESS_ID else ""
        if role in ROLES_WITH_BUSINESS_ID and not business_id_valid(business_id):
            raise Unauthenticated("CLAIMS_INVALID",
                                  f"{with_article(role.value)} token must carry a valid "
                                  "business_id (Y-tunnus)")
        subject = claims["sub"]
        if not isinstance(subject, str) or not _SUBJECT.fullmatch(subject):
            raise Unauthenticated("CLAIMS_INVALID",
                                  "sub must be 1-200 printable ASCII characters without "
                                  "surrounding spaces (an opaque id or a plain e-mail address)")
        return Caller(subject=subject, role=role, business_id=business_id,
                      issuer=str(claims["iss"]), expires_at=float(claims["exp"]), token=token)
