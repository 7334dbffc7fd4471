"""Applications keep the date they were submitted (Helsinki calendar date): the rubric in
force then scores them, for every officer and at the decision (a rubric change between
the first sheet and the decision refused every later sheet and the approval). Applications
submitted before take it from their audit log's ``submit`` entry.

Revision ID: 0009_submitted_on
Revises: 0008_decision_rules_version
Create Date: 2026-12-01
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0009_submitted_on"
down_revision = "0008_decision_rules_version"
branch_labels = None
depends_on = None

HELSINKI = ZoneInfo("Europe/Helsinki")


def upgrade() -> None:
    op.add_column("applications", sa.Column("submitted_on", sa.Date, nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT application_id, min(at) AS at FROM audit_log WHERE action = 'submit' "
        "GROUP BY application_id")).all()
    for application_id, at in rows:
        if isinstance(at, str):  # SQLite hands the stored text back
            at = datetime.fromisoformat(at)
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        bind.execute(sa.text("UPDATE applications SET submitted_on = :on WHERE id = :id"),
                     {"on": at.astimezone(HELSINKI).date(), "id": application_id})


def downgrade() -> None:
    op.drop_column("applications", "submitted_on")
