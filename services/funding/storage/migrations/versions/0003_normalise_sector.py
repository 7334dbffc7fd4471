"""Data: store every application's sector in its normalised form (Unicode NFKC,
case-folded, internal whitespace collapsed, stripped), as the repository now writes it,
so that ``'energy'``, ``'Energy'`` and ``'ENERGY '`` group as one sector and the
concentration limit applies across spelling variants.

The downgrade leaves the data as it is: the original spellings are not kept (the audit
log's create inputs still hold each request as sent).

Revision ID: 0003_normalise_sector
Revises: 0002_outbox_dead
Create Date: 2026-12-01
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0003_normalise_sector"
down_revision = "0002_outbox_dead"
branch_labels = None
depends_on = None


def _normalise(sector: str) -> str:
    # A copy of services.funding.ledger.validation.normalise_sector as of this revision:
    # a migration must not change when the code does.
    return " ".join(unicodedata.normalize("NFKC", sector).casefold().split())


def upgrade() -> None:
    applications = sa.table("applications", sa.column("id", sa.Integer),
                            sa.column("sector", sa.String(100)))
    bind = op.get_bind()
    rows = bind.execute(sa.select(applications.c.id, applications.c.sector)).all()
    for app_id, sector in rows:
        normal = _normalise(sector)[:100]
        if normal != sector:
            bind.execute(sa.update(applications).where(applications.c.id == app_id)
                         .values(sector=normal))


def downgrade() -> None:
    pass
