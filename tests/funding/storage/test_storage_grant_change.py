"""An IJH grant is decided under the rules in force on the decision date, which may give
another figure than the one computed at submission (and seen by the scorers): the
approval records both side by side, and an officer who says which grant they expect is
refused (GRANT_CHANGED) rather than approving a figure they did not see. A rule change is
told from the decision's own terms by computing the grant at the decision's rate under
both dates' rules."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine

from services.funding.ledger.ijh_rules import RulesCore
from services.funding.ledger.model import ApplicationState, Decision
from services.funding.rules.parameters import ParameterSet
from services.funding.rules.rulebook import PARAMETER_DIRECTORY
from services.funding.storage.repository import Repository
from services.shared.errors import FailedPrecondition, InvalidArgument
from tests.funding.storage.ledger_support import (
    APPLICANT,
    OFFICER_A,
    OFFICER_B,
    Clock,
    grant_draft,
    guarantee_draft,
    real_sheet,
    rid,
    roomy_rules,
    snapshot,
    to_scored,
)
from tests.funding.storage.test_storage_decision_terms import PERSONNEL


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
def repo_real(engine: Engine, clock: Clock) -> Repository:
    return Repository(engine, ijh_rules=RulesCore(), fund_rules=roomy_rules, clock=clock)


@pytest.fixture
def cut_repo(engine: Engine, clock: Clock, rate_cut: ParameterSet) -> Repository:
    return Repository(engine, ijh_rules=RulesCore(rate_cut), fund_rules=roomy_rules,
                      clock=clock)


def _submitted_and_scored(repo: Repository, clock: Clock, params: ParameterSet) -> int:
    clock.set_date(date(2025, 3, 28))
    app = repo.create(rid(), APPLICANT, grant_draft())
    assert repo.submit(rid(), APPLICANT, app.id).grant_cents == 30_000_00
    sheet = real_sheet(on=date(2025, 3, 28), params=params)
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
        "rules": {"indirect_cost_rate": None,
                  "submission": {"on": "2025-03-28", "grant_cents": 30_000_00,
                                 "rules_version": submitted_under},
                  "decision": {"on": "2025-04-02", "grant_cents": 24_000_00,
                               "rules_version": decided_under}},
        "changed": True,
        "decided": {"grant_cents": 24_000_00, "rules_version": decided_under},
        "expected_grant_cents": None}


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
    assert violation.description == (
        "the rules in force on 2025-04-02 changed the grant from 3000000 cents on its "
        "submission day 2025-03-28 to 2400000 cents, not the 3000000 cents expected: "
        "approve again expecting 2400000 cents, or reject it")
    approved = cut_repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "good plan",
                               expected_grant_cents=24_000_00)
    assert (approved.state, approved.grant_cents) == (ApplicationState.APPROVED, 24_000_00)
    assert cut_repo.audit_log(app_id)[-1].trace["grant_change"]["expected_grant_cents"] \
        == 24_000_00


def _personnel_scored(repo: Repository, clock: Clock, on: date) -> int:
    """€100,000 of salary with 100 % own overhead: 100,000.00 granted at submission;
    62,500.00 at a decision rate of 0.25 under the grant rate 0.50 (50,000.00 under 0.40)."""
    clock.set_date(on)
    app = repo.create(rid(), APPLICANT, dataclasses.replace(grant_draft(),
                                                            cost_lines=(PERSONNEL,)))
    assert repo.submit(rid(), APPLICANT, app.id).grant_cents == 100_000_00
    sheet = real_sheet(on=on)
    repo.score(rid(), OFFICER_A, app.id, sheet)
    return app.id


def test_the_officers_own_rate_is_no_rule_change(
        repo_real: Repository, engine: Engine, clock: Clock) -> None:
    """Reproduction r15: same day, same rules, the officer sets 0.25 overhead and expects
    the submitted 100,000: refused GRANT_CHANGED "under the rules in force ... is 62,500",
    blaming the rules for the officer's own rate; and a lower amount fixed under unchanged
    rules was recorded as changed."""
    app_id = _personnel_scored(repo_real, clock, date(2025, 3, 14))
    version = repo_real.get(app_id).rules_version
    before = snapshot(engine)
    with pytest.raises(InvalidArgument) as err:
        repo_real.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok",
                         expected_grant_cents=100_000_00, indirect_cost_rate="0.25")
    assert [(v.field, v.description) for v in err.value.violations] == [(
        "expected_grant_cents",
        f"the rules give 6250000 cents at indirect_cost_rate 0.25, as on the submission "
        f"date ({version}), not 10000000 cents: it is the computed grant (grant_cents "
        "fixes a lower amount)")]
    assert snapshot(engine) == before
    # The amount the decision fixes is not the expected (computed) grant either.
    with pytest.raises(InvalidArgument):
        repo_real.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok",
                         grant_cents=90_000_00, expected_grant_cents=90_000_00)
    assert snapshot(engine) == before
    repo_real.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok",
                     expected_grant_cents=62_500_00, indirect_cost_rate="0.25",
                     grant_cents=60_000_00)
    change = repo_real.audit_log(app_id)[-1].trace["grant_change"]
    assert change["changed"] is False
    assert change["rules"] == {
        "indirect_cost_rate": "0.25",
        "submission": {"on": "2025-03-14", "grant_cents": 62_500_00, "rules_version": version},
        "decision": {"on": "2025-03-14", "grant_cents": 62_500_00, "rules_version": version}}
    assert change["decided"] == {"grant_cents": 60_000_00, "rules_version": version}


def test_a_rule_change_is_named_at_the_officers_rate(
        cut_repo: Repository, engine: Engine, clock: Clock, rate_cut: ParameterSet) -> None:
    """Reproduction r15: grant rate cut 0.50 -> 0.40 on 2025-04-01 and the officer sets
    0.25 overhead: the refusal gave 50,000 against the submitted 100,000 and said nothing
    of the 62,500 -> 50,000 the rule change made at that rate."""
    app_id = _personnel_scored(cut_repo, clock, date(2025, 3, 28))
    clock.set_date(date(2025, 4, 2))
    before = snapshot(engine)
    for expected in (100_000_00, 62_500_00):  # the submitted figure, or the one at 0.25
        with pytest.raises(FailedPrecondition) as err:
            cut_repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok",
                            expected_grant_cents=expected, indirect_cost_rate="0.25")
        [violation] = err.value.violations
        assert violation.type == "GRANT_CHANGED"
        assert violation.description == (
            "the rules in force on 2025-04-02 changed the grant at indirect_cost_rate "
            "0.25 from 6250000 cents on its submission day 2025-03-28 to 5000000 cents, "
            f"not the {expected} cents expected: approve again expecting 5000000 cents, "
            "or reject it")
        assert len(violation.description.encode()) <= 300  # whole in PreconditionFailure
        assert snapshot(engine) == before
    cut_repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok",
                    expected_grant_cents=50_000_00, indirect_cost_rate="0.25")
    rules = cut_repo.audit_log(app_id)[-1].trace["grant_change"]["rules"]
    assert (rules["submission"]["grant_cents"], rules["decision"]["grant_cents"]) == \
        (62_500_00, 50_000_00)


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


def test_a_rate_the_submission_rules_did_not_allow_is_a_rule_change(
        engine: Engine, clock: Clock, tmp_path: Path) -> None:
    """indirect_cost_rate_max raised from 1.00 to 1.50 on 2025-04-01: a decision rate of
    1.2 has no figure under the submission date's rules (no InvalidArgument for them)."""
    directory = tmp_path / "ijh"
    shutil.copytree(PARAMETER_DIRECTORY, directory)
    cap = directory / "indirect_cost_rate_max.yaml"
    cap.write_text(cap.read_text(encoding="utf-8") + """\
  2025-04-01:
    value: 1.50
    reference: Test decision raising the maximum (test only)
    last_reviewed: 2025-03-01
""", encoding="utf-8")
    params = ParameterSet.load(directory, set_name="ijh-rules")
    repo = Repository(engine, ijh_rules=RulesCore(params), fund_rules=roomy_rules, clock=clock)
    app_id = _personnel_scored(repo, clock, date(2025, 3, 28))
    clock.set_date(date(2025, 4, 2))
    before = snapshot(engine)
    with pytest.raises(FailedPrecondition) as err:
        repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok",
                    expected_grant_cents=90_000_00, indirect_cost_rate="1.2")
    [violation] = err.value.violations
    assert violation.type == "GRANT_CHANGED"
    assert violation.description == (
        "the rules in force on 2025-04-02 changed the grant at indirect_cost_rate 1.2 from "
        "nothing (the rate was above their maximum) on its submission day 2025-03-28 to "
        "10000000 cents, not the 9000000 cents expected: approve again expecting "
        "10000000 cents, or reject it")
    # Whole in the PreconditionFailure: with the two rules versions it was 322 bytes,
    # cut to 300 around " ... " (the figures lost).
    assert len(violation.description.encode()) <= 300
    assert snapshot(engine) == before
    repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok",
                expected_grant_cents=100_000_00, indirect_cost_rate="1.2")
    change = repo.audit_log(app_id)[-1].trace["grant_change"]
    assert change["changed"] is True
    assert change["rules"]["submission"]["grant_cents"] is None
