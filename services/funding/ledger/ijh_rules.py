"""The ledger's port to the IJH rules core (``services.funding.rules``): maps the
ledger's application and score sheets to the rules core's inputs and back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal

from services.funding.ledger.model import ApplicationDraft, BeneficiaryKind
from services.funding.ledger.ports import CriterionVerdict, GrantResult, ScoreResult
from services.funding.rules.grant import (
    Applicant,
    CostLine,
    GrantApplication,
    RejectionReason,
    compute_grant,
)
from services.funding.rules.parameters import ParameterSet
from services.funding.rules.scoring import CriterionScore, ScoreSheet, score_application

_DEFAULT_APPLICANT_KIND = {BeneficiaryKind.PUBLIC_UNIT: "contracting_authority",
                           BeneficiaryKind.COMPANY: "company"}
_LINE_FIELDS = ("salary_cents", "working_time_share", "indirect_cost_rate", "vat_cents")


class RulesCore:
    """:class:`~services.funding.ledger.ports.IjhRules` backed by the rules core.

    A ledger cost line's ``attributes`` carry the rules core's category-specific fields
    (``salary_cents``, ``working_time_share``, ``indirect_cost_rate``, ``vat_cents``)."""

    def __init__(self, parameters: ParameterSet | None = None):
        self.parameters = parameters

    def compute_grant(self, draft: ApplicationDraft, on: date, application: str = "",
                      indirect_cost_rate: Decimal | str | None = None) -> GrantResult:
        kind = draft.applicant_kind or _DEFAULT_APPLICANT_KIND[draft.beneficiary.kind]
        lines = tuple(
            CostLine(category=line.category, description=line.description,
                     amount_cents=line.amount_cents,
                     **{k: line.attributes[k] for k in _LINE_FIELDS if k in line.attributes})
            for line in draft.cost_lines)
        result = compute_grant(GrantApplication(
            applicant=Applicant(draft.beneficiary.business_id, kind, draft.beneficiary.name),
            procurement_kind=draft.procurement_kind, reference_date=on, cost_lines=lines,
            application_id=application, indirect_cost_rate=indirect_cost_rate),
            self.parameters)
        refusals: tuple[str, ...] = ()
        if not result.eligible:  # the application-level rejections (not the cap's)
            refusals = tuple(r.description for r in result.rejections
                             if r.reason is not RejectionReason.GRANT_ABOVE_MAXIMUM)
        elif result.grant_cents <= 0:
            refusals = ((f"the eligible {result.eligible_cents} cents give a grant of 0 "
                         "after rounding",) if result.eligible_cents > 0 else
                        (f"none of the {result.claimed_cents} cents claimed is an eligible "
                         "cost",))
        return GrantResult(grant_cents=result.grant_cents, rules_version=result.rules_version,
                           eligible=result.eligible, trace=result.to_dict(),
                           refusals=refusals)

    def score(self, sheets: Sequence[tuple[str, Mapping[str, Decimal]]], on: date
              ) -> ScoreResult:
        result = score_application(
            [ScoreSheet(officer, tuple(CriterionScore(k, v) for k, v in criteria.items()))
             for officer, criteria in sheets], on, self.parameters)
        return ScoreResult(total=result.total_score, passed=result.passed,
                           rules_version=result.rules_version, trace=result.to_dict(),
                           criteria=tuple(CriterionVerdict(c.criterion, c.mean_score,
                                                           c.pass_mark, c.passed)
                                          for c in result.criteria),
                           overall_pass_mark=result.overall_pass_mark,
                           total_passed=result.total_passed)
