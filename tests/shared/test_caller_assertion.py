"""The pure sign/verify functions of the caller assertion, its keys per link and the key
file's form."""

from __future__ import annotations

import pytest

from services.shared import caller_assertion as ca
from services.shared.caller_assertion import AssertionRefused, CallerKeys, parse_keys

KEY = b"k" * 32
OTHER = b"o" * 40
TO_RISK = b"r" * 32
FUNDING_TO_RISK = b"s" * 32
# Every link's keys as an operator would hand them out; each service takes its share.
LINK_KEYS = {("gateway", "funding"): (KEY,), ("gateway", "risk"): (TO_RISK,),
             ("funding", "risk"): (FUNDING_TO_RISK,)}
GATEWAY_KEYS = CallerKeys.of("gateway", LINK_KEYS)
FUNDING_KEYS = CallerKeys.of("funding", LINK_KEYS)
RISK_KEYS = CallerKeys.of("risk", LINK_KEYS)
METHOD = "/ijh.funding.v1.FundingService/DecideApplication"
RISK_METHOD = "/ijh.risk.v1.RiskService/EvaluateIncrementalRisk"
NOW = 1_800_000_000.25
CALL = (METHOD, "req-1", "officer-a", "officer", "")


def _sign(keys=GATEWAY_KEYS, call=CALL, now=NOW) -> str:
    return ca.sign(keys, *call, now)


def _refusal(assertion: str, call=CALL, now=NOW, keys=FUNDING_KEYS) -> str:
    with pytest.raises(AssertionRefused) as refused:
        ca.verify(keys, assertion, *call, now)
    return refused.value.reason


def test_each_service_holds_only_the_keys_of_its_links():
    assert GATEWAY_KEYS.to == {"funding": (KEY,), "risk": (TO_RISK,)}
    assert GATEWAY_KEYS.trusted == {}
    assert FUNDING_KEYS.to == {"risk": (FUNDING_TO_RISK,)}
    assert FUNDING_KEYS.trusted == {"gateway": (KEY,)}
    assert RISK_KEYS.to == {} and RISK_KEYS.trusted == {"gateway": (TO_RISK,),
                                                        "funding": (FUNDING_TO_RISK,)}
    assert ca.links_of("risk") == (("gateway", "risk"), ("funding", "risk"))


def test_a_signed_call_verifies_until_its_expiry_plus_the_skew():
    assertion = _sign()
    version, signer, expires, mac = assertion.split(".")
    assert version == "v2" and signer == "gateway"
    assert int(expires) == int(NOW) + ca.LIFETIME_SECONDS
    assert len(mac) == 64 and set(mac) <= set("0123456789abcdef")
    for now in (NOW, NOW + ca.LIFETIME_SECONDS,
                int(NOW) + ca.LIFETIME_SECONDS + ca.SKEW_SECONDS):
        ca.verify(FUNDING_KEYS, assertion, *CALL, now)  # no exception
    # The verifier's clock behind the signer's by the whole skew: still good.
    ca.verify(FUNDING_KEYS, assertion, *CALL, NOW - ca.SKEW_SECONDS)


def test_it_is_refused_after_expiry_plus_skew():
    assertion = _sign()
    late = int(NOW) + ca.LIFETIME_SECONDS + ca.SKEW_SECONDS + 1
    assert _refusal(assertion, now=late) == ca.EXPIRED


def test_an_expiry_further_ahead_than_a_signer_sets_it_is_refused():
    # Signed (with the key) by a clock a minute ahead of the verifier's.
    assert _refusal(_sign(now=NOW + 60)) == ca.TOO_FAR_AHEAD
    # ... but within the skew it is the clocks' ordinary difference.
    ca.verify(FUNDING_KEYS, _sign(now=NOW + ca.SKEW_SECONDS), *CALL, NOW)


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
    signed = ca.sign(GATEWAY_KEYS, METHOD, "r", "officer-a", "officer", "", NOW)
    assert _refusal(signed, call=(METHOD, "r", "officer-aofficer", "", "")) == ca.INVALID
    assert _refusal(signed, call=(METHOD, "r\nofficer-a", "officer", "", "")) == ca.INVALID


def test_another_key_does_not_verify_and_a_rotated_key_list_does():
    forger = CallerKeys.of("gateway", {("gateway", "funding"): (OTHER,)})
    assert _refusal(_sign(keys=forger)) == ca.INVALID
    # The new key first on the signing side, both trusted on the other side of the link.
    rotating = {("gateway", "funding"): (OTHER, KEY)}
    verifier = CallerKeys.of("funding", rotating)
    ca.verify(verifier, _sign(), *CALL, NOW)
    ca.verify(verifier, _sign(keys=CallerKeys.of("gateway", rotating)), *CALL, NOW)


def test_a_service_can_vouch_only_over_its_own_links():
    # Risk holds the gateway → risk key: an officer "vouched for by the gateway" towards
    # funding with it is refused, as is risk naming itself as the signer.
    stolen = CallerKeys.of("gateway", {("gateway", "funding"): (TO_RISK,)})
    assert _refusal(_sign(keys=stolen)) == ca.INVALID
    as_risk = CallerKeys.of("risk", {("risk", "funding"): (TO_RISK,)})
    assert _refusal(_sign(keys=as_risk)) == ca.UNTRUSTED_SIGNER
    # A service holding no key to an audience cannot sign for it at all.
    with pytest.raises(ValueError, match=r"risk holds no key .* funding"):
        ca.sign(RISK_KEYS, *CALL, NOW)


def test_funding_vouches_to_risk_for_itself_only_on_the_methods_it_calls():
    for method in sorted(ca.SERVICE_METHODS["funding", "risk"]):
        own = (method, "req-1", "funding", "service", "")
        ca.verify(RISK_KEYS, ca.sign(FUNDING_KEYS, *own, NOW), *own, NOW)
    for call in [(RISK_METHOD, "req-1", "officer-a", "officer", ""),
                 (RISK_METHOD, "req-1", "dev-analyst-1", "analyst", ""),
                 (RISK_METHOD, "req-1", "gateway", "service", ""),
                 (RISK_METHOD, "req-1", "funding", "service", "0201256-6"),
                 ("/ijh.risk.v1.RiskService/CancelOperation", "req-1", "funding", "service",
                  ""),
                 ("/ijh.risk.v1.RiskService/ListOperations", "req-1", "funding", "service",
                  "")]:
        assert _refusal(ca.sign(FUNDING_KEYS, *call, NOW), call=call,
                        keys=RISK_KEYS) == ca.NOT_ITS_TO_VOUCH


def test_the_gateway_never_vouches_for_a_service():
    call = (RISK_METHOD, "req-1", "funding", "service", "")
    assert _refusal(ca.sign(GATEWAY_KEYS, *call, NOW), call=call,
                    keys=RISK_KEYS) == ca.NOT_ITS_TO_VOUCH
    # ... but for any caller its tokens name.
    call = (RISK_METHOD, "req-1", "dev-analyst-1", "analyst", "")
    ca.verify(RISK_KEYS, ca.sign(GATEWAY_KEYS, *call, NOW), *call, NOW)


def test_an_expired_forgery_is_invalid_not_expired():
    # "expired" is said only of a genuine assertion.
    forged = f"v2.gateway.{int(NOW) - 3600}.{'0' * 64}"
    assert _refusal(forged) == ca.INVALID


@pytest.mark.parametrize("assertion, reason", [
    ("", ca.MISSING),
    ("v2", ca.MALFORMED),
    ("v1.1800000010." + "0" * 64, ca.MALFORMED),
    ("v2.gateway.-5." + "0" * 64, ca.MALFORMED),
    ("v2.gateway.18e8." + "0" * 64, ca.MALFORMED),
    ("v2.gateway.1800000010.abc", ca.MALFORMED),
    ("v2.gateway.١٨٠٠٠٠٠٠١٠." + "0" * 64, ca.MALFORMED),
    ("v2.gateway.1800000010." + "é" * 64, ca.MALFORMED),
    ("v2.gate.way.1800000010." + "0" * 64, ca.MALFORMED),
    ("v2.somebody.1800000010." + "0" * 64, ca.UNTRUSTED_SIGNER),
    ("v2.gateway.1800000010." + "z" * 64, ca.INVALID),
])
def test_malformed_assertions_are_refused_with_a_reason(assertion, reason):
    assert _refusal(assertion) == reason


def test_the_audience_is_the_methods_package():
    assert ca.audience_of("/ijh.risk.v1.RiskService/ListOperations") == "risk"
    assert ca.audience_of("/ijh.risk.v2beta1.RiskService/ListOperations") == "risk"
    assert ca.audience_of("/t.validated.v1.Store/Put") == "validated"
    for method in ("/Service/Method", "/grpc.health.v1x.Health/Check",
                   "/ijh.risk.v1alpha.portfolio.X/M"):
        with pytest.raises(ValueError):
            ca.audience_of(method)


def test_keys_never_show_in_a_repr():
    shown = repr(GATEWAY_KEYS) + repr(RISK_KEYS)
    assert "kkkk" not in shown and "rrrr" not in shown and "ssss" not in shown
    assert shown.startswith("CallerKeys('gateway', to=['funding', 'risk']")


def test_key_file_text_is_parsed_one_key_a_line():
    keys = parse_keys("# internal key\n\n" + "a" * 64 + "\n  " + "b" * 32 + "  \n")
    assert keys == (b"a" * 64, b"b" * 32)


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
