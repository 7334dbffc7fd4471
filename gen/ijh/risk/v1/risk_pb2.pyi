from buf.validate import validate_pb2 as _validate_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ProcurementKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROCUREMENT_KIND_UNSPECIFIED: _ClassVar[ProcurementKind]
    PROCUREMENT_KIND_NEW_PRODUCT_OR_SERVICE: _ClassVar[ProcurementKind]
    PROCUREMENT_KIND_PRE_COMMERCIAL_PROCUREMENT: _ClassVar[ProcurementKind]
    PROCUREMENT_KIND_INNOVATION_PARTNERSHIP: _ClassVar[ProcurementKind]
    PROCUREMENT_KIND_CATALYST_PROCUREMENT: _ClassVar[ProcurementKind]

class NoveltyLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NOVELTY_LEVEL_UNSPECIFIED: _ClassVar[NoveltyLevel]
    NOVELTY_LEVEL_NEW_TO_SECTOR: _ClassVar[NoveltyLevel]
    NOVELTY_LEVEL_NEW_IN_FINLAND: _ClassVar[NoveltyLevel]
    NOVELTY_LEVEL_NEW_WORLDWIDE: _ClassVar[NoveltyLevel]

class CoveredLoss(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COVERED_LOSS_UNSPECIFIED: _ClassVar[CoveredLoss]
    COVERED_LOSS_COST_OVERRUN: _ClassVar[CoveredLoss]
    COVERED_LOSS_LOSS_AT_FAILURE: _ClassVar[CoveredLoss]

class CounterpartyKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COUNTERPARTY_KIND_UNSPECIFIED: _ClassVar[CounterpartyKind]
    COUNTERPARTY_KIND_PUBLIC_UNIT: _ClassVar[CounterpartyKind]
    COUNTERPARTY_KIND_COMPANY: _ClassVar[CounterpartyKind]

class Copula(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COPULA_UNSPECIFIED: _ClassVar[Copula]
    COPULA_GAUSSIAN: _ClassVar[Copula]
    COPULA_STUDENT_T: _ClassVar[Copula]

class PortfolioMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PORTFOLIO_METHOD_UNSPECIFIED: _ClassVar[PortfolioMethod]
    PORTFOLIO_METHOD_MONTE_CARLO: _ClassVar[PortfolioMethod]
    PORTFOLIO_METHOD_IMPORTANCE_SAMPLING: _ClassVar[PortfolioMethod]
    PORTFOLIO_METHOD_SEMI_ANALYTIC: _ClassVar[PortfolioMethod]
    PORTFOLIO_METHOD_CREDITRISKPLUS: _ClassVar[PortfolioMethod]

class SimulationPhase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIMULATION_PHASE_UNSPECIFIED: _ClassVar[SimulationPhase]
    SIMULATION_PHASE_SIMULATING: _ClassVar[SimulationPhase]
    SIMULATION_PHASE_CONTRIBUTIONS: _ClassVar[SimulationPhase]
PROCUREMENT_KIND_UNSPECIFIED: ProcurementKind
PROCUREMENT_KIND_NEW_PRODUCT_OR_SERVICE: ProcurementKind
PROCUREMENT_KIND_PRE_COMMERCIAL_PROCUREMENT: ProcurementKind
PROCUREMENT_KIND_INNOVATION_PARTNERSHIP: ProcurementKind
PROCUREMENT_KIND_CATALYST_PROCUREMENT: ProcurementKind
NOVELTY_LEVEL_UNSPECIFIED: NoveltyLevel
NOVELTY_LEVEL_NEW_TO_SECTOR: NoveltyLevel
NOVELTY_LEVEL_NEW_IN_FINLAND: NoveltyLevel
NOVELTY_LEVEL_NEW_WORLDWIDE: NoveltyLevel
COVERED_LOSS_UNSPECIFIED: CoveredLoss
COVERED_LOSS_COST_OVERRUN: CoveredLoss
COVERED_LOSS_LOSS_AT_FAILURE: CoveredLoss
COUNTERPARTY_KIND_UNSPECIFIED: CounterpartyKind
COUNTERPARTY_KIND_PUBLIC_UNIT: CounterpartyKind
COUNTERPARTY_KIND_COMPANY: CounterpartyKind
COPULA_UNSPECIFIED: Copula
COPULA_GAUSSIAN: Copula
COPULA_STUDENT_T: Copula
PORTFOLIO_METHOD_UNSPECIFIED: PortfolioMethod
PORTFOLIO_METHOD_MONTE_CARLO: PortfolioMethod
PORTFOLIO_METHOD_IMPORTANCE_SAMPLING: PortfolioMethod
PORTFOLIO_METHOD_SEMI_ANALYTIC: PortfolioMethod
PORTFOLIO_METHOD_CREDITRISKPLUS: PortfolioMethod
SIMULATION_PHASE_UNSPECIFIED: SimulationPhase
SIMULATION_PHASE_SIMULATING: SimulationPhase
SIMULATION_PHASE_CONTRIBUTIONS: SimulationPhase

class Estimate(_message.Message):
    __slots__ = ("value", "standard_error")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    STANDARD_ERROR_FIELD_NUMBER: _ClassVar[int]
    value: float
    standard_error: float
    def __init__(self, value: _Optional[float] = ..., standard_error: _Optional[float] = ...) -> None: ...

class QuantileEstimate(_message.Message):
    __slots__ = ("level", "value", "standard_error")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    STANDARD_ERROR_FIELD_NUMBER: _ClassVar[int]
    level: float
    value: float
    standard_error: float
    def __init__(self, level: _Optional[float] = ..., value: _Optional[float] = ..., standard_error: _Optional[float] = ...) -> None: ...

class OutcomeSummary(_message.Message):
    __slots__ = ("mean", "standard_deviation", "quantiles")
    MEAN_FIELD_NUMBER: _ClassVar[int]
    STANDARD_DEVIATION_FIELD_NUMBER: _ClassVar[int]
    QUANTILES_FIELD_NUMBER: _ClassVar[int]
    mean: Estimate
    standard_deviation: Estimate
    quantiles: _containers.RepeatedCompositeFieldContainer[QuantileEstimate]
    def __init__(self, mean: _Optional[_Union[Estimate, _Mapping]] = ..., standard_deviation: _Optional[_Union[Estimate, _Mapping]] = ..., quantiles: _Optional[_Iterable[_Union[QuantileEstimate, _Mapping]]] = ...) -> None: ...

class SimulationOptions(_message.Message):
    __slots__ = ("scenario_count", "seed", "target_standard_error_cents")
    SCENARIO_COUNT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    TARGET_STANDARD_ERROR_CENTS_FIELD_NUMBER: _ClassVar[int]
    scenario_count: int
    seed: int
    target_standard_error_cents: float
    def __init__(self, scenario_count: _Optional[int] = ..., seed: _Optional[int] = ..., target_standard_error_cents: _Optional[float] = ...) -> None: ...

class TriangularCents(_message.Message):
    __slots__ = ("min_cents", "mode_cents", "max_cents")
    MIN_CENTS_FIELD_NUMBER: _ClassVar[int]
    MODE_CENTS_FIELD_NUMBER: _ClassVar[int]
    MAX_CENTS_FIELD_NUMBER: _ClassVar[int]
    min_cents: int
    mode_cents: int
    max_cents: int
    def __init__(self, min_cents: _Optional[int] = ..., mode_cents: _Optional[int] = ..., max_cents: _Optional[int] = ...) -> None: ...

class PertCents(_message.Message):
    __slots__ = ("min_cents", "mode_cents", "max_cents", "shape")
    MIN_CENTS_FIELD_NUMBER: _ClassVar[int]
    MODE_CENTS_FIELD_NUMBER: _ClassVar[int]
    MAX_CENTS_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    min_cents: int
    mode_cents: int
    max_cents: int
    shape: float
    def __init__(self, min_cents: _Optional[int] = ..., mode_cents: _Optional[int] = ..., max_cents: _Optional[int] = ..., shape: _Optional[float] = ...) -> None: ...

class UniformCents(_message.Message):
    __slots__ = ("min_cents", "max_cents")
    MIN_CENTS_FIELD_NUMBER: _ClassVar[int]
    MAX_CENTS_FIELD_NUMBER: _ClassVar[int]
    min_cents: int
    max_cents: int
    def __init__(self, min_cents: _Optional[int] = ..., max_cents: _Optional[int] = ...) -> None: ...

class TruncatedNormalCents(_message.Message):
    __slots__ = ("mean_cents", "standard_deviation_cents")
    MEAN_CENTS_FIELD_NUMBER: _ClassVar[int]
    STANDARD_DEVIATION_CENTS_FIELD_NUMBER: _ClassVar[int]
    mean_cents: int
    standard_deviation_cents: int
    def __init__(self, mean_cents: _Optional[int] = ..., standard_deviation_cents: _Optional[int] = ...) -> None: ...

class LognormalCents(_message.Message):
    __slots__ = ("p10_cents", "p90_cents")
    P10_CENTS_FIELD_NUMBER: _ClassVar[int]
    P90_CENTS_FIELD_NUMBER: _ClassVar[int]
    p10_cents: int
    p90_cents: int
    def __init__(self, p10_cents: _Optional[int] = ..., p90_cents: _Optional[int] = ...) -> None: ...

class CostDistribution(_message.Message):
    __slots__ = ("fixed_cents", "triangular", "pert", "uniform", "truncated_normal", "lognormal", "most_likely_cents")
    FIXED_CENTS_FIELD_NUMBER: _ClassVar[int]
    TRIANGULAR_FIELD_NUMBER: _ClassVar[int]
    PERT_FIELD_NUMBER: _ClassVar[int]
    UNIFORM_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_NORMAL_FIELD_NUMBER: _ClassVar[int]
    LOGNORMAL_FIELD_NUMBER: _ClassVar[int]
    MOST_LIKELY_CENTS_FIELD_NUMBER: _ClassVar[int]
    fixed_cents: int
    triangular: TriangularCents
    pert: PertCents
    uniform: UniformCents
    truncated_normal: TruncatedNormalCents
    lognormal: LognormalCents
    most_likely_cents: int
    def __init__(self, fixed_cents: _Optional[int] = ..., triangular: _Optional[_Union[TriangularCents, _Mapping]] = ..., pert: _Optional[_Union[PertCents, _Mapping]] = ..., uniform: _Optional[_Union[UniformCents, _Mapping]] = ..., truncated_normal: _Optional[_Union[TruncatedNormalCents, _Mapping]] = ..., lognormal: _Optional[_Union[LognormalCents, _Mapping]] = ..., most_likely_cents: _Optional[int] = ...) -> None: ...

class TriangularDays(_message.Message):
    __slots__ = ("min_days", "mode_days", "max_days")
    MIN_DAYS_FIELD_NUMBER: _ClassVar[int]
    MODE_DAYS_FIELD_NUMBER: _ClassVar[int]
    MAX_DAYS_FIELD_NUMBER: _ClassVar[int]
    min_days: float
    mode_days: float
    max_days: float
    def __init__(self, min_days: _Optional[float] = ..., mode_days: _Optional[float] = ..., max_days: _Optional[float] = ...) -> None: ...

class PertDays(_message.Message):
    __slots__ = ("min_days", "mode_days", "max_days", "shape")
    MIN_DAYS_FIELD_NUMBER: _ClassVar[int]
    MODE_DAYS_FIELD_NUMBER: _ClassVar[int]
    MAX_DAYS_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    min_days: float
    mode_days: float
    max_days: float
    shape: float
    def __init__(self, min_days: _Optional[float] = ..., mode_days: _Optional[float] = ..., max_days: _Optional[float] = ..., shape: _Optional[float] = ...) -> None: ...

class UniformDays(_message.Message):
    __slots__ = ("min_days", "max_days")
    MIN_DAYS_FIELD_NUMBER: _ClassVar[int]
    MAX_DAYS_FIELD_NUMBER: _ClassVar[int]
    min_days: float
    max_days: float
    def __init__(self, min_days: _Optional[float] = ..., max_days: _Optional[float] = ...) -> None: ...

class TruncatedNormalDays(_message.Message):
    __slots__ = ("mean_days", "standard_deviation_days")
    MEAN_DAYS_FIELD_NUMBER: _ClassVar[int]
    STANDARD_DEVIATION_DAYS_FIELD_NUMBER: _ClassVar[int]
    mean_days: float
    standard_deviation_days: float
    def __init__(self, mean_days: _Optional[float] = ..., standard_deviation_days: _Optional[float] = ...) -> None: ...

class LognormalDays(_message.Message):
    __slots__ = ("p10_days", "p90_days")
    P10_DAYS_FIELD_NUMBER: _ClassVar[int]
    P90_DAYS_FIELD_NUMBER: _ClassVar[int]
    p10_days: float
    p90_days: float
    def __init__(self, p10_days: _Optional[float] = ..., p90_days: _Optional[float] = ...) -> None: ...

class DurationDistribution(_message.Message):
    __slots__ = ("fixed_days", "triangular", "pert", "uniform", "truncated_normal", "lognormal", "most_likely_days")
    FIXED_DAYS_FIELD_NUMBER: _ClassVar[int]
    TRIANGULAR_FIELD_NUMBER: _ClassVar[int]
    PERT_FIELD_NUMBER: _ClassVar[int]
    UNIFORM_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_NORMAL_FIELD_NUMBER: _ClassVar[int]
    LOGNORMAL_FIELD_NUMBER: _ClassVar[int]
    MOST_LIKELY_DAYS_FIELD_NUMBER: _ClassVar[int]
    fixed_days: float
    triangular: TriangularDays
    pert: PertDays
    uniform: UniformDays
    truncated_normal: TruncatedNormalDays
    lognormal: LognormalDays
    most_likely_days: float
    def __init__(self, fixed_days: _Optional[float] = ..., triangular: _Optional[_Union[TriangularDays, _Mapping]] = ..., pert: _Optional[_Union[PertDays, _Mapping]] = ..., uniform: _Optional[_Union[UniformDays, _Mapping]] = ..., truncated_normal: _Optional[_Union[TruncatedNormalDays, _Mapping]] = ..., lognormal: _Optional[_Union[LognormalDays, _Mapping]] = ..., most_likely_days: _Optional[float] = ...) -> None: ...

class CostItem(_message.Message):
    __slots__ = ("name", "distribution", "phase", "only_on_success")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    ONLY_ON_SUCCESS_FIELD_NUMBER: _ClassVar[int]
    name: str
    distribution: CostDistribution
    phase: str
    only_on_success: bool
    def __init__(self, name: _Optional[str] = ..., distribution: _Optional[_Union[CostDistribution, _Mapping]] = ..., phase: _Optional[str] = ..., only_on_success: _Optional[bool] = ...) -> None: ...

class Activity(_message.Message):
    __slots__ = ("name", "duration", "predecessors")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    PREDECESSORS_FIELD_NUMBER: _ClassVar[int]
    name: str
    duration: DurationDistribution
    predecessors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., duration: _Optional[_Union[DurationDistribution, _Mapping]] = ..., predecessors: _Optional[_Iterable[str]] = ...) -> None: ...

class RiskEvent(_message.Message):
    __slots__ = ("name", "probability", "cost_impact", "delay", "delayed_activities")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    COST_IMPACT_FIELD_NUMBER: _ClassVar[int]
    DELAY_FIELD_NUMBER: _ClassVar[int]
    DELAYED_ACTIVITIES_FIELD_NUMBER: _ClassVar[int]
    name: str
    probability: float
    cost_impact: CostDistribution
    delay: DurationDistribution
    delayed_activities: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., probability: _Optional[float] = ..., cost_impact: _Optional[_Union[CostDistribution, _Mapping]] = ..., delay: _Optional[_Union[DurationDistribution, _Mapping]] = ..., delayed_activities: _Optional[_Iterable[str]] = ...) -> None: ...

class CorrelationBlock(_message.Message):
    __slots__ = ("input_names", "rank_correlations")
    INPUT_NAMES_FIELD_NUMBER: _ClassVar[int]
    RANK_CORRELATIONS_FIELD_NUMBER: _ClassVar[int]
    input_names: _containers.RepeatedScalarFieldContainer[str]
    rank_correlations: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, input_names: _Optional[_Iterable[str]] = ..., rank_correlations: _Optional[_Iterable[float]] = ...) -> None: ...

class Phase(_message.Message):
    __slots__ = ("name", "suppliers", "pass_probability")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUPPLIERS_FIELD_NUMBER: _ClassVar[int]
    PASS_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    name: str
    suppliers: int
    pass_probability: float
    def __init__(self, name: _Optional[str] = ..., suppliers: _Optional[int] = ..., pass_probability: _Optional[float] = ...) -> None: ...

class ProcurementModel(_message.Message):
    __slots__ = ("kind", "novelty", "cost_items", "budget_cents", "activities", "risk_events", "correlations", "phases", "deadline_days")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NOVELTY_FIELD_NUMBER: _ClassVar[int]
    COST_ITEMS_FIELD_NUMBER: _ClassVar[int]
    BUDGET_CENTS_FIELD_NUMBER: _ClassVar[int]
    ACTIVITIES_FIELD_NUMBER: _ClassVar[int]
    RISK_EVENTS_FIELD_NUMBER: _ClassVar[int]
    CORRELATIONS_FIELD_NUMBER: _ClassVar[int]
    PHASES_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_DAYS_FIELD_NUMBER: _ClassVar[int]
    kind: ProcurementKind
    novelty: NoveltyLevel
    cost_items: _containers.RepeatedCompositeFieldContainer[CostItem]
    budget_cents: int
    activities: _containers.RepeatedCompositeFieldContainer[Activity]
    risk_events: _containers.RepeatedCompositeFieldContainer[RiskEvent]
    correlations: _containers.RepeatedCompositeFieldContainer[CorrelationBlock]
    phases: _containers.RepeatedCompositeFieldContainer[Phase]
    deadline_days: float
    def __init__(self, kind: _Optional[_Union[ProcurementKind, str]] = ..., novelty: _Optional[_Union[NoveltyLevel, str]] = ..., cost_items: _Optional[_Iterable[_Union[CostItem, _Mapping]]] = ..., budget_cents: _Optional[int] = ..., activities: _Optional[_Iterable[_Union[Activity, _Mapping]]] = ..., risk_events: _Optional[_Iterable[_Union[RiskEvent, _Mapping]]] = ..., correlations: _Optional[_Iterable[_Union[CorrelationBlock, _Mapping]]] = ..., phases: _Optional[_Iterable[_Union[Phase, _Mapping]]] = ..., deadline_days: _Optional[float] = ...) -> None: ...

class EstimateProcurementRiskRequest(_message.Message):
    __slots__ = ("model", "simulation", "quantile_levels", "confidence", "histogram_bins")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SIMULATION_FIELD_NUMBER: _ClassVar[int]
    QUANTILE_LEVELS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    HISTOGRAM_BINS_FIELD_NUMBER: _ClassVar[int]
    model: ProcurementModel
    simulation: SimulationOptions
    quantile_levels: _containers.RepeatedScalarFieldContainer[float]
    confidence: float
    histogram_bins: int
    def __init__(self, model: _Optional[_Union[ProcurementModel, _Mapping]] = ..., simulation: _Optional[_Union[SimulationOptions, _Mapping]] = ..., quantile_levels: _Optional[_Iterable[float]] = ..., confidence: _Optional[float] = ..., histogram_bins: _Optional[int] = ...) -> None: ...

class PhaseFailure(_message.Message):
    __slots__ = ("phase_name", "probability")
    PHASE_NAME_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    phase_name: str
    probability: Estimate
    def __init__(self, phase_name: _Optional[str] = ..., probability: _Optional[_Union[Estimate, _Mapping]] = ...) -> None: ...

class ActivityCriticality(_message.Message):
    __slots__ = ("activity_name", "criticality_index")
    ACTIVITY_NAME_FIELD_NUMBER: _ClassVar[int]
    CRITICALITY_INDEX_FIELD_NUMBER: _ClassVar[int]
    activity_name: str
    criticality_index: Estimate
    def __init__(self, activity_name: _Optional[str] = ..., criticality_index: _Optional[_Union[Estimate, _Mapping]] = ...) -> None: ...

class InputSensitivity(_message.Message):
    __slots__ = ("input_name", "rank_correlation", "variance_share", "contribution")
    INPUT_NAME_FIELD_NUMBER: _ClassVar[int]
    RANK_CORRELATION_FIELD_NUMBER: _ClassVar[int]
    VARIANCE_SHARE_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    input_name: str
    rank_correlation: Estimate
    variance_share: float
    contribution: Estimate
    def __init__(self, input_name: _Optional[str] = ..., rank_correlation: _Optional[_Union[Estimate, _Mapping]] = ..., variance_share: _Optional[float] = ..., contribution: _Optional[_Union[Estimate, _Mapping]] = ...) -> None: ...

class Histogram(_message.Message):
    __slots__ = ("bin_edges", "counts")
    BIN_EDGES_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    bin_edges: _containers.RepeatedScalarFieldContainer[float]
    counts: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, bin_edges: _Optional[_Iterable[float]] = ..., counts: _Optional[_Iterable[int]] = ...) -> None: ...

class CdfPoint(_message.Message):
    __slots__ = ("cumulative_probability", "value")
    CUMULATIVE_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    cumulative_probability: float
    value: float
    def __init__(self, cumulative_probability: _Optional[float] = ..., value: _Optional[float] = ...) -> None: ...

class CorrelationReport(_message.Message):
    __slots__ = ("input_names", "rank_correlations", "repaired", "max_abs_change")
    INPUT_NAMES_FIELD_NUMBER: _ClassVar[int]
    RANK_CORRELATIONS_FIELD_NUMBER: _ClassVar[int]
    REPAIRED_FIELD_NUMBER: _ClassVar[int]
    MAX_ABS_CHANGE_FIELD_NUMBER: _ClassVar[int]
    input_names: _containers.RepeatedScalarFieldContainer[str]
    rank_correlations: _containers.RepeatedScalarFieldContainer[float]
    repaired: bool
    max_abs_change: float
    def __init__(self, input_names: _Optional[_Iterable[str]] = ..., rank_correlations: _Optional[_Iterable[float]] = ..., repaired: _Optional[bool] = ..., max_abs_change: _Optional[float] = ...) -> None: ...

class DefaultUsed(_message.Message):
    __slots__ = ("field", "value", "rationale")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    RATIONALE_FIELD_NUMBER: _ClassVar[int]
    field: str
    value: str
    rationale: str
    def __init__(self, field: _Optional[str] = ..., value: _Optional[str] = ..., rationale: _Optional[str] = ...) -> None: ...

class GivenCompletion(_message.Message):
    __slots__ = ("probability_over_budget", "cost_at_confidence_cents", "contingency_over_base_estimate_cents", "contingency_over_budget_cents")
    PROBABILITY_OVER_BUDGET_FIELD_NUMBER: _ClassVar[int]
    COST_AT_CONFIDENCE_CENTS_FIELD_NUMBER: _ClassVar[int]
    CONTINGENCY_OVER_BASE_ESTIMATE_CENTS_FIELD_NUMBER: _ClassVar[int]
    CONTINGENCY_OVER_BUDGET_CENTS_FIELD_NUMBER: _ClassVar[int]
    probability_over_budget: Estimate
    cost_at_confidence_cents: Estimate
    contingency_over_base_estimate_cents: Estimate
    contingency_over_budget_cents: Estimate
    def __init__(self, probability_over_budget: _Optional[_Union[Estimate, _Mapping]] = ..., cost_at_confidence_cents: _Optional[_Union[Estimate, _Mapping]] = ..., contingency_over_base_estimate_cents: _Optional[_Union[Estimate, _Mapping]] = ..., contingency_over_budget_cents: _Optional[_Union[Estimate, _Mapping]] = ...) -> None: ...

class EstimateProcurementRiskResponse(_message.Message):
    __slots__ = ("seed", "scenario_count", "scenarios_requested", "stopped_early", "total_cost", "duration", "base_estimate_cents", "budget_cents", "probability_over_budget", "probability_over_deadline", "confidence", "cost_at_confidence_cents", "contingency_over_base_estimate_cents", "contingency_over_budget_cents", "probability_of_failure", "phase_failures", "activity_criticality", "cost_sensitivity", "duration_sensitivity", "cost_histogram", "duration_histogram", "cost_cdf", "duration_cdf", "correlation", "defaults_used", "notes", "given_completion")
    SEED_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_COUNT_FIELD_NUMBER: _ClassVar[int]
    SCENARIOS_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    STOPPED_EARLY_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COST_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    BASE_ESTIMATE_CENTS_FIELD_NUMBER: _ClassVar[int]
    BUDGET_CENTS_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_OVER_BUDGET_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_OVER_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    COST_AT_CONFIDENCE_CENTS_FIELD_NUMBER: _ClassVar[int]
    CONTINGENCY_OVER_BASE_ESTIMATE_CENTS_FIELD_NUMBER: _ClassVar[int]
    CONTINGENCY_OVER_BUDGET_CENTS_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_OF_FAILURE_FIELD_NUMBER: _ClassVar[int]
    PHASE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    ACTIVITY_CRITICALITY_FIELD_NUMBER: _ClassVar[int]
    COST_SENSITIVITY_FIELD_NUMBER: _ClassVar[int]
    DURATION_SENSITIVITY_FIELD_NUMBER: _ClassVar[int]
    COST_HISTOGRAM_FIELD_NUMBER: _ClassVar[int]
    DURATION_HISTOGRAM_FIELD_NUMBER: _ClassVar[int]
    COST_CDF_FIELD_NUMBER: _ClassVar[int]
    DURATION_CDF_FIELD_NUMBER: _ClassVar[int]
    CORRELATION_FIELD_NUMBER: _ClassVar[int]
    DEFAULTS_USED_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    GIVEN_COMPLETION_FIELD_NUMBER: _ClassVar[int]
    seed: int
    scenario_count: int
    scenarios_requested: int
    stopped_early: bool
    total_cost: OutcomeSummary
    duration: OutcomeSummary
    base_estimate_cents: int
    budget_cents: int
    probability_over_budget: Estimate
    probability_over_deadline: Estimate
    confidence: float
    cost_at_confidence_cents: Estimate
    contingency_over_base_estimate_cents: Estimate
    contingency_over_budget_cents: Estimate
    probability_of_failure: Estimate
    phase_failures: _containers.RepeatedCompositeFieldContainer[PhaseFailure]
    activity_criticality: _containers.RepeatedCompositeFieldContainer[ActivityCriticality]
    cost_sensitivity: _containers.RepeatedCompositeFieldContainer[InputSensitivity]
    duration_sensitivity: _containers.RepeatedCompositeFieldContainer[InputSensitivity]
    cost_histogram: Histogram
    duration_histogram: Histogram
    cost_cdf: _containers.RepeatedCompositeFieldContainer[CdfPoint]
    duration_cdf: _containers.RepeatedCompositeFieldContainer[CdfPoint]
    correlation: CorrelationReport
    defaults_used: _containers.RepeatedCompositeFieldContainer[DefaultUsed]
    notes: _containers.RepeatedScalarFieldContainer[str]
    given_completion: GivenCompletion
    def __init__(self, seed: _Optional[int] = ..., scenario_count: _Optional[int] = ..., scenarios_requested: _Optional[int] = ..., stopped_early: _Optional[bool] = ..., total_cost: _Optional[_Union[OutcomeSummary, _Mapping]] = ..., duration: _Optional[_Union[OutcomeSummary, _Mapping]] = ..., base_estimate_cents: _Optional[int] = ..., budget_cents: _Optional[int] = ..., probability_over_budget: _Optional[_Union[Estimate, _Mapping]] = ..., probability_over_deadline: _Optional[_Union[Estimate, _Mapping]] = ..., confidence: _Optional[float] = ..., cost_at_confidence_cents: _Optional[_Union[Estimate, _Mapping]] = ..., contingency_over_base_estimate_cents: _Optional[_Union[Estimate, _Mapping]] = ..., contingency_over_budget_cents: _Optional[_Union[Estimate, _Mapping]] = ..., probability_of_failure: _Optional[_Union[Estimate, _Mapping]] = ..., phase_failures: _Optional[_Iterable[_Union[PhaseFailure, _Mapping]]] = ..., activity_criticality: _Optional[_Iterable[_Union[ActivityCriticality, _Mapping]]] = ..., cost_sensitivity: _Optional[_Iterable[_Union[InputSensitivity, _Mapping]]] = ..., duration_sensitivity: _Optional[_Iterable[_Union[InputSensitivity, _Mapping]]] = ..., cost_histogram: _Optional[_Union[Histogram, _Mapping]] = ..., duration_histogram: _Optional[_Union[Histogram, _Mapping]] = ..., cost_cdf: _Optional[_Iterable[_Union[CdfPoint, _Mapping]]] = ..., duration_cdf: _Optional[_Iterable[_Union[CdfPoint, _Mapping]]] = ..., correlation: _Optional[_Union[CorrelationReport, _Mapping]] = ..., defaults_used: _Optional[_Iterable[_Union[DefaultUsed, _Mapping]]] = ..., notes: _Optional[_Iterable[str]] = ..., given_completion: _Optional[_Union[GivenCompletion, _Mapping]] = ...) -> None: ...

class GuaranteeTerms(_message.Message):
    __slots__ = ("covered_loss", "guarantee_rate", "cap_cents", "deductible_cents")
    COVERED_LOSS_FIELD_NUMBER: _ClassVar[int]
    GUARANTEE_RATE_FIELD_NUMBER: _ClassVar[int]
    CAP_CENTS_FIELD_NUMBER: _ClassVar[int]
    DEDUCTIBLE_CENTS_FIELD_NUMBER: _ClassVar[int]
    covered_loss: CoveredLoss
    guarantee_rate: float
    cap_cents: int
    deductible_cents: int
    def __init__(self, covered_loss: _Optional[_Union[CoveredLoss, str]] = ..., guarantee_rate: _Optional[float] = ..., cap_cents: _Optional[int] = ..., deductible_cents: _Optional[int] = ...) -> None: ...

class EvaluateProcurementGuaranteeRequest(_message.Message):
    __slots__ = ("model", "simulation", "terms", "levels")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SIMULATION_FIELD_NUMBER: _ClassVar[int]
    TERMS_FIELD_NUMBER: _ClassVar[int]
    LEVELS_FIELD_NUMBER: _ClassVar[int]
    model: ProcurementModel
    simulation: SimulationOptions
    terms: GuaranteeTerms
    levels: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, model: _Optional[_Union[ProcurementModel, _Mapping]] = ..., simulation: _Optional[_Union[SimulationOptions, _Mapping]] = ..., terms: _Optional[_Union[GuaranteeTerms, _Mapping]] = ..., levels: _Optional[_Iterable[float]] = ...) -> None: ...

class GuaranteeRiskLevel(_message.Message):
    __slots__ = ("level", "value_at_risk_cents", "expected_shortfall_cents")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    VALUE_AT_RISK_CENTS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SHORTFALL_CENTS_FIELD_NUMBER: _ClassVar[int]
    level: float
    value_at_risk_cents: Estimate
    expected_shortfall_cents: Estimate
    def __init__(self, level: _Optional[float] = ..., value_at_risk_cents: _Optional[_Union[Estimate, _Mapping]] = ..., expected_shortfall_cents: _Optional[_Union[Estimate, _Mapping]] = ...) -> None: ...

class EvaluateProcurementGuaranteeResponse(_message.Message):
    __slots__ = ("seed", "scenario_count", "terms", "expected_payout_cents", "probability_of_payout", "risk_levels", "break_even_fee_cents", "break_even_fee_rate", "guaranteed_amount_cents", "defaults_used", "expected_loss_cents", "expected_retained_loss_cents", "probability_payout_at_cap")
    SEED_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_COUNT_FIELD_NUMBER: _ClassVar[int]
    TERMS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_PAYOUT_CENTS_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_OF_PAYOUT_FIELD_NUMBER: _ClassVar[int]
    RISK_LEVELS_FIELD_NUMBER: _ClassVar[int]
    BREAK_EVEN_FEE_CENTS_FIELD_NUMBER: _ClassVar[int]
    BREAK_EVEN_FEE_RATE_FIELD_NUMBER: _ClassVar[int]
    GUARANTEED_AMOUNT_CENTS_FIELD_NUMBER: _ClassVar[int]
    DEFAULTS_USED_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_LOSS_CENTS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_RETAINED_LOSS_CENTS_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_PAYOUT_AT_CAP_FIELD_NUMBER: _ClassVar[int]
    seed: int
    scenario_count: int
    terms: GuaranteeTerms
    expected_payout_cents: Estimate
    probability_of_payout: Estimate
    risk_levels: _containers.RepeatedCompositeFieldContainer[GuaranteeRiskLevel]
    break_even_fee_cents: Estimate
    break_even_fee_rate: Estimate
    guaranteed_amount_cents: int
    defaults_used: _containers.RepeatedCompositeFieldContainer[DefaultUsed]
    expected_loss_cents: Estimate
    expected_retained_loss_cents: Estimate
    probability_payout_at_cap: Estimate
    def __init__(self, seed: _Optional[int] = ..., scenario_count: _Optional[int] = ..., terms: _Optional[_Union[GuaranteeTerms, _Mapping]] = ..., expected_payout_cents: _Optional[_Union[Estimate, _Mapping]] = ..., probability_of_payout: _Optional[_Union[Estimate, _Mapping]] = ..., risk_levels: _Optional[_Iterable[_Union[GuaranteeRiskLevel, _Mapping]]] = ..., break_even_fee_cents: _Optional[_Union[Estimate, _Mapping]] = ..., break_even_fee_rate: _Optional[_Union[Estimate, _Mapping]] = ..., guaranteed_amount_cents: _Optional[int] = ..., defaults_used: _Optional[_Iterable[_Union[DefaultUsed, _Mapping]]] = ..., expected_loss_cents: _Optional[_Union[Estimate, _Mapping]] = ..., expected_retained_loss_cents: _Optional[_Union[Estimate, _Mapping]] = ..., probability_payout_at_cap: _Optional[_Union[Estimate, _Mapping]] = ...) -> None: ...

class Guarantee(_message.Message):
    __slots__ = ("id", "exposure_cents", "probability_of_default", "cumulative_default_probability", "loss_given_default", "loss_given_default_std", "guarantee_rate", "cap_cents", "deductible_cents", "fee_rate", "sector", "branch", "counterparty_kind", "factor_loadings")
    ID_FIELD_NUMBER: _ClassVar[int]
    EXPOSURE_CENTS_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_OF_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    CUMULATIVE_DEFAULT_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    LOSS_GIVEN_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    LOSS_GIVEN_DEFAULT_STD_FIELD_NUMBER: _ClassVar[int]
    GUARANTEE_RATE_FIELD_NUMBER: _ClassVar[int]
    CAP_CENTS_FIELD_NUMBER: _ClassVar[int]
    DEDUCTIBLE_CENTS_FIELD_NUMBER: _ClassVar[int]
    FEE_RATE_FIELD_NUMBER: _ClassVar[int]
    SECTOR_FIELD_NUMBER: _ClassVar[int]
    BRANCH_FIELD_NUMBER: _ClassVar[int]
    COUNTERPARTY_KIND_FIELD_NUMBER: _ClassVar[int]
    FACTOR_LOADINGS_FIELD_NUMBER: _ClassVar[int]
    id: str
    exposure_cents: int
    probability_of_default: float
    cumulative_default_probability: _containers.RepeatedScalarFieldContainer[float]
    loss_given_default: float
    loss_given_default_std: float
    guarantee_rate: float
    cap_cents: int
    deductible_cents: int
    fee_rate: float
    sector: str
    branch: str
    counterparty_kind: CounterpartyKind
    factor_loadings: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, id: _Optional[str] = ..., exposure_cents: _Optional[int] = ..., probability_of_default: _Optional[float] = ..., cumulative_default_probability: _Optional[_Iterable[float]] = ..., loss_given_default: _Optional[float] = ..., loss_given_default_std: _Optional[float] = ..., guarantee_rate: _Optional[float] = ..., cap_cents: _Optional[int] = ..., deductible_cents: _Optional[int] = ..., fee_rate: _Optional[float] = ..., sector: _Optional[str] = ..., branch: _Optional[str] = ..., counterparty_kind: _Optional[_Union[CounterpartyKind, str]] = ..., factor_loadings: _Optional[_Iterable[float]] = ...) -> None: ...

class FundTerms(_message.Message):
    __slots__ = ("capital_cents", "horizon_years", "portfolio_cap_rate", "annual_fee_income_cents")
    CAPITAL_CENTS_FIELD_NUMBER: _ClassVar[int]
    HORIZON_YEARS_FIELD_NUMBER: _ClassVar[int]
    PORTFOLIO_CAP_RATE_FIELD_NUMBER: _ClassVar[int]
    ANNUAL_FEE_INCOME_CENTS_FIELD_NUMBER: _ClassVar[int]
    capital_cents: int
    horizon_years: int
    portfolio_cap_rate: float
    annual_fee_income_cents: int
    def __init__(self, capital_cents: _Optional[int] = ..., horizon_years: _Optional[int] = ..., portfolio_cap_rate: _Optional[float] = ..., annual_fee_income_cents: _Optional[int] = ...) -> None: ...

class SectorLoading(_message.Message):
    __slots__ = ("sector", "factor_index", "loading")
    SECTOR_FIELD_NUMBER: _ClassVar[int]
    FACTOR_INDEX_FIELD_NUMBER: _ClassVar[int]
    LOADING_FIELD_NUMBER: _ClassVar[int]
    sector: str
    factor_index: int
    loading: float
    def __init__(self, sector: _Optional[str] = ..., factor_index: _Optional[int] = ..., loading: _Optional[float] = ...) -> None: ...

class Dependence(_message.Message):
    __slots__ = ("factor_correlation", "copula", "degrees_of_freedom", "sector_loadings", "creditriskplus_sector_variances", "creditriskplus_background_variance")
    FACTOR_CORRELATION_FIELD_NUMBER: _ClassVar[int]
    COPULA_FIELD_NUMBER: _ClassVar[int]
    DEGREES_OF_FREEDOM_FIELD_NUMBER: _ClassVar[int]
    SECTOR_LOADINGS_FIELD_NUMBER: _ClassVar[int]
    CREDITRISKPLUS_SECTOR_VARIANCES_FIELD_NUMBER: _ClassVar[int]
    CREDITRISKPLUS_BACKGROUND_VARIANCE_FIELD_NUMBER: _ClassVar[int]
    factor_correlation: _containers.RepeatedScalarFieldContainer[float]
    copula: Copula
    degrees_of_freedom: float
    sector_loadings: _containers.RepeatedCompositeFieldContainer[SectorLoading]
    creditriskplus_sector_variances: _containers.RepeatedScalarFieldContainer[float]
    creditriskplus_background_variance: float
    def __init__(self, factor_correlation: _Optional[_Iterable[float]] = ..., copula: _Optional[_Union[Copula, str]] = ..., degrees_of_freedom: _Optional[float] = ..., sector_loadings: _Optional[_Iterable[_Union[SectorLoading, _Mapping]]] = ..., creditriskplus_sector_variances: _Optional[_Iterable[float]] = ..., creditriskplus_background_variance: _Optional[float] = ...) -> None: ...

class PortfolioSimulationOptions(_message.Message):
    __slots__ = ("scenario_count", "seed", "method", "levels", "target_relative_error", "include_contributions", "top_guarantees")
    SCENARIO_COUNT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    LEVELS_FIELD_NUMBER: _ClassVar[int]
    TARGET_RELATIVE_ERROR_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_CONTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    TOP_GUARANTEES_FIELD_NUMBER: _ClassVar[int]
    scenario_count: int
    seed: int
    method: PortfolioMethod
    levels: _containers.RepeatedScalarFieldContainer[float]
    target_relative_error: float
    include_contributions: bool
    top_guarantees: int
    def __init__(self, scenario_count: _Optional[int] = ..., seed: _Optional[int] = ..., method: _Optional[_Union[PortfolioMethod, str]] = ..., levels: _Optional[_Iterable[float]] = ..., target_relative_error: _Optional[float] = ..., include_contributions: _Optional[bool] = ..., top_guarantees: _Optional[int] = ...) -> None: ...

class SimulatePortfolioRequest(_message.Message):
    __slots__ = ("fund", "dependence", "simulation", "guarantees")
    FUND_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCE_FIELD_NUMBER: _ClassVar[int]
    SIMULATION_FIELD_NUMBER: _ClassVar[int]
    GUARANTEES_FIELD_NUMBER: _ClassVar[int]
    fund: FundTerms
    dependence: Dependence
    simulation: PortfolioSimulationOptions
    guarantees: _containers.RepeatedCompositeFieldContainer[Guarantee]
    def __init__(self, fund: _Optional[_Union[FundTerms, _Mapping]] = ..., dependence: _Optional[_Union[Dependence, _Mapping]] = ..., simulation: _Optional[_Union[PortfolioSimulationOptions, _Mapping]] = ..., guarantees: _Optional[_Iterable[_Union[Guarantee, _Mapping]]] = ...) -> None: ...

class SimulationProgress(_message.Message):
    __slots__ = ("scenarios_done", "scenarios_total", "expected_loss_cents", "level", "value_at_risk_cents", "expected_shortfall_cents", "phase", "phase_done_share", "done_share")
    SCENARIOS_DONE_FIELD_NUMBER: _ClassVar[int]
    SCENARIOS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_LOSS_CENTS_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    VALUE_AT_RISK_CENTS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SHORTFALL_CENTS_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    PHASE_DONE_SHARE_FIELD_NUMBER: _ClassVar[int]
    DONE_SHARE_FIELD_NUMBER: _ClassVar[int]
    scenarios_done: int
    scenarios_total: int
    expected_loss_cents: Estimate
    level: float
    value_at_risk_cents: Estimate
    expected_shortfall_cents: Estimate
    phase: SimulationPhase
    phase_done_share: float
    done_share: float
    def __init__(self, scenarios_done: _Optional[int] = ..., scenarios_total: _Optional[int] = ..., expected_loss_cents: _Optional[_Union[Estimate, _Mapping]] = ..., level: _Optional[float] = ..., value_at_risk_cents: _Optional[_Union[Estimate, _Mapping]] = ..., expected_shortfall_cents: _Optional[_Union[Estimate, _Mapping]] = ..., phase: _Optional[_Union[SimulationPhase, str]] = ..., phase_done_share: _Optional[float] = ..., done_share: _Optional[float] = ...) -> None: ...

class TailRisk(_message.Message):
    __slots__ = ("level", "value_at_risk_cents", "expected_shortfall_cents")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    VALUE_AT_RISK_CENTS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SHORTFALL_CENTS_FIELD_NUMBER: _ClassVar[int]
    level: float
    value_at_risk_cents: Estimate
    expected_shortfall_cents: Estimate
    def __init__(self, level: _Optional[float] = ..., value_at_risk_cents: _Optional[_Union[Estimate, _Mapping]] = ..., expected_shortfall_cents: _Optional[_Union[Estimate, _Mapping]] = ...) -> None: ...

class GuaranteeContribution(_message.Message):
    __slots__ = ("row", "id", "expected_shortfall_cents", "value_at_risk_cents")
    ROW_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SHORTFALL_CENTS_FIELD_NUMBER: _ClassVar[int]
    VALUE_AT_RISK_CENTS_FIELD_NUMBER: _ClassVar[int]
    row: int
    id: str
    expected_shortfall_cents: Estimate
    value_at_risk_cents: Estimate
    def __init__(self, row: _Optional[int] = ..., id: _Optional[str] = ..., expected_shortfall_cents: _Optional[_Union[Estimate, _Mapping]] = ..., value_at_risk_cents: _Optional[_Union[Estimate, _Mapping]] = ...) -> None: ...

class GroupContribution(_message.Message):
    __slots__ = ("name", "expected_shortfall_cents", "value_at_risk_cents")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SHORTFALL_CENTS_FIELD_NUMBER: _ClassVar[int]
    VALUE_AT_RISK_CENTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    expected_shortfall_cents: Estimate
    value_at_risk_cents: Estimate
    def __init__(self, name: _Optional[str] = ..., expected_shortfall_cents: _Optional[_Union[Estimate, _Mapping]] = ..., value_at_risk_cents: _Optional[_Union[Estimate, _Mapping]] = ...) -> None: ...

class RiskContributions(_message.Message):
    __slots__ = ("level", "value_at_risk_cents", "expected_shortfall_cents", "conditional_tail_loss_cents", "top_guarantees", "by_sector", "by_branch", "method", "scenario_count")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    VALUE_AT_RISK_CENTS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SHORTFALL_CENTS_FIELD_NUMBER: _ClassVar[int]
    CONDITIONAL_TAIL_LOSS_CENTS_FIELD_NUMBER: _ClassVar[int]
    TOP_GUARANTEES_FIELD_NUMBER: _ClassVar[int]
    BY_SECTOR_FIELD_NUMBER: _ClassVar[int]
    BY_BRANCH_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_COUNT_FIELD_NUMBER: _ClassVar[int]
    level: float
    value_at_risk_cents: Estimate
    expected_shortfall_cents: Estimate
    conditional_tail_loss_cents: float
    top_guarantees: _containers.RepeatedCompositeFieldContainer[GuaranteeContribution]
    by_sector: _containers.RepeatedCompositeFieldContainer[GroupContribution]
    by_branch: _containers.RepeatedCompositeFieldContainer[GroupContribution]
    method: PortfolioMethod
    scenario_count: int
    def __init__(self, level: _Optional[float] = ..., value_at_risk_cents: _Optional[_Union[Estimate, _Mapping]] = ..., expected_shortfall_cents: _Optional[_Union[Estimate, _Mapping]] = ..., conditional_tail_loss_cents: _Optional[float] = ..., top_guarantees: _Optional[_Iterable[_Union[GuaranteeContribution, _Mapping]]] = ..., by_sector: _Optional[_Iterable[_Union[GroupContribution, _Mapping]]] = ..., by_branch: _Optional[_Iterable[_Union[GroupContribution, _Mapping]]] = ..., method: _Optional[_Union[PortfolioMethod, str]] = ..., scenario_count: _Optional[int] = ...) -> None: ...

class PortfolioRiskResult(_message.Message):
    __slots__ = ("method", "seed", "scenario_count", "expected_loss_cents", "tail_risk", "exhaustion_probability_by_year", "loss_histogram_edges_cents", "loss_histogram_probability", "portfolio_cap_cents", "capital_cents", "annual_fee_income_cents", "importance_shift", "effective_sample_size", "cancelled", "notes", "contributions", "guarantee_count", "horizon_years", "contributions_stopped")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_COUNT_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_LOSS_CENTS_FIELD_NUMBER: _ClassVar[int]
    TAIL_RISK_FIELD_NUMBER: _ClassVar[int]
    EXHAUSTION_PROBABILITY_BY_YEAR_FIELD_NUMBER: _ClassVar[int]
    LOSS_HISTOGRAM_EDGES_CENTS_FIELD_NUMBER: _ClassVar[int]
    LOSS_HISTOGRAM_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    PORTFOLIO_CAP_CENTS_FIELD_NUMBER: _ClassVar[int]
    CAPITAL_CENTS_FIELD_NUMBER: _ClassVar[int]
    ANNUAL_FEE_INCOME_CENTS_FIELD_NUMBER: _ClassVar[int]
    IMPORTANCE_SHIFT_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_SAMPLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    GUARANTEE_COUNT_FIELD_NUMBER: _ClassVar[int]
    HORIZON_YEARS_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTIONS_STOPPED_FIELD_NUMBER: _ClassVar[int]
    method: PortfolioMethod
    seed: int
    scenario_count: int
    expected_loss_cents: Estimate
    tail_risk: _containers.RepeatedCompositeFieldContainer[TailRisk]
    exhaustion_probability_by_year: _containers.RepeatedCompositeFieldContainer[Estimate]
    loss_histogram_edges_cents: _containers.RepeatedScalarFieldContainer[float]
    loss_histogram_probability: _containers.RepeatedScalarFieldContainer[float]
    portfolio_cap_cents: int
    capital_cents: int
    annual_fee_income_cents: int
    importance_shift: _containers.RepeatedScalarFieldContainer[float]
    effective_sample_size: float
    cancelled: bool
    notes: _containers.RepeatedScalarFieldContainer[str]
    contributions: RiskContributions
    guarantee_count: int
    horizon_years: int
    contributions_stopped: bool
    def __init__(self, method: _Optional[_Union[PortfolioMethod, str]] = ..., seed: _Optional[int] = ..., scenario_count: _Optional[int] = ..., expected_loss_cents: _Optional[_Union[Estimate, _Mapping]] = ..., tail_risk: _Optional[_Iterable[_Union[TailRisk, _Mapping]]] = ..., exhaustion_probability_by_year: _Optional[_Iterable[_Union[Estimate, _Mapping]]] = ..., loss_histogram_edges_cents: _Optional[_Iterable[float]] = ..., loss_histogram_probability: _Optional[_Iterable[float]] = ..., portfolio_cap_cents: _Optional[int] = ..., capital_cents: _Optional[int] = ..., annual_fee_income_cents: _Optional[int] = ..., importance_shift: _Optional[_Iterable[float]] = ..., effective_sample_size: _Optional[float] = ..., cancelled: _Optional[bool] = ..., notes: _Optional[_Iterable[str]] = ..., contributions: _Optional[_Union[RiskContributions, _Mapping]] = ..., guarantee_count: _Optional[int] = ..., horizon_years: _Optional[int] = ..., contributions_stopped: _Optional[bool] = ...) -> None: ...

class SimulatePortfolioResponse(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: SimulationProgress
    result: PortfolioRiskResult
    def __init__(self, progress: _Optional[_Union[SimulationProgress, _Mapping]] = ..., result: _Optional[_Union[PortfolioRiskResult, _Mapping]] = ...) -> None: ...

class EvaluateIncrementalRiskRequest(_message.Message):
    __slots__ = ("portfolio", "candidate", "fund", "dependence", "simulation")
    PORTFOLIO_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_FIELD_NUMBER: _ClassVar[int]
    FUND_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCE_FIELD_NUMBER: _ClassVar[int]
    SIMULATION_FIELD_NUMBER: _ClassVar[int]
    portfolio: _containers.RepeatedCompositeFieldContainer[Guarantee]
    candidate: Guarantee
    fund: FundTerms
    dependence: Dependence
    simulation: PortfolioSimulationOptions
    def __init__(self, portfolio: _Optional[_Iterable[_Union[Guarantee, _Mapping]]] = ..., candidate: _Optional[_Union[Guarantee, _Mapping]] = ..., fund: _Optional[_Union[FundTerms, _Mapping]] = ..., dependence: _Optional[_Union[Dependence, _Mapping]] = ..., simulation: _Optional[_Union[PortfolioSimulationOptions, _Mapping]] = ...) -> None: ...

class IncrementalTailRisk(_message.Message):
    __slots__ = ("level", "value_at_risk_before_cents", "value_at_risk_after_cents", "value_at_risk_change_cents", "expected_shortfall_before_cents", "expected_shortfall_after_cents", "expected_shortfall_change_cents")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    VALUE_AT_RISK_BEFORE_CENTS_FIELD_NUMBER: _ClassVar[int]
    VALUE_AT_RISK_AFTER_CENTS_FIELD_NUMBER: _ClassVar[int]
    VALUE_AT_RISK_CHANGE_CENTS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SHORTFALL_BEFORE_CENTS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SHORTFALL_AFTER_CENTS_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SHORTFALL_CHANGE_CENTS_FIELD_NUMBER: _ClassVar[int]
    level: float
    value_at_risk_before_cents: Estimate
    value_at_risk_after_cents: Estimate
    value_at_risk_change_cents: Estimate
    expected_shortfall_before_cents: Estimate
    expected_shortfall_after_cents: Estimate
    expected_shortfall_change_cents: Estimate
    def __init__(self, level: _Optional[float] = ..., value_at_risk_before_cents: _Optional[_Union[Estimate, _Mapping]] = ..., value_at_risk_after_cents: _Optional[_Union[Estimate, _Mapping]] = ..., value_at_risk_change_cents: _Optional[_Union[Estimate, _Mapping]] = ..., expected_shortfall_before_cents: _Optional[_Union[Estimate, _Mapping]] = ..., expected_shortfall_after_cents: _Optional[_Union[Estimate, _Mapping]] = ..., expected_shortfall_change_cents: _Optional[_Union[Estimate, _Mapping]] = ...) -> None: ...

class EvaluateIncrementalRiskResponse(_message.Message):
    __slots__ = ("method", "seed", "scenario_count", "expected_loss_change_cents", "tail_risk", "exhaustion_probability_before_by_year", "exhaustion_probability_after_by_year", "exhaustion_probability_change_by_year")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_COUNT_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_LOSS_CHANGE_CENTS_FIELD_NUMBER: _ClassVar[int]
    TAIL_RISK_FIELD_NUMBER: _ClassVar[int]
    EXHAUSTION_PROBABILITY_BEFORE_BY_YEAR_FIELD_NUMBER: _ClassVar[int]
    EXHAUSTION_PROBABILITY_AFTER_BY_YEAR_FIELD_NUMBER: _ClassVar[int]
    EXHAUSTION_PROBABILITY_CHANGE_BY_YEAR_FIELD_NUMBER: _ClassVar[int]
    method: PortfolioMethod
    seed: int
    scenario_count: int
    expected_loss_change_cents: Estimate
    tail_risk: _containers.RepeatedCompositeFieldContainer[IncrementalTailRisk]
    exhaustion_probability_before_by_year: _containers.RepeatedCompositeFieldContainer[Estimate]
    exhaustion_probability_after_by_year: _containers.RepeatedCompositeFieldContainer[Estimate]
    exhaustion_probability_change_by_year: _containers.RepeatedCompositeFieldContainer[Estimate]
    def __init__(self, method: _Optional[_Union[PortfolioMethod, str]] = ..., seed: _Optional[int] = ..., scenario_count: _Optional[int] = ..., expected_loss_change_cents: _Optional[_Union[Estimate, _Mapping]] = ..., tail_risk: _Optional[_Iterable[_Union[IncrementalTailRisk, _Mapping]]] = ..., exhaustion_probability_before_by_year: _Optional[_Iterable[_Union[Estimate, _Mapping]]] = ..., exhaustion_probability_after_by_year: _Optional[_Iterable[_Union[Estimate, _Mapping]]] = ..., exhaustion_probability_change_by_year: _Optional[_Iterable[_Union[Estimate, _Mapping]]] = ...) -> None: ...

class StartPortfolioSimulationRequest(_message.Message):
    __slots__ = ("request_id", "simulation")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SIMULATION_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    simulation: SimulatePortfolioRequest
    def __init__(self, request_id: _Optional[str] = ..., simulation: _Optional[_Union[SimulatePortfolioRequest, _Mapping]] = ...) -> None: ...

class PortfolioSimulationMetadata(_message.Message):
    __slots__ = ("create_time", "update_time", "end_time", "creator", "guarantee_count", "progress", "seconds_left", "horizon_years", "seed", "method", "contributions_stopped")
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    GUARANTEE_COUNT_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_LEFT_FIELD_NUMBER: _ClassVar[int]
    HORIZON_YEARS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTIONS_STOPPED_FIELD_NUMBER: _ClassVar[int]
    create_time: str
    update_time: str
    end_time: str
    creator: str
    guarantee_count: int
    progress: SimulationProgress
    seconds_left: float
    horizon_years: int
    seed: int
    method: PortfolioMethod
    contributions_stopped: bool
    def __init__(self, create_time: _Optional[str] = ..., update_time: _Optional[str] = ..., end_time: _Optional[str] = ..., creator: _Optional[str] = ..., guarantee_count: _Optional[int] = ..., progress: _Optional[_Union[SimulationProgress, _Mapping]] = ..., seconds_left: _Optional[float] = ..., horizon_years: _Optional[int] = ..., seed: _Optional[int] = ..., method: _Optional[_Union[PortfolioMethod, str]] = ..., contributions_stopped: _Optional[bool] = ...) -> None: ...

class OperationError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class Operation(_message.Message):
    __slots__ = ("name", "metadata", "done", "error", "response")
    NAME_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    name: str
    metadata: PortfolioSimulationMetadata
    done: bool
    error: OperationError
    response: PortfolioRiskResult
    def __init__(self, name: _Optional[str] = ..., metadata: _Optional[_Union[PortfolioSimulationMetadata, _Mapping]] = ..., done: _Optional[bool] = ..., error: _Optional[_Union[OperationError, _Mapping]] = ..., response: _Optional[_Union[PortfolioRiskResult, _Mapping]] = ...) -> None: ...

class GetOperationRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListOperationsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListOperationsResponse(_message.Message):
    __slots__ = ("operations", "next_page_token", "unreachable")
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    UNREACHABLE_FIELD_NUMBER: _ClassVar[int]
    operations: _containers.RepeatedCompositeFieldContainer[Operation]
    next_page_token: str
    unreachable: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, operations: _Optional[_Iterable[_Union[Operation, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., unreachable: _Optional[_Iterable[str]] = ...) -> None: ...

class WaitOperationRequest(_message.Message):
    __slots__ = ("name", "timeout_seconds")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    timeout_seconds: float
    def __init__(self, name: _Optional[str] = ..., timeout_seconds: _Optional[float] = ...) -> None: ...

class CancelOperationRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class StartPortfolioSimulationResponse(_message.Message):
    __slots__ = ("operation",)
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    operation: Operation
    def __init__(self, operation: _Optional[_Union[Operation, _Mapping]] = ...) -> None: ...

class GetOperationResponse(_message.Message):
    __slots__ = ("operation",)
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    operation: Operation
    def __init__(self, operation: _Optional[_Union[Operation, _Mapping]] = ...) -> None: ...

class WaitOperationResponse(_message.Message):
    __slots__ = ("operation",)
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    operation: Operation
    def __init__(self, operation: _Optional[_Union[Operation, _Mapping]] = ...) -> None: ...

class CancelOperationResponse(_message.Message):
    __slots__ = ("operation",)
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    operation: Operation
    def __init__(self, operation: _Optional[_Union[Operation, _Mapping]] = ...) -> None: ...
