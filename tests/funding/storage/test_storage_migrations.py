"""Migrations: empty → head → empty → head, the schema equals the table definitions, and
the audit log refuses UPDATE and DELETE at the database level."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from services.funding.storage import migrate
from services.funding.storage.repository import Repository
from services.funding.storage.tables import metadata

LEDGER_TABLES = {"fund", "beneficiaries", "applications", "scores", "audit_log", "requests",
                 "beneficiary_audit",
                 "de_minimis_aid", "claims", "outbox"}


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_from_empty_to_head_and_back(empty_engine: Engine) -> None:
    assert _tables(empty_engine) == set()
    assert migrate.current_revision(empty_engine) is None
    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == migrate.head_revision(empty_engine)
    assert _tables(empty_engine) == LEDGER_TABLES
    with empty_engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        assert conn.execute(text("SELECT id, claims_paid_cents FROM fund")).all() == [(1, 0)]
    migrate.downgrade(empty_engine, "base")
    assert migrate.current_revision(empty_engine) is None
    assert _tables(empty_engine) == set()
    migrate.upgrade(empty_engine)  # and again: downgrade left nothing behind
    assert _tables(empty_engine) == LEDGER_TABLES


def test_audit_log_is_append_only(repo: Repository, engine: Engine) -> None:
    from tests.funding.storage.ledger_support import APPLICANT, guarantee_draft, rid

    app = repo.create(rid(), APPLICANT, guarantee_draft())
    assert not any(hasattr(repo, name) for name in
                   ("update_audit", "delete_audit", "delete", "update"))
    for statement in ("UPDATE audit_log SET reason = 'rewritten'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    assert [r.action for r in repo.audit_log(app.id)] == ["create"]


def test_existing_sectors_are_normalised_by_the_migration(empty_engine: Engine) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from services.funding.storage import tables as t

    migrate.upgrade(empty_engine, "0002_outbox_dead")
    now = datetime(2025, 3, 14, tzinfo=UTC)
    spellings = ["energy", "Energy", " ENERGY ", "Health\u3000 care", "ｅｎｅｒｇｙ"]
    with empty_engine.begin() as conn:
        conn.execute(insert(t.beneficiaries).values(business_id="0201256-6",
                                                    kind="public_unit", created_at=now))
        for i, sector in enumerate(spellings, start=1):
            conn.execute(insert(t.applications).values(
                id=i, kind="guarantee", state="approved", title="t", owner_id="o",
                business_id="0201256-6", beneficiary_kind="public_unit", sector=sector,
                branch="TEM", cost_lines=[], exposure_cents=100, created_at=now,
                updated_at=now))
    migrate.upgrade(empty_engine)
    with empty_engine.connect() as conn:
        stored = conn.execute(text("SELECT sector FROM applications ORDER BY id")).scalars()
        assert list(stored) == ["energy", "energy", "energy", "health care", "energy"]
    migrate.downgrade(empty_engine, "0002_outbox_dead")  # data stays, schema unchanged
    migrate.upgrade(empty_engine)
