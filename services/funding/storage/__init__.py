"""Durable storage of the funding ledger (SQLAlchemy Core + Alembic): SQLite (WAL) under
``var/`` by default, PostgreSQL when a URL is configured.

    engine = make_engine(url)        # url None → var/funding.sqlite3
    upgrade(engine)                  # migrations to head, no alembic.ini needed
    repo = Repository(engine, ijh_rules=RulesCore(), incremental_risk=...)
    relay = OutboxRelay(engine, publish)   # publish: async (CloudEvent) -> None
"""

from services.funding.storage.engine import default_url, make_engine
from services.funding.storage.migrate import downgrade, upgrade
from services.funding.storage.outbox import OutboxRelay
from services.funding.storage.repository import EVENT_TYPES, Repository

__all__ = ["EVENT_TYPES", "OutboxRelay", "Repository", "default_url", "downgrade",
           "make_engine", "upgrade"]
