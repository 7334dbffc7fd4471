"""Outbox: ``dead_at`` marks an event the broker can never accept (e.g. above its maximum
payload), so that the relay skips it instead of blocking every later event.

Revision ID: 0002_outbox_dead
Revises: 0001_ledger
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_outbox_dead"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("dead_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("dead_at")
