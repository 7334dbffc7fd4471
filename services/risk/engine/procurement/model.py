"""The procurement risk model and its answer, as frozen dataclasses.

These map 1:1 to protobuf messages: snake_case fields, enums as ``str`` Enums whose
zero value is ``*_UNSPECIFIED``, repeated fields as tuples, matrices row-major.

Units are in the field names. Money that the caller gives is integer cents; money the
engine estimates is a float number of cents only inside an ``Estimate`` (a Monte Carlo
figure, not an amount to book). Durations are days (float: they are not money).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from services.risk.engine.estimate import Estimate


class ProcurementKind(StrEnum):
    """The kind of innovative procurement; selects the default phases and priors."""

    PROCUREMENT_KIND_UNSPECIFIED = "PROCUREMENT_KIND_UNSPECIFIED"
    NEW_PRODUCT_OR_SERVICE = "NEW_PRODUCT_OR_SERVICE"
    PRE_COMMERCIAL_PROCUREMENT = "PRE_COMMERCIAL_PROCUREMENT"
    INNOVATION_PARTNERSHIP = "INNOVATION_PARTNERSHIP"
    CATALYST_PROCUREMENT = "CATALYST_PROCUREMENT"


class NoveltyLevel(StrEnum):
    """How new the solution is; selects the default spreads and pass probabilities."""

    NOVELTY_LEVEL_UNSPECIFIED = "NOVELTY_LEVEL_UNSPECIFIED"
    NEW_TO_SECTOR = "NEW_TO_SECTOR"
    NEW_IN_FINLAND = "NEW_IN_FINLAND"
    NEW_WORLDWIDE = "NEW_WORLDWIDE"


class DistributionKind(StrEnum):
    """Shape of an uncertain amount. UNSPECIFIED means "only the most likely value is
    known": the engine fills a PERT spread from the novelty prior (see README)."""

    DISTRIBUTION_KIND_UNSPECIFIED = "DISTRIBUTION_KIND_UNSPECIFIED"
    FIXED = "FIXED"                      # mode
    TRIANGULAR = "TRIANGULAR"            # minimum, mode, maximum
    PERT = "PERT"                        # minimum, mode, maximum, pert_shape (0 -> 4)
    UNIFORM = "UNIFORM"                  # minimum, maximum
    TRUNCATED_NORMAL = "TRUNCATED_NORMAL"  # mean, standard_deviation; truncated at zero
    LOGNORMAL = "LOGNORMAL"              # p10, p90


class CoveredLoss(StrEnum):
    """What a guarantee pays on."""

    COVERED_LOSS_UNSPECIFIED = "COVERED_LOSS_UNSPECIFIED"
    COST_OVERRUN = "COST_OVERRUN"        # total cost above the budget
    LOSS_AT_FAILURE = "LOSS_AT_FAILURE"  # money spent when the procurement fails


@dataclass(frozen=True)
class CostDistribution:
    """An uncertain amount of money; every parameter in integer cents (``pert_shape``
    is the PERT λ, a plain number; 0 means the usual 4). Only the fields that ``kind``
    names are read."""

    kind: DistributionKind
    minimum_cents: int = 0
    mode_cents: int = 0
    maximum_cents: int = 0
    mean_cents: int = 0
    standard_deviation_cents: int = 0
    p10_cents: int = 0
    p90_cents: int = 0
    pert_shape: float = 0.0


@dataclass(frozen=True)
class DurationDistribution:
    """An uncertain duration in days; same kinds and field meaning as CostDistribution."""

    kind: DistributionKind
    minimum_days: float = 0.0
    mode_days: float = 0.0
    maximum_days: float = 0.0
    mean_days: float = 0.0
    standard_deviation_days: float = 0.0
    p10_days: float = 0.0
    p90_days: float = 0.0
    pert_shape: float = 0.0


@dataclass(frozen=True)
class CostItem:
    """One line of the cost estimate.

    ``phase`` names the phase in which it is spent: it is incurred only if the
    procurement reaches that phase. Empty: incurred in every scenario (planning,
    project management). ``only_on_success``: incurred only if every phase passes
    (deployment, the purchase itself). The two are exclusive."""

    name: str
    distribution: CostDistribution
    phase: str = ""
    only_on_success: bool = False


@dataclass(frozen=True)
class Activity:
    """A schedule activity; it starts when all ``predecessors`` (activity names) end."""

    name: str
    duration: DurationDistribution
    predecessors: tuple[str, ...] = ()


@dataclass(frozen=True)
class RiskEvent:
    """Something that may happen (with ``probability``), costing ``cost_impact`` and
    adding one draw of ``delay`` to each of ``delayed_activities``."""

    name: str
    probability: float
    cost_impact: CostDistribution = field(
        default_factory=lambda: CostDistribution(DistributionKind.FIXED))
    delay: DurationDistribution = field(
        default_factory=lambda: DurationDistribution(DistributionKind.FIXED))
    delayed_activities: tuple[str, ...] = ()


@dataclass(frozen=True)
class CorrelationBlock:
    """Rank (Spearman) correlations among named inputs (cost item, activity or risk
    event names). ``rank_correlations`` is the k×k matrix, row-major (k² numbers).
    For a risk event the correlated variable is its occurrence."""

    input_names: tuple[str, ...]
    rank_correlations: tuple[float, ...]


@dataclass(frozen=True)
class Phase:
    """A competitive phase gate (e.g. PCP solution design → prototype → test series).

    ``suppliers``: how many suppliers start the first phase, and for a later phase the
    most that are carried into it (4 → 3 → 2). Each passes independently with
    ``pass_probability`` (None: the prior for the kind and novelty). The procurement
    fails in the first phase that no supplier passes."""

    name: str
    suppliers: int
    pass_probability: float | None = None


@dataclass(frozen=True)
class ProcurementModel:
    """A planned procurement. Empty ``phases`` take the kind's default phases;
    ``deadline_days`` None means no deadline is asked about."""

    kind: ProcurementKind
    novelty: NoveltyLevel
    cost_items: tuple[CostItem, ...]
    budget_cents: int
    activities: tuple[Activity, ...] = ()
    risk_events: tuple[RiskEvent, ...] = ()
    correlations: tuple[CorrelationBlock, ...] = ()
    phases: tuple[Phase, ...] = ()
    deadline_days: float | None = None


@dataclass(frozen=True)
class GuaranteeTerms:
    """A partial guarantee from the risk fund on one procurement.

    Per scenario: payout = min(cap_cents, guarantee_rate × max(loss − deductible_cents,
    0)), where loss is the overrun over the budget or the spend at failure."""

    covered_loss: CoveredLoss
    guarantee_rate: float
    cap_cents: int
    deductible_cents: int = 0


# ----------------------------------------------------------------------------- answer


@dataclass(frozen=True)
class QuantileEstimate:
    """The ``probability`` quantile of an output (P80: probability 0.8)."""

    probability: float
    value: Estimate


@dataclass(frozen=True)
class OutputSummary:
    """Mean, standard deviation and quantiles of one output, each with its MC error.
    Units are those of the field that holds the summary (cents or days)."""

    mean: Estimate
    standard_deviation: Estimate
    quantiles: tuple[QuantileEstimate, ...]


@dataclass(frozen=True)
class CostHistogram:
    """Counts of scenarios per total-cost bin; ``bin_edges_cents`` has one more entry."""

    bin_edges_cents: tuple[int, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True)
class DurationHistogram:
    """Counts of scenarios per duration bin; ``bin_edges_days`` has one more entry."""

    bin_edges_days: tuple[float, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True)
class CostCdfPoint:
    cumulative_probability: float
    total_cost_cents: int


@dataclass(frozen=True)
class DurationCdfPoint:
    cumulative_probability: float
    duration_days: float


@dataclass(frozen=True)
class PhaseFailure:
    """Probability that the procurement fails in this phase (not conditional)."""

    phase_name: str
    probability: Estimate


@dataclass(frozen=True)
class ActivityCriticality:
    """Share of scenarios in which the activity has zero total float."""

    activity_name: str
    criticality_index: Estimate


@dataclass(frozen=True)
class InputSensitivity:
    """One bar of a tornado chart.

    ``contribution``: the input's share of the variance of the total cost, Cov(X_i,
    total)/Var(total), X_i what the input adds to the total (a cost item as spent, a risk
    event's impact); over the inputs these add to 1. None where the input is not a part
    of the output (an activity, for cost; every input, for the duration, which is a
    longest path, not a sum). ``rank_correlation``: Spearman's ρ with the output, which
    says how monotonely an input moves it, not how much: a rare, large event has a small
    ρ. ``rank_correlation_share``: ρ²/Σρ², kept for the API's deprecated
    ``variance_share``; it is not a share of the variance (a 2 % risk of a €2M rebuild
    beside a €0.95–1.2M contract: 6 % against the 97.7 % it contributes)."""

    input_name: str
    rank_correlation: Estimate
    rank_correlation_share: float
    contribution: Estimate | None = None


@dataclass(frozen=True)
class CorrelationReport:
    """The rank-correlation matrix actually realised (row-major over ``input_names``);
    a risk event's occurrence (Bernoulli) realises less than its copula correlation
    (at most √(3p(1 − p)) with a continuous input), and that is what is reported.
    ``repaired`` when the requested one was not a valid correlation matrix and was
    replaced by the nearest valid one (Higham 2002); ``max_abs_change`` is the change
    made by that repair."""

    input_names: tuple[str, ...]
    rank_correlations: tuple[float, ...]
    repaired: bool
    max_abs_change: float


@dataclass(frozen=True)
class DefaultUsed:
    """A prior that filled something the agency left out; ``field`` is the model path."""

    field: str
    value: str
    rationale: str


@dataclass(frozen=True)
class CompletionFigures:
    """The headline cost figures given that the procurement completes (every phase
    passed); the all-scenario ones mix in the failed scenarios, which stop spending at
    the failed phase. Each scenario's draws are costed as if it completed (the failing
    phase is drawn independently of every cost), so every scenario counts."""

    budget_exceedance_probability: Estimate
    cost_at_confidence_cents: Estimate
    contingency_over_base_estimate_cents: Estimate
    contingency_over_budget_cents: Estimate


@dataclass(frozen=True)
class ProcurementRiskEstimate:
    """The answer of ``estimate_procurement_risk``. Money in (float) cents inside
    Estimates, exact integer cents elsewhere; durations in days."""

    seed: int
    scenarios: int
    scenarios_requested: int
    stopped_early: bool
    total_cost_cents: OutputSummary
    duration_days: OutputSummary
    base_estimate_cents: int
    budget_cents: int
    budget_exceedance_probability: Estimate
    deadline_exceedance_probability: Estimate | None
    confidence: float
    cost_at_confidence_cents: Estimate
    contingency_over_base_estimate_cents: Estimate
    contingency_over_budget_cents: Estimate
    failure_probability: Estimate
    phase_failures: tuple[PhaseFailure, ...]
    activity_criticality: tuple[ActivityCriticality, ...]
    cost_sensitivity: tuple[InputSensitivity, ...]
    duration_sensitivity: tuple[InputSensitivity, ...]
    sensitivity_scenarios: int
    cost_histogram: CostHistogram
    duration_histogram: DurationHistogram
    cost_cdf: tuple[CostCdfPoint, ...]
    duration_cdf: tuple[DurationCdfPoint, ...]
    correlation: CorrelationReport | None
    defaults_used: tuple[DefaultUsed, ...]
    # Caveats on figures, each naming the figure it concerns (e.g. a standard deviation
    # taken from the model rather than the scenarios); empty when there are none.
    notes: tuple[str, ...] = ()
    # The figures given completion; None unless the model can both fail and complete.
    given_completion: CompletionFigures | None = None


@dataclass(frozen=True)
class GuaranteeRiskLevel:
    """Value at risk and expected shortfall of the payout at ``level`` (e.g. 0.99)."""

    level: float
    value_at_risk_cents: Estimate
    expected_shortfall_cents: Estimate


@dataclass(frozen=True)
class GuaranteeEvaluation:
    """The answer of ``evaluate_guarantee``. ``guaranteed_amount_cents`` is the cap (the
    fund's largest possible payout); the break-even fee rate is relative to it and covers
    the whole term (one fee for the procurement's loss, not a rate per year).
    ``expected_loss_cents``: the covered loss before the guarantee (overrun or spend at
    failure); ``expected_retained_loss_cents``: what the agency keeps of it (loss −
    payout); ``cap_reached_probability``: P(payout = cap)."""

    seed: int
    scenarios: int
    terms: GuaranteeTerms
    expected_payout_cents: Estimate
    payout_probability: Estimate
    expected_loss_cents: Estimate
    expected_retained_loss_cents: Estimate
    cap_reached_probability: Estimate
    risk_levels: tuple[GuaranteeRiskLevel, ...]
    break_even_fee_cents: Estimate
    break_even_fee_rate: Estimate
    guaranteed_amount_cents: int
    defaults_used: tuple[DefaultUsed, ...]
