"""What the rules say "the decision sets" is set by the approval of an IJH grant: the
indirect-cost rate applied to own personnel (at most indirect_cost_rate_max) and the
grant amount (at most what the rules compute), both recorded in the approval's trace."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from services.funding.ledger.model import CostLine, Decision
from services.funding.storage.repository import Repository
from services.shared.errors import FailedPrecondition, InvalidArgument
from tests.funding.storage.ledger_support import (
    APPLICANT,
    OFFICER_A,
    OFFICER_B,
    grant_draft,
    guarantee_draft,
    real_sheet,
    rid,
    snapshot,
    to_scored,
)

# €100,000 of salary, all of the time on the project, with the applicant's own overhead
# of 100 %: 200,000 claimed, 100,000 granted at 50 % unless the decision sets the rate.
PERSONNEL = CostLine("own_personnel", "project manager", 0,
                     {"salary_cents": 100_000_00, "working_time_share": "1",
                      "indirect_cost_rate": "1.00"})



def _scored(repo: Repository) -> int:
    app = repo.create(rid(), APPLICANT, dataclasses.replace(grant_draft(),
                                                            cost_lines=(PERSONNEL,)))
    assert repo.submit(rid(), APPLICANT, app.id).grant_cents == 100_000_00
    sheet = real_sheet()
    repo.score(rid(), OFFICER_A, app.id, sheet)
    return app.id


def test_the_decision_sets_the_indirect_cost_rate_and_the_amount(
        real_repo: Repository, engine: Engine) -> None:
    """Reproduction r12: the applicant's own overhead of 100 % was granted as claimed;
    decide() had no way to set the rate or the amount."""
    app_id = _scored(real_repo)
    before = snapshot(engine)
    with pytest.raises(FailedPrecondition) as err:  # 125,000 × 50 % = 62,500.00 at most
        real_repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok",
                         indirect_cost_rate=Decimal("0.25"), grant_cents=62_500_01)
    [violation] = err.value.violations
    assert violation.type == "GRANT_ABOVE_COMPUTED"
    assert violation.description.startswith(
        "the decision's grant 6250001 cents is above the 6250000 cents the rules in force "
        "on 2025-03-14 give")
    assert snapshot(engine) == before
    approved = real_repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok",
                                indirect_cost_rate=Decimal("0.25"), grant_cents=50_000_00)
    assert approved.grant_cents == 50_000_00
    trace = real_repo.audit_log(app_id)[-1].trace
    assert trace["decision_terms"] == {"indirect_cost_rate": "0.25",
                                       "computed_grant_cents": 62_500_00,
                                       "grant_cents": 50_000_00}
    [line] = trace["grant"]["cost_lines"]
    assert (line["accepted_cents"], line["rejections"][0]["reason"]) == \
        (125_000_00, "indirect_cost_rate_above_decision")


def test_without_terms_the_computed_grant_is_the_decisions(real_repo: Repository) -> None:
    app_id = _scored(real_repo)
    approved = real_repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok")
    assert approved.grant_cents == 100_000_00
    assert real_repo.audit_log(app_id)[-1].trace["decision_terms"] == {
        "indirect_cost_rate": None, "computed_grant_cents": 100_000_00,
        "grant_cents": 100_000_00}


def test_decision_terms_are_checked_field_by_field(real_repo: Repository, repo: Repository,
                                                   engine: Engine) -> None:
    app_id = _scored(real_repo)
    guarantee_id = to_scored(repo, guarantee_draft())
    before = snapshot(engine)
    for target, decision, terms, field in (
            (app_id, Decision.APPROVE, {"indirect_cost_rate": "1.5"}, "indirect_cost_rate"),
            (app_id, Decision.APPROVE, {"indirect_cost_rate": "x"}, "indirect_cost_rate"),
            (app_id, Decision.APPROVE, {"grant_cents": 0}, "grant_cents"),
            (app_id, Decision.REJECT, {"grant_cents": 1}, "grant_cents"),
            (app_id, Decision.REJECT, {"indirect_cost_rate": "0.1"}, "indirect_cost_rate"),
            (guarantee_id, Decision.APPROVE, {"grant_cents": 1}, "grant_cents")):
        deciding = repo if target == guarantee_id else real_repo  # its rules scored it
        with pytest.raises(InvalidArgument) as err:
            deciding.decide(rid(), OFFICER_B, target, decision, "x", **terms)  # type: ignore[arg-type]
        assert [v.field for v in err.value.violations] == [field], terms
    assert snapshot(engine) == before
