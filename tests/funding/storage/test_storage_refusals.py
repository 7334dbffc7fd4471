"""A refused decision says why and what to do next, in its message and in its
PreconditionFailure (a gRPC client gets no trace with a refusal), and writes nothing."""

from __future__ import annotations

import dataclasses

import pytest
from google.rpc import error_details_pb2
from sqlalchemy import Engine

from services.funding.ledger.model import ApplicationState, CostLine, Decision
from services.funding.storage.repository import Repository
from services.shared.errors import FailedPrecondition
from services.shared.grpc_errors import to_status
from tests.funding.storage.ledger_support import (
    APPLICANT,
    COMPANY,
    OFFICER_A,
    OFFICER_B,
    OFFICER_C,
    grant_draft,
    real_sheet,
    rid,
    snapshot,
)


def _refusal(engine: Engine, act) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Run a refused ``act``: its violations as (type, description), after checking that
    the gRPC status carries each in its message and its PreconditionFailure, and that no
    table changed."""
    before = snapshot(engine)
    with pytest.raises(FailedPrecondition) as err:
        act()
    assert snapshot(engine) == before
    status = to_status(err.value)
    failure = error_details_pb2.PreconditionFailure()
    assert any(d.Unpack(failure) for d in status.details)
    out = [(v.type, v.description) for v in failure.violations]
    for _type, description in out:
        assert description in status.message
    return out


def test_an_ineligible_grant_says_why_and_to_reject_it(real_repo: Repository,
                                                       engine: Engine) -> None:
    """Reproduction r4: "grant nothing (see trace)", and no trace comes with a refusal."""
    draft = dataclasses.replace(grant_draft(beneficiary=COMPANY), applicant_kind="company")
    app = real_repo.create(rid(), APPLICANT, draft)
    real_repo.submit(rid(), APPLICANT, app.id)
    real_repo.score(rid(), OFFICER_A, app.id, real_sheet("4"))
    [(kind, description)] = _refusal(engine, lambda: real_repo.decide(
        rid(), OFFICER_B, app.id, Decision.APPROVE, "ok"))
    assert kind == "GRANT_NOT_ELIGIBLE"
    assert description.startswith("the rules in force on 2025-03-14 grant nothing: applicant "
                                  "kind company may not receive the IJH grant on 2025-03-14; "
                                  "eligible: ")
    assert description.endswith(": reject it with that reason")
    assert "see trace" not in description
    assert real_repo.decide(rid(), OFFICER_B, app.id, Decision.REJECT,
                            "company may not receive").state is ApplicationState.REJECTED


@pytest.mark.parametrize(("line", "reason"), [
    (CostLine("purchased_expert_services", "a stamp", 1),
     "the eligible 1 cents give a grant of 0 after rounding"),
    (CostLine("equipment", "a car", 10_000_00),
     "none of the 1000000 cents claimed is an eligible cost")])
def test_a_grant_of_nothing_says_whether_costs_were_eligible(
        real_repo: Repository, engine: Engine, line: CostLine, reason: str) -> None:
    """Reproduction r15: 1 eligible cent (a grant of 0.5, rounded down to 0) was refused
    as "none of the 1 cents claimed is an eligible cost"."""
    app = real_repo.create(rid(), APPLICANT, dataclasses.replace(grant_draft(),
                                                                 cost_lines=(line,)))
    assert real_repo.submit(rid(), APPLICANT, app.id).grant_cents == 0
    real_repo.score(rid(), OFFICER_A, app.id, real_sheet("4"))
    assert _refusal(engine, lambda: real_repo.decide(
        rid(), OFFICER_B, app.id, Decision.APPROVE, "ok")) == [
        ("GRANT_NOT_ELIGIBLE", f"the rules in force on 2025-03-14 grant nothing: {reason}: "
                               "reject it with that reason")]


def test_a_failing_score_names_each_failing_criterion_and_the_overall_mark(
        real_repo: Repository, engine: Engine) -> None:
    """Reproduction r9: "aggregate 18.00 does not pass" with the pass mark 17: the cause,
    the novelty mean 2 below its pass mark 3, went unsaid. Each failing criterion is a
    violation of its own: one text naming them all was cut at 300 bytes."""
    app = real_repo.create(rid(), APPLICANT, grant_draft())
    real_repo.submit(rid(), APPLICANT, app.id)
    real_repo.score(rid(), OFFICER_B, app.id, real_sheet("4", novelty="2"))
    advice = ": reject it, or whoever mistyped replaces their sheet (ijh application score) and " \
             "another officer decides"
    assert _refusal(engine, lambda: real_repo.decide(
        rid(), OFFICER_C, app.id, Decision.APPROVE, "ok")) == [
        ("SCORE", "the officers' scores fail the rubric of its submission day 2025-03-14: "
                  "1 of its 5 criteria below their pass mark, total 18.00 reaches the "
                  "overall pass mark 17" + advice),
        ("SCORE", "mean 2.00 < pass mark 3")]
    real_repo.score(rid(), OFFICER_C, app.id, real_sheet("3", novelty="2"))
    assert _refusal(engine, lambda: real_repo.decide(
        rid(), OFFICER_A, app.id, Decision.APPROVE, "ok"))[0] == (
        "SCORE", "the officers' scores fail the rubric of its submission day 2025-03-14: "
                 "1 of its 5 criteria below their pass mark, total 16.00 < overall pass "
                 "mark 17" + advice)


def test_four_eyes_says_who_must_act_instead(real_repo: Repository, engine: Engine) -> None:
    app = real_repo.create(rid(), OFFICER_A, grant_draft())
    real_repo.submit(rid(), OFFICER_A, app.id)
    real_repo.score(rid(), OFFICER_B, app.id, real_sheet("4"))
    assert _refusal(engine, lambda: real_repo.decide(
        rid(), OFFICER_A, app.id, Decision.APPROVE, "ok")) == [
        ("FOUR_EYES", "officer-a created this application and may not decide it: another "
                      "officer must decide it")]
    assert _refusal(engine, lambda: real_repo.decide(
        rid(), OFFICER_B, app.id, Decision.REJECT, "no")) == [
        ("FOUR_EYES", "officer-b is the only scorer and may not decide alone: another "
                      "officer must score it too, or decide it")]
