"""Engines for the ledger: SQLite (WAL) under ``var/`` by default, PostgreSQL when a
database URL is configured.

Write transactions on SQLite start with ``BEGIN IMMEDIATE`` (the write lock is taken
up front, so check-then-write sequences such as an approval's capacity check cannot
interleave); reads may ask for a deferred ``BEGIN`` with
``execution_options(ijh_begin="DEFERRED")``. On PostgreSQL transactions run at READ
COMMITTED and the repository locks the rows it checks (``SELECT … FOR UPDATE``).

A PostgreSQL that does not answer is an error in bounded time, never a wait without end:
connecting gives up after ``PG_CONNECT_TIMEOUT_SECONDS`` and a statement (a lock wait
included) after ``PG_STATEMENT_TIMEOUT_MS``, as SQLite's busy timeout does; a URL that
sets ``connect_timeout``, or ``statement_timeout`` in its ``options``, keeps its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_SQLITE_PATH = REPO_ROOT / "var" / "funding.sqlite3"
SQLITE_BUSY_TIMEOUT_MS = 60_000
PG_CONNECT_TIMEOUT_SECONDS = 10
PG_STATEMENT_TIMEOUT_MS = 60_000


def default_url(path: Path = DEFAULT_SQLITE_PATH) -> str:
    """The embedded default: a SQLite file under ``var/`` (created if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite+pysqlite:///{path}"


def make_engine(url: str | None = None, *, pool_size: int = 10, echo: bool = False,
                connect_args: dict[str, Any] | None = None) -> Engine:
    """An engine for ``url`` (default: :func:`default_url`) set up for the ledger."""
    url = url or default_url()
    if url.startswith("sqlite"):
        engine = create_engine(
            url, echo=echo, pool_size=pool_size, max_overflow=pool_size,
            connect_args={"check_same_thread": False,
                          "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, **(connect_args or {})})
        _configure_sqlite(engine)
        return engine
    return create_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size,
                         pool_pre_ping=True, connect_args=_postgres_args(url, connect_args))


def _postgres_args(url: str, connect_args: dict[str, Any] | None) -> dict[str, Any]:
    """``connect_args`` with the timeouts added (libpq parameters), unless the URL or
    ``connect_args`` set them already; ``options`` from either are kept."""
    args = dict(connect_args or {})
    parsed = make_url(url)
    if not parsed.get_driver_name().startswith("psycopg"):  # not libpq: its own settings
        return args
    query = parsed.query
    if "connect_timeout" not in query:
        args.setdefault("connect_timeout", PG_CONNECT_TIMEOUT_SECONDS)
    options = args.get("options", query.get("options", ""))
    options = options if isinstance(options, str) else " ".join(options)
    if "statement_timeout" not in options:
        args["options"] = f"{options} -c statement_timeout={PG_STATEMENT_TIMEOUT_MS}".strip()
    return args


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit BEGIN is DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # a committed change survives a crash
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get("ijh_begin", "IMMEDIATE")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


class ReadTransaction:
    """A read-only transaction: deferred BEGIN on SQLite (no write lock, so readers never
    queue behind a decision), REPEATABLE READ on PostgreSQL (one snapshot for all the
    reads of an operation). Rolled back on exit."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def __enter__(self) -> Connection:
        self.conn = self.engine.connect()
        if is_sqlite(self.engine):
            self.conn.execution_options(ijh_begin="DEFERRED")
        else:
            self.conn.execution_options(isolation_level="REPEATABLE READ")
        self.tx = self.conn.begin()
        return self.conn

    def __exit__(self, *exc: Any) -> None:
        try:
            self.tx.rollback()
        finally:
            self.conn.close()
