"""Bounded input: free text that reaches the audit log, the events or a VARCHAR column is
refused above its limit with InvalidArgument naming the field, the same on SQLite (which
does not enforce VARCHAR widths) and PostgreSQL (which would fail with a DataError), and
an id beyond the INTEGER range is NotFound, not a database error."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from services.funding.ledger.model import Beneficiary, Decision
from services.funding.ledger.validation import MAX_APPLICATION_ID, MAX_REASON
from services.funding.storage.repository import Repository
from services.shared.errors import InvalidArgument, NotFound
from tests.funding.storage.ledger_support import (
    APPLICANT,
    COMPANY,
    OFFICER_A,
    OFFICER_B,
    counts,
    grant_draft,
    guarantee_draft,
    rid,
    to_scored,
)

TOO_LONG = "x" * (MAX_REASON + 1)


def _field(failure: pytest.ExceptionInfo[InvalidArgument]) -> set[str]:
    return {v.field for v in failure.value.violations}


def test_every_transition_reason_is_bounded(repo: Repository, engine: Engine) -> None:
    draft_id = repo.create(rid(), APPLICANT, guarantee_draft()).id
    scored = to_scored(repo, guarantee_draft())
    before = counts(engine)
    attempts = {
        "submit": lambda: repo.submit(rid(), APPLICANT, draft_id, TOO_LONG),
        "score": lambda: repo.score(rid(), OFFICER_B, scored, {"novelty": Decimal(4)},
                                    TOO_LONG),
        "decide": lambda: repo.decide(rid(), OFFICER_B, scored, Decision.APPROVE, TOO_LONG),
        "activate": lambda: repo.activate(rid(), OFFICER_B, scored, TOO_LONG),
        "expire": lambda: repo.expire(rid(), OFFICER_B, scored, TOO_LONG),
        "claim": lambda: repo.claim(rid(), OFFICER_B, scored, 1, TOO_LONG),
    }
    for action, attempt in attempts.items():
        with pytest.raises(InvalidArgument) as failure:
            attempt()
        assert _field(failure) == {"reason"}, action
        assert f"at most {MAX_REASON} characters" in str(failure.value), action
    assert counts(engine) == before                 # nothing written, no event queued
    # The limit itself is accepted.
    app = repo.decide(rid(), OFFICER_B, scored, Decision.APPROVE, "y" * MAX_REASON)
    assert repo.audit_log(app.id)[-1].reason == "y" * MAX_REASON


def test_texts_wider_than_their_columns_are_refused_on_every_backend(
        repo: Repository, engine: Engine) -> None:
    g = guarantee_draft()
    terms = g.guarantee
    assert terms is not None
    cases = {
        "beneficiary.name": dataclasses.replace(
            g, beneficiary=Beneficiary(COMPANY.kind, COMPANY.business_id, "N" * 501)),
        "applicant_kind": dataclasses.replace(g, applicant_kind="k" * 65),
        "procurement_kind": dataclasses.replace(grant_draft(), procurement_kind="p" * 65),
        "guarantee.guarantee_rate": dataclasses.replace(g, guarantee=dataclasses.replace(
            terms, guarantee_rate=Decimal("0." + "5" * 38))),
        "guarantee.fee_rate": dataclasses.replace(g, guarantee=dataclasses.replace(
            terms, fee_rate=Decimal("0." + "1" * 31))),
        "cost_lines[0].description": dataclasses.replace(grant_draft(), cost_lines=(
            dataclasses.replace(grant_draft().cost_lines[0], description="d" * 2001),)),
    }
    before = counts(engine)
    for field, draft in cases.items():
        with pytest.raises(InvalidArgument) as failure:
            repo.create(rid(), APPLICANT, draft)
        assert _field(failure) == {field}, field
    assert counts(engine) == before
    # At the limits, accepted.
    ok = dataclasses.replace(g, beneficiary=Beneficiary(COMPANY.kind, COMPANY.business_id,
                                                        "N" * 500),
                             applicant_kind="company")
    assert repo.create(rid(), APPLICANT, ok).beneficiary.name == "N" * 500


@pytest.mark.parametrize("app_id", [MAX_APPLICATION_ID + 1, 2**63, 0, -1])
def test_an_id_outside_the_integer_range_is_not_found(repo: Repository, app_id: int) -> None:
    for call in (lambda: repo.get(app_id), lambda: repo.audit_log(app_id),
                 lambda: repo.submit(rid(), APPLICANT, app_id),
                 lambda: repo.activate(rid(), OFFICER_A, app_id)):
        with pytest.raises(NotFound):
            call()


@pytest.mark.parametrize("spelling", ["1234567-1\n",
                                      "\uff11\uff12\uff13\uff14\uff15\uff16\uff17-\uff11"])
def test_a_second_spelling_of_a_business_id_is_refused(repo: Repository, engine: Engine,
                                                       spelling: str) -> None:
    """Otherwise one company gets a second de minimis history (or, on PostgreSQL, the
    newline spelling crashes on the VARCHAR(9) column)."""
    draft = guarantee_draft(beneficiary=Beneficiary(COMPANY.kind, spelling, "Oy X Ab"))
    before = counts(engine)
    with pytest.raises(InvalidArgument) as failure:
        repo.create(rid(), APPLICANT, draft)
    assert _field(failure) == {"beneficiary.business_id"}
    with pytest.raises(InvalidArgument) as failure:
        repo.record_aid(rid(), OFFICER_B, spelling, date(2025, 1, 1), 1_000_00, "ELY 1")
    assert _field(failure) == {"business_id"}
    assert counts(engine) == before
