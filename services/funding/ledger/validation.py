"""Checks of a create request's shape: every bad field at once, as ``InvalidArgument``
with proto-like field paths (``guarantee.guarantee_rate``, ``cost_lines[2].amount_cents``);
and what an applicant kind says the beneficiary is when the request does not say.
Rule limits (fund maximum rate, de minimis, capacity) are checked at decision time and
raise ``FailedPrecondition`` instead."""

from __future__ import annotations

import unicodedata
from decimal import Decimal

from services.funding.ledger.model import (
    ApplicationDraft,
    ApplicationKind,
    BeneficiaryKind,
    Branch,
)
from services.funding.rules.kinds import ApplicantKind
from services.shared.business_id import business_id_problem
from services.shared.errors import Collector, FieldViolation, InvalidArgument
from services.shared.money import MAX_CENTS

MAX_TERM_MONTHS = 360
MAX_TITLE = 500
#: Longest free-text ``reason`` of a transition. Reasons are copied into the audit log
#: and into the transition's event, and the broker refuses messages above 1 MB.
MAX_REASON = 2000
#: Column widths of the ledger (``storage/tables.py``): checked here so that SQLite
#: (which does not enforce VARCHAR lengths) and PostgreSQL refuse the same requests.
MAX_NAME = 500
MAX_SECTOR = 100
MAX_KIND_TEXT = 64   # applicant_kind, procurement_kind
MAX_RATE_TEXT = 32   # guarantee_rate, fee_rate as stored (decimal text)
MAX_CATEGORY = 64
MAX_DESCRIPTION = 2000
#: Application ids are INTEGER (PostgreSQL int4): any other number names nothing.
MAX_APPLICATION_ID = 2**31 - 1


#: Applicant kinds that say what the beneficiary is when its kind is not given.
_BENEFICIARY_OF_APPLICANT: dict[str, BeneficiaryKind] = {
    ApplicantKind.COMPANY: BeneficiaryKind.COMPANY,
    ApplicantKind.CONTRACTING_AUTHORITY: BeneficiaryKind.PUBLIC_UNIT,
    ApplicantKind.SPECIAL_SECTORS_CONTRACTING_ENTITY: BeneficiaryKind.PUBLIC_UNIT,
}


def beneficiary_kind_of_applicant(applicant_kind: str) -> BeneficiaryKind | None:
    """What an applicant kind says the beneficiary is: "company" a company, a
    contracting entity a public unit. Fails closed: None for an unset or other kind (it
    never means a public unit, which would skip de minimis); :func:`validate_draft`
    then asks for the applicant kind."""
    return _BENEFICIARY_OF_APPLICANT.get(applicant_kind)


def _deciding_applicant_kinds() -> str:
    """``"company" for a company, "a" or "b" for a public unit``, from the table."""
    by_beneficiary: dict[BeneficiaryKind, list[str]] = {}
    for applicant, beneficiary in _BENEFICIARY_OF_APPLICANT.items():
        by_beneficiary.setdefault(beneficiary, []).append(f'"{applicant}"')
    return ", ".join(f"{' or '.join(kinds)} for a {beneficiary.value.replace('_', ' ')}"
                     for beneficiary, kinds in by_beneficiary.items())


def _is_decimal(x: object) -> bool:
    return isinstance(x, Decimal) and x.is_finite()


def _is_cents(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def normalise_sector(sector: str) -> str:
    """The stored, compared form of a sector: Unicode NFKC, case-folded, internal
    whitespace collapsed to one space, stripped. ``'Energy'``, ``'ENERGY'`` and
    ``' energy '`` are one sector, so exposures group and the concentration limit
    applies across spelling variants."""
    return " ".join(unicodedata.normalize("NFKC", sector).casefold().split())


def _text_within(x: object, limit: int) -> bool:
    return isinstance(x, str) and len(x) <= limit


def _rate_text_ok(x: object) -> bool:
    return len(str(x)) <= MAX_RATE_TEXT


def reason_problem(reason: object, *, required: bool = False,
                   missing: str = "required: say why") -> str | None:
    """Why ``reason`` is not an acceptable transition reason, or None."""
    if not isinstance(reason, str):
        return "must be text"
    if required and not reason.strip():
        return missing
    if len(reason) > MAX_REASON:
        return f"at most {MAX_REASON} characters (got {len(reason)})"
    return None


def check_reason(reason: object, *, required: bool = False, field: str = "reason",
                 missing: str = "required: say why") -> None:
    """Raise ``InvalidArgument`` naming ``field`` unless ``reason`` is acceptable."""
    problem = reason_problem(reason, required=required, missing=missing)
    if problem:
        raise invalid(field, problem)


def validate_draft(draft: ApplicationDraft) -> None:
    """Raise ``InvalidArgument`` naming every malformed field of ``draft``."""
    c = Collector()
    c.check(isinstance(draft.kind, ApplicationKind), "kind", "must be ijh_grant or guarantee")
    c.check(isinstance(draft.title, str) and 0 < len(draft.title.strip()) <= MAX_TITLE,
            "title", f"must be 1..{MAX_TITLE} characters")
    b = draft.beneficiary
    if b.kind is None:
        # Neither the beneficiary kind nor an applicant kind that implies it was given:
        # never assume a public unit (that would skip the de minimis check).
        c.add("applicant_kind", "must say what the beneficiary is when the beneficiary "
              f"kind is not given: {_deciding_applicant_kinds()} (an unset kind is never "
              "taken as a public unit)")
    elif not isinstance(b.kind, BeneficiaryKind):
        c.add("beneficiary.kind", "must be public_unit or company")
    elif b.kind is BeneficiaryKind.PUBLIC_UNIT and draft.applicant_kind == "company":
        c.add("beneficiary.kind", "the applicant kind is company: a company is not a "
                                  "public unit")
    c.check(_text_within(b.name, MAX_NAME), "beneficiary.name",
            f"at most {MAX_NAME} characters")
    c.check(_text_within(draft.applicant_kind, MAX_KIND_TEXT), "applicant_kind",
            f"at most {MAX_KIND_TEXT} characters")
    c.check(_text_within(draft.procurement_kind, MAX_KIND_TEXT), "procurement_kind",
            f"at most {MAX_KIND_TEXT} characters")
    problem = business_id_problem(b.business_id)
    if problem:
        c.add("beneficiary.business_id", problem)
    c.check(isinstance(draft.sector, str)
            and 0 < len(normalise_sector(draft.sector)) <= MAX_SECTOR,
            "sector", f"must be 1..{MAX_SECTOR} characters (after normalisation)")
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
            c.check(_is_decimal(g.guarantee_rate) and 0 < g.guarantee_rate <= 1
                    and _rate_text_ok(g.guarantee_rate),
                    "guarantee.guarantee_rate",
                    f"must be a decimal in (0, 1] of at most {MAX_RATE_TEXT} characters")
            c.check(_is_cents(g.cap_cents) and 0 < g.cap_cents <= MAX_CENTS,
                    "guarantee.cap_cents", "must be a positive number of cents")
            c.check(_is_decimal(g.fee_rate) and 0 <= g.fee_rate < 1
                    and _rate_text_ok(g.fee_rate),
                    "guarantee.fee_rate",
                    f"must be a decimal in [0, 1) of at most {MAX_RATE_TEXT} characters")
            c.check(_is_cents(g.term_months) and 0 < g.term_months <= MAX_TERM_MONTHS,
                    "guarantee.term_months", f"must be 1..{MAX_TERM_MONTHS} months")
            c.check(isinstance(g.rating_class, str) and len(g.rating_class) <= 8,
                    "guarantee.rating_class", "must be a rating class like BBB, or empty")
    elif draft.kind is ApplicationKind.IJH_GRANT:
        c.check(draft.guarantee is None, "guarantee", "an IJH grant has no guarantee terms")
        c.check(len(draft.cost_lines) > 0, "cost_lines", "at least one cost line is required")
        for i, line in enumerate(draft.cost_lines):
            c.check(isinstance(line.category, str) and 0 < len(line.category) <= MAX_CATEGORY,
                    f"cost_lines[{i}].category", f"required, at most {MAX_CATEGORY} characters")
            c.check(_text_within(line.description, MAX_DESCRIPTION),
                    f"cost_lines[{i}].description", f"at most {MAX_DESCRIPTION} characters")
            c.check(_is_cents(line.amount_cents) and 0 <= line.amount_cents <= MAX_CENTS,
                    f"cost_lines[{i}].amount_cents", "must be a non-negative number of cents")
    c.raise_if_any()


def invalid(field: str, description: str) -> InvalidArgument:
    return InvalidArgument(FieldViolation(field, description))
