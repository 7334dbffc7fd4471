"""The two slice RPCs through the gateway, each beside its in-process core call
measured in the same run (the ratio is the cost of gRPC + gateway + event)."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import json_format
from ijh.funding.v1 import funding_pb2, funding_pb2_grpc
from ijh.risk.v1 import risk_pb2, risk_pb2_grpc

from services.funding import translate as funding_translate
from services.funding.rules.grant import compute_grant
from services.risk import translate as risk_translate
from services.risk.engine.procurement import estimate_procurement_risk

ROOT = Path(__file__).resolve().parents[2]
GRANT = json_format.Parse((ROOT / "examples/grant.json").read_text(),
                          funding_pb2.ComputeGrantRequest())
RISK = json_format.Parse((ROOT / "examples/procurement_risk.json").read_text(),
                         risk_pb2.EstimateProcurementRiskRequest())


@pytest.fixture(scope="module")
def gateway(stack):
    with stack.gateway_channel("officer") as channel:  # TLS and a bearer token
        yield channel


@pytest.mark.benchmark(group="slice-grant")
def test_bench_grant_in_process(benchmark):
    application = funding_translate.grant_application(GRANT)
    result = benchmark(compute_grant, application)
    assert result.grant_cents == 2_815_000


@pytest.mark.benchmark(group="slice-grant")
def test_bench_grant_through_gateway(benchmark, gateway):
    stub = funding_pb2_grpc.FundingServiceStub(gateway)
    reply = benchmark(stub.ComputeGrant, GRANT, timeout=10)
    assert reply.grant_cents == 2_815_000


@pytest.mark.benchmark(group="slice-risk")
def test_bench_risk_in_process(benchmark):
    model = risk_translate.procurement_model(RISK.model)
    result = benchmark(estimate_procurement_risk, model, scenarios=10_000, seed=1)
    assert result.scenarios == 10_000


@pytest.mark.benchmark(group="slice-risk")
def test_bench_risk_through_gateway(benchmark, gateway):
    stub = risk_pb2_grpc.RiskServiceStub(gateway)
    reply = benchmark(stub.EstimateProcurementRisk, RISK, timeout=30)
    assert reply.scenario_count == 10_000
