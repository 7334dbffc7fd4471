"""A beneficiary's kind is fixed by an officer, not by the first create request that
named its business ID: ``kind_confirmed_by`` names the officer who approved an
application for it, recorded its de minimis aid or corrected the kind. Rows written
before are confirmed where the ledger already decided so: a business ID with de minimis
aid is a company; one with an application approved (or later) as its registered kind is
that kind.

Revision ID: 0006_beneficiary_kind_confirmed
Revises: 0005_aid_register
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_beneficiary_kind_confirmed"
down_revision = "0005_aid_register"
branch_labels = None
depends_on = None

BY_MIGRATION = "migration 0006"


def upgrade() -> None:
    with op.batch_alter_table("beneficiaries") as batch:
        batch.add_column(sa.Column("kind_confirmed_by", sa.String(200), nullable=True))
    op.execute(sa.text(
        "UPDATE beneficiaries SET kind = 'company', kind_confirmed_by = :by "
        "WHERE EXISTS (SELECT 1 FROM de_minimis_aid d "
        "WHERE d.business_id = beneficiaries.business_id)").bindparams(by=BY_MIGRATION))
    op.execute(sa.text(
        "UPDATE beneficiaries SET kind_confirmed_by = :by "
        "WHERE kind_confirmed_by IS NULL AND EXISTS (SELECT 1 FROM applications a "
        "WHERE a.business_id = beneficiaries.business_id "
        "AND a.beneficiary_kind = beneficiaries.kind "
        "AND a.state IN ('approved', 'active', 'claimed', 'expired'))"
    ).bindparams(by=BY_MIGRATION))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN on both (SQLite >= 3.35): a batch copy of the table
    # would drop it, which the applications referring to it forbid.
    op.drop_column("beneficiaries", "kind_confirmed_by")
