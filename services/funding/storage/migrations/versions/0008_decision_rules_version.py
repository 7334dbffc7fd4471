"""Applications keep the rules version their decision applied (``decision_rules_version``):
``rules_version`` is overwritten by every later transition (an activation in January
relabelled a December approval's GGE with the next year's de minimis regulation).
Applications decided before take it from their audit log's approve/reject entry.

Revision ID: 0008_decision_rules_version
Revises: 0007_activated_on
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_decision_rules_version"
down_revision = "0007_activated_on"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("applications", sa.Column("decision_rules_version", sa.String(200),
                                            nullable=False, server_default=""))
    # One decision per application (approve and reject leave "scored" for good).
    op.execute(
        "UPDATE applications SET decision_rules_version = ("
        " SELECT a.rules_version FROM audit_log a WHERE a.application_id = applications.id"
        " AND a.action IN ('approve', 'reject') ORDER BY a.seq DESC LIMIT 1)"
        " WHERE EXISTS (SELECT 1 FROM audit_log a WHERE a.application_id = applications.id"
        " AND a.action IN ('approve', 'reject'))")


def downgrade() -> None:
    op.drop_column("applications", "decision_rules_version")
