"""Checks of a create request's shape: every bad field at once, as ``InvalidArgument``
with proto-like field paths (``guarantee.guarantee_rate``, ``cost_lines[2].amount_cents``).
Rule limits (fund maximum rate, de minimis, capacity) are checked at decision time and
raise ``FailedPrecondition`` instead."""

from __future__ import annotations

from decimal import Decimal

from services.funding.ledger.model import (
    ApplicationDraft,
    ApplicationKind,
    BeneficiaryKind,
    Branch,
)
from services.funding.rules.business_id import business_id_problem
from services.shared.errors import Collector, FieldViolation, InvalidArgument

MAX_TERM_MONTHS = 360
MAX_CENTS = 10**15  # €10 trillion: beyond any real procurement, inside BIGINT
MAX_TITLE = 500


def _is_decimal(x: object) -> bool:
    return isinstance(x, Decimal) and x.is_finite()


def _is_cents(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def validate_draft(draft: ApplicationDraft) -> None:
    """Raise ``InvalidArgument`` naming every malformed field of ``draft``."""
    c = Collector()
    c.check(isinstance(draft.kind, ApplicationKind), "kind", "must be ijh_grant or guarantee")
    c.check(isinstance(draft.title, str) and 0 < len(draft.title.strip()) <= MAX_TITLE,
            "title", f"must be 1..{MAX_TITLE} characters")
    b = draft.beneficiary
    c.check(isinstance(b.kind, BeneficiaryKind), "beneficiary.kind",
            "must be public_unit or company")
    problem = business_id_problem(b.business_id)
    if problem:
        c.add("beneficiary.business_id", problem)
    c.check(isinstance(draft.sector, str) and 0 < len(draft.sector.strip()) <= 100,
            "sector", "must be 1..100 characters")
    c.check(isinstance(draft.branch, Branch), "branch",
            "must be one of " + ", ".join(m.value for m in Branch))
    if draft.kind is ApplicationKind.GUARANTEE:
        c.check(not draft.cost_lines, "cost_lines", "a guarantee has no cost lines")
        g = draft.guarantee
        if g is None:
            c.add("guarantee", "required for a guarantee application")
        else:
            c.check(_is_cents(g.amount_cents) and 0 < g.amount_cents <= MAX_CENTS,
                    "guarantee.amount_cents", "must be a positive number of cents")
            c.check(_is_decimal(g.guarantee_rate) and 0 < g.guarantee_rate <= 1,
                    "guarantee.guarantee_rate", "must be a decimal in (0, 1]")
            c.check(_is_cents(g.cap_cents) and 0 < g.cap_cents <= MAX_CENTS,
                    "guarantee.cap_cents", "must be a positive number of cents")
            c.check(_is_decimal(g.fee_rate) and 0 <= g.fee_rate < 1,
                    "guarantee.fee_rate", "must be a decimal in [0, 1)")
            c.check(_is_cents(g.term_months) and 0 < g.term_months <= MAX_TERM_MONTHS,
                    "guarantee.term_months", f"must be 1..{MAX_TERM_MONTHS} months")
            c.check(isinstance(g.rating_class, str) and len(g.rating_class) <= 8,
                    "guarantee.rating_class", "must be a rating class like BBB, or empty")
    elif draft.kind is ApplicationKind.IJH_GRANT:
        c.check(draft.guarantee is None, "guarantee", "an IJH grant has no guarantee terms")
        c.check(len(draft.cost_lines) > 0, "cost_lines", "at least one cost line is required")
        for i, line in enumerate(draft.cost_lines):
            c.check(isinstance(line.category, str) and bool(line.category),
                    f"cost_lines[{i}].category", "required")
            c.check(_is_cents(line.amount_cents) and 0 <= line.amount_cents <= MAX_CENTS,
                    f"cost_lines[{i}].amount_cents", "must be a non-negative number of cents")
    c.raise_if_any()


def invalid(field: str, description: str) -> InvalidArgument:
    return InvalidArgument(FieldViolation(field, description))
