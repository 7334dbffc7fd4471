"""Closed vocabularies of the IJH rules, as str enums with lowercase values (proto enums).

Which members are *eligible* on a date is a dated parameter, not code: the enums only
say which words exist, so an unknown word is a bad request while a known but ineligible
one is a reasoned rejection.
"""

from __future__ import annotations

from enum import StrEnum


class ApplicantKind(StrEnum):
    """What the applicant is, in procurement-law terms."""

    CONTRACTING_AUTHORITY = "contracting_authority"
    """Hankintayksikkö under the Act on Public Procurement (1397/2016; 348/2007 before 2017)."""
    SPECIAL_SECTORS_CONTRACTING_ENTITY = "special_sectors_contracting_entity"
    """Contracting entity under the special-sectors act (1398/2016; 349/2007 before 2017)."""
    COMPANY = "company"
    RESEARCH_ORGANISATION = "research_organisation"
    OTHER = "other"


class ProcurementKind(StrEnum):
    """The kind of innovative procurement being planned."""

    NEW_PRODUCT_OR_SERVICE = "new_product_or_service"
    PRE_COMMERCIAL_PROCUREMENT = "pre_commercial_procurement"
    CATALYST_PROCUREMENT = "catalyst_procurement"
    INNOVATION_PARTNERSHIP = "innovation_partnership"


class CostCategory(StrEnum):
    """Category of one cost line of an IJH planning project."""

    OWN_PERSONNEL = "own_personnel"
    """Own staff: salary_cents x working_time_share x (1 + indirect_cost_rate)."""
    PURCHASED_EXPERT_SERVICES = "purchased_expert_services"
    """Consultants, legal or technical experts: amount_cents without VAT, vat_cents apart."""
    PROCUREMENT = "procurement"
    """The purchase itself (product, service, R&D services of a PCP)."""
    EQUIPMENT = "equipment"
    TRAVEL = "travel"
    OTHER = "other"


class RejectionReason(StrEnum):
    """Why an amount (or the whole application) is not funded."""

    CATEGORY_NOT_ELIGIBLE = "category_not_eligible"
    VAT_NOT_ELIGIBLE = "vat_not_eligible"
    INDIRECT_COST_RATE_ABOVE_MAXIMUM = "indirect_cost_rate_above_maximum"
    INDIRECT_COST_RATE_ABOVE_DECISION = "indirect_cost_rate_above_decision"
    APPLICANT_KIND_NOT_ELIGIBLE = "applicant_kind_not_eligible"
    PROCUREMENT_KIND_NOT_ELIGIBLE = "procurement_kind_not_eligible"
    GRANT_ABOVE_MAXIMUM = "grant_above_maximum"
