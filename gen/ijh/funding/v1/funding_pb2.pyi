from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

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
