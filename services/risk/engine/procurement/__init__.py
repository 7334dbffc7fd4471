"""Procurement risk engine (issue 3): Monte Carlo cost, schedule, failure and
guarantee estimates for one innovative procurement. Pure numpy/scipy; see README.md."""

from .guarantee import evaluate_guarantee
from .model import (
                    Activity,
                    ActivityCriticality,
                    CompletionFigures,
                    CorrelationBlock,
                    CorrelationReport,
                    CostCdfPoint,
                    CostDistribution,
                    CostHistogram,
                    CostItem,
                    CoveredLoss,
                    DefaultUsed,
                    DistributionKind,
                    DurationCdfPoint,
                    DurationDistribution,
                    DurationHistogram,
                    GuaranteeEvaluation,
                    GuaranteeRiskLevel,
                    GuaranteeTerms,
                    InputSensitivity,
                    NoveltyLevel,
                    OutputSummary,
                    Phase,
                    PhaseFailure,
                    ProcurementKind,
                    ProcurementModel,
                    ProcurementRiskEstimate,
                    QuantileEstimate,
                    RiskEvent,
)
from .plan import BLOCK_SCENARIOS, MAX_SCENARIOS, spend_depends_on_failure
from .risk import estimate_procurement_risk
from .simulation import RunStopped

__all__ = [
    "BLOCK_SCENARIOS", "MAX_SCENARIOS", "Activity", "ActivityCriticality",
    "CompletionFigures", "CorrelationBlock", "CorrelationReport", "CostCdfPoint",
    "CostDistribution", "CostHistogram", "CostItem", "CoveredLoss", "DefaultUsed",
    "DistributionKind", "DurationCdfPoint", "DurationDistribution", "DurationHistogram",
    "GuaranteeEvaluation", "GuaranteeRiskLevel", "GuaranteeTerms", "InputSensitivity",
    "NoveltyLevel", "OutputSummary", "Phase", "PhaseFailure", "ProcurementKind",
    "ProcurementModel", "ProcurementRiskEstimate", "QuantileEstimate", "RiskEvent",
    "RunStopped", "estimate_procurement_risk", "evaluate_guarantee",
    "spend_depends_on_failure",
]
