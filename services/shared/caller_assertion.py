"""The signed caller assertion: how a backend knows that the caller identity it is given
(``x-ijh-caller-*`` metadata) was set by the gateway (or a backend calling another)
for this very call, not by whoever reached its port. Pure functions, stdlib only.

The signer sends, beside the identity, the metadata
``x-ijh-caller-assertion`` = ``v2.<signer>.<expires>.<mac>``:

* ``signer``: the service that vouches (``gateway``; ``funding`` calling risk);
* ``expires``: Unix seconds, ``LIFETIME_SECONDS`` after signing;
* ``mac``: HMAC-SHA256, hex, under the key of the link from the signer to the service
  called, of the lines ``ijh-caller-v2``, the signer, the full method name
  (``/ijh.funding.v1.FundingService/Decide...``), the request id (``x-request-id``),
  subject, role, business ID ("" when none) and ``expires``. Metadata values are
  printable ASCII without line breaks, so the lines cannot be shifted into one another.

**A key per link** (``LINKS``): gateway→funding, gateway→risk, funding→risk. A service
holds only the keys of the links it is on, so it can vouch only where it may: risk
holds no key funding trusts, and a compromised risk pod cannot act as an officer
towards funding. What a signer may vouch for is fixed here, not configured: the
gateway vouches for the callers its tokens name (any role but ``service``); another
service only for itself (subject = its name, role ``service``).

The verifier recomputes the MAC over what it received and compares it in constant time
(``hmac.compare_digest``). A captured assertion is good for nothing else: another
method, request id or identity changes the MAC; it is refused once ``expires`` is more
than ``SKEW_SECONDS`` past on the verifier's clock, and so is one whose ``expires`` lies
further ahead than a signer could have set it (``LIFETIME_SECONDS`` + ``SKEW_SECONDS``).
The one replay left is of the same method, request id and identity within that window
(the request body is not signed; see docs/ARCHITECTURE.md).

Keys: a link's key file (``<signer>-<audience>.key``) holds one key a line (at least
``MIN_KEY_CHARACTERS`` characters, e.g. ``openssl rand -hex 32``; blank lines and ``#``
comments are skipped). The first signs, every one verifies: a key is rotated by adding
the new one second on both sides of the link, then moving it first, then removing the
old one. ``keys`` below is a :class:`CallerKeys` or anything reading as one, read at each
call: the services hand over one that follows its files
(:class:`~services.shared.caller.CallerKeySource`), so each step is taken while they run.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

VERSION = "v2"
_CONTEXT = "ijh-caller-v2"
#: How far ahead of the signer's clock the expiry is set. It covers the time between
#: signing and the backend reading the call: the gateway's retries of an idempotent call
#: (well under 2 s) and a busy backend's queue.
LIFETIME_SECONDS = 10
#: How far the signer's and the verifier's clocks may differ, either way.
SKEW_SECONDS = 5
MIN_KEY_CHARACTERS = 32

GATEWAY = "gateway"
#: The role a backend vouches for itself with when it calls another backend.
SERVICE_ROLE = "service"
#: (signer, audience): who may vouch for a caller to whom, each link with its own key.
LINKS = ((GATEWAY, "funding"), (GATEWAY, "risk"), ("funding", "risk"))
#: The methods a service may call on another, vouching for itself (the gateway's links
#: carry any method: the gateway's table decides who may call what).
SERVICE_METHODS = {("funding", "risk"): frozenset({
    "/ijh.risk.v1.RiskService/EvaluateIncrementalRisk",  # approving a guarantee
    "/ijh.risk.v1.RiskService/SimulatePortfolio",  # the fund's status
})}
_PACKAGE_VERSION = re.compile(r"v\d+(?:(?:alpha|beta)\d*)?")

# Reasons (google.rpc.ErrorInfo) of a refused assertion.
MISSING = "CALLER_ASSERTION_MISSING"
MALFORMED = "CALLER_ASSERTION_MALFORMED"
UNTRUSTED_SIGNER = "CALLER_ASSERTION_UNTRUSTED_SIGNER"
INVALID = "CALLER_ASSERTION_INVALID"
NOT_ITS_TO_VOUCH = "CALLER_ASSERTION_NOT_ITS_TO_VOUCH"
EXPIRED = "CALLER_ASSERTION_EXPIRED"
TOO_FAR_AHEAD = "CALLER_ASSERTION_TOO_FAR_AHEAD"


class AssertionRefused(Exception):
    """The assertion does not vouch for this call; ``reason`` is one of the reasons above."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


def key_file_name(signer: str, audience: str) -> str:
    """The file of a link's keys in ``IJH_CALLER_KEY_DIR``."""
    return f"{signer}-{audience}.key"


def links_of(service: str) -> tuple[tuple[str, str], ...]:
    """The links ``service`` is on, as signer or as audience: the key files it needs."""
    return tuple(link for link in LINKS if service in link)


def audience_of(method: str) -> str:
    """The service a full method name calls, by its proto package
    ``<org>.<audience>.<version>``: ``/ijh.risk.v1.RiskService/X`` → ``risk``."""
    package = method.lstrip("/").partition("/")[0].split(".")[:-1]
    if len(package) < 2 or not _PACKAGE_VERSION.fullmatch(package[-1]):
        raise ValueError(f"{method}: not a method of a versioned package")
    return package[-2]


@dataclass(frozen=True)
class CallerKeys:
    """One service's keys: to each audience it calls, the keys of that link (the first
    signs); from each signer it trusts, the keys of that link (all verify)."""

    service: str
    to: Mapping[str, tuple[bytes, ...]] = field(repr=False)  # never in a log line
    trusted: Mapping[str, tuple[bytes, ...]] = field(repr=False)

    @classmethod
    def of(cls, service: str, link_keys: Mapping[tuple[str, str], tuple[bytes, ...]]
           ) -> CallerKeys:
        """``service``'s share of the links' keys (those of links it is not on are left)."""
        return cls(service,
                   MappingProxyType({audience: keys for (signer, audience), keys
                                     in link_keys.items() if signer == service}),
                   MappingProxyType({signer: keys for (signer, audience), keys
                                     in link_keys.items() if audience == service}))

    def __repr__(self) -> str:
        return (f"CallerKeys({self.service!r}, to={sorted(self.to)}, "
                f"trusted={sorted(self.trusted)})")


def parse_keys(text: str) -> tuple[bytes, ...]:
    """The keys of a key file's text, or ValueError saying what is wrong (never a key)."""
    keys = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if len(line) < MIN_KEY_CHARACTERS or not line.isascii() or not line.isprintable():
            raise ValueError(f"line {number}: a key must be at least {MIN_KEY_CHARACTERS} "
                             "printable ASCII characters (e.g. `openssl rand -hex 32`)")
        keys.append(line.encode())
    if not keys:
        raise ValueError("holds no key (one a line, e.g. `openssl rand -hex 32`)")
    return tuple(keys)


def _mac(key: bytes, signer: str, method: str, request_id: str, subject: str, role: str,
         business_id: str, expires: str) -> str:
    message = "\n".join((_CONTEXT, signer, method, request_id, subject, role, business_id,
                         expires))
    return hmac.digest(key, message.encode(), "sha256").hex()


def sign(keys: CallerKeys, method: str, request_id: str, subject: str, role: str,
         business_id: str, now: float) -> str:
    """The assertion of ``keys.service`` for one call made at ``now`` (Unix seconds);
    ValueError when it holds no key to the service ``method`` belongs to."""
    audience = audience_of(method)
    if audience not in keys.to:
        raise ValueError(f"{keys.service} holds no key to vouch for callers of {audience} "
                         f"({key_file_name(keys.service, audience)})")
    expires = str(int(now) + LIFETIME_SECONDS)
    mac = _mac(keys.to[audience][0], keys.service, method, request_id, subject, role,
               business_id, expires)
    return f"{VERSION}.{keys.service}.{expires}.{mac}"


def verify(keys: CallerKeys, assertion: str, method: str, request_id: str, subject: str,
           role: str, business_id: str, now: float) -> str:
    """The signer, if ``assertion`` vouches for this call at ``now``; else AssertionRefused.

    The MAC is checked first, so "expired" is said only of a genuine assertion (a clock
    or a queue to look at), never of a forged one."""
    if not assertion:
        raise AssertionRefused(MISSING, "the caller identity carries no assertion "
                                        "(x-ijh-caller-assertion)")
    parts = assertion.split(".")
    if (len(parts) != 4 or parts[0] != VERSION or not (parts[2].isascii()
                                                      and parts[2].isdigit())
            or len(parts[3]) != 64 or not parts[3].isascii()):
        raise AssertionRefused(MALFORMED, "the caller assertion is not of the form "
                                          f"{VERSION}.<signer>.<expires>.<hmac-sha256 hex>")
    _, signer, expires, mac = parts
    if signer not in keys.trusted:
        raise AssertionRefused(UNTRUSTED_SIGNER,
                               f"{keys.service} takes no caller vouched for by "
                               f"{signer[:40]!r}")
    for key in keys.trusted[signer]:
        expected = _mac(key, signer, method, request_id, subject, role, business_id, expires)
        if hmac.compare_digest(expected, mac):
            break
    else:
        raise AssertionRefused(INVALID, "the caller assertion does not match this call "
                                        "(another key, method, request id or identity)")
    _check_its_to_vouch(signer, keys.service, method, subject, role, business_id)
    at = int(expires)
    if now > at + SKEW_SECONDS:
        raise AssertionRefused(EXPIRED, f"the caller assertion expired {now - at:.0f} s ago")
    if at > now + LIFETIME_SECONDS + SKEW_SECONDS:
        raise AssertionRefused(TOO_FAR_AHEAD,
                               f"the caller assertion expires {at - now:.0f} s from now, "
                               f"more than {LIFETIME_SECONDS + SKEW_SECONDS} s: the "
                               "signer's clock is ahead")
    return signer


def _check_its_to_vouch(signer: str, audience: str, method: str, subject: str, role: str,
                        business_id: str) -> None:
    """The gateway vouches for the callers of its tokens, never a service; another
    service only for itself (no business ID), on the methods it needs (SERVICE_METHODS)."""
    if signer == GATEWAY:
        if role != SERVICE_ROLE:
            return
        why = "the gateway vouches for the callers of its tokens, never a service"
    elif (role, subject, business_id) != (SERVICE_ROLE, signer, ""):
        why = (f"{signer} vouches only for itself (subject {signer}, role {SERVICE_ROLE}, "
               "no business ID)")
    elif method not in SERVICE_METHODS.get((signer, audience), ()):
        why = f"{signer} does not call {method} on {audience}"
    else:
        return
    raise AssertionRefused(NOT_ITS_TO_VOUCH, why)
