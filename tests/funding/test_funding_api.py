"""FundingService through the gateway: grants by hand, scores, parameters, bad input."""

from __future__ import annotations

import json

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from ijh.funding.v1 import funding_pb2 as f
from ijh.funding.v1 import funding_pb2_grpc

HELSINKI = f.Applicant(kind="contracting_authority", business_id="0201256-6",
                       name="City of Helsinki")


def _grant(*lines: f.CostLine, on: str = "2025-06-30", **fields) -> f.ComputeGrantRequest:
    return f.ComputeGrantRequest(reference_date=on, applicant=HELSINKI,
                                 procurement_kind="new_product_or_service",
                                 cost_lines=lines, **fields)


@pytest.fixture
def funding(gateway_channel):
    return funding_pb2_grpc.FundingServiceStub(gateway_channel)


async def test_cents_rounding_line_half_up_grant_down(funding):
    # 100,001 x 0.5 = 50,000.5 -> 50,001 (half up); grant 50 % = 25,000.5 -> 25,000 (down).
    reply = await funding.ComputeGrant(_grant(f.CostLine(
        category="own_personnel", salary_cents=100_001, working_time_share="0.5")))
    assert reply.cost_lines[0].accepted_cents == 50_001
    assert reply.eligible_cents == 50_001
    assert reply.grant_cents == 25_000
    assert reply.grant_rate == "0.50"


async def test_personnel_with_indirect_costs_and_expert_services(funding):
    # 5,000,000 x 0.4 x 1.3 = 2,600,000; + 1,000,003 services = 3,600,003 -> grant 1,800,001.
    reply = await funding.ComputeGrant(_grant(
        f.CostLine(category="own_personnel", salary_cents=5_000_000,
                   working_time_share="0.4", indirect_cost_rate="0.3"),
        f.CostLine(category="purchased_expert_services", amount_cents=1_000_003,
                   vat_cents=255_000)))
    assert [line.accepted_cents for line in reply.cost_lines] == [2_600_000, 1_000_003]
    assert reply.cost_lines[1].rejected_cents == 255_000
    assert reply.cost_lines[1].rejections[0].reason == "vat_not_eligible"
    assert reply.eligible_cents == 3_600_003
    assert reply.grant_cents == 1_800_001


@pytest.mark.parametrize("category", ["procurement", "equipment", "travel", "other"])
async def test_ineligible_categories_are_returned_with_a_reason(funding, category):
    reply = await funding.ComputeGrant(_grant(
        f.CostLine(category="purchased_expert_services", amount_cents=10_000),
        f.CostLine(category=category, amount_cents=7_777)))
    line = reply.cost_lines[1]
    assert (line.accepted_cents, line.rejected_cents) == (0, 7_777)
    assert line.rejections[0].reason == "category_not_eligible"
    assert line.rejections[0].description
    assert reply.grant_cents == 5_000


async def test_explanation_names_parameters_with_references(funding):
    reply = await funding.ComputeGrant(_grant(
        f.CostLine(category="purchased_expert_services", amount_cents=10_000),
        include_explanation=True))
    grant_step = next(s for s in reply.explanation if s.figure == "grant_cents")
    assert grant_step.result == "5000"
    used = {p.name: p for p in grant_step.parameters}
    assert used["grant_rate"].value == "0.50"
    assert used["grant_rate"].reference
    assert "grant_rounding" in used


async def test_explanation_figures_are_named_as_the_response_fields(funding):
    reply = await funding.ComputeGrant(_grant(
        f.CostLine(category="purchased_expert_services", amount_cents=10_000, vat_cents=2_550),
        include_explanation=True))
    steps = {s.figure: s.result for s in reply.explanation}
    # Every figure that is not a cost line's is a field of the response, with its value.
    fields = f.ComputeGrantResponse.DESCRIPTOR.fields_by_name
    assert {fig for fig in steps if not fig.startswith("cost_lines[")} <= set(fields)
    assert (steps["claimed_cents"], steps["eligible_cents"], steps["rejected_cents"]) == \
        (str(reply.claimed_cents), str(reply.eligible_cents), str(reply.rejected_cents))
    assert (reply.claimed_cents, reply.eligible_cents, reply.rejected_cents) == \
        (12_550, 10_000, 2_550)


async def test_score_three_officers_with_a_disagreement(funding):
    criteria = ["novelty", "expected_impact", "market_dialogue", "feasibility",
                "reference_value"]
    rubric = await funding.ListParameters(f.ListParametersRequest(reference_date="2025-06-30"))
    names = {p.name for p in rubric.parameters}
    assert "scoring_criteria" in names
    keys = [c["criterion"] for c in json.loads(next(
        p.value_json for p in rubric.parameters if p.name == "scoring_criteria"))]
    assert len(keys) == len(criteria)

    def sheet(officer, values):
        return f.ScoreSheet(officer_id=officer, scores=[
            f.CriterionScore(criterion=k, score=v) for k, v in zip(keys, values, strict=True)])

    reply = await funding.ScoreApplication(f.ScoreApplicationRequest(
        reference_date="2025-06-30", score_sheets=[
            sheet("o1", ["4", "4", "3.5", "3", "4"]),
            sheet("o2", ["4.5", "3.5", "3.5", "3", "4"]),
            sheet("o3", ["2.5", "4", "3.5", "3", "4"])]))
    first = reply.criteria[0]
    assert first.mean_score.startswith("3.67")  # (4 + 4.5 + 2.5) / 3
    assert first.spread == "2.0" or first.spread == "2"
    assert first.disagreement and reply.disagreement
    assert reply.rules_version.startswith("ijh-rules/")


async def test_list_parameters_changes_with_the_date(funding):
    before = await funding.ListParameters(f.ListParametersRequest(reference_date="2016-12-31"))
    after = await funding.ListParameters(f.ListParametersRequest(reference_date="2017-01-01"))
    assert before.rules_version != after.rules_version
    kinds = {p.name: json.loads(p.value_json) for p in after.parameters}["procurement_kinds"]
    assert "innovation_partnership" in kinds
    fund = await funding.ListParameters(f.ListParametersRequest(reference_date="2025-01-01",
                                                                rule_set="fund"))
    assert fund.parameters and all(p.reference for p in fund.parameters)


async def test_date_before_the_first_rule_is_a_clear_error(funding):
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await funding.ComputeGrant(_grant(
            f.CostLine(category="purchased_expert_services", amount_cents=1), on="2008-12-31"))
    assert failure.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "2008-12-31" in failure.value.details()


@pytest.mark.parametrize("line, field", [
    (f.CostLine(category="own_personnel", salary_cents=1000, working_time_share="1.2"),
     "cost_lines[0].working_time_share"),
    (f.CostLine(category="yacht", amount_cents=1000), "cost_lines[0].category"),
    (f.CostLine(category="purchased_expert_services", amount_cents=10**14),
     "cost_lines[0].amount_cents"),
])
async def test_bad_lines_name_their_field(funding, line, field):
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await funding.ComputeGrant(_grant(line))
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(failure.value)
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    assert field in [v.field for v in bad.field_violations]


async def test_unknown_procurement_kind_names_the_field(funding):
    request = _grant(f.CostLine(category="purchased_expert_services", amount_cents=1))
    request.procurement_kind = "lottery"
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await funding.ComputeGrant(request)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "procurement_kind" in failure.value.details()
