"""Funding while its PostgreSQL does not answer, on real processes: the database is
reached through a TCP link the test cuts, either silently (connections accepted, never
answered: a hung server, a host behind a dropping firewall) or outright (nothing
listens: connection refused)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from services.embedded import ServiceProcess
from services.funding.storage import engine as ledger_engine
from services.shared.nats_server import free_port
from tests.funding.ledger_api_support import fresh_postgres_database, postgres_available
from tests.funding.storage.ledger_support import PG_URL
from tests.stack import caller_key_env

pytestmark = pytest.mark.skipif(not postgres_available(), reason="PostgreSQL not reachable")


class DatabaseLink:
    """Forwards 127.0.0.1:``port`` to ``target`` until :meth:`silence` (every connection
    dropped; new ones accepted and never answered) or :meth:`refuse` (nothing listens)."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.port = self.listener.getsockname()[1]
        self.silent = False
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # refused: the listener is closed
            with self.lock:
                self.sockets.append(client)
                if self.silent:
                    continue  # held open, never read nor answered
                server = socket.create_connection(self.target)
                self.sockets.append(server)
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_RDWR)

    def _drop_all(self) -> None:
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self.sockets.clear()

    def silence(self) -> None:
        with self.lock:
            self.silent = True
            self._drop_all()

    def refuse(self) -> None:
        with self.lock:
            self.listener.close()
            self._drop_all()


@pytest.fixture
def database_link() -> Iterator[tuple[DatabaseLink, str]]:
    """A fresh database, and its URL through a link the test can cut."""
    with fresh_postgres_database() as url:
        parsed = make_url(url)
        link = DatabaseLink((parsed.host or "127.0.0.1", parsed.port or 5432))
        yield link, parsed.set(host="127.0.0.1", port=link.port).render_as_string(
            hide_password=False)
        link.refuse()


def _funding(tmp_path: Path, nats_url: str, database_url: str) -> tuple[ServiceProcess, str]:
    address, metrics = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    env = {"IJH_VAR_DIR": str(tmp_path), "IJH_FUNDING_ADDRESS": address,
           "IJH_FUNDING_METRICS_ADDRESS": metrics, "IJH_NATS_URL": nats_url,
           "IJH_DATABASE_URL": database_url, "IJH_DRAIN_SECONDS": "0",
           "IJH_GRACE_SECONDS": "1", **caller_key_env(tmp_path)}
    return ServiceProcess("funding", address, env, tmp_path / "funding.log"), metrics


def _scrape(address: str) -> dict[str, float]:
    """The unlabelled samples of one scrape, which must answer within 5 s."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as answer:
        assert answer.status == 200
        text = answer.read().decode()
    return {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
            if line and not line.startswith("#") and "{" not in line}


@pytest.mark.timeout(120)
def test_metrics_answer_while_the_database_does_not(nats_server, database_link, tmp_path):
    link, url = database_link
    funding, metrics = _funding(tmp_path, nats_server.url, url)
    funding.start()
    try:
        funding.wait_serving()
        before = _scrape(metrics)
        assert before["ijh_outbox_backlog"] == 0 and before["ijh_outbox_dead"] == 0
        assert before["ijh_nats_connected"] == 1
        link.silence()
        silent = _scrape(metrics)  # answered from the relay's last count, not the database
        assert silent["ijh_nats_connected"] == 1 and silent["ijh_outbox_backlog"] == 0
        assert abs(silent["ijh_outbox_counted_timestamp_seconds"] - time.time()) < 30
        time.sleep(6)  # more than the relay's count interval: no new count can be read
        later = _scrape(metrics)
        assert later["ijh_outbox_counted_timestamp_seconds"] == \
            silent["ijh_outbox_counted_timestamp_seconds"], "a stale count must show as stale"
        link.refuse()
        refused = _scrape(metrics)
        assert refused["ijh_nats_connected"] == 1
        assert refused["ijh_outbox_counted_timestamp_seconds"] == \
            silent["ijh_outbox_counted_timestamp_seconds"]
    finally:
        funding.stop()


def test_connecting_to_a_database_that_never_answers_fails_in_bounded_time(monkeypatch):
    monkeypatch.setattr(ledger_engine, "PG_CONNECT_TIMEOUT_SECONDS", 2)  # libpq's least
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        engine = ledger_engine.make_engine(
            f"postgresql+psycopg://postgres@127.0.0.1:{silent.getsockname()[1]}/test")
        outcome: list[BaseException] = []

        def connect() -> None:
            try:
                engine.connect().close()
            except BaseException as exc:  # handed to the test
                outcome.append(exc)

        started = time.monotonic()
        trying = threading.Thread(target=connect, daemon=True)
        trying.start()
        trying.join(15)
        assert not trying.is_alive(), "still connecting to a database that never answers"
        assert time.monotonic() - started < 10
        assert isinstance(outcome[0], OperationalError), outcome
        assert "timeout" in str(outcome[0])
        engine.dispose()


def test_a_statement_is_bounded_and_settings_of_the_url_or_caller_are_kept():
    def setting(engine, name: str) -> str:
        with engine.connect() as conn:
            return conn.execute(text(f"SHOW {name}")).scalar_one()

    plain = ledger_engine.make_engine(PG_URL)
    assert setting(plain, "statement_timeout") == "1min"
    # Options of the caller (the tests' schemas) are kept beside the timeout.
    caller = ledger_engine.make_engine(PG_URL, connect_args={"options": "-csearch_path=x"})
    assert (setting(caller, "search_path"), setting(caller, "statement_timeout")) == \
        ("x", "1min")
    own = ledger_engine.make_engine(PG_URL + "?options=-cstatement_timeout%3D5s")
    assert setting(own, "statement_timeout") == "5s"  # the URL's own choice
    for engine in (plain, caller, own):
        engine.dispose()
