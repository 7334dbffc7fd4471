"""An application keeps the rules version its decision applied: the transitions after it
(activation, claim, expiry) are under rules of their own dates, and they must not
relabel the decision's figures (a guarantee's GGE is counted under the de minimis
regulation of its approval date)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Engine, insert, select

from services.funding.ledger.model import Decision
from services.funding.storage import migrate
from services.funding.storage import tables as t
from services.funding.storage.repository import Repository
from tests.funding.storage.ledger_support import (
    COMPANY,
    OFFICER_B,
    PUBLIC_UNIT,
    Clock,
    grant_draft,
    guarantee_draft,
    rid,
    to_scored,
)


def test_activation_keeps_the_decisions_rules_version(repo: Repository, clock: Clock) -> None:
    """Reproduction r10: approved on 2023-12-20 (de minimis regulation 1407/2013),
    activated on 2024-01-02: the application then showed the 2024 fund rules, so its GGE
    read as counted under 2023/2831."""
    clock.set_date(date(2023, 12, 20))
    app_id = to_scored(repo, guarantee_draft(beneficiary=COMPANY))
    approved = repo.decide(rid(), OFFICER_B, app_id, Decision.APPROVE, "ok")
    decided_under = repo.fund_rules(date(2023, 12, 20)).version
    assert approved.decision_rules_version == approved.rules_version == decided_under
    clock.set_date(date(2024, 1, 2))
    active = repo.activate(rid(), OFFICER_B, app_id)
    assert active.rules_version == repo.fund_rules(date(2024, 1, 2)).version != decided_under
    assert active.decision_rules_version == decided_under
    assert repo.get(app_id).decision_rules_version == decided_under
    [approval] = [r for r in repo.audit_log(app_id) if r.action == "approve"]
    assert approval.rules_version == decided_under


def test_rejection_records_its_rules_version_and_undecided_has_none(repo: Repository) -> None:
    app_id = to_scored(repo, guarantee_draft(beneficiary=PUBLIC_UNIT))
    assert repo.get(app_id).decision_rules_version == ""
    rejected = repo.decide(rid(), OFFICER_B, app_id, Decision.REJECT, "weak plan")
    assert rejected.decision_rules_version == rejected.rules_version != ""
    # A rejected IJH grant applied the fund rules alone (no grant computed): theirs.
    grant_id = to_scored(repo, grant_draft())
    rejected = repo.decide(rid(), OFFICER_B, grant_id, Decision.REJECT, "weak plan")
    assert rejected.decision_rules_version.startswith("fund-rules/")
    assert ";" not in rejected.decision_rules_version


def test_decisions_before_the_migration_take_their_version_from_the_audit_log(
        empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine, "0007_activated_on")
    at = datetime(2024, 1, 2, 10, tzinfo=UTC)
    with empty_engine.begin() as conn:
        conn.execute(insert(t.beneficiaries).values(
            business_id=PUBLIC_UNIT.business_id, kind="public_unit", created_at=at))
        for app_id, state in ((1, "active"), (2, "scored")):
            conn.execute(insert(t.applications).values(
                id=app_id, kind="guarantee", state=state, title="g", owner_id="a",
                business_id=PUBLIC_UNIT.business_id, beneficiary_kind="public_unit",
                sector="health", branch="STM", cost_lines=[], term_months=60,
                rules_version="fund-rules/2024", created_at=at, updated_at=at))
        for action, version in (("score", "ijh/2018"), ("approve", "fund-rules/2018"),
                                ("activate", "fund-rules/2024")):
            conn.execute(insert(t.audit_log).values(
                application_id=1, action=action, from_state="x", to_state="y",
                actor_id="officer-b", actor_role="officer", at=at, request_id=action,
                rules_version=version, inputs={}, trace={}))
    migrate.upgrade(empty_engine)
    with empty_engine.connect() as conn:
        rows = conn.execute(select(t.applications.c.id, t.applications.c.decision_rules_version)
                            .order_by(t.applications.c.id)).all()
    assert [tuple(r) for r in rows] == [(1, "fund-rules/2018"), (2, "")]
