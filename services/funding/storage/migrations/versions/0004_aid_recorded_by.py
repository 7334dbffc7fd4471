"""De minimis aid: ``recorded_by`` names the officer who recorded the aid (or approved the
application it came from), so that a change to a company's de minimis room is explained
by the database itself, not only by the event that announced it.

Revision ID: 0004_aid_recorded_by
Revises: 0003_normalise_sector
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_aid_recorded_by"
down_revision = "0003_normalise_sector"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("de_minimis_aid") as batch:
        batch.add_column(sa.Column("recorded_by", sa.String(256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("de_minimis_aid") as batch:
        batch.drop_column("recorded_by")
