"""Guarantees keep the date they were activated (Helsinki calendar date), from which
their term runs: expiry is refused before activated_on + term_months. Guarantees
activated before take it from their audit log's ``activate`` entry.

Revision ID: 0007_activated_on
Revises: 0006_beneficiary_kind_confirmed
Create Date: 2026-11-30
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0007_activated_on"
down_revision = "0006_beneficiary_kind_confirmed"
branch_labels = None
depends_on = None

HELSINKI = ZoneInfo("Europe/Helsinki")


def upgrade() -> None:
    op.add_column("applications", sa.Column("activated_on", sa.Date, nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT application_id, min(at) AS at FROM audit_log WHERE action = 'activate' "
        "GROUP BY application_id")).all()
    for application_id, at in rows:
        if isinstance(at, str):  # SQLite hands the stored text back
            at = datetime.fromisoformat(at)
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        bind.execute(sa.text("UPDATE applications SET activated_on = :on WHERE id = :id"),
                     {"on": at.astimezone(HELSINKI).date(), "id": application_id})


def downgrade() -> None:
    op.drop_column("applications", "activated_on")
