"""The lifecycle table, checked against a hand-written list of every allowed move."""

from __future__ import annotations

import itertools

import pytest

from services.funding.ledger.lifecycle import (
    check_transition,
    four_eyes_violations,
    rescore_four_eyes_violations,
)
from services.funding.ledger.model import Actor, ApplicationKind, ApplicationState, Role
from services.shared.errors import FailedPrecondition, PermissionDenied

S, K = ApplicationState, ApplicationKind
ACTIONS = ("submit", "score", "approve", "reject", "activate", "claim", "expire")
BOTH = (K.IJH_GRANT, K.GUARANTEE)
# (action, kind, from) → to: the only moves the issue allows.
ALLOWED = {
    **{("submit", k, S.DRAFT): S.SUBMITTED for k in BOTH},
    **{("score", k, S.SUBMITTED): S.SCORED for k in BOTH},
    **{("score", k, S.SCORED): S.SCORED for k in BOTH},
    **{("approve", k, S.SCORED): S.APPROVED for k in BOTH},
    **{("reject", k, S.SCORED): S.REJECTED for k in BOTH},
    ("activate", K.GUARANTEE, S.APPROVED): S.ACTIVE,
    ("claim", K.GUARANTEE, S.ACTIVE): S.CLAIMED,
    ("expire", K.GUARANTEE, S.ACTIVE): S.EXPIRED,
}
OFFICER = Actor("o1", Role.OFFICER)


@pytest.mark.parametrize(("action", "kind", "state"),
                         list(itertools.product(ACTIONS, BOTH, list(S))))
def test_every_move_is_allowed_or_refused_as_listed(action: str, kind: K, state: S) -> None:
    expected = ALLOWED.get((action, kind, state))
    if expected is not None:
        assert check_transition(action, kind, state, OFFICER, "owner", "applications/1") \
            is expected
        return
    with pytest.raises(FailedPrecondition) as err:
        check_transition(action, kind, state, OFFICER, "owner", "applications/1")
    (v,) = err.value.violations
    assert v.type == "TRANSITION"
    assert v.subject == "applications/1"


def test_no_approval_of_an_unsubmitted_application() -> None:
    with pytest.raises(FailedPrecondition, match="cannot approve an application in state draft"):
        check_transition("approve", K.GUARANTEE, S.DRAFT, OFFICER, "owner", "applications/7")


@pytest.mark.parametrize("action", ["score", "approve", "reject", "activate", "claim"])
def test_applicants_may_not_do_officer_work(action: str) -> None:
    with pytest.raises(PermissionDenied):
        check_transition(action, K.GUARANTEE, S.SCORED, Actor("a", Role.APPLICANT), "a", "x")


def test_an_applicant_submits_only_its_own_application() -> None:
    owner = Actor("a", Role.APPLICANT)
    assert check_transition("submit", K.IJH_GRANT, S.DRAFT, owner, "a", "x") is S.SUBMITTED
    with pytest.raises(PermissionDenied):
        check_transition("submit", K.IJH_GRANT, S.DRAFT, Actor("b", Role.APPLICANT), "a", "x")


def test_the_system_may_expire_but_not_decide() -> None:
    system = Actor("scheduler", Role.SYSTEM)
    assert check_transition("expire", K.GUARANTEE, S.ACTIVE, system, "a", "x") is S.EXPIRED
    with pytest.raises(PermissionDenied):
        check_transition("approve", K.GUARANTEE, S.SCORED, system, "a", "x")


def test_four_eyes() -> None:
    subject = "applications/3"
    # Created it: refused even with other scorers.
    (v,) = four_eyes_violations("o1", "o1", ["o2"], True, subject)
    assert (v.type, v.subject) == ("FOUR_EYES", subject)
    # Only scorer: refused; one of two scorers: fine; nobody else involved: fine.
    assert [v.type for v in four_eyes_violations("o1", "app", ["o1"], True, subject)] == \
        ["FOUR_EYES"]
    assert four_eyes_violations("o1", "app", ["o1", "o2"], True, subject) == []
    assert four_eyes_violations("o1", "app", ["o2"], True, subject) == []
    # Both at once, and nothing when the fund rule is off.
    assert len(four_eyes_violations("o1", "o1", ["o1"], True, subject)) == 2
    assert four_eyes_violations("o1", "o1", ["o1"], False, subject) == []


def test_four_eyes_across_replaced_sheets() -> None:
    subject = "applications/3"
    # o1 replaced their sheet after o2 scored: o1 may not decide, o2 may.
    history = [("o2", False), ("o1", False), ("o1", True)]
    (v,) = rescore_four_eyes_violations("o1", history, True, subject)
    assert (v.type, v.subject) == ("FOUR_EYES", subject)
    assert rescore_four_eyes_violations("o2", history, True, subject) == []
    assert rescore_four_eyes_violations("o1", history, False, subject) == []
    # Replaced before anyone else scored: nothing to overturn.
    assert rescore_four_eyes_violations(
        "o1", [("o1", False), ("o1", True), ("o2", False)], True, subject) == []
