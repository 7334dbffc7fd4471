"""The funding ledger's tables (SQLAlchemy Core). The Alembic migrations under
``migrations/versions`` create exactly these; a test compares the two.

Money columns are BIGINT cents; rates are stored as decimal *text* (exact on SQLite
and PostgreSQL alike); traces and inputs are JSON.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

#: BIGINT on PostgreSQL, INTEGER (the rowid alias, so autoincrementing) on SQLite.
Seq = BigInteger().with_variant(Integer(), "sqlite")
TS = DateTime(timezone=True)

FUND_ID = 1

fund = Table(
    "fund", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("claims_paid_cents", BigInteger, nullable=False, server_default="0"),
    Column("updated_at", TS, nullable=True),
    CheckConstraint("claims_paid_cents >= 0", name="claims_paid_nonnegative"),
)

beneficiaries = Table(
    "beneficiaries", metadata,
    Column("business_id", String(9), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("name", String(500), nullable=False, server_default=""),
    Column("created_at", TS, nullable=False),
    # Who confirmed ``kind``: the officer who approved an application for this business
    # ID, recorded its de minimis aid or corrected the kind. Empty while the kind is only
    # what a create request declared: that fixes nothing (migration 0006).
    Column("kind_confirmed_by", String(200), nullable=True),
)

applications = Table(
    "applications", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False, index=True),
    Column("state", String(16), nullable=False, index=True),
    Column("title", String(500), nullable=False),
    Column("owner_id", String(200), nullable=False, index=True),
    Column("business_id", String(9), ForeignKey("beneficiaries.business_id"), nullable=False,
           index=True),
    Column("beneficiary_kind", String(16), nullable=False),
    Column("beneficiary_name", String(500), nullable=False, server_default=""),
    Column("sector", String(100), nullable=False),
    Column("branch", String(3), nullable=False),
    Column("procurement_kind", String(64), nullable=False, server_default=""),
    Column("applicant_kind", String(64), nullable=False, server_default=""),
    Column("amount_cents", BigInteger, nullable=True),
    Column("guarantee_rate", String(32), nullable=True),
    Column("cap_cents", BigInteger, nullable=True),
    Column("fee_rate", String(32), nullable=True),
    Column("term_months", Integer, nullable=True),
    Column("rating_class", String(8), nullable=True),
    Column("cost_lines", JSON, nullable=False),
    Column("exposure_cents", BigInteger, nullable=False, server_default="0"),
    Column("grant_cents", BigInteger, nullable=True),
    Column("grant_trace", JSON, nullable=True),
    Column("gge_cents", BigInteger, nullable=True),
    Column("gge_trace", JSON, nullable=True),
    Column("aid_granted_on", Date, nullable=True),
    # Guarantees: the date (Helsinki) it was activated; its term runs from then, so it
    # cannot be expired before activated_on + term_months (migration 0007).
    Column("activated_on", Date, nullable=True),
    # The date (Helsinki) it was submitted: the rubric in force then scores it, for every
    # officer and at the decision (migration 0009).
    Column("submitted_on", Date, nullable=True),
    Column("claim_paid_cents", BigInteger, nullable=False, server_default="0"),
    Column("rules_version", String(200), nullable=False, server_default=""),
    # The rules version the decision (approve/reject) applied; later transitions keep it
    # (migration 0008; "" before the decision).
    Column("decision_rules_version", String(200), nullable=False, server_default=""),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    CheckConstraint("exposure_cents >= 0", name="exposure_nonnegative"),
    Index(None, "kind", "state", "sector"),
)

scores = Table(
    "scores", metadata,
    Column("id", Seq, primary_key=True, autoincrement=True),
    Column("application_id", Integer, ForeignKey("applications.id"), nullable=False),
    Column("officer_id", String(200), nullable=False),
    Column("criteria", JSON, nullable=False),
    Column("total", String(32), nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("rules_version", String(200), nullable=False),
    Column("trace", JSON, nullable=False),
    Column("scored_at", TS, nullable=False),
    UniqueConstraint("application_id", "officer_id"),
)

audit_log = Table(
    "audit_log", metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("application_id", Integer, ForeignKey("applications.id"), nullable=False,
           index=True),
    Column("action", String(16), nullable=False),
    Column("from_state", String(16), nullable=True),
    Column("to_state", String(16), nullable=False),
    Column("actor_id", String(200), nullable=False),
    Column("actor_role", String(16), nullable=False),
    Column("at", TS, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("rules_version", String(200), nullable=False, server_default=""),
    Column("request_id", String(200), nullable=False),
    Column("inputs", JSON, nullable=False),
    Column("trace", JSON, nullable=False),
)

requests = Table(
    "requests", metadata,
    Column("request_id", String(200), primary_key=True),
    Column("operation", String(32), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("application_id", Integer, nullable=True),
    Column("result", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
)

de_minimis_aid = Table(
    "de_minimis_aid", metadata,
    Column("id", Seq, primary_key=True, autoincrement=True),
    Column("business_id", String(9), ForeignKey("beneficiaries.business_id"), nullable=False,
           index=True),
    Column("granted_on", Date, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("reference", String(500), nullable=False),
    Column("application_id", Integer, ForeignKey("applications.id"), nullable=True),
    Column("recorded_at", TS, nullable=False),
    # The officer who recorded it (or approved the application it came from); empty only
    # on rows written before migration 0004.
    Column("recorded_by", String(256), nullable=True),
    # A correction is a new row reversing an earlier one (same business ID, never an
    # UPDATE: the table is append-only by trigger, migration 0005); neither counts then.
    Column("reverses_id", Seq, ForeignKey("de_minimis_aid.id"), nullable=True, unique=True),
    # Why the row was corrected (a reversing row only).
    Column("reason", Text, nullable=True),
    CheckConstraint("amount_cents >= 0", name="aid_nonnegative"),
)

#: Append-only (triggers, migration 0005): what officers did to a beneficiary's record
#: outside any application (aid recorded or corrected, its kind corrected), as audit_log
#: is for applications.
beneficiary_audit = Table(
    "beneficiary_audit", metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("business_id", String(9), ForeignKey("beneficiaries.business_id"), nullable=False,
           index=True),
    Column("action", String(32), nullable=False),
    Column("actor_id", String(200), nullable=False),
    Column("actor_role", String(16), nullable=False),
    Column("at", TS, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("request_id", String(200), nullable=False),
    Column("inputs", JSON, nullable=False),
    Column("trace", JSON, nullable=False),
)

claims = Table(
    "claims", metadata,
    Column("id", Seq, primary_key=True, autoincrement=True),
    Column("application_id", Integer, ForeignKey("applications.id"), nullable=False,
           unique=True),
    Column("amount_cents", BigInteger, nullable=False),
    Column("paid_on", Date, nullable=False),
    Column("actor_id", String(200), nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("at", TS, nullable=False),
    CheckConstraint("amount_cents > 0", name="claim_positive"),
)

outbox = Table(
    "outbox", metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("type", String(200), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("envelope", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("sent_at", TS, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=True),
    # Set when the broker can never accept the event (e.g. above its maximum payload):
    # the relay skips the row (logged at ERROR) instead of retrying it forever.
    Column("dead_at", TS, nullable=True),
    Index("ix_outbox_pending", "sent_at", "seq"),
)
