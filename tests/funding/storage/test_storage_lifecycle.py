"""Every allowed and forbidden transition through the repository, on SQLite and
PostgreSQL; refused requests write nothing (row counts before/after)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from services.funding.ledger.model import (
    Actor,
    Application,
    ApplicationKind,
    ApplicationState,
    Beneficiary,
    Decision,
    Role,
)
from services.funding.storage.repository import Repository
from services.shared.errors import FailedPrecondition
from tests.funding.storage.ledger_support import (
    APPLICANT,
    COMPANY,
    GOOD,
    OFFICER_A,
    OFFICER_B,
    OFFICER_C,
    PUBLIC_UNIT,
    counts,
    grant_draft,
    guarantee_draft,
    rid,
    to_term_end,
)

S, K = ApplicationState, ApplicationKind
# The path that reaches each state (after create).
PATHS = {
    S.DRAFT: [],
    S.SUBMITTED: ["submit"],
    S.SCORED: ["submit", "score"],
    S.APPROVED: ["submit", "score", "approve"],
    S.REJECTED: ["submit", "score", "reject"],
    S.ACTIVE: ["submit", "score", "approve", "activate"],
    S.CLAIMED: ["submit", "score", "approve", "activate", "claim"],
    S.EXPIRED: ["submit", "score", "approve", "activate", "expire"],
}
ALLOWED = {
    K.IJH_GRANT: {("submit", S.DRAFT): S.SUBMITTED, ("score", S.SUBMITTED): S.SCORED,
                  ("score", S.SCORED): S.SCORED, ("approve", S.SCORED): S.APPROVED,
                  ("reject", S.SCORED): S.REJECTED},
}
ALLOWED[K.GUARANTEE] = {**ALLOWED[K.IJH_GRANT], ("activate", S.APPROVED): S.ACTIVE,
                        ("claim", S.ACTIVE): S.CLAIMED, ("expire", S.ACTIVE): S.EXPIRED}


def _expire(repo: Repository, app_id: int) -> Application:
    """Expire at the end of the term (if active: otherwise the refusal is the test)."""
    if repo.get(app_id).state is S.ACTIVE:
        to_term_end(repo, app_id)
    return repo.expire(rid(), OFFICER_B, app_id)


def _act(repo: Repository, action: str, app_id: int, scorer: Actor = OFFICER_A) -> Application:
    ops: dict[str, Callable[[], Application]] = {
        "submit": lambda: repo.submit(rid(), APPLICANT, app_id),
        "score": lambda: repo.score(rid(), scorer, app_id, GOOD),
        "approve": lambda: repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "meets rules"),
        "reject": lambda: repo.decide(rid(), OFFICER_B, app_id, Decision.REJECT, "weak plan"),
        # Two people: the officer who activates a guarantee does not pay its claim.
        "activate": lambda: repo.activate(rid(), OFFICER_A, app_id),
        "claim": lambda: repo.claim(rid(), OFFICER_B, app_id, 1_000_00, "cost overrun"),
        "expire": lambda: _expire(repo, app_id),
    }
    return ops[action]()


def _in_state(repo: Repository, kind: K, state: S, beneficiary: Beneficiary = PUBLIC_UNIT
              ) -> int:
    draft = guarantee_draft(beneficiary=beneficiary) if kind is K.GUARANTEE else grant_draft()
    app = repo.create(rid(), APPLICANT, draft)
    for action in PATHS[state]:
        app = _act(repo, action, app.id)
    assert app.state is state
    return app.id


@pytest.mark.parametrize("kind", [K.IJH_GRANT, K.GUARANTEE])
def test_every_transition(repo: Repository, engine: Engine, kind: K) -> None:
    actions = ("submit", "score", "approve", "reject", "activate", "claim", "expire")
    for state in S:
        if kind is K.IJH_GRANT and state in (S.ACTIVE, S.CLAIMED, S.EXPIRED):
            continue  # unreachable for a grant
        refused_on = _in_state(repo, kind, state)
        for action in actions:
            expected = ALLOWED[kind].get((action, state))
            if expected is None:
                before = counts(engine)
                with pytest.raises(FailedPrecondition) as err:
                    _act(repo, action, refused_on, scorer=OFFICER_C)
                assert [v.type for v in err.value.violations] == ["TRANSITION"], (action, state)
                assert counts(engine) == before
                assert repo.get(refused_on).state is state
            else:
                fresh = _in_state(repo, kind, state)
                after = _act(repo, action, fresh, scorer=OFFICER_C)
                assert after.state is expected, (action, state)
                log = repo.audit_log(fresh)
                assert (log[-1].action, log[-1].from_state, log[-1].to_state) == \
                    (action, state, expected)


def test_transitions_are_recorded_with_who_when_why_and_rules(repo: Repository) -> None:
    app_id = _in_state(repo, K.GUARANTEE, S.SCORED, COMPANY)
    repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "within every limit")
    entries = repo.audit_log(app_id)
    assert [e.action for e in entries] == ["create", "submit", "score", "approve"]
    approve = entries[-1]
    assert (approve.actor.id, approve.actor.role) == ("officer-b", Role.OFFICER)
    assert approve.reason == "within every limit"
    assert approve.rules_version.startswith("fund-rules/2024-01-01+sha256:")
    assert approve.at.isoformat() == "2025-03-14T10:00:00+00:00"
    assert approve.inputs["guarantee"]["guarantee_rate"] == "0.5"
    assert {c["rule"] for c in approve.trace["checks"]} >= {
        "FUND_CAPACITY", "DE_MINIMIS", "CONCENTRATION_SECTOR", "CONCENTRATION_BRANCH"}
    assert approve.trace["gge"]["method"] == "safe_harbour_proportional"


def test_four_eyes_in_the_repository(repo: Repository, engine: Engine) -> None:
    alone = repo.create(rid(), APPLICANT, guarantee_draft())
    repo.submit(rid(), APPLICANT, alone.id)
    repo.score(rid(), OFFICER_A, alone.id, GOOD)
    before = counts(engine)
    with pytest.raises(FailedPrecondition) as err:
        repo.decide(rid(), OFFICER_A, alone.id, Decision.APPROVE, "ok")
    assert [v.type for v in err.value.violations] == ["FOUR_EYES"]
    assert counts(engine) == before
    own = repo.create(rid(), OFFICER_A, guarantee_draft())
    repo.submit(rid(), OFFICER_A, own.id)
    repo.score(rid(), OFFICER_B, own.id, GOOD)
    with pytest.raises(FailedPrecondition, match="created this application"):
        repo.decide(rid(), OFFICER_A, own.id, Decision.REJECT, "no")
    # A second scorer makes the first one's decision legitimate.
    repo.score(rid(), OFFICER_B, alone.id, GOOD)
    assert repo.decide(rid(), OFFICER_A, alone.id, Decision.APPROVE, "ok").state is S.APPROVED
