"""Helpers shared by the ledger storage tests (actors, drafts, a fake rules core,
a settable clock, row counts)."""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Connection, Engine, select, text

from services.funding.ledger.fund_rules import FundRules, fund_rules_on
from services.funding.ledger.model import (
    Actor,
    ApplicationDraft,
    ApplicationKind,
    Beneficiary,
    BeneficiaryKind,
    Branch,
    CostLine,
    GuaranteeTerms,
    Role,
)
from services.funding.ledger.ports import CriterionVerdict, GrantResult, ScoreResult
from services.funding.storage.repository import Repository
from services.shared.business_id import business_id_check_digit

PG_URL = os.environ.get("IJH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

APPLICANT = Actor("applicant-1", Role.APPLICANT)
OFFICER_A = Actor("officer-a", Role.OFFICER)
OFFICER_B = Actor("officer-b", Role.OFFICER)
OFFICER_C = Actor("officer-c", Role.OFFICER)
GOOD = {"novelty": Decimal("4"), "impact": Decimal("3.5")}
BAD = {"novelty": Decimal("2"), "impact": Decimal("3.5")}


def business_id(n: int) -> str:
    """The n-th valid Y-tunnus (skipping bodies whose check remainder is 1)."""
    body = n
    while True:
        digits = f"{body:07d}"
        check = business_id_check_digit(digits)
        if check is not None:
            return f"{digits}-{check}"
        body += 1


COMPANY = Beneficiary(BeneficiaryKind.COMPANY, business_id(1234567), "Oy Esimerkki Ab")
PUBLIC_UNIT = Beneficiary(BeneficiaryKind.PUBLIC_UNIT, business_id(245678), "Kaupunki")


def guarantee_draft(*, beneficiary: Beneficiary = COMPANY, amount_cents: int = 1_000_000_00,
                    rate: str = "0.5", cap_cents: int = 10_000_000_00, fee_rate: str = "0.01",
                    term_months: int = 60, sector: str = "health", branch: Branch = Branch.STM,
                    rating_class: str = "") -> ApplicationDraft:
    return ApplicationDraft(
        kind=ApplicationKind.GUARANTEE, title="Guarantee for a pilot", beneficiary=beneficiary,
        sector=sector, branch=branch,
        guarantee=GuaranteeTerms(amount_cents, Decimal(rate), cap_cents, Decimal(fee_rate),
                                 term_months, rating_class))


def grant_draft(*, beneficiary: Beneficiary = PUBLIC_UNIT) -> ApplicationDraft:
    return ApplicationDraft(
        kind=ApplicationKind.IJH_GRANT, title="Planning a PCP", beneficiary=beneficiary,
        sector="health", branch=Branch.STM, procurement_kind="pre_commercial_procurement",
        cost_lines=(CostLine("purchased_expert_services", "legal", 40_000_00),
                    CostLine("purchased_expert_services", "market dialogue", 20_000_01)))


class FakeRules:
    """A stand-in for the rules core: grant = floor(50 % × Σ amounts); a set of sheets
    passes if every criterion's mean is ≥ 3."""

    version = "fake-ijh/1"

    def compute_grant(self, draft: ApplicationDraft, on: date, application: str = "",
                      indirect_cost_rate: Decimal | str | None = None) -> GrantResult:
        total = sum(line.amount_cents for line in draft.cost_lines)
        return GrantResult(total // 2, self.version, True,
                           {"claimed_cents": total, "rate": "0.5", "on": on.isoformat(),
                            "application_id": application})

    def score(self, sheets: Sequence[tuple[str, Mapping[str, Decimal]]], on: date
              ) -> ScoreResult:
        names = sorted(sheets[0][1])
        means = {k: sum(s[k] for _, s in sheets) / len(sheets) for k in names}
        return ScoreResult(sum(means.values()), all(m >= 3 for m in means.values()),
                           self.version, {"means": {k: str(v) for k, v in means.items()}},
                           tuple(CriterionVerdict(k, m, Decimal(3), m >= 3)
                                 for k, m in means.items()), Decimal(0))


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set_date(self, d: date) -> None:
        self.now = datetime(d.year, d.month, d.day, 10, 0, tzinfo=UTC)


def roomy_rules(on: date, **overrides: object) -> FundRules:
    """The real rules in force on ``on`` with limits that do not bind unless overridden."""
    base = fund_rules_on(on)
    values: dict[str, object] = dict(
        paid_in_capital_cents=1_000_000_000_00, max_leverage=Decimal(1),
        max_per_beneficiary_cents=1_000_000_000_00,
        sector_max_share_of_capital=Decimal(1), branch_max_share_of_capital=Decimal(1))
    values.update(overrides)
    return dataclasses.replace(base, **values)


def rid() -> str:
    return uuid.uuid4().hex


def to_scored(repo: Repository, draft: ApplicationDraft, *, owner: Actor = APPLICANT,
              scorers: Sequence[Actor] = (OFFICER_A,), scores: Mapping[str, Decimal] = GOOD
              ) -> int:
    """Create, submit and score an application; return its id."""
    app = repo.create(rid(), owner, draft)
    repo.submit(rid(), owner, app.id)
    for officer in scorers:
        repo.score(rid(), officer, app.id, scores)
    return app.id


def to_term_end(repo: Repository, app_id: int) -> date:
    """Set the repository's clock to the day the active guarantee's term ends: the first
    day it may be expired."""
    from services.funding.ledger.lifecycle import term_end
    from services.funding.storage import tables as t
    with repo.engine.connect() as conn:
        row = conn.execute(select(t.applications.c.activated_on, t.applications.c.term_months)
                           .where(t.applications.c.id == app_id)).one()
    end = term_end(row.activated_on, row.term_months)
    repo.clock.set_date(end)  # type: ignore[attr-defined]
    return end


def counts(engine: Engine) -> dict[str, int]:
    """Row count of every ledger table (to show that a refused request wrote nothing)."""
    tables = ("applications", "beneficiaries", "scores", "audit_log", "requests",
              "de_minimis_aid", "beneficiary_audit", "claims", "outbox")
    with engine.connect() as conn:
        out = {name: conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
               for name in tables}
        out["claims_paid"] = conn.execute(text("SELECT claims_paid_cents FROM fund")).scalar_one()
    return out


def snapshot(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every ledger table, in key order: a refused request changes none,
    not even a column of a row it locked."""
    from services.funding.storage import tables as t
    with engine.connect() as conn:
        return {table.name: [tuple(r) for r in conn.execute(
                    select(table).order_by(*(table.primary_key.columns or table.columns)))]
                for table in t.metadata.sorted_tables}


def wait_until_blocked(watcher: Connection, holder_pid: int, what: str,
                       timeout_seconds: float = 30.0) -> None:
    """Return once a PostgreSQL session waits for a lock the session ``holder_pid`` holds
    (``watcher``: an AUTOCOMMIT connection; each query its own transaction, as
    pg_stat_activity is a snapshot per transaction). ``what`` names the wait in the
    failure."""
    deadline = time.monotonic() + timeout_seconds
    while not watcher.execute(text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE CAST(:holder AS integer) = ANY(pg_blocking_pids(pid))"),
            {"holder": holder_pid}).scalar_one():
        assert time.monotonic() < deadline, f"{what} never waited for the lock"
        time.sleep(0.01)  # polling the server: PostgreSQL announces no lock waits


def real_sheet(points: str = "4", on: date = date(2025, 3, 14), params=None,
               **override: str) -> dict[str, Decimal]:
    """A score sheet of the real rubric in force on ``on`` (the clock fixture's day by
    default; ``params``: another parameter set): ``points`` for every criterion, but
    ``override``'s."""
    from services.funding.rules.scoring import rubric_in_force
    sheet = {c.criterion: Decimal(points) for c in rubric_in_force(on, params).criteria}
    sheet.update({k: Decimal(v) for k, v in override.items()})
    return sheet
