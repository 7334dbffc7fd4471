"""Fixtures for the ledger's storage tests: every test runs on SQLite (a WAL file in
tmp_path) and on PostgreSQL (a fresh schema per test), migrated to head."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from services.funding.storage import migrate
from services.funding.storage.engine import make_engine
from services.funding.storage.repository import Repository
from tests.funding.storage.ledger_support import PG_URL, Clock, FakeRules, roomy_rules


def _pg_available() -> bool:
    try:
        eng = create_engine(PG_URL)
        with eng.connect():
            pass
        eng.dispose()
        return True
    except OperationalError:
        return False


_PG = _pg_available()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql" and not _PG:
        pytest.skip("PostgreSQL not reachable at " + PG_URL)
    return request.param


@pytest.fixture
def empty_engine(backend: str, tmp_path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """An engine on an empty database (SQLite file, or a fresh PostgreSQL schema)."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite+pysqlite:///{tmp_path / 'ledger.sqlite3'}", pool_size=60)
        yield engine
        engine.dispose()
        return
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    # synchronous_commit=off only speeds the tests up; it changes no visibility rule.
    options = f"-csearch_path={schema} -csynchronous_commit=off"
    engine = make_engine(PG_URL, pool_size=30, connect_args={"options": options})
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def engine(empty_engine: Engine) -> Engine:
    migrate.upgrade(empty_engine)
    return empty_engine


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2025, 3, 14, 10, 0, tzinfo=UTC))


@pytest.fixture
def rules_box() -> dict[str, object]:
    """Mutable rule overrides: tests set keys that ``repo``'s fund rules apply."""
    return {}


@pytest.fixture
def repo(engine: Engine, clock: Clock, rules_box: dict[str, object]) -> Repository:
    return Repository(engine, ijh_rules=FakeRules(),
                      fund_rules=lambda on: roomy_rules(on, **rules_box), clock=clock)


@pytest.fixture
def real_repo(engine: Engine, clock: Clock) -> Repository:
    """A repository under the real IJH rules core (and the roomy fund rules)."""
    from services.funding.ledger.ijh_rules import RulesCore
    return Repository(engine, ijh_rules=RulesCore(), fund_rules=roomy_rules, clock=clock)
