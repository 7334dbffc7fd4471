"""Guarantees keep the date they were activated (Helsinki calendar date), from which
their term runs: expiry is refused before activated_on + term_months. Guarantees
activated before take it from their audit log's ``activate`` entry.

Revision ID: 0007_activated_on
Revises: 0006_beneficiary_kind_confirmed
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

from services.funding.storage.migrations.audit_dates import add_date_from_audit

revision = "0007_activated_on"
down_revision = "0006_beneficiary_kind_confirmed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_date_from_audit("activated_on", "activate")


def downgrade() -> None:
    op.drop_column("applications", "activated_on")
