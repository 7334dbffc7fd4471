"""The vertical slice as a user meets it: calls through the gateway, events on NATS."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import grpc
import nats
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from ijh.funding.v1 import funding_pb2, funding_pb2_grpc
from ijh.risk.v1 import risk_pb2, risk_pb2_grpc

from services.shared.cloudevents import CloudEvent
from services.shared.events import EventPublisher
from services.shared.nats_server import NatsServer, free_port

ROOT = Path(__file__).resolve().parents[2]
GRPCURL = Path(sys.executable).parent / "grpcurl"


async def _next_event(nats_url: str, subject: str, action, timeout: float = 10.0) -> dict:
    """Subscribe (core NATS sees what JetStream stores), run ``action``, return the event."""
    nc = await nats.connect(nats_url)
    try:
        subscription = await nc.subscribe(subject)
        await nc.flush()
        result = await action()
        message = await subscription.next_msg(timeout=timeout)
        return result, json.loads(message.data), message.headers or {}
    finally:
        await nc.close()


async def test_grant_through_gateway_publishes_its_cloudevent(stack, gateway_channel):
    request = json_format.Parse((ROOT / "examples/grant.json").read_text(),
                                funding_pb2.ComputeGrantRequest())
    stub = funding_pb2_grpc.FundingServiceStub(gateway_channel)
    reply, event, _ = await _next_event(
        stack.nats.url, "ijh.funding.grant.computed",
        lambda: stub.ComputeGrant(request, timeout=10))
    # Hand-computed (README): personnel 4,200,000 x 0.6 x 1.25 = 3,150,000;
    # expert services 2,480,000 (VAT 632,400 rejected); travel 120,000 rejected.
    assert reply.eligible_cents == 5_630_000
    assert reply.grant_cents == 2_815_000
    assert reply.rejected_cents == 632_400 + 120_000
    assert reply.rules_version.startswith("ijh-rules/")
    assert event["specversion"] == "1.0"
    assert event["type"] == "ijh.funding.grant.computed"
    assert event["source"] == "ijh/funding"
    assert event["subject"] == "applicants/0201256-6"
    assert event["data"]["grant_cents"] == "2815000"
    assert event["data"]["rules_version"] == reply.rules_version


async def test_risk_estimate_through_gateway_publishes_its_cloudevent(stack, gateway_channel):
    request = json_format.Parse((ROOT / "examples/procurement_risk.json").read_text(),
                                risk_pb2.EstimateProcurementRiskRequest())
    stub = risk_pb2_grpc.RiskServiceStub(gateway_channel)
    reply, event, _ = await _next_event(
        stack.nats.url, "ijh.risk.procurement.estimated",
        lambda: stub.EstimateProcurementRisk(request, timeout=30))
    assert reply.seed == 20261129
    assert reply.scenario_count == 10_000
    p80 = next(q for q in reply.total_cost.quantiles if q.level == pytest.approx(0.8))
    assert p80.standard_error > 0
    assert event["type"] == "ijh.risk.procurement.estimated"
    assert event["data"]["seed"] == "20261129"
    assert event["data"]["p80_total_cost_cents"] == pytest.approx(p80.value)
    # No schedule in the README example: no duration in the answer, none in the event
    # (it published "p80_duration_days": 0).
    assert not reply.HasField("duration") and "p80_duration_days" not in event["data"]


async def test_events_are_kept_in_the_jetstream_stream(stack, gateway_channel):
    nc = await nats.connect(stack.nats.url)
    info = await nc.jetstream().stream_info("IJH_EVENTS")
    await nc.close()
    assert info.config.subjects == ["ijh.>"]
    assert info.config.duplicate_window >= 60


@pytest.mark.parametrize("mutate, field", [
    (lambda r: setattr(r.cost_lines[1], "amount_cents", -5), "cost_lines[1].amount_cents"),
    (lambda r: setattr(r.cost_lines[2], "category", "champagne"), "cost_lines[2].category"),
    (lambda r: r.ClearField("reference_date"), "reference_date"),
    (lambda r: setattr(r.applicant, "business_id", "0201256-5"), "applicant.business_id"),
])
async def test_bad_grant_input_names_the_field(gateway_channel, mutate, field):
    request = json_format.Parse((ROOT / "examples/grant.json").read_text(),
                                funding_pb2.ComputeGrantRequest())
    mutate(request)
    stub = funding_pb2_grpc.FundingServiceStub(gateway_channel)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await stub.ComputeGrant(request, timeout=10)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in _bad_fields(failure.value)


async def test_absurd_scenario_count_is_refused_with_the_bound(gateway_channel):
    request = json_format.Parse((ROOT / "examples/procurement_risk.json").read_text(),
                                risk_pb2.EstimateProcurementRiskRequest())
    request.simulation.scenario_count = 10**12
    stub = risk_pb2_grpc.RiskServiceStub(gateway_channel)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await stub.EstimateProcurementRisk(request, timeout=10)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = _bad_fields(failure.value)
    assert "simulation.scenario_count" in fields
    assert "2,000,000" in fields["simulation.scenario_count"]


async def test_bad_risk_model_names_the_field(gateway_channel):
    request = json_format.Parse((ROOT / "examples/procurement_risk.json").read_text(),
                                risk_pb2.EstimateProcurementRiskRequest())
    triangular = request.model.cost_items[1].distribution.triangular
    triangular.min_cents = triangular.mode_cents + 1  # min above mode
    stub = risk_pb2_grpc.RiskServiceStub(gateway_channel)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await stub.EstimateProcurementRisk(request, timeout=10)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # The engine's own names come back as the request's paths (proto field names).
    fields = _bad_fields(failure.value)
    assert set(fields) & {"model.cost_items[1].distribution.triangular.min_cents",
                          "model.cost_items[1].distribution.triangular.mode_cents"}, fields


def _bad_fields(error: grpc.aio.AioRpcError) -> dict[str, str]:
    status = rpc_status.from_call(error)
    assert status is not None, "no google.rpc.Status details"
    fields = {}
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            fields.update({v.field: v.description for v in bad.field_violations})
    return fields


def test_readme_grpcurl_call_returns_the_grant(stack):
    result = subprocess.run(
        [str(GRPCURL), "-cacert", str(stack.pki.ca),
         "-H", f"authorization: Bearer {stack.token('officer')}",
         "-d", "@", stack.gateway.address, "ijh.funding.v1.FundingService/ComputeGrant"],
        input=(ROOT / "examples/grant.json").read_text(), capture_output=True, text=True,
        timeout=30)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["eligible_cents"] == "5630000"
    assert answer["grant_cents"] == "2815000"


def test_watch_events_prints_the_envelopes(stack):
    result = subprocess.run(
        [sys.executable, "-m", "services.watch_events", "--nats-url", stack.nats.url,
         "--from-start", "--count", "1"], capture_output=True, text=True, timeout=30,
        cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[0])["specversion"] == "1.0"





async def test_event_stream_has_the_default_limits_of_the_settings(stack):
    # Ten years, 1 GiB, refusing the new when full; applied by the services themselves
    # (also to a stream another test's publisher created first without limits).
    nc = await nats.connect(stack.nats.url)
    try:
        for _ in range(100):
            config = (await nc.jetstream().stream_info("IJH_EVENTS")).config
            if config.max_age:
                break
            await asyncio.sleep(0.1)
    finally:
        await nc.close()
    assert (config.max_age, config.max_bytes, config.num_replicas, config.discard) == (
        3650 * 86400.0, 2**30, 1, "new")


async def test_watch_events_waits_quietly_for_nats_and_says_so_once(tmp_path):
    # NATS not up yet: one line naming the URL, no traceback, then the events once it is.
    nats_server = NatsServer(tmp_path / "nats", port=free_port())
    watcher = subprocess.Popen(
        [sys.executable, "-m", "services.watch_events", "--nats-url", nats_server.url,
         "--from-start", "--count", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=ROOT)
    publisher = EventPublisher(nats_server.url, "IJH_EVENTS")
    try:
        await asyncio.sleep(5)  # a few of its retries
        assert watcher.poll() is None, watcher.stderr.read()
        nats_server.start()
        assert await publisher.connected(10)
        await publisher.publish(CloudEvent(type="ijh.test.thing.happened", source="ijh/tests",
                                           subject="things/1", data={"n": 1}))
        stdout, stderr = watcher.communicate(timeout=30)
    finally:
        await publisher.close()
        if watcher.poll() is None:
            watcher.kill()
        nats_server.stop()
    assert watcher.returncode == 0, stderr
    assert json.loads(stdout.splitlines()[0])["type"] == "ijh.test.thing.happened"
    lines = [line for line in stderr.splitlines() if "has no stream" not in line]
    assert len(lines) == 2, stderr  # (the stream may come a moment after the server)
    assert lines[0].startswith(f"watch_events: cannot reach NATS at {nats_server.url} (")
    assert lines[1] == f"watch_events: connected to {nats_server.url}"
