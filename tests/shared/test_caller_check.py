"""The backends believe a caller identity only with the gateway's signature over it: real
processes (the session stack), real gRPC on loopback. Reaching a backend's port with
forged ``x-ijh-caller-*`` metadata is not enough to act as an officer or an agency."""

from __future__ import annotations

import json
import time
import uuid

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from ijh.funding.v1 import funding_pb2 as f
from ijh.funding.v1 import funding_pb2_grpc
from ijh.risk.v1 import risk_pb2 as r
from ijh.risk.v1 import risk_pb2_grpc

from services.shared import caller_assertion
from services.shared.caller import signed_metadata
from services.shared.caller_assertion import CallerKeys
from tests.funding.ledger_api_support import (
    COMPANY_AGENCY,
    OFFICER_A,
    OFFICER_B,
    Ledger,
    guarantee_request,
    rid,
)
from tests.gateway.test_gateway import _grant_request
from tests.risk.test_operations_api import _simulation, _start
from tests.stack import keys_of, wait_for_text

FUNDING = "/ijh.funding.v1.FundingService/"
RISK = "/ijh.risk.v1.RiskService/"
OFFICER = ("x-ijh-caller-subject", "dev-officer-2"), ("x-ijh-caller-role", "officer")


def _decide(name: str = "applications/999999") -> f.DecideApplicationRequest:
    return f.DecideApplicationRequest(request_id=rid(), name=name,
                                      decision=f.DECISION_APPROVE, reason="a second officer")


def _refused(call) -> tuple[grpc.RpcError, error_details_pb2.ErrorInfo]:
    with pytest.raises(grpc.RpcError) as failure:
        call()
    assert failure.value.code() == grpc.StatusCode.UNAUTHENTICATED, failure.value
    assert "call through the gateway" in failure.value.details()
    info = error_details_pb2.ErrorInfo()
    status = rpc_status.from_call(failure.value)
    assert status is not None and status.details[0].Unpack(info)
    assert info.domain == "ijh" and info.reason == _reason(failure.value)
    return failure.value, info


def _reason(error: grpc.RpcError) -> str:
    info = error_details_pb2.ErrorInfo()
    status = rpc_status.from_call(error)
    assert status is not None and status.details[0].Unpack(info)
    return info.reason


def _decide_directly(stack, metadata) -> tuple[grpc.RpcError, error_details_pb2.ErrorInfo]:
    with grpc.insecure_channel(stack.funding.address) as channel:
        stub = funding_pb2_grpc.FundingServiceStub(channel)
        return _refused(lambda: stub.DecideApplication(_decide(), metadata=metadata,
                                                       timeout=10))


def _tampered(metadata, **changes) -> tuple[tuple[str, str], ...]:
    return tuple((k, changes.get(k, v)) for k, v in metadata)


def test_forged_caller_metadata_without_an_assertion_is_refused_and_logged(stack):
    request_id = f"forged-{uuid.uuid4().hex}"
    _, info = _decide_directly(stack, (*OFFICER, ("x-request-id", request_id)))
    assert info.reason == caller_assertion.MISSING
    assert info.metadata["method"] == FUNDING + "DecideApplication"
    line = next(json.loads(text) for text in
                wait_for_text(stack.funding.log_path, request_id).splitlines()
                if request_id in text and '"caller refused"' in text)
    assert line["level"] == "WARNING" and line["reason"] == caller_assertion.MISSING
    assert line["subject"] == "dev-officer-2" and line["role"] == "officer"
    assert line["method"] == FUNDING + "DecideApplication" and line["peer"]


@pytest.mark.parametrize("assertion, reason", [
    ("", caller_assertion.MISSING),
    ("not-an-assertion", caller_assertion.MALFORMED),
    (f"v2.gateway.{int(time.time()) + 5}.{'0' * 64}", caller_assertion.INVALID),
])
def test_a_made_up_assertion_is_refused(stack, assertion, reason):
    _, info = _decide_directly(stack, (*OFFICER, ("x-ijh-caller-assertion", assertion)))
    assert info.reason == reason


def test_an_assertion_made_with_another_key_is_refused(stack):
    other = CallerKeys.of("gateway", {("gateway", "funding"): (uuid.uuid4().hex.encode() * 2,)})
    metadata = signed_metadata(other, FUNDING + "DecideApplication", "dev-officer-2",
                               "officer")
    _, info = _decide_directly(stack, metadata)
    assert info.reason == caller_assertion.INVALID


def test_the_keys_risk_holds_cannot_vouch_for_a_caller_to_funding(stack):
    # A compromised risk pod holds the gateway → risk and funding → risk keys (the test
    # stack's directory holds all three links; each service reads only its own).
    risk = keys_of(stack.var_dir, "risk")
    for key in (*risk.trusted["gateway"], *risk.trusted["funding"]):
        as_gateway = CallerKeys.of("gateway", {("gateway", "funding"): (key,)})
        _, info = _decide_directly(stack, signed_metadata(
            as_gateway, FUNDING + "DecideApplication", "dev-officer-2", "officer"))
        assert info.reason == caller_assertion.INVALID
        as_itself = CallerKeys.of("risk", {("risk", "funding"): (key,)})
        _, info = _decide_directly(stack, signed_metadata(
            as_itself, FUNDING + "DecideApplication", "risk", "service"))
        assert info.reason == caller_assertion.UNTRUSTED_SIGNER


def test_funding_vouches_to_risk_for_itself_alone(stack):
    # Funding's own link to risk cannot carry an analyst's or an officer's identity.
    funding = keys_of(stack.var_dir, "funding")
    with grpc.insecure_channel(stack.risk.address) as channel:
        stub = risk_pb2_grpc.RiskServiceStub(channel)
        for subject, role in (("dev-analyst-1", "analyst"), ("dev-officer-1", "officer")):
            metadata = signed_metadata(funding, RISK + "ListOperations", subject, role)
            _, info = _refused(lambda m=metadata: stub.ListOperations(
                r.ListOperationsRequest(), timeout=10, metadata=m))
            assert info.reason == caller_assertion.NOT_ITS_TO_VOUCH


def test_an_expired_assertion_is_refused(stack):
    # Signed with the right key a minute ago: well past its 10 s lifetime and 5 s skew.
    metadata = signed_metadata(stack.caller_keys, FUNDING + "DecideApplication",
                               "dev-officer-2", "officer", now=time.time() - 60)
    _, info = _decide_directly(stack, metadata)
    assert info.reason == caller_assertion.EXPIRED


def test_an_assertion_signed_for_another_method_or_caller_is_refused(stack):
    # A genuine assertion for a read, replayed on a decision: refused.
    read = stack.signed(FUNDING + "GetApplication", "dev-officer-2", "officer")
    _, info = _decide_directly(stack, read)
    assert info.reason == caller_assertion.INVALID
    # A genuine assertion for officer 1, with the identity changed to officer 2 (to get
    # round the two-person rule): refused.
    own = stack.signed(FUNDING + "DecideApplication", "dev-officer-1", "officer")
    _, info = _decide_directly(stack, _tampered(own, **{"x-ijh-caller-subject":
                                                        "dev-officer-2"}))
    assert info.reason == caller_assertion.INVALID
    # ... or with another request id than the one signed.
    _, info = _decide_directly(stack, _tampered(own, **{"x-request-id": "another-id"}))
    assert info.reason == caller_assertion.INVALID


def test_a_well_signed_direct_call_is_served(stack):
    with grpc.insecure_channel(stack.funding.address) as channel:
        reply = funding_pb2_grpc.FundingServiceStub(channel).ComputeGrant(
            _grant_request(), metadata=stack.signed(FUNDING + "ComputeGrant"), timeout=10)
    assert reply.grant_cents == 50_00


def test_the_risk_service_refuses_unsigned_calls_too(stack):
    with grpc.insecure_channel(stack.risk.address) as channel:
        stub = risk_pb2_grpc.RiskServiceStub(channel)
        # It reads the caller here (the operation's creator) ...
        _, info = _refused(lambda: stub.StartPortfolioSimulation(
            _start(_simulation(5, 1024)), metadata=OFFICER, timeout=10))
        assert info.reason == caller_assertion.MISSING
        # ... and refuses every other call unsigned (its work is the fund's to ask for).
        _, info = _refused(lambda: stub.ListOperations(r.ListOperationsRequest(),
                                                       timeout=10))
        assert info.reason == caller_assertion.MISSING
        signed_elsewhere = stack.signed(RISK + "ListOperations", "dev-analyst-1", "analyst")
        _, info = _refused(lambda: stub.StartPortfolioSimulation(
            _start(_simulation(5, 1024)), metadata=signed_elsewhere, timeout=10))
        assert info.reason == caller_assertion.INVALID
        stub.ListOperations(r.ListOperationsRequest(), timeout=10, metadata=stack.signed(
            RISK + "ListOperations", "dev-analyst-1", "analyst"))


def test_health_needs_no_assertion(stack):
    for process in (stack.risk, stack.funding):
        with grpc.insecure_channel(process.address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("role, service, method, request_message", [
    ("officer", "funding", "ComputeGrant", _grant_request()),
    ("agency", "funding", "ListApplications",
     f.ListApplicationsRequest(applicant_business_id="0201256-6")),
    ("analyst", "funding", "GetExposure", f.GetExposureRequest()),
    ("admin", "funding", "ListParameters", f.ListParametersRequest(reference_date="2026-03-02")),
    ("agency", "risk", "ListOperations", None),  # refused by the gateway's table, not here
    ("analyst", "risk", "ListOperations", r.ListOperationsRequest()),
])
def test_each_role_is_served_through_the_gateway(stack, role, service, method,
                                                 request_message):
    with stack.gateway_channel(role) as channel:
        stub = (funding_pb2_grpc.FundingServiceStub(channel) if service == "funding"
                else risk_pb2_grpc.RiskServiceStub(channel))
        if request_message is None:
            with pytest.raises(grpc.RpcError) as failure:
                getattr(stub, method)(r.ListOperationsRequest(), timeout=10)
            assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED
            return
        getattr(stub, method)(request_message, timeout=10)  # no error


async def test_funding_calls_risk_signed_as_itself(stack):
    # Approving a guarantee asks risk's EvaluateIncrementalRisk: funding signs that call
    # as "funding" (role service) under the approval's request id.
    async with grpc.aio.insecure_channel(stack.funding.address) as channel:
        ledger = Ledger(channel, stack.caller_keys)
        name = await ledger.to_scored(guarantee_request(), COMPANY_AGENCY, OFFICER_A)
        request_id = f"approve-{uuid.uuid4().hex}"
        decided = await ledger.stub.DecideApplication(
            f.DecideApplicationRequest(request_id=rid(), name=name,
                                       decision=f.DECISION_APPROVE, reason="fund rules met"),
            metadata=OFFICER_B.metadata(stack.caller_keys, "DecideApplication",
                                        request_id=request_id), timeout=30)
        assert decided.application.state == f.APPLICATION_STATE_APPROVED
        # The fund's status asks risk for its figures (a stream), signed the same way.
        status = await ledger.call("GetFundStatus", f.GetFundStatusRequest(), OFFICER_B)
        assert not status.risk_figures_unavailable and status.risk_figures
        # A service's identity acts on nothing in funding: the gateway may not vouch for
        # one, and funding holds no key to vouch for itself to itself.
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await ledger.stub.GetFundStatus(f.GetFundStatusRequest(), timeout=10,
                                            metadata=signed_metadata(
                                                stack.caller_keys, FUNDING + "GetFundStatus",
                                                "funding", "service"))
        assert failure.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert _reason(failure.value) == caller_assertion.NOT_ITS_TO_VOUCH
        with pytest.raises(ValueError, match="funding holds no key"):
            signed_metadata(keys_of(stack.var_dir, "funding"), FUNDING + "GetFundStatus",
                            "funding", "service")
    risk_lines = [json.loads(text) for text in
                  wait_for_text(stack.risk.log_path, request_id).splitlines()
                  if request_id in text]
    assert any(line["message"] == "call" and line["code"] == "OK"
               and line["method"] == RISK + "EvaluateIncrementalRisk" for line in risk_lines)
    assert not any(line["message"] == "caller refused" for line in risk_lines)
