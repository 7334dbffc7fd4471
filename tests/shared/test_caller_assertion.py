"""The pure sign/verify functions of the caller assertion and the key file's form."""

from __future__ import annotations

import pytest

from services.shared import caller_assertion as ca
from services.shared.caller_assertion import AssertionRefused, CallerKeys, parse_keys

KEY = b"k" * 32
OTHER = b"o" * 40
KEYS = CallerKeys((KEY,))
METHOD = "/ijh.funding.v1.FundingService/DecideApplication"
NOW = 1_800_000_000.25
CALL = (METHOD, "req-1", "officer-a", "officer", "")


def _sign(key=KEY, call=CALL, now=NOW) -> str:
    return ca.sign(key, *call, now)


def _refusal(assertion: str, call=CALL, now=NOW, keys=KEYS) -> str:
    with pytest.raises(AssertionRefused) as refused:
        ca.verify(keys, assertion, *call, now)
    return refused.value.reason


def test_a_signed_call_verifies_until_its_expiry_plus_the_skew():
    assertion = _sign()
    version, expires, mac = assertion.split(".")
    assert version == "v1" and int(expires) == int(NOW) + ca.LIFETIME_SECONDS
    assert len(mac) == 64 and int(mac, 16) >= 0
    for now in (NOW, NOW + ca.LIFETIME_SECONDS,
                int(NOW) + ca.LIFETIME_SECONDS + ca.SKEW_SECONDS):
        ca.verify(KEYS, assertion, *CALL, now)  # no exception
    # The verifier's clock behind the signer's by the whole skew: still good.
    ca.verify(KEYS, assertion, *CALL, NOW - ca.SKEW_SECONDS)


def test_it_is_refused_after_expiry_plus_skew():
    assertion = _sign()
    late = int(NOW) + ca.LIFETIME_SECONDS + ca.SKEW_SECONDS + 1
    assert _refusal(assertion, now=late) == ca.EXPIRED


def test_an_expiry_further_ahead_than_a_signer_sets_it_is_refused():
    # Signed (with the key) by a clock a minute ahead of the verifier's.
    assert _refusal(_sign(now=NOW + 60)) == ca.TOO_FAR_AHEAD
    # ... but within the skew it is the clocks' ordinary difference.
    ca.verify(KEYS, _sign(now=NOW + ca.SKEW_SECONDS), *CALL, NOW)


@pytest.mark.parametrize("changed", [
    ("/ijh.funding.v1.FundingService/GetApplication", "req-1", "officer-a", "officer", ""),
    (METHOD, "req-2", "officer-a", "officer", ""),
    (METHOD, "req-1", "officer-b", "officer", ""),
    (METHOD, "req-1", "officer-a", "admin", ""),
    (METHOD, "req-1", "officer-a", "officer", "0201256-6"),
], ids=["method", "request_id", "subject", "role", "business_id"])
def test_an_assertion_is_bound_to_method_request_id_and_identity(changed):
    assert _refusal(_sign(), call=changed) == ca.INVALID


def test_fields_cannot_be_shifted_into_one_another():
    # The same characters split differently between subject and role.
    signed = ca.sign(KEY, METHOD, "r", "officer-a", "officer", "", NOW)
    assert _refusal(signed, call=(METHOD, "r", "officer-aofficer", "", "")) == ca.INVALID
    assert _refusal(signed, call=(METHOD, "r\nofficer-a", "officer", "", "")) == ca.INVALID


def test_another_key_does_not_verify_and_a_rotated_key_list_does():
    assert _refusal(_sign(key=OTHER)) == ca.INVALID
    rotating = CallerKeys((OTHER, KEY))  # the new key first, the old one still trusted
    ca.verify(rotating, _sign(key=KEY), *CALL, NOW)
    ca.verify(rotating, _sign(key=rotating.signing), *CALL, NOW)


def test_an_expired_forgery_is_invalid_not_expired():
    # "expired" is said only of a genuine assertion.
    forged = f"v1.{int(NOW) - 3600}.{'0' * 64}"
    assert _refusal(forged) == ca.INVALID


@pytest.mark.parametrize("assertion, reason", [
    ("", ca.MISSING),
    ("v1", ca.MALFORMED),
    ("v2.1800000010." + "0" * 64, ca.MALFORMED),
    ("v1.-5." + "0" * 64, ca.MALFORMED),
    ("v1.18e8." + "0" * 64, ca.MALFORMED),
    ("v1.1800000010.abc", ca.MALFORMED),
    ("v1.١٨٠٠٠٠٠٠١٠." + "0" * 64, ca.MALFORMED),
    ("v1.1800000010." + "é" * 64, ca.MALFORMED),
    ("v1.1800000010." + "z" * 64, ca.INVALID),
])
def test_malformed_assertions_are_refused_with_a_reason(assertion, reason):
    assert _refusal(assertion) == reason


def test_key_file_text_is_parsed_one_key_a_line():
    keys = parse_keys("# internal key\n\n" + "a" * 64 + "\n  " + "b" * 32 + "  \n")
    assert keys.keys == (b"a" * 64, b"b" * 32) and keys.signing == b"a" * 64


@pytest.mark.parametrize("text, words", [
    ("", "holds no key"),
    ("# only a comment\n", "holds no key"),
    ("short\n", "line 1: a key must be at least 32"),
    ("a" * 64 + "\n" + "é" * 40 + "\n", "line 2"),
])
def test_a_bad_key_file_is_refused_without_echoing_a_key(text, words):
    with pytest.raises(ValueError) as refused:
        parse_keys(text)
    assert words in str(refused.value)
    assert "a" * 32 not in str(refused.value)
