"""The signed caller assertion: how a backend knows that the caller identity it is given
(``x-ijh-caller-*`` metadata) was set by the gateway (or a backend calling another)
for this very call, not by whoever reached its port. Pure functions, stdlib only.

The signer (the gateway; funding calling risk) sends, beside the identity, the metadata
``x-ijh-caller-assertion`` = ``v1.<expires>.<mac>``:

* ``expires``: Unix seconds, ``LIFETIME_SECONDS`` after signing;
* ``mac``: HMAC-SHA256, hex, under the shared internal key, of the lines
  ``ijh-caller-v1``, the full method name (``/ijh.funding.v1.FundingService/Decide...``),
  the request id (``x-request-id``), subject, role, business ID ("" when none) and
  ``expires``. Metadata values are printable ASCII without line breaks, so the lines
  cannot be shifted into one another.

The verifier recomputes the MAC over what it received and compares it in constant time
(``hmac.compare_digest``). A captured assertion is good for nothing else: another
method, request id or identity changes the MAC; it is refused once ``expires`` is more
than ``SKEW_SECONDS`` past on the verifier's clock, and so is one whose ``expires`` lies
further ahead than a signer could have set it (``LIFETIME_SECONDS`` + ``SKEW_SECONDS``).
The one replay left is of the same method, request id and identity within that window
(the request body is not signed; see docs/ARCHITECTURE.md).

Keys: the key file holds one key a line (at least ``MIN_KEY_CHARACTERS`` characters, e.g.
``openssl rand -hex 32``; blank lines and ``#`` comments are skipped). The first signs,
every one verifies: a key is rotated by adding the new one second everywhere, then
moving it first, then removing the old one.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

VERSION = "v1"
_CONTEXT = "ijh-caller-v1"
#: How far ahead of the signer's clock the expiry is set. It covers the time between
#: signing and the backend reading the call: the gateway's retries of an idempotent call
#: (well under 2 s) and a busy backend's queue.
LIFETIME_SECONDS = 10
#: How far the signer's and the verifier's clocks may differ, either way.
SKEW_SECONDS = 5
MIN_KEY_CHARACTERS = 32

# Reasons (google.rpc.ErrorInfo) of a refused assertion.
MISSING = "CALLER_ASSERTION_MISSING"
MALFORMED = "CALLER_ASSERTION_MALFORMED"
INVALID = "CALLER_ASSERTION_INVALID"
EXPIRED = "CALLER_ASSERTION_EXPIRED"
TOO_FAR_AHEAD = "CALLER_ASSERTION_TOO_FAR_AHEAD"


class AssertionRefused(Exception):
    """The assertion does not vouch for this call; ``reason`` is one of the reasons above."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class CallerKeys:
    """The internal keys: the first signs, all verify."""

    keys: tuple[bytes, ...]

    @property
    def signing(self) -> bytes:
        return self.keys[0]


def parse_keys(text: str) -> CallerKeys:
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
    return CallerKeys(tuple(keys))


def _mac(key: bytes, method: str, request_id: str, subject: str, role: str,
         business_id: str, expires: str) -> str:
    message = "\n".join((_CONTEXT, method, request_id, subject, role, business_id, expires))
    return hmac.digest(key, message.encode(), "sha256").hex()


def sign(key: bytes, method: str, request_id: str, subject: str, role: str,
         business_id: str, now: float) -> str:
    """The assertion for one call made at ``now`` (Unix seconds)."""
    expires = str(int(now) + LIFETIME_SECONDS)
    mac = _mac(key, method, request_id, subject, role, business_id, expires)
    return f"{VERSION}.{expires}.{mac}"


def verify(keys: CallerKeys, assertion: str, method: str, request_id: str, subject: str,
           role: str, business_id: str, now: float) -> None:
    """Return if ``assertion`` vouches for this call at ``now``; else AssertionRefused.

    The MAC is checked first, so "expired" is said only of a genuine assertion (a clock
    or a queue to look at), never of a forged one."""
    if not assertion:
        raise AssertionRefused(MISSING, "the caller identity carries no assertion "
                                        "(x-ijh-caller-assertion)")
    version, _, rest = assertion.partition(".")
    expires, _, mac = rest.partition(".")
    if (version != VERSION or not (expires.isascii() and expires.isdigit())
            or len(mac) != 64 or not mac.isascii()):
        raise AssertionRefused(MALFORMED, "the caller assertion is not of the form "
                                          f"{VERSION}.<expires>.<hmac-sha256 hex>")
    for key in keys.keys:
        expected = _mac(key, method, request_id, subject, role, business_id, expires)
        if hmac.compare_digest(expected, mac):
            break
    else:
        raise AssertionRefused(INVALID, "the caller assertion does not match this call "
                                        "(another key, method, request id or identity)")
    at = int(expires)
    if now > at + SKEW_SECONDS:
        raise AssertionRefused(EXPIRED, f"the caller assertion expired {now - at:.0f} s ago")
    if at > now + LIFETIME_SECONDS + SKEW_SECONDS:
        raise AssertionRefused(TOO_FAR_AHEAD,
                               f"the caller assertion expires {at - now:.0f} s from now, "
                               f"more than {LIFETIME_SECONDS + SKEW_SECONDS} s: the "
                               "signer's clock is ahead")
