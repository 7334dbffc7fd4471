"""Funding ledger: fund, beneficiaries, applications, scores, audit log (append-only),
requests (idempotency), de minimis aid, claims, outbox.

Revision ID: 0001_ledger
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_ledger"
down_revision = None
branch_labels = None
depends_on = None

Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)

_PG_APPEND_ONLY = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
"""

_SQLITE_APPEND_ONLY = (
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
)


def upgrade() -> None:
    fund = op.create_table(
        "fund",
        sa.Column("id", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("claims_paid_cents", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("updated_at", TS, nullable=True),
        sa.CheckConstraint("claims_paid_cents >= 0", name="ck_fund_claims_paid_nonnegative"),
        sa.PrimaryKeyConstraint("id", name="pk_fund"),
    )
    op.bulk_insert(fund, [{"id": 1, "claims_paid_cents": 0}])
    op.create_table(
        "beneficiaries",
        sa.Column("business_id", sa.String(9), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(500), nullable=False, server_default=""),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("business_id", name="pk_beneficiaries"),
    )
    op.create_table(
        "applications",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("owner_id", sa.String(200), nullable=False),
        sa.Column("business_id", sa.String(9), nullable=False),
        sa.Column("beneficiary_kind", sa.String(16), nullable=False),
        sa.Column("beneficiary_name", sa.String(500), nullable=False, server_default=""),
        sa.Column("sector", sa.String(100), nullable=False),
        sa.Column("branch", sa.String(3), nullable=False),
        sa.Column("procurement_kind", sa.String(64), nullable=False, server_default=""),
        sa.Column("applicant_kind", sa.String(64), nullable=False, server_default=""),
        sa.Column("amount_cents", sa.BigInteger, nullable=True),
        sa.Column("guarantee_rate", sa.String(32), nullable=True),
        sa.Column("cap_cents", sa.BigInteger, nullable=True),
        sa.Column("fee_rate", sa.String(32), nullable=True),
        sa.Column("term_months", sa.Integer, nullable=True),
        sa.Column("rating_class", sa.String(8), nullable=True),
        sa.Column("cost_lines", sa.JSON, nullable=False),
        sa.Column("exposure_cents", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("grant_cents", sa.BigInteger, nullable=True),
        sa.Column("grant_trace", sa.JSON, nullable=True),
        sa.Column("gge_cents", sa.BigInteger, nullable=True),
        sa.Column("gge_trace", sa.JSON, nullable=True),
        sa.Column("aid_granted_on", sa.Date, nullable=True),
        sa.Column("claim_paid_cents", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("rules_version", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.CheckConstraint("exposure_cents >= 0", name="ck_applications_exposure_nonnegative"),
        sa.ForeignKeyConstraint(["business_id"], ["beneficiaries.business_id"],
                                name="fk_applications_business_id_beneficiaries"),
        sa.PrimaryKeyConstraint("id", name="pk_applications"),
    )
    for cols in (["kind"], ["state"], ["owner_id"], ["business_id"],
                 ["kind", "state", "sector"]):
        op.create_index("ix_applications_" + "_".join(cols), "applications", cols)
    op.create_table(
        "scores",
        sa.Column("id", Seq, autoincrement=True, nullable=False),
        sa.Column("application_id", sa.Integer, nullable=False),
        sa.Column("officer_id", sa.String(200), nullable=False),
        sa.Column("criteria", sa.JSON, nullable=False),
        sa.Column("total", sa.String(32), nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("rules_version", sa.String(200), nullable=False),
        sa.Column("trace", sa.JSON, nullable=False),
        sa.Column("scored_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"],
                                name="fk_scores_application_id_applications"),
        sa.PrimaryKeyConstraint("id", name="pk_scores"),
        sa.UniqueConstraint("application_id", "officer_id",
                            name="uq_scores_application_id_officer_id"),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", Seq, autoincrement=True, nullable=False),
        sa.Column("application_id", sa.Integer, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.String(200), nullable=False),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("rules_version", sa.String(200), nullable=False, server_default=""),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("inputs", sa.JSON, nullable=False),
        sa.Column("trace", sa.JSON, nullable=False),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"],
                                name="fk_audit_log_application_id_applications"),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_application_id", "audit_log", ["application_id"])
    op.create_table(
        "requests",
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("application_id", sa.Integer, nullable=True),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("request_id", name="pk_requests"),
    )
    op.create_table(
        "de_minimis_aid",
        sa.Column("id", Seq, autoincrement=True, nullable=False),
        sa.Column("business_id", sa.String(9), nullable=False),
        sa.Column("granted_on", sa.Date, nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("reference", sa.String(500), nullable=False),
        sa.Column("application_id", sa.Integer, nullable=True),
        sa.Column("recorded_at", TS, nullable=False),
        sa.CheckConstraint("amount_cents >= 0", name="ck_de_minimis_aid_aid_nonnegative"),
        sa.ForeignKeyConstraint(["business_id"], ["beneficiaries.business_id"],
                                name="fk_de_minimis_aid_business_id_beneficiaries"),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"],
                                name="fk_de_minimis_aid_application_id_applications"),
        sa.PrimaryKeyConstraint("id", name="pk_de_minimis_aid"),
    )
    op.create_index("ix_de_minimis_aid_business_id", "de_minimis_aid", ["business_id"])
    op.create_table(
        "claims",
        sa.Column("id", Seq, autoincrement=True, nullable=False),
        sa.Column("application_id", sa.Integer, nullable=False),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("paid_on", sa.Date, nullable=False),
        sa.Column("actor_id", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("at", TS, nullable=False),
        sa.CheckConstraint("amount_cents > 0", name="ck_claims_claim_positive"),
        sa.ForeignKeyConstraint(["application_id"], ["applications.id"],
                                name="fk_claims_application_id_applications"),
        sa.PrimaryKeyConstraint("id", name="pk_claims"),
        sa.UniqueConstraint("application_id", name="uq_claims_application_id"),
    )
    op.create_table(
        "outbox",
        sa.Column("seq", Seq, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("envelope", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_outbox"),
        sa.UniqueConstraint("event_id", name="uq_outbox_event_id"),
    )
    op.create_index("ix_outbox_pending", "outbox", ["sent_at", "seq"])

    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(_PG_APPEND_ONLY)
    elif dialect == "sqlite":
        for statement in _SQLITE_APPEND_ONLY:
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    elif dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    for table in ("outbox", "claims", "de_minimis_aid", "requests", "audit_log", "scores",
                  "applications", "beneficiaries", "fund"):
        op.drop_table(table)
