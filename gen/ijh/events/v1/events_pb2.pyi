from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class GrantComputed(_message.Message):
    __slots__ = ("reference_date", "applicant_business_id", "procurement_kind", "eligible_cents", "grant_cents", "rules_version")
    REFERENCE_DATE_FIELD_NUMBER: _ClassVar[int]
    APPLICANT_BUSINESS_ID_FIELD_NUMBER: _ClassVar[int]
    PROCUREMENT_KIND_FIELD_NUMBER: _ClassVar[int]
    ELIGIBLE_CENTS_FIELD_NUMBER: _ClassVar[int]
    GRANT_CENTS_FIELD_NUMBER: _ClassVar[int]
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    reference_date: str
    applicant_business_id: str
    procurement_kind: str
    eligible_cents: int
    grant_cents: int
    rules_version: str
    def __init__(self, reference_date: _Optional[str] = ..., applicant_business_id: _Optional[str] = ..., procurement_kind: _Optional[str] = ..., eligible_cents: _Optional[int] = ..., grant_cents: _Optional[int] = ..., rules_version: _Optional[str] = ...) -> None: ...

class ProcurementRiskEstimated(_message.Message):
    __slots__ = ("seed", "scenario_count", "mean_total_cost_cents", "p80_total_cost_cents", "probability_over_budget", "probability_of_failure", "p80_duration_days")
    SEED_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_COUNT_FIELD_NUMBER: _ClassVar[int]
    MEAN_TOTAL_COST_CENTS_FIELD_NUMBER: _ClassVar[int]
    P80_TOTAL_COST_CENTS_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_OVER_BUDGET_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_OF_FAILURE_FIELD_NUMBER: _ClassVar[int]
    P80_DURATION_DAYS_FIELD_NUMBER: _ClassVar[int]
    seed: int
    scenario_count: int
    mean_total_cost_cents: float
    p80_total_cost_cents: float
    probability_over_budget: float
    probability_of_failure: float
    p80_duration_days: float
    def __init__(self, seed: _Optional[int] = ..., scenario_count: _Optional[int] = ..., mean_total_cost_cents: _Optional[float] = ..., p80_total_cost_cents: _Optional[float] = ..., probability_over_budget: _Optional[float] = ..., probability_of_failure: _Optional[float] = ..., p80_duration_days: _Optional[float] = ...) -> None: ...

class ProcurementGuaranteeEvaluated(_message.Message):
    __slots__ = ("seed", "scenario_count", "expected_payout_cents", "probability_of_payout", "break_even_fee_rate")
    SEED_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_COUNT_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_PAYOUT_CENTS_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_OF_PAYOUT_FIELD_NUMBER: _ClassVar[int]
    BREAK_EVEN_FEE_RATE_FIELD_NUMBER: _ClassVar[int]
    seed: int
    scenario_count: int
    expected_payout_cents: float
    probability_of_payout: float
    break_even_fee_rate: float
    def __init__(self, seed: _Optional[int] = ..., scenario_count: _Optional[int] = ..., expected_payout_cents: _Optional[float] = ..., probability_of_payout: _Optional[float] = ..., break_even_fee_rate: _Optional[float] = ...) -> None: ...
