"""The application lifecycle as a table: which action moves which kind of
application from which state to which, and who may do it.

    draft ─submit→ submitted ─score→ scored ─approve→ approved ─activate→ active ─claim→ claimed
                                 (score again)   └reject→ rejected              └expire→ expired

``activate``, ``claim`` and ``expire`` exist only for guarantees; an IJH grant ends
at ``approved`` or ``rejected``. Anything not in the table is refused with
``FailedPrecondition`` of type ``TRANSITION``.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from services.funding.ledger.model import Actor, ApplicationKind, ApplicationState, Role
from services.shared.errors import FailedPrecondition, PermissionDenied, PreconditionViolation

S = ApplicationState
K = ApplicationKind


#: ``ErrorInfo`` reasons of an applicant's refusals on a named application.
NOT_YOUR_APPLICATION = "NOT_YOUR_APPLICATION"
NOT_CREATOR = "NOT_CREATOR"


def not_yours(name: str) -> PermissionDenied:
    """What an agency hears when it reads an application that is not for its business
    ID, and one that does not exist: the same reason and words, so that probing names
    tells nothing of whether, or for whom, an application exists."""
    return PermissionDenied(f"{name} is not one of your applications: an agency reads only "
                            "the applications for its own business ID",
                            NOT_YOUR_APPLICATION, {"application": name})


def not_creator(name: str, action: str) -> PermissionDenied:
    """What an applicant hears when it acts (submits) on an application it did not
    create, and on one that does not exist: the rule itself, which holds for both, and
    nothing of whether, or by whom, the application was created."""
    return PermissionDenied(f"only the caller who created {name} may {action} it",
                            NOT_CREATOR, {"application": name})


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[ApplicationState]
    target: ApplicationState
    kinds: frozenset[ApplicationKind]
    roles: frozenset[Role]


_BOTH = frozenset({K.IJH_GRANT, K.GUARANTEE})
_GUARANTEE = frozenset({K.GUARANTEE})
_OFFICER = frozenset({Role.OFFICER})

TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition("submit", frozenset({S.DRAFT}), S.SUBMITTED, _BOTH,
                   frozenset({Role.APPLICANT, Role.OFFICER})),
        Transition("score", frozenset({S.SUBMITTED, S.SCORED}), S.SCORED, _BOTH, _OFFICER),
        Transition("approve", frozenset({S.SCORED}), S.APPROVED, _BOTH, _OFFICER),
        Transition("reject", frozenset({S.SCORED}), S.REJECTED, _BOTH, _OFFICER),
        Transition("activate", frozenset({S.APPROVED}), S.ACTIVE, _GUARANTEE, _OFFICER),
        Transition("claim", frozenset({S.ACTIVE}), S.CLAIMED, _GUARANTEE, _OFFICER),
        Transition("expire", frozenset({S.ACTIVE}), S.EXPIRED, _GUARANTEE,
                   frozenset({Role.OFFICER, Role.SYSTEM})),
    )
}

CREATE_ROLES = frozenset({Role.APPLICANT, Role.OFFICER})

#: States in which a guarantee's exposure counts as committed fund capacity.
COMMITTED_STATES = frozenset({S.APPROVED, S.ACTIVE})
# Approved at some point: the aid (a grant, a guarantee's GGE) was granted then.
AID_GRANTED_STATES = frozenset({S.APPROVED, S.ACTIVE, S.CLAIMED, S.EXPIRED})


def check_create(actor: Actor) -> None:
    """Only applicants and officers create applications."""
    if actor.role not in CREATE_ROLES:
        raise PermissionDenied(f"role {actor.role} may not create applications")


def check_transition(action: str, kind: ApplicationKind, state: ApplicationState,
                     actor: Actor, owner_id: str, subject: str) -> ApplicationState:
    """Return the target state of ``action`` or raise.

    Raises ``PermissionDenied`` if the actor's role may not perform the action
    (:func:`not_creator` if an applicant acts on an application it did not create),
    ``FailedPrecondition`` (type ``TRANSITION``) if the kind or the current state does
    not allow it."""
    t = TRANSITIONS.get(action)
    if t is None:
        raise ValueError(f"unknown action {action!r}")
    if actor.role not in t.roles:
        raise PermissionDenied(f"role {actor.role} may not {action}")
    if actor.role is Role.APPLICANT and actor.id != owner_id:
        raise not_creator(subject, action)
    if kind not in t.kinds:
        raise FailedPrecondition(PreconditionViolation(
            "TRANSITION", subject, f"{action} applies only to guarantees, not to {kind}"))
    if state not in t.sources:
        allowed = ", ".join(sorted(s.value for s in t.sources))
        raise FailedPrecondition(PreconditionViolation(
            "TRANSITION", subject,
            f"cannot {action} an application in state {state}; allowed from: {allowed}"))
    return t.target


def four_eyes_violations(decider_id: str, owner_id: str, scorer_ids: Iterable[str],
                         required: bool, subject: str) -> list[PreconditionViolation]:
    """The two-person rule: with ``required`` an officer may not decide an application
    they created, nor one that only they scored."""
    if not required:
        return []
    out: list[PreconditionViolation] = []
    if decider_id == owner_id:
        out.append(PreconditionViolation(
            "FOUR_EYES", subject, f"{decider_id} created this application and may not "
                                  "decide it: another officer must decide it"))
    scorers = set(scorer_ids)
    if scorers == {decider_id}:
        out.append(PreconditionViolation(
            "FOUR_EYES", subject,
            f"{decider_id} is the only scorer and may not decide alone: another officer "
            "must score it too, or decide it"))
    return out


def register_four_eyes_violations(decider_id: str, corrector_ids: Iterable[str],
                                  required: bool, subject: str, business_id: str
                                  ) -> list[PreconditionViolation]:
    """The two-person rule across the beneficiary register: with ``required`` an officer
    who corrected the business ID's register (its kind, or a row of its de minimis aid)
    while the application was open may not approve it, or one officer could lift the
    de minimis check (reverse the aid, or call a company a public unit) and approve."""
    if not required or decider_id not in set(corrector_ids):
        return []
    return [PreconditionViolation(
        "FOUR_EYES", subject,
        f"{decider_id} corrected the register of business ID {business_id} (its kind or "
        "its de minimis aid) while this application was open, and may not also approve "
        "it: another officer decides")]


def rescore_four_eyes_violations(decider_id: str, score_history: Iterable[tuple[str, bool]],
                                 required: bool, subject: str) -> list[PreconditionViolation]:
    """The two-person rule across score sheets: with ``required`` an officer who replaced
    their own sheet while another officer's sheet was on file may not decide the
    application. A refusal names each failing criterion, so the decider could otherwise
    read the other scorer's shortfall, raise their own sheet just enough and decide alone,
    overturning the other scorer. ``score_history`` is the application's score entries
    oldest first: (officer, whether it replaced that officer's sheet)."""
    if not required:
        return []
    scored: set[str] = set()
    for officer, replaced in score_history:
        if officer == decider_id and replaced and scored - {decider_id}:
            return [PreconditionViolation(
                "FOUR_EYES", subject,
                f"{decider_id} replaced their own score sheet after another officer had "
                "scored, and may not also decide it: another officer decides")]
        scored.add(officer)
    return []


def claim_four_eyes_violations(claimant_id: str, owner_id: str, activator_id: str,
                               required: bool, subject: str) -> list[PreconditionViolation]:
    """The two-person rule for paying out: with ``required`` the officer recording a
    claim may not be the one who created the guarantee's application nor the one who
    activated it, so that no officer puts a guarantee in force and pays it out alone.
    (Its approval already needed a second officer.)"""
    if not required:
        return []
    roles = [what for who, what in ((owner_id, "created"), (activator_id, "activated"))
             if who == claimant_id]
    if not roles:
        return []
    return [PreconditionViolation(
        "FOUR_EYES", subject,
        f"{claimant_id} {' and '.join(roles)} this guarantee and may not also pay its claim: "
        "another officer, who neither created nor activated it, records the claim")]


def term_end(activated_on: date, term_months: int) -> date:
    """The day a guarantee activated on ``activated_on`` for ``term_months`` ends: the
    same day of the month ``term_months`` later (the month's last day if it has none)."""
    months = activated_on.month - 1 + term_months
    year, month = activated_on.year + months // 12, months % 12 + 1
    return date(year, month, min(activated_on.day, calendar.monthrange(year, month)[1]))


def expiry_violations(activated_on: date | None, term_months: int | None, today: date,
                      subject: str) -> list[PreconditionViolation]:
    """A guarantee expires when its term has run: not before activation + term (a
    guarantee expired early released its exposure and refused the beneficiary's claim
    within the term). Guarantees without a known activation date are not held back."""
    if activated_on is None or not term_months:
        return []
    end = term_end(activated_on, term_months)
    if today >= end:
        return []
    return [PreconditionViolation(
        "TERM_NOT_ENDED", subject,
        f"the guarantee's term of {term_months} months runs from {activated_on.isoformat()} "
        f"to {end.isoformat()}: it may be expired from {end.isoformat()}; a default "
        "within the term is paid as a claim")]
