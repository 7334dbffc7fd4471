"""Events without loss: each state change writes its CloudEvent in the same transaction;
the relay publishes in order, marks sent only after publish returns, and retries with
the same event id when publish fails."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nats.errors import MaxPayloadError
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import Engine, select, text
from typer.testing import CliRunner

from services.funding.ledger.model import Decision
from services.funding.storage import migrate, outbox_admin
from services.funding.storage import tables as t
from services.funding.storage.engine import make_engine
from services.funding.storage.outbox import OutboxRelay, dead_events
from services.funding.storage.repository import EVENT_SOURCE, Repository
from services.shared import metrics
from services.shared.cloudevents import CloudEvent
from services.shared.errors import FailedPrecondition
from services.shared.events import EventPublisher
from services.shared.nats_server import NatsServer
from tests.funding.storage.ledger_support import (
    APPLICANT,
    GOOD,
    OFFICER_A,
    OFFICER_B,
    counts,
    guarantee_draft,
    rid,
    to_term_end,
)


def _outbox(engine: Engine) -> list[CloudEvent]:
    with engine.connect() as conn:
        rows = conn.execute(select(t.outbox.c.envelope).order_by(t.outbox.c.seq)).all()
    return [CloudEvent.from_json_bytes(r.envelope.encode()) for r in rows]


def _lifecycle(repo: Repository) -> int:
    app = repo.create(rid(), APPLICANT, guarantee_draft())
    repo.submit(rid(), APPLICANT, app.id)
    repo.score(rid(), OFFICER_A, app.id, GOOD)
    repo.decide(rid(), OFFICER_B, app.id, Decision.APPROVE, "ok")
    repo.activate(rid(), OFFICER_B, app.id)
    to_term_end(repo, app.id)
    repo.expire(rid(), OFFICER_B, app.id)
    return app.id


def test_every_state_change_writes_one_event(repo: Repository, engine: Engine) -> None:
    app_id = _lifecycle(repo)
    events = _outbox(engine)
    assert [e.type for e in events] == [
        "ijh.funding.application.created", "ijh.funding.application.submitted",
        "ijh.funding.application.scored", "ijh.funding.application.approved",
        "ijh.funding.guarantee.activated", "ijh.funding.guarantee.expired"]
    assert {e.subject for e in events} == {f"applications/{app_id}"}
    assert {e.source for e in events} == {EVENT_SOURCE} == {"ijh/funding"}
    assert [e.data["state"] for e in events] == \
        ["draft", "submitted", "scored", "approved", "active", "expired"]
    approved = events[3].data
    # The proto JSON form of ApplicationStateChanged, as every service's events: 64-bit
    # integers as strings, every field present, no nulls.
    assert (approved["actor_id"], approved["exposure_cents"], approved["gge_cents"]) == \
        ("officer-b", "50000000", "6666667")
    created = events[0].data
    assert (created["application_id"], created["from_state"], created["action"]) == \
        (str(app_id), "", "create")
    assert None not in created.values() and "grant_cents" not in created
    assert created["at"].endswith("Z") and created["at"] == events[0].time
    assert len({e.id for e in events}) == 6


def test_event_and_state_change_share_one_transaction(repo: Repository, engine: Engine,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    app = repo.create(rid(), APPLICANT, guarantee_draft())
    before = counts(engine)

    def broken_emit(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("outbox insert failed")

    monkeypatch.setattr(repo, "_emit", broken_emit)
    with pytest.raises(RuntimeError):
        repo.submit(rid(), APPLICANT, app.id)
    assert counts(engine) == before            # no state change without its event
    assert repo.get(app.id).state.value == "draft"
    monkeypatch.undo()
    with pytest.raises(FailedPrecondition):    # and no event without its state change
        repo.activate(rid(), OFFICER_B, app.id)
    assert counts(engine) == before


class FlakyBroker:
    """Stores messages by id (as JetStream does with Nats-Msg-Id) and fails on the
    calls listed in ``fail_on`` (1-based call numbers)."""

    def __init__(self, fail_on: set[int]):
        self.fail_on = fail_on
        self.calls = 0
        self.attempted: list[str] = []
        self.stored: dict[str, CloudEvent] = {}
        self.order: list[str] = []

    async def publish(self, event: CloudEvent) -> None:
        self.calls += 1
        self.attempted.append(event.id)
        if self.calls in self.fail_on:
            raise TimeoutError("nats: timeout")
        if event.id not in self.stored:  # duplicate ids are dropped
            self.stored[event.id] = event
            self.order.append(event.id)


async def test_relay_delivers_each_event_once_in_order_despite_failures(
        repo: Repository, engine: Engine) -> None:
    _lifecycle(repo)
    expected = [e.id for e in _outbox(engine)]
    broker = FlakyBroker(fail_on={1, 2, 5})
    relay = OutboxRelay(engine, broker.publish, batch_size=4)
    assert await relay.run_once() == 0           # broker down: nothing marked sent
    assert await relay.pending_count() == 6
    assert await relay.run_once() == 0
    assert await relay.run_once() == 2           # third call fails, after two sent
    assert await relay.run_once() == 4
    assert await relay.pending_count() == 0
    assert broker.order == expected              # each once, in commit order
    # The failed attempts were retried with the same ids, never new ones.
    assert set(broker.attempted) == set(expected)
    with engine.connect() as conn:
        rows = conn.execute(select(t.outbox.c.attempts, t.outbox.c.sent_at,
                                   t.outbox.c.last_error).order_by(t.outbox.c.seq)).all()
    assert [r.attempts for r in rows] == [3, 1, 2, 1, 1, 1]
    assert all(r.sent_at is not None and r.last_error is None for r in rows)


async def test_crash_between_publish_and_mark_republishes_the_same_id(
        repo: Repository, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    repo.create(rid(), APPLICANT, guarantee_draft())
    broker = FlakyBroker(fail_on=set())
    relay = OutboxRelay(engine, broker.publish)

    def crash(_seq: int) -> None:
        raise ConnectionError("database gone after the broker acknowledged")

    monkeypatch.setattr(relay, "_mark_sent", crash)
    with pytest.raises(ConnectionError):
        await relay.run_once()
    monkeypatch.undo()
    assert await relay.run_once() == 1           # published again with the same id ...
    assert broker.attempted[0] == broker.attempted[1]
    assert len(broker.stored) == 1               # ... so the broker keeps it once


async def test_run_loop_keeps_going_while_the_broker_is_down(repo: Repository,
                                                             engine: Engine) -> None:
    broker = FlakyBroker(fail_on={1, 2, 3})
    relay = OutboxRelay(engine, broker.publish, poll_interval_s=0.01, max_backoff_s=0.02)
    stop = asyncio.Event()
    runner = asyncio.create_task(relay.run(stop))
    repo.create(rid(), APPLICANT, guarantee_draft())     # service works meanwhile
    repo.create(rid(), APPLICANT, guarantee_draft())
    relay.notify()
    for _ in range(500):
        if await relay.pending_count() == 0:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(runner, 5)
    assert len(broker.order) == 2 and broker.calls >= 5
    with engine.connect() as conn:
        envelope = conn.execute(text("SELECT envelope FROM outbox ORDER BY seq")).first()
    assert json.loads(envelope[0])["specversion"] == "1.0"


@pytest.fixture(scope="module")
def outbox_nats(tmp_path_factory) -> NatsServer:
    """A NATS server of this module's own (its stream takes the ijh.> subjects)."""
    server = NatsServer(tmp_path_factory.mktemp("outbox-nats")).start()
    yield server
    server.stop()


def _oversized_event(repo: Repository, engine: Engine, app_id: int) -> None:
    """An event above the broker's 1 MB maximum payload, as rows written before reasons
    were bounded could hold (the repository now refuses such a reason)."""
    with engine.begin() as conn:
        repo._emit(conn, "submit", f"applications/{app_id}",
                   {"application": f"applications/{app_id}", "reason": "x" * 1_200_000},
                   datetime.now(UTC))


async def test_an_event_the_broker_can_never_take_is_set_aside_and_later_ones_go_out(
        repo: Repository, engine: Engine, outbox_nats: NatsServer,
        caplog: pytest.LogCaptureFixture) -> None:
    first = repo.create(rid(), APPLICANT, guarantee_draft())
    _oversized_event(repo, engine, first.id)
    repo.create(rid(), APPLICANT, guarantee_draft())
    publisher = EventPublisher(outbox_nats.url, "IJH_EVENTS")
    try:
        assert await publisher.connected(10)
        relay = OutboxRelay(engine, publisher.publish)
        with caplog.at_level(logging.ERROR, logger="services.funding.storage.outbox"):
            assert await relay.run_once() == 2       # the first and the third
        assert await relay.run_once() == 0           # nothing is retried forever
    finally:
        await publisher.close()
    assert (relay.backlog(), relay.dead()) == (0, 1)
    with engine.connect() as conn:
        rows = conn.execute(select(t.outbox.c.seq, t.outbox.c.sent_at, t.outbox.c.dead_at,
                                   t.outbox.c.attempts, t.outbox.c.last_error)
                            .order_by(t.outbox.c.seq)).all()
    assert [(r.sent_at is not None, r.dead_at is not None) for r in rows] == \
        [(True, False), (False, True), (True, False)]
    assert rows[1].attempts == 1 and "maximum payload" in rows[1].last_error
    dead_logs = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(dead_logs) == 1 and "marked dead" in dead_logs[0].getMessage()


async def test_a_transient_failure_still_stops_the_pass_but_a_permanent_one_does_not(
        repo: Repository, engine: Engine) -> None:
    repo.create(rid(), APPLICANT, guarantee_draft())
    repo.create(rid(), APPLICANT, guarantee_draft())
    repo.create(rid(), APPLICANT, guarantee_draft())
    calls: list[str] = []

    async def publish(event: CloudEvent) -> None:
        calls.append(event.id)
        if len(calls) == 1:
            raise RuntimeError("EventNotPublished: MaxPayloadError: nats: maximum payload "
                               "exceeded")
        if len(calls) == 2:
            raise TimeoutError("nats: timeout")

    relay = OutboxRelay(engine, publish)
    assert await relay.run_once() == 0          # 1st dead, 2nd transient: pass ends
    assert (relay.backlog(), relay.dead()) == (2, 1)
    assert await relay.run_once() == 2          # the 2nd again, then the 3rd
    assert calls[1] == calls[2]                  # in order, same id
    assert (relay.backlog(), relay.dead()) == (0, 1)


async def test_a_commit_during_a_pass_is_relayed_at_once_without_backing_off(
        repo: Repository, engine: Engine) -> None:
    repo.create(rid(), APPLICANT, guarantee_draft())
    sent: list[float] = []
    started = time.monotonic()
    relay: OutboxRelay

    async def publish(_event: CloudEvent) -> None:
        sent.append(time.monotonic() - started)
        if len(sent) == 1:  # a commit lands while the relay publishes (broker healthy)
            await asyncio.to_thread(repo.create, rid(), APPLICANT, guarantee_draft())
            relay.notify()  # what the repository's after_commit does

    relay = OutboxRelay(engine, publish, poll_interval_s=3.0, max_backoff_s=6.0)
    stop = asyncio.Event()
    runner = asyncio.create_task(relay.run(stop))
    try:
        for _ in range(400):
            if len(sent) >= 2:
                break
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.wait_for(runner, 10)
    assert len(sent) == 2
    # Not after a poll interval (lost wake-up), nor after a back-off (a backlog that
    # arrived during the pass taken for a failure).
    assert sent[1] - sent[0] < 1.0, sent


def _admin_url(engine: Engine) -> str:
    """The test database's URL for the command (on PostgreSQL with the test's schema)."""
    url = engine.url
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            path = conn.execute(text("SHOW search_path")).scalar_one()
        url = url.update_query_dict({"options": f"-csearch_path={path}"})
    return url.render_as_string(hide_password=False)


def _admin(engine: Engine, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(outbox_admin.app, ["--database-url", _admin_url(engine), *args])


async def test_an_operator_lists_dead_events_and_resends_them_to_the_relay(
        repo: Repository, engine: Engine) -> None:
    for _ in range(3):
        repo.create(rid(), APPLICANT, guarantee_draft())
    first, second, third = _outbox(engine)
    refused = {first.id, third.id}   # until the broker's max_payload is raised
    published: list[str] = []

    async def publish(event: CloudEvent) -> None:
        if event.id in refused:
            raise RuntimeError("nats: maximum payload exceeded")
        published.append(event.id)

    relay = OutboxRelay(engine, publish)
    assert await relay.run_once() == 1
    with engine.connect() as conn:
        seq = {r.event_id: int(r.seq) for r in conn.execute(
            select(t.outbox.c.event_id, t.outbox.c.seq))}
        sizes = {r.event_id: len(r.envelope.encode()) for r in conn.execute(
            select(t.outbox.c.event_id, t.outbox.c.envelope))}

    listed = _admin(engine, "list-dead", "--json")
    assert listed.exit_code == 0, listed.output
    dead = json.loads(listed.stdout)["dead_events"]
    assert [(d["id"], d["event_id"], d["type"], d["size_bytes"]) for d in dead] == [
        (seq[e.id], e.id, "ijh.funding.application.created", sizes[e.id])
        for e in (first, third)]
    assert all("maximum payload exceeded" in d["why"] and d["dead_at"] for d in dead)
    table = _admin(engine, "list-dead")
    assert table.exit_code == 0 and "2 dead event(s)" in table.stdout
    assert str(seq[first.id]) in table.stdout and "maximum payload" in table.stdout

    # Unknown, sent or missing ids are refused, every one named, and nothing changes.
    wrong = _admin(engine, "resend-dead", str(seq[first.id]), str(seq[second.id]), "999999")
    assert wrong.exit_code == 2
    assert f"{seq[second.id]} (already sent)" in wrong.stderr
    assert "999999 (no such outbox row)" in wrong.stderr
    assert (relay.backlog(), relay.dead()) == (0, 2)
    assert _admin(engine, "resend-dead").exit_code == 2          # no ids and no --all
    assert _admin(engine, "resend-dead", "--all", "1").exit_code == 2

    refused.clear()                  # the cause is fixed
    resent = _admin(engine, "resend-dead", str(seq[first.id]))
    assert resent.exit_code == 0, resent.output
    assert f"published again by the running relay: {seq[first.id]}" in resent.stdout
    assert (relay.backlog(), relay.dead()) == (1, 1)
    assert await relay.run_once() == 1
    assert published == [second.id, first.id]     # with its own event id
    assert _admin(engine, "resend-dead", "--all").exit_code == 0
    assert await relay.run_once() == 1
    assert published[-1] == third.id
    assert dead_events(engine) == []
    assert _admin(engine, "list-dead").stdout.strip() == "no dead events"


def test_the_command_finds_the_services_ledger_from_the_settings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite+pysqlite:///{tmp_path / 'funding.sqlite3'}")
    migrate.upgrade(engine)
    engine.dispose()
    env = {**os.environ, "IJH_VAR_DIR": str(tmp_path), "IJH_DATABASE_URL": ""}
    command = [sys.executable, "-m", "services.funding.storage.outbox_admin", "list-dead"]
    checkout = Path(__file__).resolve().parents[3]
    run = subprocess.run(command, env=env, cwd=checkout, capture_output=True, text=True,
                         timeout=60)
    assert (run.returncode, run.stdout.strip(), run.stderr) == (0, "no dead events", "")
    env["IJH_VAR_DIR"] = str(tmp_path / "elsewhere")  # no ledger there: none is created
    run = subprocess.run(command, env=env, cwd=checkout, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 2 and "no ledger database" in run.stderr
    assert not (tmp_path / "elsewhere" / "funding.sqlite3").exists()


def _scrape(registry: CollectorRegistry) -> dict[str, float]:
    wanted = ("ijh_nats_connected", "ijh_outbox_publish_failures_total",
              "ijh_event_publish_failures_total")
    return {line.split()[0]: float(line.split()[1])
            for line in generate_latest(registry).decode().splitlines()
            if line.split(" ")[0] in wanted}


async def test_a_nats_outage_shows_in_the_metrics(repo: Repository, engine: Engine,
                                                  tmp_path: Path) -> None:
    nats_server = NatsServer(tmp_path / "nats").start()
    publisher = EventPublisher(nats_server.url, "IJH_EVENTS")
    relay = OutboxRelay(engine, publisher.publish)
    registry = CollectorRegistry()
    metrics.register_event_publisher(publisher, registry)
    metrics.register_outbox_relay(relay, registry)
    try:
        assert await publisher.connected(10)
        repo.create(rid(), APPLICANT, guarantee_draft())
        assert await relay.run_once() == 1
        assert _scrape(registry) == {"ijh_nats_connected": 1.0,
                                     "ijh_outbox_publish_failures_total": 0.0,
                                     "ijh_event_publish_failures_total": 0.0}
        nats_server.stop()
        repo.create(rid(), APPLICANT, guarantee_draft())
        for _ in range(3):  # three relay passes during the outage, each one failure
            assert await relay.run_once() == 0
        assert _scrape(registry) == {"ijh_nats_connected": 0.0,
                                     "ijh_outbox_publish_failures_total": 3.0,
                                     "ijh_event_publish_failures_total": 0.0}
        nats_server.restart()
        assert await publisher.connected(15)
        assert await relay.run_once() == 1
        assert _scrape(registry)["ijh_nats_connected"] == 1.0
    finally:
        await publisher.close()
        nats_server.stop()


def _outbox_series(registry: CollectorRegistry) -> dict[str, float]:
    return {line.split()[0]: float(line.split()[1])
            for line in generate_latest(registry).decode().splitlines()
            if line.startswith(("ijh_outbox_backlog ", "ijh_outbox_dead ",
                                "ijh_outbox_counted_timestamp_seconds "))}


async def test_the_metrics_show_the_relays_last_count_and_when_it_was_read(
        repo: Repository, engine: Engine) -> None:
    stop = asyncio.Event()

    async def refuse(event: CloudEvent) -> None:
        raise MaxPayloadError  # never publishable: each event is set aside as dead

    relay = OutboxRelay(engine, refuse, count_interval_s=0.05)
    registry = CollectorRegistry()
    metrics.register_outbox_relay(relay, registry)
    # Nothing read yet: no figure (rather than a false 0), and a time that says so.
    assert _outbox_series(registry) == {"ijh_outbox_counted_timestamp_seconds": 0.0}
    repo.create(rid(), APPLICANT, guarantee_draft())
    assert await relay.refresh_counts()
    first = _outbox_series(registry)
    assert (first["ijh_outbox_backlog"], first["ijh_outbox_dead"]) == (1, 0)
    assert abs(first["ijh_outbox_counted_timestamp_seconds"] - time.time()) < 60
    running = asyncio.create_task(relay.run(stop))
    try:
        for _ in range(200):  # the running relay counts by itself
            now = _outbox_series(registry)
            if (now["ijh_outbox_backlog"], now["ijh_outbox_dead"]) == (0, 1):
                break
            await asyncio.sleep(0.05)
        assert (now["ijh_outbox_backlog"], now["ijh_outbox_dead"]) == (0, 1)
        assert now["ijh_outbox_counted_timestamp_seconds"] > \
            first["ijh_outbox_counted_timestamp_seconds"]
    finally:
        stop.set()
        await running
    # A count that fails keeps the last one and its time: the figure shows as stale.
    engine.dispose()
    relay.engine = make_engine("sqlite+pysqlite:////nonexistent/dir/ledger.sqlite3")
    assert not await relay.refresh_counts()
    assert _outbox_series(registry) == now
