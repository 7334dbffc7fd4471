"""What two migrations share (0007 ``activated_on``, 0009 ``submitted_on``): a date column
on ``applications`` filled, for rows that have one, from the first audit-log entry of an
action, as its Helsinki calendar date. Used by migrations only: kept as they ran."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

HELSINKI = ZoneInfo("Europe/Helsinki")


def add_date_from_audit(column: str, action: str) -> None:
    """Add the nullable Date ``column`` and fill it from the ``action`` entries."""
    op.add_column("applications", sa.Column(column, sa.Date, nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT application_id, min(at) AS at FROM audit_log WHERE action = :action "
        "GROUP BY application_id"), {"action": action}).all()
    for application_id, at in rows:
        if isinstance(at, str):  # SQLite hands the stored text back
            at = datetime.fromisoformat(at)
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        bind.execute(sa.text(f"UPDATE applications SET {column} = :on WHERE id = :id"),
                     {"on": at.astimezone(HELSINKI).date(), "id": application_id})
