"""The ledger's vocabulary: application kinds and states, actors, beneficiaries,
guarantee terms and IJH cost lines. Plain dataclasses; money in integer cents,
rates as ``Decimal``."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from services.funding.ledger.de_minimis import DeMinimisAssessment, RegisteredAid


class ApplicationKind(enum.StrEnum):
    IJH_GRANT = "ijh_grant"
    GUARANTEE = "guarantee"


class ApplicationState(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    SCORED = "scored"
    APPROVED = "approved"
    REJECTED = "rejected"
    ACTIVE = "active"
    CLAIMED = "claimed"
    EXPIRED = "expired"


class Role(enum.StrEnum):
    """Who acts. Applicants create and submit; officers also score and decide;
    ``system`` is a scheduler (e.g. expiry at the end of a term)."""

    APPLICANT = "applicant"
    OFFICER = "officer"
    SYSTEM = "system"


class BeneficiaryKind(enum.StrEnum):
    PUBLIC_UNIT = "public_unit"
    COMPANY = "company"


class Branch(enum.StrEnum):
    """The twelve administrative branches (hallinnonalat)."""

    VNK = "VNK"
    UM = "UM"
    OM = "OM"
    SM = "SM"
    PLM = "PLM"
    VM = "VM"
    OKM = "OKM"
    MMM = "MMM"
    LVM = "LVM"
    TEM = "TEM"
    STM = "STM"
    YM = "YM"


class Decision(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True)
class Actor:
    """The person or system acting: ``id`` is stable (e.g. a user id), ``role`` what
    they act as."""

    id: str
    role: Role


@dataclass(frozen=True)
class Beneficiary:
    """Who receives the aid. ``business_id`` is the Finnish Y-tunnus (``1234567-8``);
    for de minimis it identifies the single undertaking (see README, gaps)."""

    kind: BeneficiaryKind
    business_id: str
    name: str = ""


@dataclass(frozen=True)
class RegisteredBeneficiary:
    """A business ID as the ledger registers it: ``kind`` is confirmed when
    ``kind_confirmed_by`` names the officer who approved an application for it, recorded
    its de minimis aid or corrected the kind; until then it is only what a create request
    declared, and fixes nothing."""

    business_id: str
    kind: BeneficiaryKind
    kind_confirmed_by: str = ""
    previous_kind: BeneficiaryKind | None = None
    #: A correction's consequence in the de minimis register: the rows it wrote (to
    #: company, the aid granted here while the business ID was held a public unit; back
    #: to public unit, the reversals of the rows an earlier correction wrote), and the
    #: applications whose aid it could not register (no amount known).
    aid_written: tuple[RegisteredAid, ...] = ()
    aid_unknown: tuple[str, ...] = ()
    #: The register assessed on the day of the correction (which rows count then).
    assessment: DeMinimisAssessment | None = None


@dataclass(frozen=True)
class GuaranteeTerms:
    """A fund guarantee.

    ``amount_cents`` is the underlying amount (loan or contract value) the guarantee
    covers; the fund pays at most ``min(amount_cents × guarantee_rate, cap_cents)``
    (its *exposure*). ``fee_rate`` is the yearly fee on the guaranteed amount.
    ``rating_class`` (e.g. ``BBB``) selects the safe-harbour premium for the
    gross grant equivalent when the proportional safe harbour does not apply."""

    amount_cents: int
    guarantee_rate: Decimal
    cap_cents: int
    fee_rate: Decimal
    term_months: int
    rating_class: str = ""


@dataclass(frozen=True)
class CostLine:
    """One IJH cost line as the applicant enters it; the rules core decides what is
    eligible. ``category`` e.g. ``personnel`` or ``expert_services``; ``attributes``
    carries the rules core's extra inputs (salary, share of time, …)."""

    category: str
    description: str
    amount_cents: int
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ApplicationDraft:
    """What a create request carries (validated by :func:`validate_draft`)."""

    kind: ApplicationKind
    title: str
    beneficiary: Beneficiary
    sector: str
    branch: Branch
    guarantee: GuaranteeTerms | None = None
    cost_lines: tuple[CostLine, ...] = ()
    procurement_kind: str = ""
    applicant_kind: str = ""
    """IJH only: the applicant in procurement-law terms (``contracting_authority``, …);
    empty means ``contracting_authority`` for a public unit, ``company`` for a company."""


@dataclass(frozen=True)
class Score:
    """One officer's scores: ``criteria`` maps criterion → Decimal points; ``total``
    and ``passed`` come from the rules core."""

    officer_id: str
    criteria: dict[str, Decimal]
    total: Decimal
    passed: bool
    scored_at: datetime
    rules_version: str
    trace: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TransitionRecord:
    """One audit-log entry: what happened to which application, by whom, when, why,
    under which rules, with the decision's inputs and explanation trace."""

    seq: int
    application_id: int
    action: str
    from_state: ApplicationState | None
    to_state: ApplicationState
    actor: Actor
    at: datetime
    reason: str
    rules_version: str
    request_id: str
    inputs: dict[str, Any]
    trace: dict[str, Any]


@dataclass(frozen=True)
class Application:
    """An application as stored, with its derived figures."""

    id: int
    kind: ApplicationKind
    state: ApplicationState
    title: str
    owner_id: str
    beneficiary: Beneficiary
    sector: str
    branch: Branch
    procurement_kind: str
    applicant_kind: str
    guarantee: GuaranteeTerms | None
    cost_lines: tuple[CostLine, ...]
    exposure_cents: int
    grant_cents: int | None
    grant_trace: dict[str, Any] | None
    gge_cents: int | None
    gge_trace: dict[str, Any] | None
    aid_granted_on: date | None
    claim_paid_cents: int
    rules_version: str
    created_at: datetime
    updated_at: datetime
    version: int
    scores: tuple[Score, ...] = ()
    decision_rules_version: str = ""
    """The rules the decision (approval or rejection) applied, which its figures (grant,
    GGE, de minimis) were computed under; ``rules_version`` is the last transition's."""
    submitted_on: date | None = None
    """The day (Helsinki) it was submitted: the rubric in force then scores it."""
    activated_on: date | None = None
    """A guarantee's day (Helsinki) of activation, from which its term runs."""

    @property
    def name(self) -> str:
        return f"applications/{self.id}"


@dataclass(frozen=True)
class FundStatus:
    """The fund's position: capital = paid-in capital in force − claims paid;
    committed = exposure of approved and active guarantees; available = capacity
    (capital × leverage) − committed."""

    capital_cents: int
    committed_cents: int
    available_cents: int
    claims_paid_cents: int
    paid_in_capital_cents: int
    capacity_cents: int
    rules_version: str


@dataclass(frozen=True)
class Exposure:
    """Committed exposure of one sector or branch, and its share of capital."""

    key: str
    committed_cents: int
    limit_cents: int
    guarantees: int
