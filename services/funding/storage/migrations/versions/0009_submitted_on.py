"""Applications keep the date they were submitted (Helsinki calendar date): the rubric in
force then scores them, for every officer and at the decision (a rubric change between
the first sheet and the decision refused every later sheet and the approval). Applications
submitted before take it from their audit log's ``submit`` entry.

Revision ID: 0009_submitted_on
Revises: 0008_decision_rules_version
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

from services.funding.storage.migrations.audit_dates import add_date_from_audit

revision = "0009_submitted_on"
down_revision = "0008_decision_rules_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_date_from_audit("submitted_on", "submit")


def downgrade() -> None:
    op.drop_column("applications", "submitted_on")
