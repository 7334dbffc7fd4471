"""The funding ledger's pure core: application lifecycle, fund rules, de minimis, the
gross grant equivalent of guarantees, the fund's risk measure and model. Imports nothing
from gRPC, NATS or the database; ``services.funding.storage`` persists it. See README.md
in this folder."""

from services.funding.ledger.de_minimis import (
    AidRecord,
    CeilingBreach,
    DeMinimisAssessment,
    DeMinimisRules,
    RecordedAid,
    RegisteredAid,
    assess_de_minimis,
    ceiling_breaches,
)
from services.funding.ledger.fund_rules import (
    FundRules,
    IncrementalRisk,
    PortfolioPosition,
    PortfolioRow,
    RiskFigures,
    assess_guarantee,
    fund_rules_on,
)
from services.funding.ledger.gge import GgeRules, exposure_cents, gross_grant_equivalent
from services.funding.ledger.ijh_rules import RulesCore
from services.funding.ledger.lifecycle import TRANSITIONS, check_transition
from services.funding.ledger.model import (
    Actor,
    Application,
    ApplicationDraft,
    ApplicationKind,
    ApplicationState,
    Beneficiary,
    BeneficiaryKind,
    Branch,
    CostLine,
    Decision,
    Exposure,
    FundStatus,
    GuaranteeTerms,
    RegisteredBeneficiary,
    Role,
    Score,
    TransitionRecord,
)
from services.funding.ledger.ports import GrantResult, IjhRules, ScoreResult
from services.funding.ledger.risk_model import (
    model_and_level,
    probability_of_default,
    risk_measure,
)
from services.funding.ledger.validation import beneficiary_kind_of_applicant

__all__ = [
    "TRANSITIONS",
    "Actor",
    "AidRecord",
    "Application",
    "ApplicationDraft",
    "ApplicationKind",
    "ApplicationState",
    "Beneficiary",
    "BeneficiaryKind",
    "Branch",
    "CeilingBreach",
    "CostLine",
    "DeMinimisAssessment",
    "DeMinimisRules",
    "Decision",
    "Exposure",
    "FundRules",
    "FundStatus",
    "GgeRules",
    "GrantResult",
    "GuaranteeTerms",
    "IjhRules",
    "IncrementalRisk",
    "PortfolioPosition",
    "PortfolioRow",
    "RecordedAid",
    "RegisteredAid",
    "RegisteredBeneficiary",
    "RiskFigures",
    "Role",
    "RulesCore",
    "Score",
    "ScoreResult",
    "TransitionRecord",
    "assess_de_minimis",
    "assess_guarantee",
    "beneficiary_kind_of_applicant",
    "ceiling_breaches",
    "check_transition",
    "exposure_cents",
    "fund_rules_on",
    "gross_grant_equivalent",
    "model_and_level",
    "probability_of_default",
    "risk_measure",
]
