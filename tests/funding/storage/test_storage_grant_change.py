"""An IJH grant is decided under the rules in force on the decision date, which may give
another figure than the one computed at submission (and seen by the scorers): the
approval records both side by side, and an officer who says which grant they expect is
refused (GRANT_CHANGED) rather than approving a figure they did not see."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from services.funding.ledger.ijh_rules import RulesCore
from services.funding.ledger.model import ApplicationState, Decision
from services.funding.rules.parameters import ParameterSet
from services.funding.rules.rulebook import PARAMETER_DIRECTORY
from services.funding.rules.scoring import rubric_in_force
from services.funding.storage.repository import Repository
from services.shared.errors import FailedPrecondition, InvalidArgument
from tests.funding.storage.ledger_support import (
    APPLICANT,
    OFFICER_A,
    OFFICER_B,
    Clock,
    grant_draft,
    guarantee_draft,
    rid,
    roomy_rules,
    snapshot,
    to_scored,
)


@pytest.fixture
def rate_cut(tmp_path: Path) -> ParameterSet:
    """The shipped IJH rules with the grant rate cut from 0.50 to 0.40 on 2025-04-01."""
    directory = tmp_path / "ijh"
    shutil.copytree(PARAMETER_DIRECTORY, directory)
    rate = directory / "grant_rate.yaml"
    rate.write_text(rate.read_text(encoding="utf-8") + """\
  2025-04-01:
    value: 0.40
    reference: Test decision lowering the rate (test only)
    last_reviewed: 2025-03-01
""", encoding="utf-8")
    return ParameterSet.load(directory, set_name="ijh-rules")


@pytest.fixture
def cut_repo(engine: Engine, clock: Clock, rate_cut: ParameterSet) -> Repository:
    return Repository(engine, ijh_rules=RulesCore(rate_cut), fund_rules=roomy_rules,
                      clock=clock)


def _submitted_and_scored(repo: Repository, clock: Clock, params: ParameterSet) -> int:
    clock.set_date(date(2025, 3, 28))
    app = repo.create(rid(), APPLICANT, grant_draft())
    assert repo.submit(rid(), APPLICANT, app.id).grant_cents == 30_000_00
    sheet = {c.criterion: Decimal(4) for c in rubric_in_force(date(2025, 3, 28), params).criteria}
    repo.score(rid(), OFFICER_A, app.id, sheet)
    clock.set_date(date(2025, 4, 2))
    return app.id


def test_the_approval_trace_shows_the_submitted_and_the_decided_grant(
        cut_repo: Repository, clock: Clock, rate_cut: ParameterSet) -> None:
    """Reproduction r3: submitted with 3,000,000 cents, approved with 2,400,000; the
    trace did not mention the figure the scorers saw."""
    app_id = _submitted_and_scored(cut_repo, clock, rate_cut)
    submitted_under = rate_cut.at(date(2025, 3, 28)).version
    decided_under = rate_cut.at(date(2025, 4, 2)).version
    approved = cut_repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "good plan")
    assert approved.grant_cents == 24_000_00
    trace = cut_repo.audit_log(app_id)[-1].trace
    assert trace["grant_change"] == {
        "submitted": {"grant_cents": 30_000_00, "rules_version": submitted_under},
        "decided": {"grant_cents": 24_000_00, "rules_version": decided_under},
        "changed": True, "expected_grant_cents": None}


def test_an_officer_expecting_the_submitted_grant_is_refused(
        cut_repo: Repository, engine: Engine, clock: Clock, rate_cut: ParameterSet) -> None:
    app_id = _submitted_and_scored(cut_repo, clock, rate_cut)
    before = snapshot(engine)
    with pytest.raises(FailedPrecondition) as err:
        cut_repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "good plan",
                        expected_grant_cents=30_000_00)
    assert snapshot(engine) == before
    [violation] = err.value.violations
    assert (violation.type, violation.subject) == ("GRANT_CHANGED", f"applications/{app_id}")
    submitted_under = rate_cut.at(date(2025, 3, 28)).version
    decided_under = rate_cut.at(date(2025, 4, 2)).version
    assert violation.description == (
        f"the grant under the rules in force on 2025-04-02 ({decided_under}) is 2400000 "
        f"cents, not the 3000000 cents expected; it was 3000000 cents at submission "
        f"({submitted_under}): approve again expecting 2400000 cents, or reject it")
    approved = cut_repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "good plan",
                               expected_grant_cents=24_000_00)
    assert (approved.state, approved.grant_cents) == (ApplicationState.APPROVED, 24_000_00)
    assert cut_repo.audit_log(app_id)[-1].trace["grant_change"]["expected_grant_cents"] \
        == 24_000_00


def test_the_expected_grant_belongs_to_an_approval_of_a_grant(repo: Repository,
                                                              engine: Engine) -> None:
    grant_id = to_scored(repo, grant_draft())
    guarantee_id = to_scored(repo, guarantee_draft())
    before = snapshot(engine)
    for app_id, decision in ((grant_id, Decision.REJECT), (guarantee_id, Decision.APPROVE)):
        with pytest.raises(InvalidArgument) as err:
            repo.decide(rid(), OFFICER_B, app_id, decision, "x", expected_grant_cents=1)
        assert [v.field for v in err.value.violations] == ["expected_grant_cents"]
    for bad in (-1, True, 10**16):
        with pytest.raises(InvalidArgument) as err:
            repo.decide(rid(), OFFICER_B, grant_id, Decision.APPROVE, "x",
                        expected_grant_cents=bad)  # type: ignore[arg-type]
        assert [v.field for v in err.value.violations] == ["expected_grant_cents"]
    assert snapshot(engine) == before
