"""The gateway's door through real processes: TLS, real tokens, roles, ownership, size
and rate limits, request ids in every log, metrics. Tokens come from the stack's
development PKI (services/gateway/dev_pki.py) or are signed here for the bad cases."""

from __future__ import annotations

import re
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from ijh.funding.v1 import funding_pb2, funding_pb2_grpc
from ijh.risk.v1 import risk_pb2, risk_pb2_grpc

from services.gateway import policy
from services.gateway.dev_pki import DEMO_CALLERS, issue_token
from tests.stack import caller_key_env, start_stack, wait_for_text

ROOT = Path(__file__).resolve().parents[2]
FUNDING = "/ijh.funding.v1.FundingService/"
RISK = "/ijh.risk.v1.RiskService/"


def _grant(business_id: str = "0201256-6") -> funding_pb2.ComputeGrantRequest:
    request = json_format.Parse((ROOT / "examples/grant.json").read_text(),
                                funding_pb2.ComputeGrantRequest())
    request.applicant.business_id = business_id
    return request


def _estimate() -> risk_pb2.EstimateProcurementRiskRequest:
    request = json_format.Parse((ROOT / "examples/procurement_risk.json").read_text(),
                                risk_pb2.EstimateProcurementRiskRequest())
    request.simulation.scenario_count = 2_000
    return request


def _guarantee() -> risk_pb2.EvaluateProcurementGuaranteeRequest:
    estimate = _estimate()
    return risk_pb2.EvaluateProcurementGuaranteeRequest(
        model=estimate.model, simulation=estimate.simulation,
        terms=risk_pb2.GuaranteeTerms(covered_loss=risk_pb2.COVERED_LOSS_COST_OVERRUN,
                                      guarantee_rate=0.5, cap_cents=50_000_000))


# Every public method that exists now: (stub class, method name, request factory).
EXISTING = {
    FUNDING + "ComputeGrant": (funding_pb2_grpc.FundingServiceStub, _grant),
    RISK + "EstimateProcurementRisk": (risk_pb2_grpc.RiskServiceStub, _estimate),
    RISK + "EvaluateProcurementGuarantee": (risk_pb2_grpc.RiskServiceStub, _guarantee),
}


def _call(channel, method: str, token: str | None, request=None, request_id: str = ""):
    stub_class, make = EXISTING[method]
    metadata = []
    if token is not None:
        metadata.append(("authorization", f"Bearer {token}"))
    if request_id:
        metadata.append(("x-request-id", request_id))
    rpc = getattr(stub_class(channel), method.rsplit("/", 1)[-1])
    return rpc.with_call(request if request is not None else make(), metadata=metadata,
                         timeout=30)


def _refusal(error: grpc.RpcError) -> tuple[grpc.StatusCode, dict]:
    """The status code and the details, by type name."""
    status = rpc_status.from_call(error)
    details = {}
    for any_detail in status.details if status else ():
        for kind in (error_details_pb2.ErrorInfo, error_details_pb2.RetryInfo,
                     error_details_pb2.QuotaFailure, error_details_pb2.BadRequest):
            message = kind()
            if any_detail.Unpack(message):
                details[kind.__name__] = message
    return error.code(), details


@pytest.fixture(scope="module")
def channel(stack):
    with grpc.secure_channel(stack.gateway.address, stack.gateway_credentials()) as channel:
        yield channel


def _signing_key(stack):
    return serialization.load_pem_private_key(stack.pki.signing_key.read_bytes(), None)


def _bad_tokens(stack) -> dict[str, str]:
    officer = {"sub": "t-officer", "role": "officer"}
    key = _signing_key(stack)
    return {
        "TOKEN_MALFORMED": "not-a-jwt",
        "TOKEN_EXPIRED": issue_token(key, officer, 3600, now=time.time() - 7200),
        "UNKNOWN_SIGNER": issue_token(ec.generate_private_key(ec.SECP256R1()), officer, 600),
        "WRONG_ISSUER": issue_token(key, officer, 600, issuer="someone-else"),
        "WRONG_AUDIENCE": issue_token(key, officer, 600, audience="another-service"),
        "CLAIMS_INVALID": issue_token(key, {"sub": "t-agency", "role": "agency"}, 600),
    }


def test_no_token_is_unauthenticated(stack, channel):
    with pytest.raises(grpc.RpcError) as failure:
        _call(channel, FUNDING + "ComputeGrant", None)
    code, details = _refusal(failure.value)
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert details["ErrorInfo"].reason == "TOKEN_MISSING"
    assert details["ErrorInfo"].domain == "ijh"


@pytest.mark.parametrize("reason", ["TOKEN_MALFORMED", "TOKEN_EXPIRED", "UNKNOWN_SIGNER",
                                    "WRONG_ISSUER", "WRONG_AUDIENCE", "CLAIMS_INVALID"])
def test_bad_tokens_are_unauthenticated_with_the_reason(stack, channel, reason):
    with pytest.raises(grpc.RpcError) as failure:
        _call(channel, FUNDING + "ComputeGrant", _bad_tokens(stack)[reason])
    code, details = _refusal(failure.value)
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert details["ErrorInfo"].reason == reason


def test_plaintext_is_not_served(stack):
    with grpc.insecure_channel(stack.gateway.address) as plain, \
            pytest.raises(grpc.RpcError) as failure:
        health_pb2_grpc.HealthStub(plain).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE


def _roles_by_token() -> dict[str, str]:
    return {name: claims["role"] for name, claims in DEMO_CALLERS.items()
            if name in ("agency", "officer", "analyst", "admin")}


@pytest.mark.parametrize("method", sorted(EXISTING))
@pytest.mark.parametrize("token_name", ["agency", "officer", "analyst", "admin"])
def test_each_role_gets_exactly_what_the_table_allows(stack, channel, method, token_name):
    allowed = _roles_by_token()[token_name] in policy.POLICY[method].roles
    if allowed:
        reply, _ = _call(channel, method, stack.token(token_name))
        assert reply.ByteSize() > 0
        return
    with pytest.raises(grpc.RpcError) as failure:
        _call(channel, method, stack.token(token_name))
    code, details = _refusal(failure.value)
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert details["ErrorInfo"].reason == "ROLE_NOT_ALLOWED"


def test_agency_may_not_act_for_another_agency(stack, channel):
    # agency2 is 0112038-9; the grant is for 0201256-6.
    with pytest.raises(grpc.RpcError) as failure:
        _call(channel, FUNDING + "ComputeGrant", stack.token("agency2"), _grant("0201256-6"))
    code, details = _refusal(failure.value)
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert details["ErrorInfo"].reason == "NOT_OWNER"
    reply, _ = _call(channel, FUNDING + "ComputeGrant", stack.token("agency2"),
                     _grant("0112038-9"))
    assert reply.grant_cents > 0


def _in_front_of(stack) -> dict[str, str]:
    """Settings of a gateway of a test's own in front of the session's backends: their
    addresses and the stack's link keys (else they refuse what it signs)."""
    return {"IJH_RISK_ADDRESS": stack.risk.address,
            "IJH_FUNDING_ADDRESS": stack.funding.address, **caller_key_env(stack.var_dir)}


def test_rs256_tokens_from_a_jwks_file_are_accepted(nats_server, stack, tmp_path):
    import json

    import jwt

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    from services.gateway.identity import key_id
    jwk["kid"] = key_id(key.public_key())
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    gateway = start_stack(nats_server, tmp_path / "var", {
        **_in_front_of(stack),
        "IJH_JWT_JWKS_FILE": str(tmp_path / "jwks.json")}, start_gateway_only=True)
    try:
        token = issue_token(key, {"sub": "rs-officer", "role": "officer"}, 600,
                            algorithm="RS256")
        with gateway.gateway_channel(token_name=None) as channel:
            reply, _ = _call(channel, FUNDING + "ComputeGrant", token)
        assert reply.grant_cents > 0
    finally:
        gateway.stop()


def test_oversized_request_is_refused_before_the_backend(stack, channel):
    request = _grant()
    request.cost_lines[0].description = "x" * (4 * 1024 * 1024 + 1)  # over the 4 MiB default
    request_id = f"oversized-{uuid.uuid4().hex}"
    with pytest.raises(grpc.RpcError) as failure:
        _call(channel, FUNDING + "ComputeGrant", stack.token("officer"), request, request_id)
    code, details = _refusal(failure.value)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details["ErrorInfo"].reason == "REQUEST_TOO_LARGE"
    # A normal call's id reaches the funding log: the oversized one's never does.
    control = f"control-{uuid.uuid4().hex}"
    _call(channel, FUNDING + "ComputeGrant", stack.token("officer"), request_id=control)
    funding_log = wait_for_text(stack.funding.log_path, control)
    assert request_id not in funding_log
    assert request_id in wait_for_text(stack.gateway.log_path, request_id)


UNDECODABLE = b"\xff\xff\xff\xff"  # a field number of 0 past a varint: no message parses


def _raw(channel, method: str, body: bytes, token: str | None, request_id: str):
    metadata = [("x-request-id", request_id)]
    if token is not None:
        metadata.append(("authorization", f"Bearer {token}"))
    call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.RpcError) as failure:
        call.with_call(body, metadata=metadata, timeout=30)
    return failure.value


def test_bytes_that_are_no_request_are_refused_after_the_token_is_checked(stack, channel):
    method = FUNDING + "ComputeGrant"
    before = _scrape(stack.metrics_address)
    # No token: the door's first check answers, as for any call.
    anonymous = f"undecodable-{uuid.uuid4().hex}"
    error = _raw(channel, method, UNDECODABLE, None, anonymous)
    code, details = _refusal(error)
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert details["ErrorInfo"].reason == "TOKEN_MISSING"
    # With a token: INVALID_ARGUMENT in the gateway's words, the request id returned.
    request_id = f"undecodable-{uuid.uuid4().hex}"
    error = _raw(channel, method, UNDECODABLE, stack.token("officer"), request_id)
    code, details = _refusal(error)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert details["ErrorInfo"].reason == "REQUEST_UNDECODABLE"
    assert "ijh.funding.v1.ComputeGrantRequest" in error.details()
    assert "Error" not in error.details() and "class" not in error.details()
    assert dict(error.initial_metadata())["x-request-id"] == request_id
    # Counted and logged as a refusal; no traceback, nothing at ERROR.
    text = wait_for_text(stack.gateway.log_path, anonymous)
    lines = [line for line in wait_for_text(stack.gateway.log_path, request_id).splitlines()
             if request_id in line or anonymous in line]
    assert any('"refused"' in line and '"reason": "REQUEST_UNDECODABLE"' in line
               and '"level": "WARNING"' in line for line in lines), lines
    assert "Traceback" not in text and "DecodeError" not in text
    assert not [line for line in lines if '"level": "ERROR"' in line]
    deadline = time.monotonic() + 5
    while True:  # recorded on the gateway loop's turn after the reply
        after = _scrape(stack.metrics_address)
        if (_sample(after, "ijh_gateway_requests_total", method=method,
                    code="INVALID_ARGUMENT")
                > _sample(before, "ijh_gateway_requests_total", method=method,
                          code="INVALID_ARGUMENT") or time.monotonic() > deadline):
            break
        time.sleep(0.02)
    assert (_sample(after, "ijh_gateway_refusals_total", reason="REQUEST_UNDECODABLE")
            == _sample(before, "ijh_gateway_refusals_total", reason="REQUEST_UNDECODABLE") + 1)
    assert (_sample(after, "ijh_gateway_requests_total", method=method, code="INVALID_ARGUMENT")
            == _sample(before, "ijh_gateway_requests_total", method=method,
                       code="INVALID_ARGUMENT") + 1)


def test_a_later_stream_message_that_is_no_request_is_refused(stack):
    stream = RISK + "SimulatePortfolio"
    with stack.gateway_channel("analyst") as channel:
        call = channel.stream_stream(stream, request_serializer=None,
                                     response_deserializer=None)
        with pytest.raises(grpc.RpcError) as failure:
            list(call(iter([_portfolio_message().SerializeToString(), UNDECODABLE]),
                      timeout=30))
    code, details = _refusal(failure.value)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, failure.value.details()
    assert details["ErrorInfo"].reason == "REQUEST_UNDECODABLE"
    assert "ijh.risk.v1.SimulatePortfolioRequest" in failure.value.details()


def _portfolio_message(**fund) -> risk_pb2.SimulatePortfolioRequest:
    return risk_pb2.SimulatePortfolioRequest(
        fund=risk_pb2.FundTerms(capital_cents=10**12, horizon_years=1, **fund),
        simulation=risk_pb2.PortfolioSimulationOptions(scenario_count=1024, seed=1),
        guarantees=[risk_pb2.Guarantee(
            id="g1", exposure_cents=1_000_000, probability_of_default=0.01,
            loss_given_default=0.5, sector="s", branch="VM",
            counterparty_kind=risk_pb2.COUNTERPARTY_KIND_COMPANY, factor_loadings=[0.3])])


@pytest.mark.parametrize("later, code, reason", [
    # A later message breaking the API's rules, or above the size limit, is refused as
    # the first would be: with the reason, counted and logged.
    (lambda: risk_pb2.SimulatePortfolioRequest(fund=risk_pb2.FundTerms(capital_cents=-5)),
     grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST"),
    (lambda: risk_pb2.SimulatePortfolioRequest(
        guarantees=[risk_pb2.Guarantee(id="x" * (4 * 1024 * 1024 + 1))]),
     grpc.StatusCode.RESOURCE_EXHAUSTED, "REQUEST_TOO_LARGE"),
])
def test_every_message_of_a_stream_passes_the_door(stack, later, code, reason):
    before = _sample(_scrape(stack.metrics_address), "ijh_gateway_refusals_total",
                     reason=reason)
    with stack.gateway_channel("analyst") as channel:
        stub = risk_pb2_grpc.RiskServiceStub(channel)
        with pytest.raises(grpc.RpcError) as failure:
            list(stub.SimulatePortfolio(iter([_portfolio_message(), later()]), timeout=30))
    refused, details = _refusal(failure.value)
    assert refused == code
    assert details["ErrorInfo"].reason == reason
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        assert [v.field for v in details["BadRequest"].field_violations] == \
            ["fund.capital_cents"]
    after = _sample(_scrape(stack.metrics_address), "ijh_gateway_refusals_total",
                    reason=reason)
    assert after == before + 1


def test_a_stream_without_a_token_is_refused_before_it_sends_anything(stack):
    sent = threading.Event()

    def nothing_yet():
        sent.wait(20)  # the caller has not sent its first message
        yield _portfolio_message()

    with grpc.secure_channel(stack.gateway.address, stack.gateway_credentials()) as channel:
        stub = risk_pb2_grpc.RiskServiceStub(channel)
        began = time.monotonic()
        with pytest.raises(grpc.RpcError) as failure:
            list(stub.SimulatePortfolio(nothing_yet(), timeout=30))
        waited = time.monotonic() - began
        sent.set()
    assert failure.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert waited < 10, waited


def test_request_id_is_returned_and_in_both_logs(stack, channel):
    request_id = f"rid-{uuid.uuid4().hex}"
    _, call = _call(channel, FUNDING + "ComputeGrant", stack.token("officer"),
                    request_id=request_id)
    assert dict(call.initial_metadata())["x-request-id"] == request_id
    for process in (stack.gateway, stack.funding):
        lines = [line for line in wait_for_text(process.log_path, request_id).splitlines()
                 if request_id in line]
        assert any('"message": "call"' in line and '"request_id": "' + request_id in line
                   for line in lines), process.module
    # Absent, one is made and returned.
    _, call = _call(channel, FUNDING + "ComputeGrant", stack.token("officer"))
    assert re.fullmatch(r"[0-9a-f]{32}", dict(call.initial_metadata())["x-request-id"])


@pytest.mark.parametrize("tail", [
    "x" * 5000,          # far too long
    "-" + "x" * 96,      # 129 characters, one over the limit
    " with a space",
    "/slash",
    '"quote',
])
def test_an_unfit_request_id_is_replaced_not_echoed_logged_or_forwarded(stack, channel, tail):
    marker = f"unfit{uuid.uuid4().hex}"  # 37 characters
    sent = marker + tail
    _, call = _call(channel, FUNDING + "ComputeGrant", stack.token("officer"),
                    request_id=sent)
    made = dict(call.initial_metadata())["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)  # a new one, returned as usual
    gateway_log = wait_for_text(stack.gateway.log_path, made)
    funding_log = wait_for_text(stack.funding.log_path, made)
    assert marker not in gateway_log and marker not in funding_log
    gateway_lines = [line for line in gateway_log.splitlines() if made in line]
    assert any('"message": "call"' in line and '"request_id_replaced": true' in line
               for line in gateway_lines), gateway_lines
    assert all(len(line) < 1000 for line in gateway_lines)
    # The backend got the new id, a fit one: nothing of it is replaced there.
    assert any('"message": "call"' in line for line in funding_log.splitlines()
               if made in line)


def test_a_request_id_of_128_fit_characters_is_kept(stack, channel):
    sent = (f"fit-{uuid.uuid4().hex}.A:Z_" * 4)[:128]
    _, call = _call(channel, FUNDING + "ComputeGrant", stack.token("officer"),
                    request_id=sent)
    assert dict(call.initial_metadata())["x-request-id"] == sent
    line = next(line for line in wait_for_text(stack.funding.log_path, sent).splitlines()
                if sent in line)
    assert "request_id_replaced" not in line


def test_a_backend_called_directly_replaces_an_unfit_request_id_too(stack):
    marker = f"direct{uuid.uuid4().hex}"
    method = FUNDING + "ComputeGrant"
    with grpc.insecure_channel(stack.funding.address) as direct:
        stub = funding_pb2_grpc.FundingServiceStub(direct)
        # Signed over the unfit id, which the backend replaces before it checks: the
        # signature is over the id the call is logged under, so this one is refused.
        with pytest.raises(grpc.RpcError) as refused:
            stub.ComputeGrant(_grant(), metadata=stack.signed(
                method, request_id=marker + "x" * 5000), timeout=30)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        control = f"control-{uuid.uuid4().hex}"
        stub.ComputeGrant(_grant(), metadata=stack.signed(method, request_id=control),
                          timeout=30)
    lines = wait_for_text(stack.funding.log_path, control).splitlines()
    assert not any(marker in line for line in lines)
    # Access lines are written in call order: the first call's is just before the control's.
    calls = [line for line in lines if '"message": "call"' in line]
    at = next(i for i, line in enumerate(calls) if control in line)
    assert '"request_id_replaced": true' in calls[at - 1], calls[at - 1]


def test_refusals_are_logged_with_method_subject_and_reason(stack, channel):
    request_id = f"refused-{uuid.uuid4().hex}"
    with pytest.raises(grpc.RpcError):
        _call(channel, FUNDING + "ComputeGrant", stack.token("analyst"), request_id=request_id)
    line = next(line for line in wait_for_text(stack.gateway.log_path, request_id).splitlines()
                if request_id in line and '"refused"' in line)
    assert '"method": "/ijh.funding.v1.FundingService/ComputeGrant"' in line
    assert '"subject": "dev-analyst-1"' in line and '"reason": "ROLE_NOT_ALLOWED"' in line


def test_rate_limit_answers_resource_exhausted_with_retry_info(nats_server, stack, tmp_path):
    # A gateway of its own (rate 1/s, burst 2) in front of the session's backends.
    gateway = start_stack(nats_server, tmp_path, {
        **_in_front_of(stack),
        "IJH_GATEWAY_RATE_PER_SECOND": "1", "IJH_GATEWAY_RATE_BURST": "2"},
        start_gateway_only=True)
    try:
        with gateway.gateway_channel(token_name=None) as channel:
            for _ in range(2):
                _call(channel, FUNDING + "ComputeGrant", gateway.token("officer"))
            with pytest.raises(grpc.RpcError) as failure:
                _call(channel, FUNDING + "ComputeGrant", gateway.token("officer"))
            code, details = _refusal(failure.value)
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert details["ErrorInfo"].reason == "RATE_LIMITED"
            delay = details["RetryInfo"].retry_delay
            assert 0 < delay.seconds + delay.nanos / 1e9 <= 1.0
            assert details["QuotaFailure"].violations[0].subject == "caller:dev-officer-1"
            # Buckets are per caller: another officer is not held back.
            _call(channel, FUNDING + "ComputeGrant", gateway.token("officer2"))
    finally:
        gateway.stop()


def _held_open(release: threading.Event):
    """A SimulatePortfolio request stream that sends nothing until ``release``."""
    release.wait(20)
    yield _portfolio_message()


def _wait_in_flight(gateway, method: str, count: int) -> None:
    """Until the gateway serves ``count`` calls of ``method`` (streams it has opened)."""
    deadline = time.monotonic() + 10
    while _sample(_scrape(gateway.metrics_address), "ijh_gateway_in_flight",
                  method=method) < count:
        assert time.monotonic() < deadline, f"{count} {method} never open"
        time.sleep(0.05)
    time.sleep(0.1)  # past the door, to the place it takes


def test_calls_beyond_the_gateway_capacity_are_resource_exhausted(nats_server, stack,
                                                                   tmp_path):
    # A gateway of its own serving one call at a time, in front of the session's backends.
    gateway = start_stack(nats_server, tmp_path, {
        **_in_front_of(stack),
        "IJH_GATEWAY_MAX_CONCURRENT_CALLS": "1"}, start_gateway_only=True)
    release = threading.Event()
    try:
        with gateway.gateway_channel("analyst") as analyst, \
                gateway.gateway_channel(token_name=None) as channel:
            held = risk_pb2_grpc.RiskServiceStub(analyst).SimulatePortfolio(
                _held_open(release), timeout=60)
            _wait_in_flight(gateway, RISK + "SimulatePortfolio", 1)
            request_id = f"busy-{uuid.uuid4().hex}"
            with pytest.raises(grpc.RpcError) as failure:
                _call(channel, FUNDING + "ComputeGrant", gateway.token("officer"),
                      request_id=request_id)
            code, details = _refusal(failure.value)
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, failure.value.details()
            assert details["ErrorInfo"].reason == "GATEWAY_BUSY"
            assert details["ErrorInfo"].metadata["limit"] == "1"
            assert details["RetryInfo"].retry_delay.seconds >= 1
            assert details["QuotaFailure"].violations[0].subject == "gateway"
            # Counted and logged as a refusal; health is served all the while.
            line = next(line for line in wait_for_text(gateway.gateway.log_path,
                                                       request_id).splitlines()
                        if request_id in line and '"refused"' in line)
            assert '"reason": "GATEWAY_BUSY"' in line and '"subject": "dev-officer-1"' in line
            assert _sample(_scrape(gateway.metrics_address), "ijh_gateway_refusals_total",
                           reason="GATEWAY_BUSY") == 1
            assert health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5).status == \
                health_pb2.HealthCheckResponse.SERVING
            release.set()
            assert list(held)[-1].HasField("result")
            # The place is free again once the stream has ended on the gateway's side too,
            # which may be a moment after its caller has read the end.
            deadline = time.monotonic() + 5
            while True:
                try:
                    reply, _ = _call(channel, FUNDING + "ComputeGrant", gateway.token("officer"))
                    break
                except grpc.RpcError as refused:
                    assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                    assert time.monotonic() < deadline, "the place was never freed"
                    time.sleep(0.05)
            assert reply.grant_cents > 0
    finally:
        release.set()
        gateway.stop()


def test_one_caller_holds_at_most_its_share_of_the_gateway(nats_server, stack, tmp_path):
    gateway = start_stack(nats_server, tmp_path, {
        **_in_front_of(stack), "IJH_GATEWAY_MAX_CONCURRENT_CALLS": "10",
        "IJH_GATEWAY_MAX_CONCURRENT_CALLS_PER_CALLER": "2"}, start_gateway_only=True)
    release = threading.Event()
    try:
        with gateway.gateway_channel("analyst") as analyst, \
                gateway.gateway_channel(token_name=None) as channel:
            stub = risk_pb2_grpc.RiskServiceStub(analyst)
            held = [stub.SimulatePortfolio(_held_open(release), timeout=60) for _ in range(2)]
            _wait_in_flight(gateway, RISK + "SimulatePortfolio", 2)
            # Its third stream, or any call of its, is refused: its own places are taken.
            with pytest.raises(grpc.RpcError) as failure:
                list(stub.SimulatePortfolio(iter([_portfolio_message()]), timeout=30))
            code, details = _refusal(failure.value)
            assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, failure.value.details()
            assert details["ErrorInfo"].reason == "TOO_MANY_CONCURRENT_CALLS"
            assert details["QuotaFailure"].violations[0].subject == "caller:dev-analyst-1"
            assert details["RetryInfo"].retry_delay.seconds >= 1
            assert _sample(_scrape(gateway.metrics_address), "ijh_gateway_refusals_total",
                           reason="TOO_MANY_CONCURRENT_CALLS") == 1
            # Another caller is served.
            reply, _ = _call(channel, FUNDING + "ComputeGrant", gateway.token("officer"))
            assert reply.grant_cents > 0
            release.set()
            for stream in held:
                assert list(stream)[-1].HasField("result")
            deadline = time.monotonic() + 5
            while True:  # its places are given back as its streams end
                try:
                    assert list(stub.SimulatePortfolio(iter([_portfolio_message()]),
                                                       timeout=30))[-1].HasField("result")
                    break
                except grpc.RpcError as refused:
                    assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                    assert time.monotonic() < deadline, "its places were never freed"
                    time.sleep(0.05)
    finally:
        release.set()
        gateway.stop()


def test_health_watches_without_a_token_are_bounded_and_take_no_callers_place(
        nats_server, stack, tmp_path):
    # Before: gRPC's maximum_concurrent_rpcs counted the watches with the calls; three
    # watches filled a gateway of three places, unseen by any metric.
    gateway = start_stack(nats_server, tmp_path, {
        **_in_front_of(stack), "IJH_GATEWAY_MAX_CONCURRENT_CALLS": "3",
        "IJH_GATEWAY_MAX_STREAMS_WITHOUT_TOKEN": "4"}, start_gateway_only=True)
    try:
        with gateway.gateway_channel(token_name=None) as anonymous, \
                gateway.gateway_channel(token_name=None) as channel:
            health = health_pb2_grpc.HealthStub(anonymous)
            watches = [health.Watch(health_pb2.HealthCheckRequest(), timeout=60)
                       for _ in range(6)]
            open_, refused = [], []  # in the order the gateway took them, not sent
            for watch in watches:
                try:
                    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
                    open_.append(watch)
                except grpc.RpcError as refusal:
                    refused.append(_refusal(refusal))
            assert (len(open_), len(refused)) == (4, 2)
            for code, details in refused:
                assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert details["ErrorInfo"].reason == "TOO_MANY_STREAMS_WITHOUT_TOKEN"
                assert details["RetryInfo"].retry_delay.seconds >= 1
            scraped = _scrape(gateway.metrics_address)
            assert _sample(scraped, "ijh_gateway_streams_without_token") == 4
            assert _sample(scraped, "ijh_gateway_refusals_total",
                           reason="TOO_MANY_STREAMS_WITHOUT_TOKEN") == 2
            assert '"reason": "TOO_MANY_STREAMS_WITHOUT_TOKEN"' in wait_for_text(
                gateway.gateway.log_path, "TOO_MANY_STREAMS_WITHOUT_TOKEN")
            # The callers' places are all free: three calls at once are served, and a
            # probe's Check is answered.
            with ThreadPoolExecutor(3) as pool:
                replies = list(pool.map(
                    lambda _: _call(channel, FUNDING + "ComputeGrant",
                                    gateway.token("officer"))[0], range(3)))
            assert all(reply.grant_cents > 0 for reply in replies)
            assert health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5).status == \
                health_pb2.HealthCheckResponse.SERVING
            # A watch ended gives its place back.
            for watch in open_:
                watch.cancel()
            deadline = time.monotonic() + 5
            while _sample(_scrape(gateway.metrics_address),
                          "ijh_gateway_streams_without_token") > 0:
                assert time.monotonic() < deadline, "the watches' places never freed"
                time.sleep(0.05)
            again = health.Watch(health_pb2.HealthCheckRequest(), timeout=60)
            assert next(again).status == health_pb2.HealthCheckResponse.SERVING
            again.cancel()
    finally:
        gateway.stop()


def test_a_stream_held_open_ends_once_its_connection_is_past_its_age_and_grace(
        nats_server, stack, tmp_path):
    # Connections closed after ~1 s, their calls cut 1 s later: a stream whose caller
    # never sends (nor ends it) does not keep its connection, or its place, for good.
    gateway = start_stack(nats_server, tmp_path, {
        **_in_front_of(stack), "IJH_MAX_CONNECTION_AGE_SECONDS": "1",
        "IJH_MAX_CONNECTION_AGE_GRACE_SECONDS": "1"}, start_gateway_only=True)
    release = threading.Event()

    def never_sent():
        release.wait(60)
        yield _portfolio_message()

    try:
        with gateway.gateway_channel("analyst") as analyst:
            began = time.monotonic()
            with pytest.raises(grpc.RpcError) as failure:
                list(risk_pb2_grpc.RiskServiceStub(analyst).SimulatePortfolio(
                    never_sent(), timeout=30))
            held = time.monotonic() - began
            assert failure.value.code() == grpc.StatusCode.UNAVAILABLE, failure.value
            assert held < 10, held
            # The channel's next call takes a new connection and is served.
            reply = risk_pb2_grpc.RiskServiceStub(analyst).EstimateProcurementRisk(
                _estimate(), timeout=30)
            assert reply.HasField("total_cost")
    finally:
        release.set()
        gateway.stop()

def test_mutual_tls_requires_a_client_certificate(nats_server, stack, tmp_path):
    gateway = start_stack(nats_server, tmp_path, {
        **_in_front_of(stack),
        "IJH_GATEWAY_TLS_CLIENT_CA": str(tmp_path / "dev-pki" / "ca.pem")},
        start_gateway_only=True)
    try:
        pki = gateway.pki
        with gateway.gateway_channel(token_name=None) as no_cert:
            with pytest.raises(grpc.RpcError) as failure:
                health_pb2_grpc.HealthStub(no_cert).Check(health_pb2.HealthCheckRequest(),
                                                          timeout=5)
            assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
        credentials = grpc.ssl_channel_credentials(
            pki.ca.read_bytes(), private_key=pki.client_key.read_bytes(),
            certificate_chain=pki.client_cert.read_bytes())
        with grpc.secure_channel(gateway.gateway.address, credentials) as with_cert:
            reply, _ = _call(with_cert, FUNDING + "ComputeGrant", gateway.token("officer"))
            assert reply.grant_cents > 0
    finally:
        gateway.stop()


def _scrape(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as answer:
        return answer.read().decode()


def _sample(text: str, name: str, **labels) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} ") or (not labels and
                                                       line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_expose_the_series_and_move_with_calls(stack, channel):
    method = FUNDING + "ComputeGrant"
    before = _scrape(stack.metrics_address)
    _call(channel, method, stack.token("officer"))
    with pytest.raises(grpc.RpcError):
        _call(channel, method, stack.token("analyst"))
    # A call is recorded on the gateway loop's turn after its reply is sent.
    deadline = time.monotonic() + 5
    while True:
        after = _scrape(stack.metrics_address)
        if (_sample(after, "ijh_gateway_requests_total", method=method,
                    code="PERMISSION_DENIED")  # the last call
                > _sample(before, "ijh_gateway_requests_total", method=method,
                          code="PERMISSION_DENIED") or time.monotonic() > deadline):
            break
        time.sleep(0.02)
    for series in ("ijh_gateway_requests_total", "ijh_gateway_request_seconds_bucket",
                   "ijh_gateway_in_flight", "ijh_gateway_refusals_total"):
        assert series in after, series
    ok = {"method": method, "code": "OK"}
    assert (_sample(after, "ijh_gateway_requests_total", **ok)
            >= _sample(before, "ijh_gateway_requests_total", **ok) + 1)
    assert (_sample(after, "ijh_gateway_request_seconds_count", **ok)
            >= _sample(before, "ijh_gateway_request_seconds_count", **ok) + 1)
    denied = {"method": method, "code": "PERMISSION_DENIED"}
    assert (_sample(after, "ijh_gateway_requests_total", **denied)
            >= _sample(before, "ijh_gateway_requests_total", **denied) + 1)
    assert (_sample(after, "ijh_gateway_refusals_total", reason="ROLE_NOT_ALLOWED")
            >= _sample(before, "ijh_gateway_refusals_total", reason="ROLE_NOT_ALLOWED") + 1)
    assert _sample(after, "ijh_gateway_in_flight", method=method) == 0
