from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

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

class PortfolioTailRisk(_message.Message):
    __slots__ = ("level", "value_at_risk_cents", "expected_shortfall_cents")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    VALUE_AT_RISK_CENTS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SHORTFALL_CENTS_FIELD_NUMBER: _ClassVar[int]
    level: float
    value_at_risk_cents: float
    expected_shortfall_cents: float
    def __init__(self, level: _Optional[float] = ..., value_at_risk_cents: _Optional[float] = ..., expected_shortfall_cents: _Optional[float] = ...) -> None: ...

class PortfolioSimulated(_message.Message):
    __slots__ = ("seed", "scenario_count", "guarantee_count", "method", "expected_loss_cents", "value_at_risk_999_cents", "expected_shortfall_999_cents", "exhaustion_probability", "cancelled", "tail_risk", "horizon_years")
    SEED_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_COUNT_FIELD_NUMBER: _ClassVar[int]
    GUARANTEE_COUNT_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_LOSS_CENTS_FIELD_NUMBER: _ClassVar[int]
    VALUE_AT_RISK_999_CENTS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SHORTFALL_999_CENTS_FIELD_NUMBER: _ClassVar[int]
    EXHAUSTION_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    TAIL_RISK_FIELD_NUMBER: _ClassVar[int]
    HORIZON_YEARS_FIELD_NUMBER: _ClassVar[int]
    seed: int
    scenario_count: int
    guarantee_count: int
    method: str
    expected_loss_cents: float
    value_at_risk_999_cents: float
    expected_shortfall_999_cents: float
    exhaustion_probability: float
    cancelled: bool
    tail_risk: _containers.RepeatedCompositeFieldContainer[PortfolioTailRisk]
    horizon_years: int
    def __init__(self, seed: _Optional[int] = ..., scenario_count: _Optional[int] = ..., guarantee_count: _Optional[int] = ..., method: _Optional[str] = ..., expected_loss_cents: _Optional[float] = ..., value_at_risk_999_cents: _Optional[float] = ..., expected_shortfall_999_cents: _Optional[float] = ..., exhaustion_probability: _Optional[float] = ..., cancelled: _Optional[bool] = ..., tail_risk: _Optional[_Iterable[_Union[PortfolioTailRisk, _Mapping]]] = ..., horizon_years: _Optional[int] = ...) -> None: ...

class ApplicationStateChanged(_message.Message):
    __slots__ = ("application", "application_id", "kind", "action", "from_state", "state", "actor_id", "actor_role", "reason", "rules_version", "at", "business_id", "sector", "branch", "grant_cents", "gge_cents", "exposure_cents", "claim_paid_cents")
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    FROM_STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ROLE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RULES_VERSION_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_ID_FIELD_NUMBER: _ClassVar[int]
    SECTOR_FIELD_NUMBER: _ClassVar[int]
    BRANCH_FIELD_NUMBER: _ClassVar[int]
    GRANT_CENTS_FIELD_NUMBER: _ClassVar[int]
    GGE_CENTS_FIELD_NUMBER: _ClassVar[int]
    EXPOSURE_CENTS_FIELD_NUMBER: _ClassVar[int]
    CLAIM_PAID_CENTS_FIELD_NUMBER: _ClassVar[int]
    application: str
    application_id: int
    kind: str
    action: str
    from_state: str
    state: str
    actor_id: str
    actor_role: str
    reason: str
    rules_version: str
    at: str
    business_id: str
    sector: str
    branch: str
    grant_cents: int
    gge_cents: int
    exposure_cents: int
    claim_paid_cents: int
    def __init__(self, application: _Optional[str] = ..., application_id: _Optional[int] = ..., kind: _Optional[str] = ..., action: _Optional[str] = ..., from_state: _Optional[str] = ..., state: _Optional[str] = ..., actor_id: _Optional[str] = ..., actor_role: _Optional[str] = ..., reason: _Optional[str] = ..., rules_version: _Optional[str] = ..., at: _Optional[str] = ..., business_id: _Optional[str] = ..., sector: _Optional[str] = ..., branch: _Optional[str] = ..., grant_cents: _Optional[int] = ..., gge_cents: _Optional[int] = ..., exposure_cents: _Optional[int] = ..., claim_paid_cents: _Optional[int] = ...) -> None: ...

class DeMinimisAidRecorded(_message.Message):
    __slots__ = ("business_id", "granted_on", "amount_cents", "reference", "actor_id", "actor_role", "at", "aid_id", "reverses_aid_id", "reason")
    BUSINESS_ID_FIELD_NUMBER: _ClassVar[int]
    GRANTED_ON_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_CENTS_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ROLE_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    AID_ID_FIELD_NUMBER: _ClassVar[int]
    REVERSES_AID_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    business_id: str
    granted_on: str
    amount_cents: int
    reference: str
    actor_id: str
    actor_role: str
    at: str
    aid_id: int
    reverses_aid_id: int
    reason: str
    def __init__(self, business_id: _Optional[str] = ..., granted_on: _Optional[str] = ..., amount_cents: _Optional[int] = ..., reference: _Optional[str] = ..., actor_id: _Optional[str] = ..., actor_role: _Optional[str] = ..., at: _Optional[str] = ..., aid_id: _Optional[int] = ..., reverses_aid_id: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class BeneficiaryKindCorrected(_message.Message):
    __slots__ = ("business_id", "kind", "previous_kind", "actor_id", "actor_role", "reason", "at", "aid_ids")
    BUSINESS_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_KIND_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ROLE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    AID_IDS_FIELD_NUMBER: _ClassVar[int]
    business_id: str
    kind: str
    previous_kind: str
    actor_id: str
    actor_role: str
    reason: str
    at: str
    aid_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, business_id: _Optional[str] = ..., kind: _Optional[str] = ..., previous_kind: _Optional[str] = ..., actor_id: _Optional[str] = ..., actor_role: _Optional[str] = ..., reason: _Optional[str] = ..., at: _Optional[str] = ..., aid_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class OperationProgressed(_message.Message):
    __slots__ = ("name", "scenarios_done", "scenarios_total", "expected_loss_cents", "level", "value_at_risk_cents", "expected_shortfall_cents", "done", "error_code", "sequence", "phase", "phase_done_share", "contributions_stopped")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCENARIOS_DONE_FIELD_NUMBER: _ClassVar[int]
    SCENARIOS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_LOSS_CENTS_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    VALUE_AT_RISK_CENTS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SHORTFALL_CENTS_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    PHASE_DONE_SHARE_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTIONS_STOPPED_FIELD_NUMBER: _ClassVar[int]
    name: str
    scenarios_done: int
    scenarios_total: int
    expected_loss_cents: float
    level: float
    value_at_risk_cents: float
    expected_shortfall_cents: float
    done: bool
    error_code: str
    sequence: int
    phase: str
    phase_done_share: float
    contributions_stopped: bool
    def __init__(self, name: _Optional[str] = ..., scenarios_done: _Optional[int] = ..., scenarios_total: _Optional[int] = ..., expected_loss_cents: _Optional[float] = ..., level: _Optional[float] = ..., value_at_risk_cents: _Optional[float] = ..., expected_shortfall_cents: _Optional[float] = ..., done: _Optional[bool] = ..., error_code: _Optional[str] = ..., sequence: _Optional[int] = ..., phase: _Optional[str] = ..., phase_done_share: _Optional[float] = ..., contributions_stopped: _Optional[bool] = ...) -> None: ...
