"""The door's parts on their own: the policy table, rate buckets, protovalidate mapping,
caller metadata (in-process gateway in front of a recording backend), the dev PKI."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import os
import re
import time
import types
from pathlib import Path

import grpc
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from google.protobuf import (  # noqa: F401  (validate.proto's dependencies, loaded)
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,
    field_mask_pb2,
    timestamp_pb2,
)
from google.protobuf.message_factory import GetMessageClass
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from ijh.events.v1 import events_pb2
from ijh.funding.v1 import funding_pb2
from prometheus_client import CollectorRegistry, Counter, generate_latest
from protovalidate._gen.buf.validate import validate_pb

from services.gateway import dev_pki, identity, policy, validation
from services.gateway import door as door_module
from services.gateway.door import Door, RateLimiter
from services.gateway.identity import (
    Caller,
    Role,
    TokenVerifier,
    Unauthenticated,
    business_id_valid,
    key_id,
    load_signing_keys,
    with_article,
)
from services.gateway.proxy import ServiceProxy
from services.gateway.server import FUNDING_SERVICE, RISK_SERVICE
from services.shared import caller_assertion, metrics
from services.shared.caller_assertion import GATEWAY, CallerKeys

ROOT = Path(__file__).resolve().parents[2]
# The link from the gateway to the test package's service (t.validated.v1): the door signs
# with it, the recording backend would verify with it; a forger holds another key.
_LINK_KEY = (b"l" * 32,)
DOOR_KEYS = CallerKeys.of(GATEWAY, {(GATEWAY, "validated"): _LINK_KEY})
BACKEND_KEYS = CallerKeys.of("validated", {(GATEWAY, "validated"): _LINK_KEY})
FORGER_KEYS = CallerKeys.of(GATEWAY, {(GATEWAY, "validated"): (b"f" * 32,)})


# --- the policy table -------------------------------------------------------------

def test_docs_show_the_policy_table():
    assert policy.policy_table() in (ROOT / "docs/AUTHORIZATION.md").read_text(), \
        "regenerate: python -m services.gateway.policy"


def test_every_existing_method_is_in_the_table_and_its_owner_field_exists():
    for service in (RISK_SERVICE, FUNDING_SERVICE):
        for method in service.methods:
            assert f"/{service.full_name}/{method.name}" in policy.POLICY
    assert policy.unresolved_owner_fields([RISK_SERVICE, FUNDING_SERVICE]) == []


def _caller(role: Role, business_id: str = "") -> Caller:
    return Caller("s", role, business_id, "i", time.time() + 60)


def test_unknown_methods_are_denied_and_ownership_is_checked():
    grant = funding_pb2.ComputeGrantRequest(
        applicant=funding_pb2.Applicant(business_id="0201256-6"))
    officer = _caller(Role.OFFICER)
    assert policy.decide("/ijh.funding.v1.FundingService/DropTables", officer, grant).reason \
        == "METHOD_NOT_IN_POLICY"
    method = "/ijh.funding.v1.FundingService/ComputeGrant"
    assert policy.decide(method, _caller(Role.AGENCY, "0201256-6"), grant).allowed
    assert policy.decide(method, _caller(Role.AGENCY, "0112038-9"), grant).reason == "NOT_OWNER"
    assert policy.decide(method, officer, grant).allowed  # officers act for the fund


def test_business_id_check_digit():
    assert business_id_valid("0201256-6") and business_id_valid("0112038-9")
    assert not business_id_valid("0201256-5") and not business_id_valid("201256-6")


# --- rate buckets -----------------------------------------------------------------

# --- tokens that try the verifier's edges -------------------------------------------

_ISS, _AUD = dev_pki.DEV_ISSUER, dev_pki.DEV_AUDIENCE


@pytest.fixture(scope="module")
def two_key_verifier():
    """Trusts an EC P-256 key (listed first) and an RSA key, as a mixed key set would."""
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    verifier = TokenVerifier({key_id(ec_key.public_key()): ec_key.public_key(),
                              key_id(rsa_key.public_key()): rsa_key.public_key()},
                             [_ISS], _AUD)
    return verifier, ec_key, rsa_key


def _forged(header: dict, **claims) -> str:
    """A token with ``header`` and a junk signature: what anyone can send."""
    now = int(time.time())
    body = {"iss": _ISS, "aud": _AUD, "iat": now, "exp": now + 600, "sub": "x",
            "role": "officer", **claims}
    parts = (base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
             for d in (header, body))
    return ".".join(parts) + ".AAAA"


def test_an_rs256_token_without_kid_finds_its_key_past_an_ec_key(two_key_verifier):
    verifier, _, rsa_key = two_key_verifier
    now = int(time.time())
    token = jwt.encode({"iss": _ISS, "aud": _AUD, "iat": now, "exp": now + 600,
                        "sub": "o-1", "role": "officer"}, rsa_key, algorithm="RS256")
    assert verifier.verify(token).subject == "o-1"


@pytest.mark.parametrize("header, reason", [
    ({"alg": "RS256", "kid": "ec"}, "UNKNOWN_SIGNER"),   # the EC key's kid, RSA's algorithm
    ({"alg": "ES256", "kid": "rsa"}, "UNKNOWN_SIGNER"),  # and the other way round
    ({"alg": "ES256", "kid": 7}, "TOKEN_MALFORMED"),
    ({"alg": "ES256", "kid": ["x"]}, "TOKEN_MALFORMED"),
    ({"alg": "ES256", "kid": "ec", "crit": ["exp"]}, "TOKEN_MALFORMED"),
    ({"alg": "HS256"}, "TOKEN_MALFORMED"),
    ({"alg": "none"}, "TOKEN_MALFORMED"),
])
def test_odd_token_headers_are_refused_with_a_reason_not_an_error(two_key_verifier, header,
                                                                  reason):
    verifier, ec_key, rsa_key = two_key_verifier
    names = {"ec": key_id(ec_key.public_key()), "rsa": key_id(rsa_key.public_key())}
    if isinstance(header.get("kid"), str) and header["kid"] in names:
        header = {**header, "kid": names[header["kid"]]}
    with pytest.raises(Unauthenticated) as refused:
        verifier.verify(_forged(header))
    assert refused.value.reason == reason


def test_only_ec_p256_and_rsa_keys_are_trusted(tmp_path):
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    with pytest.raises(ValueError, match="P-256"):
        TokenVerifier({"k": p384}, [_ISS], _AUD)
    # In an identity provider's JWKS, such a key is skipped, not fatal.
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key()
    jwks = {"keys": [{**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key)), "kid": kid}
                     for key, kid in ((p384, "other"), (p256, "ours"))]}
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks))
    assert list(load_signing_keys([], str(path))) == ["ours"]


@pytest.mark.parametrize("subject", ["", " padded ", "päivi.mäkinen@hel.fi", "a\nb",
                                     "x" * 201])
def test_a_subject_that_metadata_cannot_carry_is_refused(subject):
    key = ec.generate_private_key(ec.SECP256R1())
    verifier = TokenVerifier({key_id(key.public_key()): key.public_key()}, [_ISS], _AUD)
    token = dev_pki.issue_token(key, {"sub": subject, "role": "officer"}, 600)
    with pytest.raises(Unauthenticated) as refused:
        verifier.verify(token)
    assert refused.value.reason == "CLAIMS_INVALID"
    good = dev_pki.issue_token(key, {"sub": "päivi.makinen@hel.fi".replace("ä", "a"),
                                     "role": "officer"}, 600)
    assert verifier.verify(good).subject == "paivi.makinen@hel.fi"


@pytest.mark.parametrize("word, expected", [
    ("agency", "an agency"), ("officer", "an officer"), ("analyst", "an analyst"),
    ("admin", "an admin"), ("company", "a company")])
def test_role_names_take_the_right_article(word, expected):
    assert with_article(word) == expected


@pytest.mark.parametrize("role", list(Role))
def test_a_token_without_its_business_id_is_refused_in_good_english(role, monkeypatch):
    # Only agencies need a business ID today; any role that comes to need one reads right.
    monkeypatch.setattr(identity, "ROLES_WITH_BUSINESS_ID", frozenset(Role))
    key = ec.generate_private_key(ec.SECP256R1())
    verifier = TokenVerifier({key_id(key.public_key()): key.public_key()}, [_ISS], _AUD)
    with pytest.raises(Unauthenticated) as refused:
        verifier.verify(dev_pki.issue_token(key, {"sub": "s", "role": role.value}, 600))
    assert refused.value.reason == "CLAIMS_INVALID"
    assert str(refused.value).startswith(f"{with_article(role.value)} token must carry")
    assert not str(refused.value).startswith(("a agency", "a officer", "a analyst", "a admin"))


def test_only_an_agency_token_s_business_id_is_kept():
    # Another role's business_id is not checked, so it is neither forwarded nor signed (a
    # padded one would have been signed raw and verified stripped by the backends).
    key = ec.generate_private_key(ec.SECP256R1())
    verifier = TokenVerifier({key_id(key.public_key()): key.public_key()}, [_ISS], _AUD)
    officer = dev_pki.issue_token(key, {"sub": "o", "role": "officer",
                                        "business_id": " 0201256-6 "}, 600)
    assert verifier.verify(officer).business_id == ""
    agency = dev_pki.issue_token(key, {"sub": "a", "role": "agency",
                                       "business_id": "0201256-6"}, 600)
    assert verifier.verify(agency).business_id == "0201256-6"


def test_token_bucket_allows_the_burst_then_the_rate_per_caller():
    now = [0.0]
    limiter = RateLimiter(rate_per_second=2.0, burst=3, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)
    assert limiter.take("b") == 0.0  # another caller has its own bucket
    now[0] = 0.5
    assert limiter.take("a") == 0.0


# --- protovalidate ----------------------------------------------------------------

def _validated_service():
    """A test-local proto with buf.validate rules, in the default pool (where protovalidate
    looks): t.validated.v1.Item.code min_len 2, Req.amount_cents >= 0."""
    pool = descriptor_pool.Default()
    try:
        return pool.FindServiceByName("t.validated.v1.Store")
    except KeyError:
        pass
    try:
        pool.FindFileByName(validation.VALIDATE_PROTO)
    except KeyError:
        pool.AddSerializedFile(validate_pb._DESC.proto.to_binary())
    rule = pool.FindExtensionByName("buf.validate.field")
    file = descriptor_pb2.FileDescriptorProto(
        name="t/validated.proto", package="t.validated.v1", syntax="proto3",
        dependency=[validation.VALIDATE_PROTO])
    item = file.message_type.add(name="Item")
    code = item.field.add(name="code", number=1, type=9, label=1, json_name="code")
    code.options.Extensions[rule].string.min_len = 2
    req = file.message_type.add(name="Req")
    req.field.add(name="items", number=1, type=11, label=3, type_name=".t.validated.v1.Item",
                  json_name="items")
    amount = req.field.add(name="amount_cents", number=2, type=3, label=1,
                           json_name="amountCents")
    amount.options.Extensions[rule].int64.gte = 0
    service = file.service.add(name="Store")
    service.method.add(name="Put", input_type=".t.validated.v1.Req",
                       output_type=".t.validated.v1.Req")
    service.method.add(name="PutMany", input_type=".t.validated.v1.Req",
                       output_type=".t.validated.v1.Req", client_streaming=True,
                       server_streaming=True)
    pool.AddSerializedFile(file.SerializeToString())
    return pool.FindServiceByName("t.validated.v1.Store")


def _bad_request_message():
    req_class = GetMessageClass(_validated_service().methods_by_name["Put"].input_type)
    request = req_class(amount_cents=-1)
    request.items.add(code="ok")
    request.items.add(code="x")
    return request


def test_violations_map_to_bad_request_field_paths():
    bad = validation.bad_request(validation.violations_of(_bad_request_message()))
    fields = {v.field: v for v in bad.field_violations}
    assert set(fields) == {"items[1].code", "amount_cents"}
    assert fields["items[1].code"].reason == "string.min_len"
    assert "2" in fields["items[1].code"].description


def _items_request(bad_items: int):
    req_class = GetMessageClass(_validated_service().methods_by_name["Put"].input_type)
    request = req_class()
    for _ in range(bad_items):
        request.items.add(code="x")
    return request


def test_the_refusal_message_names_the_first_few_fields_then_how_many_more():
    one = validation.violations_of(_items_request(1))
    assert validation.summary(one).startswith("1 field breaks the API's rules: items[0].code (")
    two = validation.violations_of(_bad_request_message())
    text = validation.summary(two)
    assert text.startswith("2 fields break the API's rules: ")
    assert "items[1].code (" in text and "amount_cents (" in text
    assert "more" not in text
    many = validation.violations_of(_items_request(12))
    text = validation.summary(many)
    assert text.startswith("12 fields break the API's rules: items[0].code (")
    assert "items[2].code (" in text and "items[3].code" not in text
    assert text.endswith(", and 9 more")
    assert len(text) < 600
    assert validation.logged_fields(many) == [f"items[{i}].code" for i in range(10)]
    # Every violation is still in the BadRequest.
    assert len(validation.bad_request(many).field_violations) == 12


def test_unannotated_requests_are_not_walked():
    # ijh.events.v1 does not import buf/validate; the public request protos now do.
    assert not validation.has_constraints(events_pb2.GrantComputed.DESCRIPTOR)
    assert validation.violations_of(events_pb2.GrantComputed()) == []
    assert validation.has_constraints(funding_pb2.ComputeGrantRequest.DESCRIPTOR)


# --- the door in process: caller metadata and validation --------------------------

class _RecordingBackend(grpc.GenericRpcHandler):
    """Echoes each request; one whose bytes are ``outage`` is answered as a backend whose
    own dependency is down (UNAVAILABLE with server pushback, as grpc_errors sends it)."""

    def __init__(self):
        self.calls: list[dict[str, str]] = []
        self.outage = b""

    def service(self, details):
        async def echo(request: bytes, context):
            self.calls.append(dict(context.invocation_metadata()))
            if request == self.outage:
                context.set_trailing_metadata((("grpc-retry-pushback-ms", "-1"),))
                await context.abort(grpc.StatusCode.UNAVAILABLE, "a dependency is down")
            return request

        async def echo_each(requests, context):
            self.calls.append(dict(context.invocation_metadata()))
            async for request in requests:
                yield request

        if details.method.endswith("/PutMany"):
            return grpc.stream_stream_rpc_method_handler(echo_each)
        return grpc.unary_unary_rpc_method_handler(echo)


@pytest.fixture
def door_pki(tmp_path):
    return dev_pki.ensure_dev_pki(tmp_path)


@pytest.fixture
def door_verifier(door_pki):
    """The harness's verifier: its keys those of the PKI's IJH_JWT_PUBLIC_KEYS file."""
    return TokenVerifier.from_settings(_settings(door_pki))


@pytest.fixture
async def door_harness(door_pki, door_verifier, monkeypatch):
    pki = door_pki
    service = _validated_service()
    monkeypatch.setitem(policy.POLICY, "/t.validated.v1.Store/Put",
                        policy.Rule(frozenset({Role.OFFICER})))
    backend = _RecordingBackend()
    backend_server = grpc.aio.server()
    backend_server.add_generic_rpc_handlers([backend])
    backend_port = backend_server.add_insecure_port("127.0.0.1:0")
    await backend_server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{backend_port}")
    door = Door(door_verifier, RateLimiter(100, 100), 1024,
                Counter("t_refusals", "t", ["reason"], registry=CollectorRegistry()),
                DOOR_KEYS)
    gateway = grpc.aio.server(interceptors=[metrics.CallObserver()])
    gateway.add_generic_rpc_handlers([ServiceProxy(service, channel, 5.0, hooks=[door],
                                                   max_request_bytes=1024)])
    port = gateway.add_insecure_port("127.0.0.1:0")
    await gateway.start()
    client = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield client, backend, pki, service
    await client.close()
    await gateway.stop(0)
    await channel.close()
    await backend_server.stop(0)


def _settings(pki):
    from services.shared.config import load_settings
    return load_settings(pki.gateway_env())


async def test_caller_identity_is_forwarded_and_cannot_be_forged(door_harness):
    client, backend, pki, service = door_harness
    req_class = GetMessageClass(service.methods_by_name["Put"].input_type)
    put = client.unary_unary("/t.validated.v1.Store/Put",
                             request_serializer=req_class.SerializeToString,
                             response_deserializer=req_class.FromString)
    forged = caller_assertion.sign(FORGER_KEYS, "/t.validated.v1.Store/Put", "r", "someone-else",
                                   "admin", "", time.time())
    await put(req_class(amount_cents=5), timeout=5, metadata=[
        ("authorization", f"Bearer {pki.token('officer')}"),
        ("x-ijh-caller-role", "admin"), ("x-ijh-caller-subject", "someone-else"),
        ("x-ijh-caller-assertion", forged)])
    seen = backend.calls[-1]
    assert seen["x-ijh-caller-role"] == "officer"
    assert seen["x-ijh-caller-subject"] == "dev-officer-1"
    assert "x-ijh-caller-business-id" not in seen
    assert seen["x-request-id"]
    # The gateway's own assertion, for this method, request id and identity, under the key.
    assert seen["x-ijh-caller-assertion"] != forged
    caller_assertion.verify(BACKEND_KEYS,
                            seen["x-ijh-caller-assertion"], "/t.validated.v1.Store/Put",
                            seen["x-request-id"], "dev-officer-1", "officer", "", time.time())


async def test_a_stream_is_signed_when_its_backend_call_opens(door_harness, monkeypatch):
    # The backend call of a stream opens with its first message, which may come long after
    # the stream opened (a slow uplink, a client still building its data): the assertion
    # must still be valid then, not 10 s after the opening.
    client, backend, pki, service = door_harness
    monkeypatch.setitem(policy.POLICY, "/t.validated.v1.Store/PutMany",
                        policy.Rule(frozenset({Role.OFFICER})))
    clock = [time.time()]
    monkeypatch.setattr(door_module, "time", types.SimpleNamespace(time=lambda: clock[0]))
    req_class = GetMessageClass(service.methods_by_name["Put"].input_type)
    put_many = client.stream_stream("/t.validated.v1.Store/PutMany",
                                    request_serializer=req_class.SerializeToString,
                                    response_deserializer=req_class.FromString)
    opened, first_sent = asyncio.Event(), []

    async def requests():
        await opened.wait()
        clock[0] += 60.0  # a minute between the opening and the first message
        first_sent.append(clock[0])
        yield req_class(amount_cents=5)

    stream = put_many(requests(), timeout=10, metadata=[
        ("authorization", f"Bearer {pki.token('officer')}")])
    await asyncio.sleep(0.3)  # the gateway has checked the caller and signed once
    opened.set()
    replies = [reply async for reply in stream]
    assert [r.amount_cents for r in replies] == [5]
    seen = backend.calls[-1]
    caller_assertion.verify(BACKEND_KEYS,
                            seen["x-ijh-caller-assertion"], "/t.validated.v1.Store/PutMany",
                            seen["x-request-id"], "dev-officer-1", "officer", "",
                            first_sent[0])


def _put_many(client, service, monkeypatch):
    monkeypatch.setitem(policy.POLICY, "/t.validated.v1.Store/PutMany",
                        policy.Rule(frozenset({Role.OFFICER})))
    req_class = GetMessageClass(service.methods_by_name["Put"].input_type)
    return req_class, client.stream_stream("/t.validated.v1.Store/PutMany",
                                           request_serializer=req_class.SerializeToString,
                                           response_deserializer=req_class.FromString)


async def _refused_mid_stream(client, service, monkeypatch, token: str, meanwhile) -> str:
    """The reason a stream opened with ``token`` is refused at its second message, sent
    after its first was answered and ``meanwhile()`` has run."""
    req_class, put_many = _put_many(client, service, monkeypatch)
    answered = asyncio.Event()

    async def requests():
        yield req_class(amount_cents=1)
        await answered.wait()
        meanwhile()
        yield req_class(amount_cents=2)

    stream = put_many(requests(), timeout=10, metadata=[("authorization", f"Bearer {token}")])
    replies = []
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async for reply in stream:
            replies.append(reply.amount_cents)
            answered.set()
    assert replies == [1]
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    info = error_details_pb2.ErrorInfo()
    [detail, *_] = rpc_status.from_call(refused.value).details
    assert detail.Unpack(info)
    return info.reason


async def test_a_stream_is_refused_at_its_next_message_once_its_key_is_dropped(
        door_harness, door_verifier, monkeypatch):
    # A stream lives up to an hour: one opened before its token's key was dropped (leaked)
    # must not go on being forwarded, signed for its caller, after.
    client, _backend, pki, service = door_harness
    public_keys = pki.signing_public_key

    def drop_the_key():
        other = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        replacement = public_keys.with_name("replacement.pem")
        replacement.write_bytes(other)
        os.replace(replacement, public_keys)
        assert door_verifier.source.poll()

    assert await _refused_mid_stream(client, service, monkeypatch, pki.token("officer"),
                                     drop_the_key) == "UNKNOWN_SIGNER"


async def test_a_stream_is_refused_at_its_next_message_once_its_token_expired(
        door_harness, monkeypatch):
    client, _backend, pki, service = door_harness
    token = pki.token("officer")
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]

    def expire():  # the token's expiry and the leeway past, on the verifier's clock
        monkeypatch.setattr(identity, "time", types.SimpleNamespace(time=lambda: expires + 31))

    assert await _refused_mid_stream(client, service, monkeypatch, token,
                                     expire) == "TOKEN_EXPIRED"


async def test_a_backends_request_not_to_retry_reaches_the_caller(door_harness):
    # An outage behind a backend comes with RetryInfo and gRPC server pushback: the caller's
    # own retry policy must not repeat it at once either.
    client, backend, pki, service = door_harness
    req_class = GetMessageClass(service.methods_by_name["Put"].input_type)
    backend.outage = req_class(amount_cents=13).SerializeToString()
    put = client.unary_unary("/t.validated.v1.Store/Put",
                             request_serializer=req_class.SerializeToString,
                             response_deserializer=req_class.FromString)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await put(req_class(amount_cents=13), timeout=5,
                  metadata=[("authorization", f"Bearer {pki.token('officer')}")])
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
    assert ("grpc-retry-pushback-ms", "-1") in tuple(failure.value.trailing_metadata())


async def test_invalid_request_is_refused_with_bad_request_before_the_backend(door_harness):
    client, backend, pki, _ = door_harness
    request = _bad_request_message()
    put = client.unary_unary("/t.validated.v1.Store/Put",
                             request_serializer=type(request).SerializeToString,
                             response_deserializer=type(request).FromString)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await put(request, timeout=5,
                  metadata=[("authorization", f"Bearer {pki.token('officer')}")])
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(failure.value)
    bad = error_details_pb2.BadRequest()
    assert any(d.Unpack(bad) for d in status.details)
    assert {v.field for v in bad.field_violations} == {"items[1].code", "amount_cents"}
    assert backend.calls == []


async def test_the_refusal_names_the_fields_in_its_message_and_log_line(door_harness,
                                                                          caplog):
    client, _, pki, _ = door_harness
    request = _bad_request_message()
    put = client.unary_unary("/t.validated.v1.Store/Put",
                             request_serializer=type(request).SerializeToString,
                             response_deserializer=type(request).FromString)
    with caplog.at_level(logging.WARNING, logger="services.gateway.door"), \
            pytest.raises(grpc.aio.AioRpcError) as failure:
        await put(request, timeout=5,
                  metadata=[("authorization", f"Bearer {pki.token('officer')}")])
    message = failure.value.details()
    assert message.startswith("2 fields break the API's rules: "), message
    assert "items[1].code (" in message and "amount_cents (" in message
    assert rpc_status.from_call(failure.value).message == message
    refused = next(r for r in caplog.records if r.getMessage() == "refused")
    assert sorted(refused.fields) == ["amount_cents", "items[1].code"]
    assert refused.field_count == 2
    assert "items[1].code" in refused.detail


@pytest.mark.parametrize("sent, kept", [
    ("x" * 5000, False), ("x" * 129, False), ("a b", False), ("id;drop", False),
    ("x" * 128, True), ("0f8c2a1e-5b7d-4c3e-9a6b-2d1f0e9c8b7a", True), ("job-7:row_3.a", True),
])
async def test_the_backend_gets_the_callers_request_id_only_when_fit(door_harness, sent, kept):
    client, backend, pki, service = door_harness
    req_class = GetMessageClass(service.methods_by_name["Put"].input_type)
    put = client.unary_unary("/t.validated.v1.Store/Put",
                             request_serializer=req_class.SerializeToString,
                             response_deserializer=req_class.FromString)
    call = put(req_class(amount_cents=5), timeout=5, metadata=[
        ("authorization", f"Bearer {pki.token('officer')}"), ("x-request-id", sent)])
    await call
    returned = dict(await call.initial_metadata())["x-request-id"]
    forwarded = backend.calls[-1]["x-request-id"]
    assert returned == forwarded
    if kept:
        assert forwarded == sent
    else:
        assert re.fullmatch(r"[0-9a-f]{32}", forwarded)


# --- the development PKI ----------------------------------------------------------

def test_dev_pki_is_kept_when_valid_and_renewed_when_not(tmp_path):
    pki = dev_pki.ensure_dev_pki(tmp_path)
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    stamps = {p: p.read_bytes() for p in files}
    dev_pki.ensure_dev_pki(tmp_path)
    assert {p: p.read_bytes() for p in files} == stamps  # idempotent
    server = x509.load_pem_x509_certificate(pki.server_cert.read_bytes())
    server.verify_directly_issued_by(x509.load_pem_x509_certificate(pki.ca.read_bytes()))
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    claims = jwt.decode(pki.token("agency"), options={"verify_signature": False})
    assert claims["business_id"] == "0201256-6" and claims["dev_only"] is True
    # An expired token is re-issued; the rest is kept.
    key = serialization.load_pem_private_key(pki.signing_key.read_bytes(), None)
    pki.token_path("officer").write_text(dev_pki.issue_token(
        key, dev_pki.DEMO_CALLERS["officer"], 60, now=time.time() - 3600))
    dev_pki.ensure_dev_pki(tmp_path)
    assert jwt.decode(pki.token("officer"), options={"verify_signature": False})["exp"] \
        > time.time() + 300 * 86400
    assert pki.ca.read_bytes() == stamps[pki.ca]



def test_dev_pki_private_files_are_0600_from_their_creation_whatever_the_umask(tmp_path,
                                                                              monkeypatch):
    # Each file under tmp_path, with its mode when first opened: any file created, then.
    first_modes: dict[Path, int] = {}

    def watching(opener):
        def opening(file, *args, **kwargs):
            opened = opener(file, *args, **kwargs)
            if isinstance(file, str | os.PathLike) and Path(file).is_relative_to(tmp_path):
                first_modes.setdefault(Path(file), os.stat(file).st_mode & 0o777)
            return opened
        return opening

    monkeypatch.setattr(os, "open", watching(os.open))  # tempfile's too
    monkeypatch.setattr(io, "open", watching(io.open))  # pathlib's
    umask = os.umask(0)  # a file made with the default mode would be world-readable
    try:
        pki = dev_pki.ensure_dev_pki(tmp_path)
    finally:
        os.umask(umask)
    public = {pki.ca, pki.server_cert, pki.client_cert, pki.signing_public_key, pki.internal_ca,
              *map(pki.internal_cert, dev_pki.INTERNAL_SERVICES),
              pki.root / "DEV-ONLY.txt", pki.tokens / "DEV-ONLY.txt"}
    files = {path for path in tmp_path.rglob("*") if path.is_file()}
    private = files - public
    assert {pki.internal_ca.with_name("ca-key.pem"), pki.signing_key,
            pki.token_path("officer")} < private
    assert set(first_modes) - files  # each written beside, then renamed
    assert {mode for path, mode in first_modes.items() if path not in public} == {0o600}
    assert {path: path.stat().st_mode & 0o777 for path in files} == \
        {path: 0o600 if path in private else 0o644 for path in files}
    # ... in directories only their owner may write to (else files could be swapped)
    directories = {path for path in tmp_path.rglob("*") if path.is_dir()}
    assert {path.stat().st_mode & 0o777 for path in directories} == {0o700}


# --- metrics helpers --------------------------------------------------------------

def test_publisher_failures_are_read_at_scrape_time():
    class Publisher:
        failures = 0
        is_connected = True

    registry = CollectorRegistry()
    publisher = Publisher()
    metrics.register_event_publisher(publisher, registry)
    publisher.failures, publisher.is_connected = 3, False
    scraped = generate_latest(registry).decode()
    assert "ijh_event_publish_failures_total 3.0" in scraped
    assert "ijh_nats_connected 0.0" in scraped


def test_metrics_address_zero_disables():
    assert metrics.parse_address("0") is None
    assert metrics.parse_address("127.0.0.1:0") is None
    assert metrics.parse_address("127.0.0.1:9464") == ("127.0.0.1", 9464)
