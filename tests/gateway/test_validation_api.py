"""Validation at the door through the real stack (TLS, real tokens): the protos'
``buf.validate`` rules refuse a bad request at the gateway with INVALID_ARGUMENT, a
``google.rpc.BadRequest`` naming each bad field with its rule, and ErrorInfo
``INVALID_REQUEST``; a refused request never reaches the backend."""

from __future__ import annotations

import uuid
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from ijh.funding.v1 import funding_pb2, funding_pb2_grpc
from ijh.risk.v1 import risk_pb2, risk_pb2_grpc

from services.gateway import validation
from tests.stack import wait_for_text

ROOT = Path(__file__).resolve().parents[2]


def _grant() -> funding_pb2.ComputeGrantRequest:
    return json_format.Parse((ROOT / "examples/grant.json").read_text(),
                             funding_pb2.ComputeGrantRequest())


def _estimate() -> risk_pb2.EstimateProcurementRiskRequest:
    request = json_format.Parse((ROOT / "examples/procurement_risk.json").read_text(),
                                risk_pb2.EstimateProcurementRiskRequest())
    request.simulation.scenario_count = 2_000
    return request


def _create(request_id: str = "validation-create-1") -> funding_pb2.CreateApplicationRequest:
    return funding_pb2.CreateApplicationRequest(
        request_id=request_id, kind=funding_pb2.APPLICATION_KIND_GUARANTEE,
        title="Door check", sector="energy", branch="TEM",
        applicant=funding_pb2.Applicant(kind="company", business_id="1234567-1",
                                        name="Oy Pilotti Ab"),
        guarantee=funding_pb2.GuaranteeTerms(amount_cents=100_000_000, guarantee_rate="0.5",
                                             cap_cents=60_000_000, fee_rate="0.01",
                                             term_months=60, rating_class="BBB"))


@pytest.fixture(scope="module")
def channels(stack):
    opened = {}

    def channel(token_name: str) -> grpc.Channel:
        if token_name not in opened:
            opened[token_name] = grpc.secure_channel(stack.gateway.address,
                                                     stack.gateway_credentials(token_name))
        return opened[token_name]
    yield channel
    for ch in opened.values():
        ch.close()


def _refused(call, request, request_id: str = "") -> dict:
    """Call, expect the door's refusal; the field violations by field path."""
    metadata = [("x-request-id", request_id)] if request_id else []
    with pytest.raises(grpc.RpcError) as failure:
        call(request, metadata=metadata, timeout=30)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT, failure.value.details()
    status = rpc_status.from_call(failure.value)
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    kinds = {d.TypeName(): d for d in status.details}
    assert kinds[info.DESCRIPTOR.full_name].Unpack(info)
    assert (info.domain, info.reason) == ("ijh", "INVALID_REQUEST")  # the door, not a backend
    assert kinds[bad.DESCRIPTOR.full_name].Unpack(bad)
    return {v.field: v for v in bad.field_violations}


def _funding(channels, token="officer"):
    return funding_pb2_grpc.FundingServiceStub(channels(token))


def _risk(channels, token="analyst"):
    return risk_pb2_grpc.RiskServiceStub(channels(token))


# --- each kind of rule --------------------------------------------------------------

@pytest.mark.parametrize("mutate, field, rule", [
    # range: non-negative cents
    (lambda r: setattr(r.cost_lines[1], "amount_cents", -5), "cost_lines[1].amount_cents",
     "int64.gte"),
    # pattern: the Finnish business ID's shape (its check digit is the domain core's)
    (lambda r: setattr(r.applicant, "business_id", "201256-6"), "applicant.business_id",
     "string.pattern"),
    # pattern: an ISO date
    (lambda r: setattr(r, "reference_date", "1.3.2025"), "reference_date", "string.pattern"),
    # pattern: a decimal string
    (lambda r: setattr(r.cost_lines[0], "working_time_share", "60 %"),
     "cost_lines[0].working_time_share", "string.pattern"),
    # required message
    (lambda r: r.ClearField("applicant"), "applicant", "required"),
    # repeated size
    (lambda r: r.cost_lines.extend([r.cost_lines[1]] * 1000), "cost_lines",
     "repeated.max_items"),
])
def test_grant_fields_are_checked_at_the_door(channels, mutate, field, rule):
    request = _grant()
    mutate(request)
    violations = _refused(_funding(channels).ComputeGrant, request)
    assert field in violations, violations
    assert violations[field].reason == rule
    assert violations[field].description


@pytest.mark.parametrize("mutate, field, rule", [
    (lambda r: r.ClearField("model"), "model", "required"),
    (lambda r: setattr(r.model, "novelty", 42), "model.novelty", "enum.defined_only"),
    (lambda r: r.model.risk_events.add(name="delay", probability=1.5),
     "model.risk_events[0].probability", "double.gte_lte"),
    (lambda r: r.quantile_levels.extend([0.5] * 101), "quantile_levels", "repeated.max_items"),
    (lambda r: r.quantile_levels.extend([0.9, 1.0]), "quantile_levels[1]", "double.gt_lt"),
    (lambda r: setattr(r.simulation, "scenario_count", 0), "simulation.scenario_count",
     "int64.gte"),
    (lambda r: r.model.cost_items[0].ClearField("distribution"),
     "model.cost_items[0].distribution", "required"),
])
def test_risk_fields_are_checked_at_the_door(channels, mutate, field, rule):
    request = _estimate()
    mutate(request)
    violations = _refused(_risk(channels).EstimateProcurementRisk, request)
    assert field in violations, violations
    assert violations[field].reason == rule


@pytest.mark.parametrize("request_id, rule", [("", "string.min_len"),
                                              ("x" * 201, "string.max_len")])
def test_ledger_request_id_length(channels, request_id, rule):
    violations = _refused(_funding(channels, "company").CreateApplication, _create(request_id))
    assert violations["request_id"].reason == rule


def test_every_bad_field_is_named_at_once(channels):
    request = _create()
    request.title = ""
    request.guarantee.term_months = 361
    request.guarantee.guarantee_rate = "half"
    request.kind = 7
    violations = _refused(_funding(channels, "company").CreateApplication, request)
    assert {field: v.reason for field, v in violations.items()} == {
        "title": "string.min_len", "guarantee.term_months": "int32.gte_lte",
        "guarantee.guarantee_rate": "string.pattern", "kind": "enum.defined_only"}


def test_ledger_names_and_page_size(channels):
    violations = _refused(_funding(channels).GetApplication,
                          funding_pb2.GetApplicationRequest(name="applications/abc"))
    assert violations["name"].reason == "string.pattern"
    violations = _refused(_funding(channels).ListApplications,
                          funding_pb2.ListApplicationsRequest(page_size=501))
    assert violations["page_size"].reason == "int32.gte_lte"


def test_the_message_and_the_log_line_name_the_bad_fields(stack, channels):
    request = _grant()
    request.reference_date = "1.3.2025"
    request.applicant.business_id = "201256-6"
    request_id = f"named-{uuid.uuid4().hex}"
    with pytest.raises(grpc.RpcError) as failure:
        _funding(channels).ComputeGrant(request, metadata=[("x-request-id", request_id)],
                                        timeout=30)
    message = failure.value.details()
    assert message.startswith("2 fields break the API's rules: reference_date ("), message
    assert ", applicant.business_id (" in message
    line = next(line for line in wait_for_text(stack.gateway.log_path, request_id).splitlines()
                if request_id in line and '"refused"' in line)
    assert '"fields": ["reference_date", "applicant.business_id"]' in line, line
    assert '"field_count": 2' in line


def test_many_bad_fields_are_named_up_to_a_bound(stack, channels):
    request = _grant()
    request.cost_lines.extend([request.cost_lines[0]] * 3)
    for line in request.cost_lines:
        line.amount_cents = -1
    request.reference_date = "1.3.2025"
    count = len(request.cost_lines) + 1
    assert count > 3
    request_id = f"many-{uuid.uuid4().hex}"
    violations = _refused(_funding(channels).ComputeGrant, request, request_id)
    assert len(violations) == count  # the BadRequest still names every one
    with pytest.raises(grpc.RpcError) as failure:
        _funding(channels).ComputeGrant(request, timeout=30)
    assert failure.value.details().endswith(f", and {count - 3} more")
    line = next(line for line in wait_for_text(stack.gateway.log_path, request_id).splitlines()
                if request_id in line and '"refused"' in line)
    assert f'"field_count": {count}' in line


def test_thousands_of_bad_rows_still_get_their_answer(channels):
    # A BadRequest naming 9,000 violations was a 1.4 MB trailer: gRPC dropped the status
    # ("metadata size exceeds hard limit") and the caller learnt nothing. The first 50 are
    # named, the message says how many in all.
    model = risk_pb2.ProcurementModel(
        kind=1, novelty=1, cost_items=[risk_pb2.CostItem() for _ in range(3000)],
        risk_events=[risk_pb2.RiskEvent(probability=2) for _ in range(1000)])
    request = risk_pb2.EstimateProcurementRiskRequest(model=model)
    with pytest.raises(grpc.RpcError) as failure:
        _risk(channels, "agency").EstimateProcurementRisk(request, timeout=60)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT, failure.value.details()
    status = rpc_status.from_call(failure.value)
    bad = error_details_pb2.BadRequest()
    assert any(d.Unpack(bad) for d in status.details)
    assert len(bad.field_violations) == 50
    total = int(failure.value.details().split(" ", 1)[0])
    assert total >= 4000 and failure.value.details().endswith(f", and {total - 3} more")


# --- refused at the door: the backend never sees it -----------------------------------

@pytest.mark.parametrize("service", ["funding", "risk"])
def test_a_refused_request_never_reaches_the_backend(stack, channels, service):
    if service == "funding":
        call, bad, good = _funding(channels).ComputeGrant, _grant(), _grant()
        bad.cost_lines[0].amount_cents = -1
    else:
        call, bad, good = _risk(channels).EstimateProcurementRisk, _estimate(), _estimate()
        bad.model.budget_cents = -1
    backend = getattr(stack, service)
    refused = f"invalid-{uuid.uuid4().hex}"
    _refused(call, bad, refused)
    control = f"control-{uuid.uuid4().hex}"
    call(good, metadata=[("x-request-id", control)], timeout=60)
    assert control in wait_for_text(backend.log_path, control)
    assert refused not in backend.log_path.read_text()
    gateway_lines = [line for line in
                     wait_for_text(stack.gateway.log_path, refused).splitlines()
                     if refused in line]
    assert any('"refused"' in line and '"reason": "INVALID_REQUEST"' in line
               for line in gateway_lines), gateway_lines


# --- valid requests pass ------------------------------------------------------------

def test_examples_pass_the_door_rules():
    assert validation.violations_of(_grant()) == []
    assert validation.violations_of(_estimate()) == []
    assert validation.violations_of(_create()) == []
