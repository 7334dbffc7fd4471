"""The de minimis register is append-only: a wrong entry is corrected by a new row that
reverses it (``reverses_id``, ``reason``), never by UPDATE or DELETE, which triggers now
refuse on SQLite and PostgreSQL as they do on ``audit_log``. ``beneficiary_audit`` is
the audit log of what officers do to a beneficiary's record outside any application.

Revision ID: 0005_aid_register
Revises: 0004_aid_recorded_by
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_aid_register"
down_revision = "0004_aid_recorded_by"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TABLES = ("de_minimis_aid", "beneficiary_audit")


def _postgresql_triggers(table: str) -> str:
    return f"""
CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{table} is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION {table}_append_only();
CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only();
"""


def _sqlite_triggers(table: str) -> tuple[str, ...]:
    return tuple(f"CREATE TRIGGER {table}_no_{op_} BEFORE {op_.upper()} ON {table} "
                 f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                 for op_ in ("update", "delete"))


def upgrade() -> None:
    with op.batch_alter_table("de_minimis_aid") as batch:
        batch.add_column(sa.Column("reverses_id", Seq, nullable=True))
        batch.add_column(sa.Column("reason", sa.Text, nullable=True))
        batch.create_foreign_key("fk_de_minimis_aid_reverses_id_de_minimis_aid",
                                 "de_minimis_aid", ["reverses_id"], ["id"])
        batch.create_unique_constraint("uq_de_minimis_aid_reverses_id", ["reverses_id"])
    op.create_table(
        "beneficiary_audit",
        sa.Column("seq", Seq, autoincrement=True, nullable=False),
        sa.Column("business_id", sa.String(9), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor_id", sa.String(200), nullable=False),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("inputs", sa.JSON, nullable=False),
        sa.Column("trace", sa.JSON, nullable=False),
        sa.ForeignKeyConstraint(["business_id"], ["beneficiaries.business_id"],
                                name="fk_beneficiary_audit_business_id_beneficiaries"),
        sa.PrimaryKeyConstraint("seq", name="pk_beneficiary_audit"),
    )
    op.create_index("ix_beneficiary_audit_business_id", "beneficiary_audit", ["business_id"])
    dialect = op.get_bind().dialect.name
    for table in _TABLES:
        if dialect == "postgresql":
            op.execute(_postgresql_triggers(table))
        elif dialect == "sqlite":
            for statement in _sqlite_triggers(table):
                op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    # Before 0005 every register row counts: a correction would turn into aid, and the
    # audit of who corrected what would be lost. Refuse rather than lose it silently.
    corrections = bind.execute(sa.text(
        "SELECT count(*) FROM de_minimis_aid WHERE reverses_id IS NOT NULL")).scalar_one()
    audited = bind.execute(sa.text("SELECT count(*) FROM beneficiary_audit")).scalar_one()
    if corrections or audited:
        raise RuntimeError(
            f"downgrade below 0005 refused: {corrections} de minimis correction rows and "
            f"{audited} beneficiary audit rows would be lost (a correction would count as "
            "aid); export them and remove them by hand first if this is really wanted")
    dialect = bind.dialect.name
    for table in _TABLES:
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
        elif dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    op.drop_index("ix_beneficiary_audit_business_id", table_name="beneficiary_audit")
    op.drop_table("beneficiary_audit")
    with op.batch_alter_table("de_minimis_aid") as batch:
        batch.drop_constraint("uq_de_minimis_aid_reverses_id", type_="unique")
        batch.drop_constraint("fk_de_minimis_aid_reverses_id_de_minimis_aid",
                              type_="foreignkey")
        batch.drop_column("reason")
        batch.drop_column("reverses_id")
