"""IJH grant rules and application scoring: versioned, explainable, pure Python.

Public API (mapped 1:1 to protobuf by the funding server):

* :func:`compute_grant` (``GrantApplication`` -> ``GrantComputation``)
* :func:`score_application` (``ScoreSheet``s -> ``ScoringResult``), :func:`rubric_in_force`
* :func:`list_parameters`, :func:`rules_version` (ListParameters RPC)
* :mod:`services.funding.rules.parameters`: the generic dated-parameter loader.
"""

from services.funding.rules.explanation import ParameterUse, TraceStep
from services.funding.rules.grant import (
    Applicant,
    CostLine,
    CostLineResult,
    GrantApplication,
    GrantComputation,
    Rejection,
    compute_grant,
)
from services.funding.rules.kinds import (
    ApplicantKind,
    CostCategory,
    ProcurementKind,
    RejectionReason,
)
from services.funding.rules.parameters import (
    ParameterNotInForce,
    ParameterSet,
    ParametersInForce,
    ParameterValue,
)
from services.funding.rules.rulebook import ijh_parameters, list_parameters, rules_version
from services.funding.rules.scoring import (
    Criterion,
    CriterionResult,
    CriterionScore,
    Rubric,
    ScoreSheet,
    ScoringResult,
    rubric_in_force,
    score_application,
)
from services.shared.business_id import is_valid_business_id

__all__ = [
    "Applicant",
    "ApplicantKind",
    "CostCategory",
    "CostLine",
    "CostLineResult",
    "Criterion",
    "CriterionResult",
    "CriterionScore",
    "GrantApplication",
    "GrantComputation",
    "ParameterNotInForce",
    "ParameterSet",
    "ParameterUse",
    "ParameterValue",
    "ParametersInForce",
    "ProcurementKind",
    "Rejection",
    "RejectionReason",
    "Rubric",
    "ScoreSheet",
    "ScoringResult",
    "TraceStep",
    "compute_grant",
    "ijh_parameters",
    "is_valid_business_id",
    "list_parameters",
    "rubric_in_force",
    "rules_version",
    "score_application",
]
