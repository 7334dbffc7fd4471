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
