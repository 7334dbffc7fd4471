"""Protobuf <-> funding domain objects. Translation only: no rule lives here."""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from google.protobuf import timestamp_pb2
from ijh.events.v1 import events_pb2
from ijh.funding.v1 import funding_pb2
from ijh.risk.v1 import risk_pb2

from services.funding import ledger
from services.funding.ledger.lifecycle import term_end
from services.funding.rules import grant, scoring
from services.funding.rules.explanation import ParameterUse, TraceStep
from services.funding.rules.parameters import ParametersInForce, to_jsonable
from services.shared.errors import Collector, FieldViolation, InvalidArgument


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
        claimed_cents=result.claimed_cents,
        eligible_cents=result.eligible_cents,
        rejected_cents=result.rejected_cents,
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
        eligible_cents=result.eligible_cents, grant_cents=result.grant_cents,
        rules_version=result.rules_version)


def score_sheets(request: funding_pb2.ScoreApplicationRequest) -> list[scoring.ScoreSheet]:
    return [scoring.ScoreSheet(
        officer_id=sheet.officer_id,
        scores=tuple(scoring.CriterionScore(s.criterion, s.score) for s in sheet.scores))
        for sheet in request.score_sheets]


def scoring_response(result: scoring.ScoringResult,
                     include_explanation: bool) -> funding_pb2.ScoreApplicationResponse:
    return funding_pb2.ScoreApplicationResponse(
        reference_date=result.reference_date.isoformat(),
        rules_version=result.rules_version,
        officer_ids=result.officer_ids,
        criteria=[funding_pb2.CriterionResult(
            criterion=c.criterion, officer_scores=[str(s) for s in c.officer_scores],
            mean_score=str(c.mean_score), min_score=str(c.min_score),
            max_score=str(c.max_score), spread=str(c.spread), stdev=str(c.stdev),
            pass_mark=str(c.pass_mark), passed=c.passed, disagreement=c.disagreement,
            weight=str(c.weight)) for c in result.criteria],
        total_score=str(result.total_score), maximum_total=str(result.maximum_total),
        overall_pass_mark=str(result.overall_pass_mark),
        all_criteria_passed=result.all_criteria_passed, passed=result.passed,
        weighted_score=str(result.weighted_score), disagreement=result.disagreement,
        parameters_used=[parameter_use(p) for p in result.parameters_used],
        explanation=[_step(s) for s in result.explanation] if include_explanation else [])


def parameters_response(on: date, in_force: ParametersInForce
                        ) -> funding_pb2.ListParametersResponse:
    return funding_pb2.ListParametersResponse(
        reference_date=on.isoformat(), rules_version=in_force.version,
        parameters=[funding_pb2.Parameter(
            name=p.name, value_json=json.dumps(to_jsonable(p.value), sort_keys=True),
            valid_from=p.valid_from.isoformat(),
            valid_until=p.valid_until.isoformat() if p.valid_until else "",
            reference=p.reference, last_reviewed=p.last_reviewed.isoformat(),
            unit=p.unit or "", description=p.description or "") for p in in_force.values])


# ---------------------------------------------------------------- the ledger

def _enum_name(enum_type, number: int, prefix: str) -> str | None:
    """``APPLICATION_KIND_IJH_GRANT`` -> ``ijh_grant``; None for unspecified or unknown."""
    value = enum_type.DESCRIPTOR.values_by_number.get(number)
    if value is None or value.name.endswith("_UNSPECIFIED"):
        return None
    return value.name.removeprefix(prefix).lower()


def _enum_number(enum_type, prefix: str, value: str | None) -> int:
    if not value:
        return 0
    return enum_type.Value(prefix + value.upper())


def application_id(name: str, field: str = "name") -> int:
    """``applications/42`` -> 42, or InvalidArgument naming ``field``."""
    prefix, _, rest = name.partition("/")
    if prefix != "applications" or not rest.isdigit() or int(rest) <= 0 \
            or rest != str(int(rest)):
        raise InvalidArgument(FieldViolation(field, "must be an application name like "
                                                    "\"applications/42\""))
    return int(rest)


def application_kind(number: int) -> ledger.ApplicationKind | None:
    name = _enum_name(funding_pb2.ApplicationKind, number, "APPLICATION_KIND_")
    return ledger.ApplicationKind(name) if name else None


def application_state(number: int) -> ledger.ApplicationState | None:
    name = _enum_name(funding_pb2.ApplicationState, number, "APPLICATION_STATE_")
    return ledger.ApplicationState(name) if name else None


def decision(number: int) -> ledger.Decision | None:
    name = _enum_name(funding_pb2.Decision, number, "DECISION_")
    return ledger.Decision(name) if name else None


def _decimal_or_raw(text: str) -> Decimal | str:
    """A Decimal, or the text itself so that validation names the field."""
    try:
        return Decimal(text)
    except InvalidOperation:
        return text


def _try_enum(enum_type, value: str):
    try:
        return enum_type(value)
    except ValueError:
        return value  # not an enum member: validation names the field


def _ledger_cost_line(line: funding_pb2.CostLine) -> ledger.CostLine:
    attributes: dict[str, object] = {}
    if line.salary_cents:
        attributes["salary_cents"] = line.salary_cents
    if line.working_time_share:
        attributes["working_time_share"] = line.working_time_share
    if line.indirect_cost_rate:
        attributes["indirect_cost_rate"] = line.indirect_cost_rate
    if line.vat_cents:
        attributes["vat_cents"] = line.vat_cents
    return ledger.CostLine(category=line.category, description=line.description,
                           amount_cents=line.amount_cents, attributes=attributes)


def beneficiary_kind(number: int, applicant_kind: str) -> ledger.BeneficiaryKind | int | None:
    """The explicit kind, else what the applicant kind says
    (:func:`ledger.beneficiary_kind_of_applicant`; None when it says nothing). An unknown
    enum number is returned as given (validation names the field)."""
    name = _enum_name(funding_pb2.BeneficiaryKind, number, "BENEFICIARY_KIND_")
    if name:
        return ledger.BeneficiaryKind(name)
    if number != 0:
        return number
    return ledger.beneficiary_kind_of_applicant(applicant_kind)


def draft(request: funding_pb2.CreateApplicationRequest) -> ledger.ApplicationDraft:
    """The ledger's draft, keeping malformed values as given so that validation reports
    each field by its request path."""
    terms = None
    if request.HasField("guarantee"):
        g = request.guarantee
        terms = ledger.GuaranteeTerms(
            amount_cents=g.amount_cents, guarantee_rate=_decimal_or_raw(g.guarantee_rate),
            cap_cents=g.cap_cents, fee_rate=_decimal_or_raw(g.fee_rate or "0"),
            term_months=g.term_months, rating_class=g.rating_class.upper())
    kind = application_kind(request.kind)
    return ledger.ApplicationDraft(
        kind=kind if kind else request.kind,  # type: ignore[arg-type]
        title=request.title,
        beneficiary=ledger.Beneficiary(
            beneficiary_kind(request.beneficiary_kind,  # type: ignore[arg-type]
                             request.applicant.kind),
            request.applicant.business_id, request.applicant.name),
        sector=request.sector, branch=_try_enum(ledger.Branch, request.branch),
        guarantee=terms, cost_lines=tuple(_ledger_cost_line(c) for c in request.cost_lines),
        procurement_kind=request.procurement_kind, applicant_kind=request.applicant.kind)


#: Ledger field paths -> CreateApplicationRequest paths (the rest are the same).
_CREATE_FIELDS = {"beneficiary.business_id": "applicant.business_id",
                  "beneficiary.name": "applicant.name",
                  "beneficiary.kind": "beneficiary_kind",
                  "applicant_kind": "applicant.kind"}


def create_error(exc: InvalidArgument) -> InvalidArgument:
    """The ledger's violations under the request's own field names."""
    return InvalidArgument([FieldViolation(_CREATE_FIELDS.get(v.field, v.field), v.description)
                            for v in exc.violations])


def score_criteria(request: funding_pb2.RecordScoresRequest) -> dict[str, Decimal]:
    """criterion -> points, or InvalidArgument naming ``scores[i]...``."""
    c = Collector()
    criteria: dict[str, Decimal] = {}
    c.check(len(request.scores) > 0, "scores", "at least one criterion score is required")
    for i, item in enumerate(request.scores):
        points = _decimal_or_raw(item.score)
        if not isinstance(points, Decimal) or not points.is_finite():
            c.add(f"scores[{i}].score", f"{item.score!r} is not a decimal number like \"3.5\"")
        elif item.criterion in criteria:
            c.add(f"scores[{i}].criterion", f"criterion {item.criterion!r} scored twice")
        else:
            criteria[item.criterion] = points
    c.raise_if_any()
    return criteria


def _timestamp(at: datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(at)
    return ts


def _proto_cost_line(line: ledger.CostLine) -> funding_pb2.CostLine:
    a = line.attributes
    return funding_pb2.CostLine(
        category=line.category, description=line.description, amount_cents=line.amount_cents,
        vat_cents=int(a.get("vat_cents", 0)), salary_cents=int(a.get("salary_cents", 0)),
        working_time_share=str(a.get("working_time_share", "")),
        indirect_cost_rate=str(a.get("indirect_cost_rate", "")))


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def audit_entry(r: ledger.TransitionRecord) -> funding_pb2.AuditEntry:
    return funding_pb2.AuditEntry(
        action=r.action,
        from_state=_enum_number(funding_pb2.ApplicationState, "APPLICATION_STATE_",
                                r.from_state.value if r.from_state else None),
        to_state=_enum_number(funding_pb2.ApplicationState, "APPLICATION_STATE_",
                              r.to_state.value),
        actor_id=r.actor.id, actor_role=r.actor.role.value, time=_timestamp(r.at),
        reason=r.reason, rules_version=r.rules_version, request_id=r.request_id,
        inputs_json=_json(r.inputs), explanation_json=_json(r.trace))


def _term(app: ledger.Application) -> dict[str, str]:
    """A guarantee's activation day and the day its term ends (empty before activation)."""
    if app.activated_on is None or app.guarantee is None:
        return {}
    end = term_end(app.activated_on, app.guarantee.term_months)
    return {"activated_on": app.activated_on.isoformat(), "term_ends_on": end.isoformat()}


def application(app: ledger.Application,
                history: Sequence[ledger.TransitionRecord] = ()) -> funding_pb2.Application:
    """The API form of a stored application (with its audit log when given)."""
    message = funding_pb2.Application(
        name=app.name,
        kind=_enum_number(funding_pb2.ApplicationKind, "APPLICATION_KIND_", app.kind.value),
        state=_enum_number(funding_pb2.ApplicationState, "APPLICATION_STATE_", app.state.value),
        title=app.title,
        applicant=funding_pb2.Applicant(kind=app.applicant_kind,
                                        business_id=app.beneficiary.business_id,
                                        name=app.beneficiary.name),
        beneficiary_kind=_enum_number(funding_pb2.BeneficiaryKind, "BENEFICIARY_KIND_",
                                      app.beneficiary.kind.value),
        sector=app.sector, branch=app.branch.value, procurement_kind=app.procurement_kind,
        cost_lines=[_proto_cost_line(c) for c in app.cost_lines],
        exposure_cents=app.exposure_cents,
        aid_granted_on=app.aid_granted_on.isoformat() if app.aid_granted_on else "",
        claim_paid_cents=app.claim_paid_cents, rules_version=app.rules_version,
        decision_rules_version=app.decision_rules_version, creator=app.owner_id,
        submitted_on=app.submitted_on.isoformat() if app.submitted_on else "",
        **_term(app),
        scores=[funding_pb2.OfficerScore(
            officer_id=s.officer_id,
            scores=[funding_pb2.CriterionScore(criterion=k, score=str(v))
                    for k, v in s.criteria.items()],
            total=str(s.total), passed=s.passed, score_time=_timestamp(s.scored_at),
            rules_version=s.rules_version) for s in app.scores],
        create_time=_timestamp(app.created_at), update_time=_timestamp(app.updated_at),
        etag=str(app.version), history=[audit_entry(r) for r in history])
    if app.guarantee is not None:
        g = app.guarantee
        message.guarantee.CopyFrom(funding_pb2.GuaranteeTerms(
            amount_cents=g.amount_cents, guarantee_rate=str(g.guarantee_rate),
            cap_cents=g.cap_cents, fee_rate=str(g.fee_rate), term_months=g.term_months,
            rating_class=g.rating_class))
    if app.grant_cents is not None:
        message.grant_cents = app.grant_cents
    if app.gge_cents is not None:
        message.gross_grant_equivalent_cents = app.gge_cents
    return message


def aid_row(aid: ledger.RegisteredAid, counted: bool = False) -> funding_pb2.DeMinimisAid:
    message = funding_pb2.DeMinimisAid(
        id=aid.id, granted_on=aid.granted_on.isoformat(), amount_cents=aid.amount_cents,
        reference=aid.reference,
        application=f"applications/{aid.application_id}" if aid.application_id else "",
        recorded_by=aid.recorded_by, reason=aid.reason, counted=counted)
    if aid.recorded_at is not None:
        message.record_time.CopyFrom(_timestamp(aid.recorded_at))
    if aid.reverses_id is not None:
        message.reverses_aid_id = aid.reverses_id
    if aid.reversed_by_id is not None:
        message.reversed_by_aid_id = aid.reversed_by_id
    return message


def _counted(assessment: ledger.DeMinimisAssessment | None, aid: ledger.RegisteredAid
             ) -> bool:
    """Whether ``aid`` counts on the assessment's day (never without one: no ceiling)."""
    return assessment is not None and assessment.counts(aid)


def ceiling_breach(b: ledger.CeilingBreach) -> funding_pb2.DeMinimisCeilingBreach:
    return funding_pb2.DeMinimisCeilingBreach(
        aid_id=b.aid.id,
        application=f"applications/{b.aid.application_id}" if b.aid.application_id else "",
        granted_on=b.aid.granted_on.isoformat(), window_start=b.window_start.isoformat(),
        counted_cents=b.counted_cents, ceiling_cents=b.ceiling_cents,
        over_ceiling_cents=b.over_ceiling_cents)


def aid_response(recorded: ledger.RecordedAid, business_id: str
                 ) -> funding_pb2.RecordDeMinimisAidResponse:
    aid, assessment = recorded.aid, recorded.assessment
    return funding_pb2.RecordDeMinimisAidResponse(
        business_id=business_id, granted_on=aid.granted_on.isoformat(),
        amount_cents=aid.amount_cents, reference=aid.reference,
        aid=aid_row(aid, _counted(assessment, aid)),
        over_ceiling_cents=assessment.over_ceiling_cents if assessment else 0,
        ceiling_breaches=[ceiling_breach(b) for b in recorded.breaches])


def registered_kind(number: int) -> ledger.BeneficiaryKind | None:
    """A kind an officer sets: public unit or company, None for anything else."""
    name = _enum_name(funding_pb2.BeneficiaryKind, number, "BENEFICIARY_KIND_")
    return ledger.BeneficiaryKind(name) if name else None


def _kind_number(kind: ledger.BeneficiaryKind | None) -> int:
    return _enum_number(funding_pb2.BeneficiaryKind, "BENEFICIARY_KIND_",
                        kind.value if kind else None)


def beneficiary_kind_response(b: ledger.RegisteredBeneficiary
                              ) -> funding_pb2.CorrectBeneficiaryKindResponse:
    return funding_pb2.CorrectBeneficiaryKindResponse(
        business_id=b.business_id, kind=_kind_number(b.kind),
        previous_kind=_kind_number(b.previous_kind), kind_confirmed_by=b.kind_confirmed_by,
        aid=[aid_row(a, _counted(b.assessment, a)) for a in b.aid_written],
        aid_not_registered=list(b.aid_unknown))


def de_minimis_register_response(assessment: ledger.DeMinimisAssessment,
                                 rows: Sequence[ledger.RegisteredAid], rules: ledger.FundRules,
                                 breaches: Sequence[ledger.CeilingBreach] = (),
                                 beneficiary: ledger.RegisteredBeneficiary | None = None
                                 ) -> funding_pb2.GetDeMinimisRegisterResponse:
    start, on = assessment.window_start, assessment.grant_date
    return funding_pb2.GetDeMinimisRegisterResponse(
        beneficiary_kind=_kind_number(beneficiary.kind if beneficiary else None),
        kind_confirmed_by=beneficiary.kind_confirmed_by if beneficiary else "",
        business_id=assessment.business_id, assessed_on=on.isoformat(),
        rules_version=rules.version, regulation=rules.de_minimis.reference,
        ceiling_cents=assessment.ceiling_cents, window_start=start.isoformat(),
        counted_cents=assessment.counted_cents, room_cents=assessment.room_cents,
        aid=[aid_row(a, _counted(assessment, a)) for a in rows],
        over_ceiling_cents=assessment.over_ceiling_cents,
        ceiling_breaches=[ceiling_breach(b) for b in breaches])


def fund_status_response(s: ledger.FundStatus) -> funding_pb2.GetFundStatusResponse:
    return funding_pb2.GetFundStatusResponse(
        capital_cents=s.capital_cents, committed_cents=s.committed_cents,
        available_cents=s.available_cents, claims_paid_cents=s.claims_paid_cents,
        paid_in_capital_cents=s.paid_in_capital_cents, capacity_cents=s.capacity_cents,
        rules_version=s.rules_version)


def exposure_response(rules_version: str, sectors: Sequence[ledger.Exposure],
                      branches: Sequence[ledger.Exposure]) -> funding_pb2.GetExposureResponse:
    def group(e: ledger.Exposure) -> funding_pb2.ExposureGroup:
        return funding_pb2.ExposureGroup(key=e.key, committed_cents=e.committed_cents,
                                         limit_cents=e.limit_cents, guarantee_count=e.guarantees)
    return funding_pb2.GetExposureResponse(rules_version=rules_version,
                                           sectors=[group(e) for e in sectors],
                                           branches=[group(e) for e in branches])


# ------------------------------------------------- the risk-appetite check (risk service)

_COUNTERPARTY = {ledger.BeneficiaryKind.PUBLIC_UNIT: risk_pb2.COUNTERPARTY_KIND_PUBLIC_UNIT,
                 ledger.BeneficiaryKind.COMPANY: risk_pb2.COUNTERPARTY_KIND_COMPANY}


def risk_guarantee(row: ledger.PortfolioRow, model: Mapping) -> risk_pb2.Guarantee:
    """A ledger guarantee as the risk model sees it: the fund's exposure is the loss base
    (guarantee rate and cap are already in it), default probability by rating class."""
    return risk_pb2.Guarantee(
        id=f"applications/{row.application_id}", exposure_cents=row.exposure_cents,
        probability_of_default=float(ledger.probability_of_default(model, row.rating_class)),
        loss_given_default=float(model["loss_given_default"]),
        guarantee_rate=1.0, sector=row.sector, branch=row.branch,
        counterparty_kind=_COUNTERPARTY[row.beneficiary_kind],
        factor_loadings=[float(model["factor_loading"])])


def _fund_terms(capital_cents: int, model: Mapping) -> risk_pb2.FundTerms:
    """The fund as the risk service sees it. Its capital may not be negative: claims paid
    beyond the paid-in capital leave none (any loss then exhausts the fund)."""
    return risk_pb2.FundTerms(capital_cents=max(0, capital_cents),
                              horizon_years=int(model["horizon_years"]))


def incremental_risk_request(portfolio: Sequence[ledger.PortfolioRow],
                             candidate: ledger.PortfolioRow, model: Mapping,
                             capital_cents: int, level: float
                             ) -> risk_pb2.EvaluateIncrementalRiskRequest:
    return risk_pb2.EvaluateIncrementalRiskRequest(
        portfolio=[risk_guarantee(r, model) for r in portfolio],
        candidate=risk_guarantee(candidate, model),
        fund=_fund_terms(capital_cents, model),
        dependence=risk_pb2.Dependence(copula=risk_pb2.COPULA_GAUSSIAN),
        simulation=risk_pb2.PortfolioSimulationOptions(
            scenario_count=int(model["scenario_count"]), seed=int(model["seed"]),
            levels=[level]))


def portfolio_request(portfolio: Sequence[ledger.PortfolioRow], model: Mapping,
                      capital_cents: int, level: float) -> risk_pb2.SimulatePortfolioRequest:
    """The committed portfolio as one SimulatePortfolio message, under the risk model."""
    return risk_pb2.SimulatePortfolioRequest(
        fund=_fund_terms(capital_cents, model),
        dependence=risk_pb2.Dependence(copula=risk_pb2.COPULA_GAUSSIAN),
        simulation=risk_pb2.PortfolioSimulationOptions(
            scenario_count=int(model["scenario_count"]), seed=int(model["seed"]),
            levels=[level]),
        guarantees=[risk_guarantee(r, model) for r in portfolio])


def headline_figures(result: risk_pb2.PortfolioRiskResult, measure: str
                     ) -> list[funding_pb2.FundRiskFigure]:
    """EL, VaR and ES at the measure's level."""
    _, level = ledger.risk_measure(measure)
    tail = min(result.tail_risk, key=lambda t: abs(t.level - level))
    label = f"{level * 100:g}"
    now = timestamp_pb2.Timestamp()
    now.GetCurrentTime()

    def figure(name: str, estimate) -> funding_pb2.FundRiskFigure:
        return funding_pb2.FundRiskFigure(
            measure=name, value_cents=estimate.value,
            standard_error_cents=estimate.standard_error, seed=result.seed, compute_time=now)

    return [figure("EL", result.expected_loss_cents),
            figure(f"VaR{label}", tail.value_at_risk_cents),
            figure(f"ES{label}", tail.expected_shortfall_cents)]


def risk_figures(response: risk_pb2.EvaluateIncrementalRiskResponse, measure: str
                 ) -> ledger.RiskFigures:
    """The figure the risk-appetite rule checks, rounded up to the cent (prudent)."""
    kind, level = ledger.risk_measure(measure)
    tail = min(response.tail_risk, key=lambda t: abs(t.level - level), default=None)
    if tail is None or abs(tail.level - level) > 1e-9:
        raise ValueError(f"the risk service returned no figures at level {level}")
    after, before = ((tail.expected_shortfall_after_cents, tail.expected_shortfall_before_cents)
                     if kind == "ES" else
                     (tail.value_at_risk_after_cents, tail.value_at_risk_before_cents))
    return ledger.RiskFigures(
        measure=measure, after_cents=math.ceil(after.value),
        before_cents=math.ceil(before.value),
        standard_error_cents=math.ceil(after.standard_error), seed=response.seed)
