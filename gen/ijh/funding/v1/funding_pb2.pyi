import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ApplicationKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPLICATION_KIND_UNSPECIFIED: _ClassVar[ApplicationKind]
    APPLICATION_KIND_IJH_GRANT: _ClassVar[ApplicationKind]
    APPLICATION_KIND_GUARANTEE: _ClassVar[ApplicationKind]

class ApplicationState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPLICATION_STATE_UNSPECIFIED: _ClassVar[ApplicationState]
    APPLICATION_STATE_DRAFT: _ClassVar[ApplicationState]
    APPLICATION_STATE_SUBMITTED: _ClassVar[ApplicationState]
    APPLICATION_STATE_SCORED: _ClassVar[ApplicationState]
    APPLICATION_STATE_APPROVED: _ClassVar[ApplicationState]
    APPLICATION_STATE_REJECTED: _ClassVar[ApplicationState]
    APPLICATION_STATE_ACTIVE: _ClassVar[ApplicationState]
    APPLICATION_STATE_CLAIMED: _ClassVar[ApplicationState]
    APPLICATION_STATE_EXPIRED: _ClassVar[ApplicationState]

class BeneficiaryKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BENEFICIARY_KIND_UNSPECIFIED: _ClassVar[BeneficiaryKind]
    BENEFICIARY_KIND_PUBLIC_UNIT: _ClassVar[BeneficiaryKind]
    BENEFICIARY_KIND_COMPANY: _ClassVar[BeneficiaryKind]

class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_UNSPECIFIED: _ClassVar[Decision]
    DECISION_APPROVE: _ClassVar[Decision]
    DECISION_REJECT: _ClassVar[Decision]
APPLICATION_KIND_UNSPECIFIED: ApplicationKind
APPLICATION_KIND_IJH_GRANT: ApplicationKind
APPLICATION_KIND_GUARANTEE: ApplicationKind
APPLICATION_STATE_UNSPECIFIED: ApplicationState
APPLICATION_STATE_DRAFT: ApplicationState
APPLICATION_STATE_SUBMITTED: ApplicationState
APPLICATION_STATE_SCORED: ApplicationState
APPLICATION_STATE_APPROVED: ApplicationState
APPLICATION_STATE_REJECTED: ApplicationState
APPLICATION_STATE_ACTIVE: ApplicationState
APPLICATION_STATE_CLAIMED: ApplicationState
APPLICATION_STATE_EXPIRED: ApplicationState
BENEFICIARY_KIND_UNSPECIFIED: BeneficiaryKind
BENEFICIARY_KIND_PUBLIC_UNIT: BeneficiaryKind
BENEFICIARY_KIND_COMPANY: BeneficiaryKind
DECISION_UNSPECIFIED: Decision
DECISION_APPROVE: Decision
DECISION_REJECT: Decision

class Applicant(_message.Message):
    __slots__ = ("kind", "business_id", "name")
    KIND_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    kind: str
    business_id: str
    name: str
    def __init__(self, kind: _Optional[str] = ..., business_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class CostLine(_message.Message):
    __slots__ = ("category", "description", "amount_cents", "vat_cents", "salary_cents", "working_time_share", "indirect_cost_rate")
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_CENTS_FIELD_NUMBER: _ClassVar[int]
    VAT_CENTS_FIELD_NUMBER: _ClassVar[int]
    SALARY_CENTS_FIELD_NUMBER: _ClassVar[int]
    WORKING_TIME_SHARE_FIELD_NUMBER: _ClassVar[int]
    INDIRECT_COST_RATE_FIELD_NUMBER: _ClassVar[int]
    category: str
    description: str
    amount_cents: int
    vat_cents: int
    salary_cents: int
    working_time_share: str
    indirect_cost_rate: str
    def __init__(self, category: _Optional[str] = ..., description: _Optional[str] = ..., amount_cents: _Optional[int] = ..., vat_cents: _Optional[int] = ..., salary_cents: _Optional[int] = ..., working_time_share: _Optional[str] = ..., indirect_cost_rate: _Optional[str] = ...) -> None: ...

class ComputeGrantRequest(_message.Message):
    __slots__ = ("reference_date", "applicant", "procurement_kind", "cost_lines", "include_explanation")
    REFERENCE_DATE_FIELD_NUMBER: _ClassVar[int]
    APPLICANT_FIELD_NUMBER: _ClassVar[int]
    PROCUREMENT_KIND_FIELD_NUMBER: _ClassVar[int]
    COST_LINES_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    reference_date: str
    applicant: Applicant
    procurement_kind: str
    cost_lines: _containers.RepeatedCompositeFieldContainer[CostLine]
    include_explanation: bool
    def __init__(self, reference_date: _Optional[str] = ..., applicant: _Optional[_Union[Applicant, _Mapping]] = ..., procurement_kind: _Optional[str] = ..., cost_lines: _Optional[_Iterable[_Union[CostLine, _Mapping]]] = ..., include_explanation: _Optional[bool] = ...) -> None: ...

class Rejection(_message.Message):
    __slots__ = ("reason", "amount_cents", "description")
    REASON_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_CENTS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    reason: str
    amount_cents: int
    description: str
    def __init__(self, reason: _Optional[str] = ..., amount_cents: _Optional[int] = ..., description: _Optional[str] = ...) -> None: ...

class CostLineResult(_message.Message):
    __slots__ = ("index", "category", "description", "claimed_cents", "accepted_cents", "rejected_cents", "rejections")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CLAIMED_CENTS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_CENTS_FIELD_NUMBER: _ClassVar[int]
    REJECTED_CENTS_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    index: int
    category: str
    description: str
    claimed_cents: int
    accepted_cents: int
    rejected_cents: int
    rejections: _containers.RepeatedCompositeFieldContainer[Rejection]
    def __init__(self, index: _Optional[int] = ..., category: _Optional[str] = ..., description: _Optional[str] = ..., claimed_cents: _Optional[int] = ..., accepted_cents: _Optional[int] = ..., rejected_cents: _Optional[int] = ..., rejections: _Optional[_Iterable[_Union[Rejection, _Mapping]]] = ...) -> None: ...

class ParameterUse(_message.Message):
    __slots__ = ("name", "value", "valid_from", "valid_until", "reference")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    valid_from: str
    valid_until: str
    reference: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ..., valid_from: _Optional[str] = ..., valid_until: _Optional[str] = ..., reference: _Optional[str] = ...) -> None: ...

class RuleInput(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class ExplanationStep(_message.Message):
    __slots__ = ("figure", "rule", "formula", "result", "inputs", "parameters")
    FIGURE_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    FORMULA_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    figure: str
    rule: str
    formula: str
    result: str
    inputs: _containers.RepeatedCompositeFieldContainer[RuleInput]
    parameters: _containers.RepeatedCompositeFieldContainer[ParameterUse]
    def __init__(self, figure: _Optional[str] = ..., rule: _Optional[str] = ..., formula: _Optional[str] = ..., result: _Optional[str] = ..., inputs: _Optional[_Iterable[_Union[RuleInput, _Mapping]]] = ..., parameters: _Optional[_Iterable[_Union[ParameterUse, _Mapping]]] = ...) -> None: ...

class ComputeGrantResponse(_message.Message):
    __slots__ = ("reference_date", "rules_version", "applicant_eligible", "procurement_kind_eligible", "eligible", "claimed_cents", "eligible_cents", "rejected_cents", "grant_rate", "grant_cents", "cost_lines", "rejections", "parameters_used", "explanation")
    REFERENCE_DATE_FIELD_NUMBER: _ClassVar[int]
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    APPLICANT_ELIGIBLE_FIELD_NUMBER: _ClassVar[int]
    PROCUREMENT_KIND_ELIGIBLE_FIELD_NUMBER: _ClassVar[int]
    ELIGIBLE_FIELD_NUMBER: _ClassVar[int]
    CLAIMED_CENTS_FIELD_NUMBER: _ClassVar[int]
    ELIGIBLE_CENTS_FIELD_NUMBER: _ClassVar[int]
    REJECTED_CENTS_FIELD_NUMBER: _ClassVar[int]
    GRANT_RATE_FIELD_NUMBER: _ClassVar[int]
    GRANT_CENTS_FIELD_NUMBER: _ClassVar[int]
    COST_LINES_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_USED_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    reference_date: str
    rules_version: str
    applicant_eligible: bool
    procurement_kind_eligible: bool
    eligible: bool
    claimed_cents: int
    eligible_cents: int
    rejected_cents: int
    grant_rate: str
    grant_cents: int
    cost_lines: _containers.RepeatedCompositeFieldContainer[CostLineResult]
    rejections: _containers.RepeatedCompositeFieldContainer[Rejection]
    parameters_used: _containers.RepeatedCompositeFieldContainer[ParameterUse]
    explanation: _containers.RepeatedCompositeFieldContainer[ExplanationStep]
    def __init__(self, reference_date: _Optional[str] = ..., rules_version: _Optional[str] = ..., applicant_eligible: _Optional[bool] = ..., procurement_kind_eligible: _Optional[bool] = ..., eligible: _Optional[bool] = ..., claimed_cents: _Optional[int] = ..., eligible_cents: _Optional[int] = ..., rejected_cents: _Optional[int] = ..., grant_rate: _Optional[str] = ..., grant_cents: _Optional[int] = ..., cost_lines: _Optional[_Iterable[_Union[CostLineResult, _Mapping]]] = ..., rejections: _Optional[_Iterable[_Union[Rejection, _Mapping]]] = ..., parameters_used: _Optional[_Iterable[_Union[ParameterUse, _Mapping]]] = ..., explanation: _Optional[_Iterable[_Union[ExplanationStep, _Mapping]]] = ...) -> None: ...

class CriterionScore(_message.Message):
    __slots__ = ("criterion", "score")
    CRITERION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    criterion: str
    score: str
    def __init__(self, criterion: _Optional[str] = ..., score: _Optional[str] = ...) -> None: ...

class ScoreSheet(_message.Message):
    __slots__ = ("officer_id", "scores")
    OFFICER_ID_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    officer_id: str
    scores: _containers.RepeatedCompositeFieldContainer[CriterionScore]
    def __init__(self, officer_id: _Optional[str] = ..., scores: _Optional[_Iterable[_Union[CriterionScore, _Mapping]]] = ...) -> None: ...

class ScoreApplicationRequest(_message.Message):
    __slots__ = ("reference_date", "score_sheets", "include_explanation")
    REFERENCE_DATE_FIELD_NUMBER: _ClassVar[int]
    SCORE_SHEETS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    reference_date: str
    score_sheets: _containers.RepeatedCompositeFieldContainer[ScoreSheet]
    include_explanation: bool
    def __init__(self, reference_date: _Optional[str] = ..., score_sheets: _Optional[_Iterable[_Union[ScoreSheet, _Mapping]]] = ..., include_explanation: _Optional[bool] = ...) -> None: ...

class CriterionResult(_message.Message):
    __slots__ = ("criterion", "officer_scores", "mean_score", "min_score", "max_score", "spread", "stdev", "pass_mark", "passed", "disagreement", "weight")
    CRITERION_FIELD_NUMBER: _ClassVar[int]
    OFFICER_SCORES_FIELD_NUMBER: _ClassVar[int]
    MEAN_SCORE_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    MAX_SCORE_FIELD_NUMBER: _ClassVar[int]
    SPREAD_FIELD_NUMBER: _ClassVar[int]
    STDEV_FIELD_NUMBER: _ClassVar[int]
    PASS_MARK_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    DISAGREEMENT_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    criterion: str
    officer_scores: _containers.RepeatedScalarFieldContainer[str]
    mean_score: str
    min_score: str
    max_score: str
    spread: str
    stdev: str
    pass_mark: str
    passed: bool
    disagreement: bool
    weight: str
    def __init__(self, criterion: _Optional[str] = ..., officer_scores: _Optional[_Iterable[str]] = ..., mean_score: _Optional[str] = ..., min_score: _Optional[str] = ..., max_score: _Optional[str] = ..., spread: _Optional[str] = ..., stdev: _Optional[str] = ..., pass_mark: _Optional[str] = ..., passed: _Optional[bool] = ..., disagreement: _Optional[bool] = ..., weight: _Optional[str] = ...) -> None: ...

class ScoreApplicationResponse(_message.Message):
    __slots__ = ("reference_date", "rules_version", "officer_ids", "criteria", "total_score", "maximum_total", "overall_pass_mark", "all_criteria_passed", "passed", "weighted_score", "disagreement", "parameters_used", "explanation")
    REFERENCE_DATE_FIELD_NUMBER: _ClassVar[int]
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    OFFICER_IDS_FIELD_NUMBER: _ClassVar[int]
    CRITERIA_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SCORE_FIELD_NUMBER: _ClassVar[int]
    MAXIMUM_TOTAL_FIELD_NUMBER: _ClassVar[int]
    OVERALL_PASS_MARK_FIELD_NUMBER: _ClassVar[int]
    ALL_CRITERIA_PASSED_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    WEIGHTED_SCORE_FIELD_NUMBER: _ClassVar[int]
    DISAGREEMENT_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_USED_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    reference_date: str
    rules_version: str
    officer_ids: _containers.RepeatedScalarFieldContainer[str]
    criteria: _containers.RepeatedCompositeFieldContainer[CriterionResult]
    total_score: str
    maximum_total: str
    overall_pass_mark: str
    all_criteria_passed: bool
    passed: bool
    weighted_score: str
    disagreement: bool
    parameters_used: _containers.RepeatedCompositeFieldContainer[ParameterUse]
    explanation: _containers.RepeatedCompositeFieldContainer[ExplanationStep]
    def __init__(self, reference_date: _Optional[str] = ..., rules_version: _Optional[str] = ..., officer_ids: _Optional[_Iterable[str]] = ..., criteria: _Optional[_Iterable[_Union[CriterionResult, _Mapping]]] = ..., total_score: _Optional[str] = ..., maximum_total: _Optional[str] = ..., overall_pass_mark: _Optional[str] = ..., all_criteria_passed: _Optional[bool] = ..., passed: _Optional[bool] = ..., weighted_score: _Optional[str] = ..., disagreement: _Optional[bool] = ..., parameters_used: _Optional[_Iterable[_Union[ParameterUse, _Mapping]]] = ..., explanation: _Optional[_Iterable[_Union[ExplanationStep, _Mapping]]] = ...) -> None: ...

class ListParametersRequest(_message.Message):
    __slots__ = ("reference_date", "rule_set")
    REFERENCE_DATE_FIELD_NUMBER: _ClassVar[int]
    RULE_SET_FIELD_NUMBER: _ClassVar[int]
    reference_date: str
    rule_set: str
    def __init__(self, reference_date: _Optional[str] = ..., rule_set: _Optional[str] = ...) -> None: ...

class Parameter(_message.Message):
    __slots__ = ("name", "value_json", "valid_from", "valid_until", "reference", "last_reviewed", "unit", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_JSON_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    LAST_REVIEWED_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    value_json: str
    valid_from: str
    valid_until: str
    reference: str
    last_reviewed: str
    unit: str
    description: str
    def __init__(self, name: _Optional[str] = ..., value_json: _Optional[str] = ..., valid_from: _Optional[str] = ..., valid_until: _Optional[str] = ..., reference: _Optional[str] = ..., last_reviewed: _Optional[str] = ..., unit: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class ListParametersResponse(_message.Message):
    __slots__ = ("reference_date", "rules_version", "parameters")
    REFERENCE_DATE_FIELD_NUMBER: _ClassVar[int]
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    reference_date: str
    rules_version: str
    parameters: _containers.RepeatedCompositeFieldContainer[Parameter]
    def __init__(self, reference_date: _Optional[str] = ..., rules_version: _Optional[str] = ..., parameters: _Optional[_Iterable[_Union[Parameter, _Mapping]]] = ...) -> None: ...

class GuaranteeTerms(_message.Message):
    __slots__ = ("amount_cents", "guarantee_rate", "cap_cents", "fee_rate", "term_months", "rating_class")
    AMOUNT_CENTS_FIELD_NUMBER: _ClassVar[int]
    GUARANTEE_RATE_FIELD_NUMBER: _ClassVar[int]
    CAP_CENTS_FIELD_NUMBER: _ClassVar[int]
    FEE_RATE_FIELD_NUMBER: _ClassVar[int]
    TERM_MONTHS_FIELD_NUMBER: _ClassVar[int]
    RATING_CLASS_FIELD_NUMBER: _ClassVar[int]
    amount_cents: int
    guarantee_rate: str
    cap_cents: int
    fee_rate: str
    term_months: int
    rating_class: str
    def __init__(self, amount_cents: _Optional[int] = ..., guarantee_rate: _Optional[str] = ..., cap_cents: _Optional[int] = ..., fee_rate: _Optional[str] = ..., term_months: _Optional[int] = ..., rating_class: _Optional[str] = ...) -> None: ...

class OfficerScore(_message.Message):
    __slots__ = ("officer_id", "scores", "total", "passed", "score_time", "rules_version")
    OFFICER_ID_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    SCORE_TIME_FIELD_NUMBER: _ClassVar[int]
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    officer_id: str
    scores: _containers.RepeatedCompositeFieldContainer[CriterionScore]
    total: str
    passed: bool
    score_time: _timestamp_pb2.Timestamp
    rules_version: str
    def __init__(self, officer_id: _Optional[str] = ..., scores: _Optional[_Iterable[_Union[CriterionScore, _Mapping]]] = ..., total: _Optional[str] = ..., passed: _Optional[bool] = ..., score_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rules_version: _Optional[str] = ...) -> None: ...

class AuditEntry(_message.Message):
    __slots__ = ("action", "from_state", "to_state", "actor_id", "actor_role", "time", "reason", "rules_version", "request_id", "inputs_json", "explanation_json")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    FROM_STATE_FIELD_NUMBER: _ClassVar[int]
    TO_STATE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ROLE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    INPUTS_JSON_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_JSON_FIELD_NUMBER: _ClassVar[int]
    action: str
    from_state: ApplicationState
    to_state: ApplicationState
    actor_id: str
    actor_role: str
    time: _timestamp_pb2.Timestamp
    reason: str
    rules_version: str
    request_id: str
    inputs_json: str
    explanation_json: str
    def __init__(self, action: _Optional[str] = ..., from_state: _Optional[_Union[ApplicationState, str]] = ..., to_state: _Optional[_Union[ApplicationState, str]] = ..., actor_id: _Optional[str] = ..., actor_role: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ..., rules_version: _Optional[str] = ..., request_id: _Optional[str] = ..., inputs_json: _Optional[str] = ..., explanation_json: _Optional[str] = ...) -> None: ...

class Application(_message.Message):
    __slots__ = ("name", "kind", "state", "title", "applicant", "beneficiary_kind", "sector", "branch", "procurement_kind", "guarantee", "cost_lines", "exposure_cents", "grant_cents", "gross_grant_equivalent_cents", "aid_granted_on", "claim_paid_cents", "rules_version", "creator", "scores", "create_time", "update_time", "etag", "history", "decision_rules_version", "submitted_on", "activated_on", "term_ends_on")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    APPLICANT_FIELD_NUMBER: _ClassVar[int]
    BENEFICIARY_KIND_FIELD_NUMBER: _ClassVar[int]
    SECTOR_FIELD_NUMBER: _ClassVar[int]
    BRANCH_FIELD_NUMBER: _ClassVar[int]
    PROCUREMENT_KIND_FIELD_NUMBER: _ClassVar[int]
    GUARANTEE_FIELD_NUMBER: _ClassVar[int]
    COST_LINES_FIELD_NUMBER: _ClassVar[int]
    EXPOSURE_CENTS_FIELD_NUMBER: _ClassVar[int]
    GRANT_CENTS_FIELD_NUMBER: _ClassVar[int]
    GROSS_GRANT_EQUIVALENT_CENTS_FIELD_NUMBER: _ClassVar[int]
    AID_GRANTED_ON_FIELD_NUMBER: _ClassVar[int]
    CLAIM_PAID_CENTS_FIELD_NUMBER: _ClassVar[int]
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    DECISION_RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_ON_FIELD_NUMBER: _ClassVar[int]
    ACTIVATED_ON_FIELD_NUMBER: _ClassVar[int]
    TERM_ENDS_ON_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: ApplicationKind
    state: ApplicationState
    title: str
    applicant: Applicant
    beneficiary_kind: BeneficiaryKind
    sector: str
    branch: str
    procurement_kind: str
    guarantee: GuaranteeTerms
    cost_lines: _containers.RepeatedCompositeFieldContainer[CostLine]
    exposure_cents: int
    grant_cents: int
    gross_grant_equivalent_cents: int
    aid_granted_on: str
    claim_paid_cents: int
    rules_version: str
    creator: str
    scores: _containers.RepeatedCompositeFieldContainer[OfficerScore]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    etag: str
    history: _containers.RepeatedCompositeFieldContainer[AuditEntry]
    decision_rules_version: str
    submitted_on: str
    activated_on: str
    term_ends_on: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[ApplicationKind, str]] = ..., state: _Optional[_Union[ApplicationState, str]] = ..., title: _Optional[str] = ..., applicant: _Optional[_Union[Applicant, _Mapping]] = ..., beneficiary_kind: _Optional[_Union[BeneficiaryKind, str]] = ..., sector: _Optional[str] = ..., branch: _Optional[str] = ..., procurement_kind: _Optional[str] = ..., guarantee: _Optional[_Union[GuaranteeTerms, _Mapping]] = ..., cost_lines: _Optional[_Iterable[_Union[CostLine, _Mapping]]] = ..., exposure_cents: _Optional[int] = ..., grant_cents: _Optional[int] = ..., gross_grant_equivalent_cents: _Optional[int] = ..., aid_granted_on: _Optional[str] = ..., claim_paid_cents: _Optional[int] = ..., rules_version: _Optional[str] = ..., creator: _Optional[str] = ..., scores: _Optional[_Iterable[_Union[OfficerScore, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ..., history: _Optional[_Iterable[_Union[AuditEntry, _Mapping]]] = ..., decision_rules_version: _Optional[str] = ..., submitted_on: _Optional[str] = ..., activated_on: _Optional[str] = ..., term_ends_on: _Optional[str] = ...) -> None: ...

class CreateApplicationRequest(_message.Message):
    __slots__ = ("request_id", "kind", "title", "applicant", "beneficiary_kind", "sector", "branch", "procurement_kind", "guarantee", "cost_lines")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    APPLICANT_FIELD_NUMBER: _ClassVar[int]
    BENEFICIARY_KIND_FIELD_NUMBER: _ClassVar[int]
    SECTOR_FIELD_NUMBER: _ClassVar[int]
    BRANCH_FIELD_NUMBER: _ClassVar[int]
    PROCUREMENT_KIND_FIELD_NUMBER: _ClassVar[int]
    GUARANTEE_FIELD_NUMBER: _ClassVar[int]
    COST_LINES_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    kind: ApplicationKind
    title: str
    applicant: Applicant
    beneficiary_kind: BeneficiaryKind
    sector: str
    branch: str
    procurement_kind: str
    guarantee: GuaranteeTerms
    cost_lines: _containers.RepeatedCompositeFieldContainer[CostLine]
    def __init__(self, request_id: _Optional[str] = ..., kind: _Optional[_Union[ApplicationKind, str]] = ..., title: _Optional[str] = ..., applicant: _Optional[_Union[Applicant, _Mapping]] = ..., beneficiary_kind: _Optional[_Union[BeneficiaryKind, str]] = ..., sector: _Optional[str] = ..., branch: _Optional[str] = ..., procurement_kind: _Optional[str] = ..., guarantee: _Optional[_Union[GuaranteeTerms, _Mapping]] = ..., cost_lines: _Optional[_Iterable[_Union[CostLine, _Mapping]]] = ...) -> None: ...

class CreateApplicationResponse(_message.Message):
    __slots__ = ("application",)
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    application: Application
    def __init__(self, application: _Optional[_Union[Application, _Mapping]] = ...) -> None: ...

class GetApplicationRequest(_message.Message):
    __slots__ = ("name", "include_history")
    NAME_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_HISTORY_FIELD_NUMBER: _ClassVar[int]
    name: str
    include_history: bool
    def __init__(self, name: _Optional[str] = ..., include_history: _Optional[bool] = ...) -> None: ...

class GetApplicationResponse(_message.Message):
    __slots__ = ("application",)
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    application: Application
    def __init__(self, application: _Optional[_Union[Application, _Mapping]] = ...) -> None: ...

class ListApplicationsRequest(_message.Message):
    __slots__ = ("state", "kind", "applicant_business_id", "page_size", "page_token")
    STATE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    APPLICANT_BUSINESS_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    state: ApplicationState
    kind: ApplicationKind
    applicant_business_id: str
    page_size: int
    page_token: str
    def __init__(self, state: _Optional[_Union[ApplicationState, str]] = ..., kind: _Optional[_Union[ApplicationKind, str]] = ..., applicant_business_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListApplicationsResponse(_message.Message):
    __slots__ = ("applications", "next_page_token")
    APPLICATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    applications: _containers.RepeatedCompositeFieldContainer[Application]
    next_page_token: str
    def __init__(self, applications: _Optional[_Iterable[_Union[Application, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SubmitApplicationRequest(_message.Message):
    __slots__ = ("request_id", "name", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    name: str
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., name: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class SubmitApplicationResponse(_message.Message):
    __slots__ = ("application", "rules_version")
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    application: Application
    rules_version: str
    def __init__(self, application: _Optional[_Union[Application, _Mapping]] = ..., rules_version: _Optional[str] = ...) -> None: ...

class RecordScoresRequest(_message.Message):
    __slots__ = ("request_id", "name", "scores", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    name: str
    scores: _containers.RepeatedCompositeFieldContainer[CriterionScore]
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., name: _Optional[str] = ..., scores: _Optional[_Iterable[_Union[CriterionScore, _Mapping]]] = ..., reason: _Optional[str] = ...) -> None: ...

class RecordScoresResponse(_message.Message):
    __slots__ = ("application", "rules_version")
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    application: Application
    rules_version: str
    def __init__(self, application: _Optional[_Union[Application, _Mapping]] = ..., rules_version: _Optional[str] = ...) -> None: ...

class DecideApplicationRequest(_message.Message):
    __slots__ = ("request_id", "name", "decision", "reason", "expected_grant_cents", "indirect_cost_rate", "grant_cents")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_GRANT_CENTS_FIELD_NUMBER: _ClassVar[int]
    INDIRECT_COST_RATE_FIELD_NUMBER: _ClassVar[int]
    GRANT_CENTS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    name: str
    decision: Decision
    reason: str
    expected_grant_cents: int
    indirect_cost_rate: str
    grant_cents: int
    def __init__(self, request_id: _Optional[str] = ..., name: _Optional[str] = ..., decision: _Optional[_Union[Decision, str]] = ..., reason: _Optional[str] = ..., expected_grant_cents: _Optional[int] = ..., indirect_cost_rate: _Optional[str] = ..., grant_cents: _Optional[int] = ...) -> None: ...

class DecideApplicationResponse(_message.Message):
    __slots__ = ("application", "rules_version")
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    application: Application
    rules_version: str
    def __init__(self, application: _Optional[_Union[Application, _Mapping]] = ..., rules_version: _Optional[str] = ...) -> None: ...

class ActivateGuaranteeRequest(_message.Message):
    __slots__ = ("request_id", "name", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    name: str
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., name: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ActivateGuaranteeResponse(_message.Message):
    __slots__ = ("application", "rules_version")
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    application: Application
    rules_version: str
    def __init__(self, application: _Optional[_Union[Application, _Mapping]] = ..., rules_version: _Optional[str] = ...) -> None: ...

class RecordClaimRequest(_message.Message):
    __slots__ = ("request_id", "name", "amount_cents", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_CENTS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    name: str
    amount_cents: int
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., name: _Optional[str] = ..., amount_cents: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class RecordClaimResponse(_message.Message):
    __slots__ = ("application", "rules_version")
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    application: Application
    rules_version: str
    def __init__(self, application: _Optional[_Union[Application, _Mapping]] = ..., rules_version: _Optional[str] = ...) -> None: ...

class ExpireGuaranteeRequest(_message.Message):
    __slots__ = ("request_id", "name", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    name: str
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., name: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ExpireGuaranteeResponse(_message.Message):
    __slots__ = ("application", "rules_version")
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    application: Application
    rules_version: str
    def __init__(self, application: _Optional[_Union[Application, _Mapping]] = ..., rules_version: _Optional[str] = ...) -> None: ...

class RecordDeMinimisAidRequest(_message.Message):
    __slots__ = ("request_id", "business_id", "granted_on", "amount_cents", "reference")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_ID_FIELD_NUMBER: _ClassVar[int]
    GRANTED_ON_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_CENTS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    business_id: str
    granted_on: str
    amount_cents: int
    reference: str
    def __init__(self, request_id: _Optional[str] = ..., business_id: _Optional[str] = ..., granted_on: _Optional[str] = ..., amount_cents: _Optional[int] = ..., reference: _Optional[str] = ...) -> None: ...

class RecordDeMinimisAidResponse(_message.Message):
    __slots__ = ("business_id", "granted_on", "amount_cents", "reference", "aid", "over_ceiling_cents", "ceiling_breaches")
    BUSINESS_ID_FIELD_NUMBER: _ClassVar[int]
    GRANTED_ON_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_CENTS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    AID_FIELD_NUMBER: _ClassVar[int]
    OVER_CEILING_CENTS_FIELD_NUMBER: _ClassVar[int]
    CEILING_BREACHES_FIELD_NUMBER: _ClassVar[int]
    business_id: str
    granted_on: str
    amount_cents: int
    reference: str
    aid: DeMinimisAid
    over_ceiling_cents: int
    ceiling_breaches: _containers.RepeatedCompositeFieldContainer[DeMinimisCeilingBreach]
    def __init__(self, business_id: _Optional[str] = ..., granted_on: _Optional[str] = ..., amount_cents: _Optional[int] = ..., reference: _Optional[str] = ..., aid: _Optional[_Union[DeMinimisAid, _Mapping]] = ..., over_ceiling_cents: _Optional[int] = ..., ceiling_breaches: _Optional[_Iterable[_Union[DeMinimisCeilingBreach, _Mapping]]] = ...) -> None: ...

class DeMinimisCeilingBreach(_message.Message):
    __slots__ = ("aid_id", "application", "granted_on", "window_start", "counted_cents", "ceiling_cents", "over_ceiling_cents")
    AID_ID_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    GRANTED_ON_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    COUNTED_CENTS_FIELD_NUMBER: _ClassVar[int]
    CEILING_CENTS_FIELD_NUMBER: _ClassVar[int]
    OVER_CEILING_CENTS_FIELD_NUMBER: _ClassVar[int]
    aid_id: int
    application: str
    granted_on: str
    window_start: str
    counted_cents: int
    ceiling_cents: int
    over_ceiling_cents: int
    def __init__(self, aid_id: _Optional[int] = ..., application: _Optional[str] = ..., granted_on: _Optional[str] = ..., window_start: _Optional[str] = ..., counted_cents: _Optional[int] = ..., ceiling_cents: _Optional[int] = ..., over_ceiling_cents: _Optional[int] = ...) -> None: ...

class DeMinimisAid(_message.Message):
    __slots__ = ("id", "granted_on", "amount_cents", "reference", "application", "recorded_by", "record_time", "reverses_aid_id", "reason", "reversed_by_aid_id", "counted")
    ID_FIELD_NUMBER: _ClassVar[int]
    GRANTED_ON_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_CENTS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    RECORDED_BY_FIELD_NUMBER: _ClassVar[int]
    RECORD_TIME_FIELD_NUMBER: _ClassVar[int]
    REVERSES_AID_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REVERSED_BY_AID_ID_FIELD_NUMBER: _ClassVar[int]
    COUNTED_FIELD_NUMBER: _ClassVar[int]
    id: int
    granted_on: str
    amount_cents: int
    reference: str
    application: str
    recorded_by: str
    record_time: _timestamp_pb2.Timestamp
    reverses_aid_id: int
    reason: str
    reversed_by_aid_id: int
    counted: bool
    def __init__(self, id: _Optional[int] = ..., granted_on: _Optional[str] = ..., amount_cents: _Optional[int] = ..., reference: _Optional[str] = ..., application: _Optional[str] = ..., recorded_by: _Optional[str] = ..., record_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reverses_aid_id: _Optional[int] = ..., reason: _Optional[str] = ..., reversed_by_aid_id: _Optional[int] = ..., counted: _Optional[bool] = ...) -> None: ...

class GetDeMinimisRegisterRequest(_message.Message):
    __slots__ = ("business_id",)
    BUSINESS_ID_FIELD_NUMBER: _ClassVar[int]
    business_id: str
    def __init__(self, business_id: _Optional[str] = ...) -> None: ...

class GetDeMinimisRegisterResponse(_message.Message):
    __slots__ = ("business_id", "assessed_on", "rules_version", "regulation", "ceiling_cents", "window_start", "counted_cents", "room_cents", "aid", "beneficiary_kind", "kind_confirmed_by", "over_ceiling_cents", "ceiling_breaches")
    BUSINESS_ID_FIELD_NUMBER: _ClassVar[int]
    ASSESSED_ON_FIELD_NUMBER: _ClassVar[int]
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    REGULATION_FIELD_NUMBER: _ClassVar[int]
    CEILING_CENTS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_FIELD_NUMBER: _ClassVar[int]
    COUNTED_CENTS_FIELD_NUMBER: _ClassVar[int]
    ROOM_CENTS_FIELD_NUMBER: _ClassVar[int]
    AID_FIELD_NUMBER: _ClassVar[int]
    BENEFICIARY_KIND_FIELD_NUMBER: _ClassVar[int]
    KIND_CONFIRMED_BY_FIELD_NUMBER: _ClassVar[int]
    OVER_CEILING_CENTS_FIELD_NUMBER: _ClassVar[int]
    CEILING_BREACHES_FIELD_NUMBER: _ClassVar[int]
    business_id: str
    assessed_on: str
    rules_version: str
    regulation: str
    ceiling_cents: int
    window_start: str
    counted_cents: int
    room_cents: int
    aid: _containers.RepeatedCompositeFieldContainer[DeMinimisAid]
    beneficiary_kind: BeneficiaryKind
    kind_confirmed_by: str
    over_ceiling_cents: int
    ceiling_breaches: _containers.RepeatedCompositeFieldContainer[DeMinimisCeilingBreach]
    def __init__(self, business_id: _Optional[str] = ..., assessed_on: _Optional[str] = ..., rules_version: _Optional[str] = ..., regulation: _Optional[str] = ..., ceiling_cents: _Optional[int] = ..., window_start: _Optional[str] = ..., counted_cents: _Optional[int] = ..., room_cents: _Optional[int] = ..., aid: _Optional[_Iterable[_Union[DeMinimisAid, _Mapping]]] = ..., beneficiary_kind: _Optional[_Union[BeneficiaryKind, str]] = ..., kind_confirmed_by: _Optional[str] = ..., over_ceiling_cents: _Optional[int] = ..., ceiling_breaches: _Optional[_Iterable[_Union[DeMinimisCeilingBreach, _Mapping]]] = ...) -> None: ...

class CorrectDeMinimisAidRequest(_message.Message):
    __slots__ = ("request_id", "business_id", "aid_id", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_ID_FIELD_NUMBER: _ClassVar[int]
    AID_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    business_id: str
    aid_id: int
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., business_id: _Optional[str] = ..., aid_id: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class CorrectDeMinimisAidResponse(_message.Message):
    __slots__ = ("correction",)
    CORRECTION_FIELD_NUMBER: _ClassVar[int]
    correction: DeMinimisAid
    def __init__(self, correction: _Optional[_Union[DeMinimisAid, _Mapping]] = ...) -> None: ...

class CorrectBeneficiaryKindRequest(_message.Message):
    __slots__ = ("request_id", "business_id", "kind", "reason")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    business_id: str
    kind: BeneficiaryKind
    reason: str
    def __init__(self, request_id: _Optional[str] = ..., business_id: _Optional[str] = ..., kind: _Optional[_Union[BeneficiaryKind, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class CorrectBeneficiaryKindResponse(_message.Message):
    __slots__ = ("business_id", "kind", "previous_kind", "kind_confirmed_by", "aid", "aid_not_registered")
    BUSINESS_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_KIND_FIELD_NUMBER: _ClassVar[int]
    KIND_CONFIRMED_BY_FIELD_NUMBER: _ClassVar[int]
    AID_FIELD_NUMBER: _ClassVar[int]
    AID_NOT_REGISTERED_FIELD_NUMBER: _ClassVar[int]
    business_id: str
    kind: BeneficiaryKind
    previous_kind: BeneficiaryKind
    kind_confirmed_by: str
    aid: _containers.RepeatedCompositeFieldContainer[DeMinimisAid]
    aid_not_registered: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, business_id: _Optional[str] = ..., kind: _Optional[_Union[BeneficiaryKind, str]] = ..., previous_kind: _Optional[_Union[BeneficiaryKind, str]] = ..., kind_confirmed_by: _Optional[str] = ..., aid: _Optional[_Iterable[_Union[DeMinimisAid, _Mapping]]] = ..., aid_not_registered: _Optional[_Iterable[str]] = ...) -> None: ...

class GetFundStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FundRiskFigure(_message.Message):
    __slots__ = ("measure", "value_cents", "standard_error_cents", "seed", "compute_time")
    MEASURE_FIELD_NUMBER: _ClassVar[int]
    VALUE_CENTS_FIELD_NUMBER: _ClassVar[int]
    STANDARD_ERROR_CENTS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_TIME_FIELD_NUMBER: _ClassVar[int]
    measure: str
    value_cents: float
    standard_error_cents: float
    seed: int
    compute_time: _timestamp_pb2.Timestamp
    def __init__(self, measure: _Optional[str] = ..., value_cents: _Optional[float] = ..., standard_error_cents: _Optional[float] = ..., seed: _Optional[int] = ..., compute_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetFundStatusResponse(_message.Message):
    __slots__ = ("capital_cents", "committed_cents", "available_cents", "claims_paid_cents", "paid_in_capital_cents", "capacity_cents", "rules_version", "risk_figures", "exhaustion_probability", "exhaustion_probability_standard_error", "risk_figures_unavailable")
    CAPITAL_CENTS_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_CENTS_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_CENTS_FIELD_NUMBER: _ClassVar[int]
    CLAIMS_PAID_CENTS_FIELD_NUMBER: _ClassVar[int]
    PAID_IN_CAPITAL_CENTS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_CENTS_FIELD_NUMBER: _ClassVar[int]
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    RISK_FIGURES_FIELD_NUMBER: _ClassVar[int]
    EXHAUSTION_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    EXHAUSTION_PROBABILITY_STANDARD_ERROR_FIELD_NUMBER: _ClassVar[int]
    RISK_FIGURES_UNAVAILABLE_FIELD_NUMBER: _ClassVar[int]
    capital_cents: int
    committed_cents: int
    available_cents: int
    claims_paid_cents: int
    paid_in_capital_cents: int
    capacity_cents: int
    rules_version: str
    risk_figures: _containers.RepeatedCompositeFieldContainer[FundRiskFigure]
    exhaustion_probability: float
    exhaustion_probability_standard_error: float
    risk_figures_unavailable: str
    def __init__(self, capital_cents: _Optional[int] = ..., committed_cents: _Optional[int] = ..., available_cents: _Optional[int] = ..., claims_paid_cents: _Optional[int] = ..., paid_in_capital_cents: _Optional[int] = ..., capacity_cents: _Optional[int] = ..., rules_version: _Optional[str] = ..., risk_figures: _Optional[_Iterable[_Union[FundRiskFigure, _Mapping]]] = ..., exhaustion_probability: _Optional[float] = ..., exhaustion_probability_standard_error: _Optional[float] = ..., risk_figures_unavailable: _Optional[str] = ...) -> None: ...

class GetExposureRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ExposureGroup(_message.Message):
    __slots__ = ("key", "committed_cents", "limit_cents", "guarantee_count")
    KEY_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_CENTS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_CENTS_FIELD_NUMBER: _ClassVar[int]
    GUARANTEE_COUNT_FIELD_NUMBER: _ClassVar[int]
    key: str
    committed_cents: int
    limit_cents: int
    guarantee_count: int
    def __init__(self, key: _Optional[str] = ..., committed_cents: _Optional[int] = ..., limit_cents: _Optional[int] = ..., guarantee_count: _Optional[int] = ...) -> None: ...

class GetExposureResponse(_message.Message):
    __slots__ = ("rules_version", "sectors", "branches")
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    SECTORS_FIELD_NUMBER: _ClassVar[int]
    BRANCHES_FIELD_NUMBER: _ClassVar[int]
    rules_version: str
    sectors: _containers.RepeatedCompositeFieldContainer[ExposureGroup]
    branches: _containers.RepeatedCompositeFieldContainer[ExposureGroup]
    def __init__(self, rules_version: _Optional[str] = ..., sectors: _Optional[_Iterable[_Union[ExposureGroup, _Mapping]]] = ..., branches: _Optional[_Iterable[_Union[ExposureGroup, _Mapping]]] = ...) -> None: ...
