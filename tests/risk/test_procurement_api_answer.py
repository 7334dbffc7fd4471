"""The answers of EstimateProcurementRisk and EvaluateProcurementGuarantee as the service
translates them for the request they answer: the engine's names of model fields become
the request's."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest
from google.protobuf import json_format
from ijh.risk.v1 import risk_pb2, risk_pb2_grpc

from ijh_cli.inputs import load_procurement
from services.risk import translate
from services.risk.engine.procurement import (
    CoveredLoss,
    GuaranteeTerms,
    estimate_procurement_risk,
    evaluate_guarantee,
)
from services.risk.server import RiskServicer
from services.shared.config import load_settings
from services.shared.nats_server import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_name_the_request_field_the_prior_filled():
    # The heat example gives metering_and_reporting only its most likely amount; the
    # engine names the spread it filled by the distribution, as its own model has it
    # (cost_items[4].distribution); the request's field is most_likely_cents.
    request = load_procurement(ROOT / "examples" / "heat_as_a_service.yaml").model
    request.risk_events[2].delay.most_likely_days = 90  # a delay given as most likely too
    model = translate.procurement_model(request)
    result = estimate_procurement_risk(model, scenarios=4096, seed=1)
    reply = translate.risk_response(result, request)
    used = {d.field: d.value for d in reply.defaults_used}
    assert used == {
        "phases": used["phases"],
        "cost_items[4].distribution.most_likely_cents":
            "PERT(minimum €234,000.00, mode €260,000.00, maximum €431,600.00)",
        "risk_events[2].delay.most_likely_days":
            "PERT(minimum 85.5 days, mode 90 days, maximum 125.1 days)"}
    terms = GuaranteeTerms(CoveredLoss.COST_OVERRUN, 0.5, cap_cents=100_000_000)
    guarantee = translate.guarantee_response(
        evaluate_guarantee(model, terms, scenarios=4096, seed=1), request)
    assert {d.field for d in guarantee.defaults_used} == used.keys()


def test_a_default_of_a_field_the_api_spells_alike_keeps_its_path():
    request = load_procurement(ROOT / "examples" / "pcp_procurement.yaml").model
    assert translate.default_field(request, "phases[0].pass_probability") == \
        "phases[0].pass_probability"
    assert translate.default_field(request, "novelty") == "novelty"
    assert translate.default_field(request, "phases") == "phases"


@pytest.fixture
async def served():
    """(stub, events): the risk servicer in this process behind a real gRPC server, and
    the events it publishes."""
    published = []
    servicer = RiskServicer(load_settings({}), SimpleNamespace(publish_soon=published.append))
    server = grpc.aio.server()
    risk_pb2_grpc.add_RiskServiceServicer_to_server(servicer, server)
    address = f"127.0.0.1:{free_port()}"
    server.add_insecure_port(address)
    await server.start()
    channel = grpc.aio.insecure_channel(address)
    try:
        yield risk_pb2_grpc.RiskServiceStub(channel), published
    finally:
        await channel.close()
        await server.stop(None)


async def test_the_event_has_no_duration_where_the_answer_has_none(served):
    stub, published = served
    request = json_format.Parse((ROOT / "examples/procurement_risk.json").read_text(),
                                risk_pb2.EstimateProcurementRiskRequest())
    request.simulation.scenario_count = 4096
    assert not request.model.activities
    reply = await stub.EstimateProcurementRisk(request, timeout=30)
    data = published[-1].data
    assert not reply.HasField("duration")
    assert "p80_duration_days" not in data  # was 0: "the project takes 0 days"
    assert {"seed", "scenario_count", "mean_total_cost_cents", "p80_total_cost_cents",
            "probability_over_budget", "probability_of_failure"} <= data.keys()
    # With a schedule the P80 duration is there, as in the answer.
    request.model.activities.add(name="build").duration.fixed_days = 120
    reply = await stub.EstimateProcurementRisk(request, timeout=30)
    assert published[-1].data["p80_duration_days"] == pytest.approx(120)
    assert reply.duration.mean.value == pytest.approx(120)
