"""An application is scored under the rubric in force on the day it was submitted, by
every officer and at its decision, so a rubric change does not strand it half scored;
an officer may replace their own sheet until the decision (the old one stays in the
audit log); a bad sheet is named by the fields of the request that sent it."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, insert, select

from services.funding.ledger.ijh_rules import RulesCore
from services.funding.ledger.model import ApplicationState, Decision
from services.funding.rules.parameters import ParameterSet
from services.funding.rules.rulebook import PARAMETER_DIRECTORY
from services.funding.rules.scoring import rubric_in_force
from services.funding.storage import migrate
from services.funding.storage import tables as t
from services.funding.storage.repository import Repository
from services.shared.errors import FailedPrecondition, InvalidArgument
from tests.funding.storage.ledger_support import (
    APPLICANT,
    OFFICER_A,
    OFFICER_B,
    OFFICER_C,
    PUBLIC_UNIT,
    Clock,
    grant_draft,
    real_sheet,
    rid,
    roomy_rules,
    snapshot,
)


@pytest.fixture
def new_criterion(tmp_path: Path) -> ParameterSet:
    """The shipped IJH rules whose rubric gains a sixth criterion on 2025-04-01."""
    directory = tmp_path / "ijh"
    shutil.copytree(PARAMETER_DIRECTORY, directory)
    criteria = directory / "scoring_criteria.yaml"
    doc = yaml.safe_load(criteria.read_text(encoding="utf-8"))
    old = doc["values"][date(2009, 1, 1)]
    doc["values"][date(2025, 4, 1)] = {**old, "value": [*old["value"], {
        "criterion": "national_reach", "description": "Reach across Finland.",
        "pass_mark": 3, "weight": 1.0, "guidance": "x"}]}
    criteria.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    params = ParameterSet.load(directory, set_name="ijh-rules")
    assert len(rubric_in_force(date(2025, 4, 1), params).criteria) == \
        len(rubric_in_force(date(2025, 3, 31), params).criteria) + 1
    return params


def test_a_rubric_change_does_not_strand_a_scored_application(
        engine: Engine, clock: Clock, new_criterion: ParameterSet) -> None:
    """Reproduction r2: scored on 2025-03-28 under five criteria; from 2025-04-01 six.
    The decision, another officer's sheet and a new sheet of the first officer were all
    refused (missing national_reach), naming score_sheets[0] of no request: the only way
    out was to reject it."""
    repo = Repository(engine, ijh_rules=RulesCore(new_criterion), fund_rules=roomy_rules,
                      clock=clock)
    march = date(2025, 3, 28)
    clock.set_date(march)
    app = repo.create(rid(), APPLICANT, grant_draft())
    assert repo.submit(rid(), APPLICANT, app.id).submitted_on == march
    repo.score(rid(), OFFICER_A, app.id, real_sheet(on=march, params=new_criterion))
    clock.set_date(date(2025, 4, 2))
    before = snapshot(engine)
    with pytest.raises(InvalidArgument) as err:  # the new rubric's sheet is not this one's
        repo.score(rid(), OFFICER_B, app.id, real_sheet(on=date(2025, 4, 2), params=new_criterion))
    assert [v.field for v in err.value.violations] == ["scores[5].criterion"]
    assert "unknown criterion 'national_reach'" in err.value.violations[0].description
    assert snapshot(engine) == before
    scored = repo.score(rid(), OFFICER_B, app.id, real_sheet("3", march, new_criterion))
    assert [s.rules_version for s in scored.scores] == \
        [new_criterion.at(march).version] * 2
    approved = repo.decide(rid(), OFFICER_C, app.id, Decision.APPROVE, "good plan")
    assert approved.state is ApplicationState.APPROVED
    assert repo.audit_log(app.id)[-1].trace["scoring"]["reference_date"] == "2025-03-28"


def test_an_officer_replaces_their_own_sheet_until_the_decision(
        engine: Engine, clock: Clock) -> None:
    """Reproduction r9: officer B mistyped novelty 2 for 4 and could never correct it
    (ALREADY_SCORED); the application passed only once a third officer outvoted it."""
    repo = Repository(engine, ijh_rules=RulesCore(), fund_rules=roomy_rules, clock=clock)
    on = date(2025, 3, 14)
    app = repo.create(rid(), APPLICANT, grant_draft())
    repo.submit(rid(), APPLICANT, app.id)
    repo.score(rid(), OFFICER_A, app.id, real_sheet(on=on))
    repo.score(rid(), OFFICER_B, app.id, real_sheet(on=on, novelty="1"))
    with pytest.raises(FailedPrecondition) as err:
        repo.decide(rid(), OFFICER_C, app.id, Decision.APPROVE, "ok")
    assert "whoever mistyped replaces their sheet (ijh application score) and another officer " \
        "decides" in \
        err.value.violations[0].description
    replaced = repo.score(rid(), OFFICER_B, app.id, real_sheet(on=on), "novelty was a typo")
    assert [(s.officer_id, s.criteria["novelty"]) for s in replaced.scores] == \
        [("officer-a", Decimal(4)), ("officer-b", Decimal(4))]
    scores = [r for r in repo.audit_log(app.id) if r.action == "score"]
    assert [r.inputs["criteria"]["novelty"] for r in scores] == ["4", "1", "4"]
    assert scores[-1].inputs["replaces"]["novelty"] == "1"
    assert repo.decide(rid(), OFFICER_C, app.id, Decision.APPROVE, "ok").state \
        is ApplicationState.APPROVED
    before = snapshot(engine)
    with pytest.raises(FailedPrecondition) as err:  # decided: the sheets are final
        repo.score(rid(), OFFICER_B, app.id, real_sheet(on=on, novelty="5"))
    assert [v.type for v in err.value.violations] == ["TRANSITION"]
    assert snapshot(engine) == before


def test_the_decider_may_not_overturn_the_other_scorer_by_replacing_their_own_sheet(
        engine: Engine, clock: Clock) -> None:
    """Reproduction r15: B scores novelty 1, A 4; A's approval is refused SCORE naming the
    novelty mean; A replaced their own sheet with novelty 5 and approved alone."""
    repo = Repository(engine, ijh_rules=RulesCore(), fund_rules=roomy_rules, clock=clock)
    on = date(2025, 3, 14)
    app = repo.create(rid(), APPLICANT, grant_draft())
    repo.submit(rid(), APPLICANT, app.id)
    repo.score(rid(), OFFICER_B, app.id, real_sheet(on=on, novelty="1"))
    repo.score(rid(), OFFICER_A, app.id, real_sheet(on=on))
    with pytest.raises(FailedPrecondition) as err:
        repo.decide(rid(), OFFICER_A, app.id, Decision.APPROVE, "ok")
    assert [(v.type, v.subject) for v in err.value.violations] == [
        ("SCORE", app.name), ("SCORE", "criterion/novelty")]
    repo.score(rid(), OFFICER_A, app.id, real_sheet(on=on, novelty="5"), "on reflection")
    for decision in Decision:  # approving or rejecting: either overturns B's sheet
        before = snapshot(engine)
        with pytest.raises(FailedPrecondition) as err:
            repo.decide(rid(), OFFICER_A, app.id, decision, "ok")
        assert [(v.type, v.description) for v in err.value.violations] == [(
            "FOUR_EYES", "officer-a replaced their own score sheet after another officer "
                         "had scored, and may not also decide it: another officer decides")]
        assert snapshot(engine) == before
    # B did not replace theirs; a third officer may decide too.
    assert repo.decide(rid(), OFFICER_B, app.id, Decision.APPROVE, "ok").state \
        is ApplicationState.APPROVED


def test_a_sheet_replaced_before_anyone_else_scored_leaves_the_officer_free_to_decide(
        engine: Engine, clock: Clock) -> None:
    repo = Repository(engine, ijh_rules=RulesCore(), fund_rules=roomy_rules, clock=clock)
    on = date(2025, 3, 14)
    app = repo.create(rid(), APPLICANT, grant_draft())
    repo.submit(rid(), APPLICANT, app.id)
    repo.score(rid(), OFFICER_A, app.id, real_sheet(on=on, novelty="1"))
    repo.score(rid(), OFFICER_A, app.id, real_sheet(on=on), "typo")  # nobody else's sheet yet
    repo.score(rid(), OFFICER_B, app.id, real_sheet(on=on))
    assert repo.decide(rid(), OFFICER_A, app.id, Decision.APPROVE, "ok").state \
        is ApplicationState.APPROVED


def test_the_same_sheet_sent_again_is_nothing_to_do(engine: Engine, clock: Clock) -> None:
    """Review h10/5: officer A re-sent the very sheet on file (a retry with a new request
    id); it was recorded as a replacement and barred A from deciding (FOUR_EYES). An
    identical sheet now writes nothing: no audit entry, no event, no four-eyes effect."""
    repo = Repository(engine, ijh_rules=RulesCore(), fund_rules=roomy_rules, clock=clock)
    on = date(2025, 3, 14)
    app = repo.create(rid(), APPLICANT, grant_draft())
    repo.submit(rid(), APPLICANT, app.id)
    repo.score(rid(), OFFICER_B, app.id, real_sheet(on=on))
    scored = repo.score(rid(), OFFICER_A, app.id, real_sheet(on=on))
    before = snapshot(engine)
    sheet = {k: Decimal(f"{v}.0") for k, v in real_sheet(on=on).items()}  # same values
    again = repo.score(rid(), OFFICER_A, app.id, sheet, "sent twice")
    after = snapshot(engine)
    assert again.version == scored.version and again.scores == scored.scores
    assert {name: rows for name, rows in after.items() if name != "requests"} == \
        {name: rows for name, rows in before.items() if name != "requests"}
    assert [r.action for r in repo.audit_log(app.id)].count("score") == 2
    assert repo.decide(rid(), OFFICER_A, app.id, Decision.APPROVE, "ok").state \
        is ApplicationState.APPROVED


def test_a_recorded_replacement_by_the_same_sheet_bars_nobody(
        engine: Engine, clock: Clock) -> None:
    """A ledger written before an identical sheet was nothing to do holds a "score" entry
    replacing a sheet by the same one: it changed nothing and is no replacement."""
    repo = Repository(engine, ijh_rules=RulesCore(), fund_rules=roomy_rules, clock=clock)
    on = date(2025, 3, 14)
    app = repo.create(rid(), APPLICANT, grant_draft())
    repo.submit(rid(), APPLICANT, app.id)
    repo.score(rid(), OFFICER_B, app.id, real_sheet(on=on))
    repo.score(rid(), OFFICER_A, app.id, real_sheet(on=on))
    sheet = {k: str(v) for k, v in real_sheet(on=on).items()}
    with engine.begin() as conn:
        conn.execute(insert(t.audit_log).values(
            application_id=app.id, action="score", from_state="scored", to_state="scored",
            actor_id=OFFICER_A.id, actor_role="officer", at=clock(), reason="",
            rules_version="", request_id=rid(),
            inputs={"criteria": {k: f"{v}.0" for k, v in sheet.items()}, "reason": "",
                    "replaces": sheet}, trace={}))
    assert repo.decide(rid(), OFFICER_A, app.id, Decision.APPROVE, "ok").state \
        is ApplicationState.APPROVED


def test_applications_submitted_before_the_migration_get_their_submission_date(
        empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine, "0008_decision_rules_version")
    at = datetime(2025, 3, 31, 22, 30, tzinfo=UTC)  # 1 April in Helsinki
    with empty_engine.begin() as conn:
        conn.execute(insert(t.beneficiaries).values(
            business_id=PUBLIC_UNIT.business_id, kind="public_unit", created_at=at))
        for app_id in (1, 2):
            conn.execute(insert(t.applications).values(
                id=app_id, kind="ijh_grant", state="scored" if app_id == 1 else "draft",
                title="g", owner_id="a", business_id=PUBLIC_UNIT.business_id,
                beneficiary_kind="public_unit", sector="health", branch="STM",
                cost_lines=[], created_at=at, updated_at=at))
        conn.execute(insert(t.audit_log).values(
            application_id=1, action="submit", from_state="draft", to_state="submitted",
            actor_id="a", actor_role="applicant", at=at, request_id="r", inputs={},
            trace={}))
    migrate.upgrade(empty_engine)
    with empty_engine.connect() as conn:
        rows = conn.execute(select(t.applications.c.id, t.applications.c.submitted_on)
                            .order_by(t.applications.c.id)).all()
    assert [tuple(r) for r in rows] == [(1, date(2025, 4, 1)), (2, None)]
