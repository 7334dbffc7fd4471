"""Protobuf <-> funding domain objects. Translation only: no rule lives here."""

from __future__ import annotations

import contextlib
from datetime import date

from ijh.events.v1 import events_pb2
from ijh.funding.v1 import funding_pb2

from services.funding.rules import grant
from services.funding.rules.explanation import ParameterUse, TraceStep


def parse_date(text: str) -> date | str:
    """An ISO date, or the text itself so the core reports the field precisely."""
    with contextlib.suppress(ValueError):
        return date.fromisoformat(text)
    return text


def grant_application(request: funding_pb2.ComputeGrantRequest) -> grant.GrantApplication:
    return grant.GrantApplication(
        applicant=grant.Applicant(business_id=request.applicant.business_id,
                                  kind=request.applicant.kind, name=request.applicant.name),
        procurement_kind=request.procurement_kind,
        reference_date=parse_date(request.reference_date),
        cost_lines=tuple(
            grant.CostLine(category=line.category, description=line.description,
                           salary_cents=line.salary_cents,
                           working_time_share=line.working_time_share,
                           indirect_cost_rate=line.indirect_cost_rate,
                           amount_cents=line.amount_cents, vat_cents=line.vat_cents)
            for line in request.cost_lines))


def _rejection(r: grant.Rejection) -> funding_pb2.Rejection:
    return funding_pb2.Rejection(reason=r.reason.value, amount_cents=r.amount_cents,
                                 description=r.description)


def parameter_use(p: ParameterUse) -> funding_pb2.ParameterUse:
    return funding_pb2.ParameterUse(name=p.name, value=p.value, valid_from=p.valid_from,
                                    valid_until=p.valid_until, reference=p.reference)


def _step(step: TraceStep) -> funding_pb2.ExplanationStep:
    return funding_pb2.ExplanationStep(
        figure=step.figure, rule=step.rule, formula=step.formula, result=step.result,
        inputs=[funding_pb2.RuleInput(name=k, value=v) for k, v in step.inputs],
        parameters=[parameter_use(p) for p in step.parameters])


def grant_response(result: grant.GrantComputation,
                   include_explanation: bool) -> funding_pb2.ComputeGrantResponse:
    return funding_pb2.ComputeGrantResponse(
        reference_date=result.reference_date.isoformat(),
        rules_version=result.rules_version,
        applicant_eligible=result.applicant_eligible,
        procurement_kind_eligible=result.procurement_kind_eligible,
        eligible=result.eligible,
        claimed_cents=result.claimed_total_cents,
        eligible_cents=result.eligible_total_cents,
        rejected_cents=result.rejected_total_cents,
        grant_rate=str(result.grant_rate),
        grant_cents=result.grant_cents,
        cost_lines=[funding_pb2.CostLineResult(
            index=line.index, category=line.category.value, description=line.description,
            claimed_cents=line.claimed_cents, accepted_cents=line.accepted_cents,
            rejected_cents=line.rejected_cents,
            rejections=[_rejection(r) for r in line.rejections])
            for line in result.cost_lines],
        rejections=[_rejection(r) for r in result.rejections],
        parameters_used=[parameter_use(p) for p in result.parameters_used],
        explanation=[_step(s) for s in result.explanation] if include_explanation else [])


def grant_computed_event(request: funding_pb2.ComputeGrantRequest,
                         result: grant.GrantComputation) -> events_pb2.GrantComputed:
    return events_pb2.GrantComputed(
        reference_date=result.reference_date.isoformat(),
        applicant_business_id=request.applicant.business_id,
        procurement_kind=request.procurement_kind,
        eligible_cents=result.eligible_total_cents, grant_cents=result.grant_cents,
        rules_version=result.rules_version)
