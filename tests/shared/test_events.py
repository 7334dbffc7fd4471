"""Events reach JetStream once, as CloudEvents 1.0 envelopes, whatever the retries."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import nats

from services.shared.cloudevents import CloudEvent
from services.shared.events import (
    EVENT_SUBJECTS,
    EventNotPublished,
    EventPublisher,
    StreamLimits,
    UnreachableLog,
    safe_url,
)
from services.shared.logs import JsonFormatter, request_id_var
from services.shared.nats_server import NatsServer, free_port


def _isolated(nats_server) -> tuple[EventPublisher, str]:
    """A publisher on its own stream and subjects, apart from the services' ``ijh.>``."""
    tag = uuid.uuid4().hex[:8]
    publisher = EventPublisher(nats_server.url, f"T_{tag.upper()}", subjects=(f"t{tag}.>",))
    return publisher, f"t{tag}.thing.happened"


def _event(**overrides) -> CloudEvent:
    fields = dict(type="ijh.test.thing.happened", source="ijh/tests",
                  subject=f"things/{uuid.uuid4().hex[:8]}", data={"n": 1})
    fields.update(overrides)
    return CloudEvent(**fields)


async def test_stream_is_created_when_absent(nats_server):
    publisher, _ = _isolated(nats_server)
    assert await publisher.connected(5.0)
    nc = await nats.connect(nats_server.url)
    info = await nc.jetstream().stream_info(publisher.stream)
    await nc.close()
    await publisher.close()
    assert info.config.subjects == publisher.subjects
    assert EVENT_SUBJECTS == ("ijh.>",)  # what the services use
    assert str(info.config.storage) in ("file", "StorageType.FILE")
    assert info.config.duplicate_window and info.config.duplicate_window >= 60


async def test_event_published_twice_with_same_id_is_stored_once(nats_server):
    publisher, subject = _isolated(nats_server)
    stream = publisher.stream
    assert await publisher.connected(5.0)
    event = _event(type=subject)
    first = await publisher.publish(event)
    again = await publisher.publish(event)  # a retry after a lost acknowledgement
    other = await publisher.publish(_event(type=subject))
    await publisher.close()
    assert not first.duplicate
    assert again.duplicate and again.seq == first.seq
    assert other.seq == first.seq + 1

    nc = await nats.connect(nats_server.url)
    info = await nc.jetstream().stream_info(stream)
    await nc.close()
    assert info.state.messages == 2


async def test_envelope_is_cloudevents_structured_json(nats_server):
    publisher, subject = _isolated(nats_server)
    stream = publisher.stream
    assert await publisher.connected(5.0)
    event = _event(type=subject, data={"grant_cents": 12345})
    ack = await publisher.publish(event)
    await publisher.close()

    nc = await nats.connect(nats_server.url)
    message = await nc.jetstream().get_msg(stream, ack.seq)
    await nc.close()
    envelope = json.loads(message.data)
    assert message.subject == subject
    assert message.headers["Nats-Msg-Id"] == event.id
    assert {"specversion", "id", "source", "type", "subject", "time", "datacontenttype",
            "data"} <= set(envelope)
    assert envelope["specversion"] == "1.0"
    assert envelope["id"] == event.id
    assert envelope["datacontenttype"] == "application/json"
    assert envelope["data"] == {"grant_cents": 12345}
    assert CloudEvent.from_json_bytes(message.data) == event


async def test_publish_without_broker_raises_instead_of_hanging():
    publisher = EventPublisher("nats://127.0.0.1:9", "NOWHERE")
    try:
        await publisher.publish(_event())
    except EventNotPublished:
        pass
    else:
        raise AssertionError("publish must fail without a broker")
    finally:
        await publisher.close()


def test_urls_lose_their_credentials_for_logs():
    assert safe_url("nats://user:secret@127.0.0.1:4222") == "nats://127.0.0.1:4222"
    assert safe_url("nats://token@nats.example:4222") == "nats://nats.example:4222"
    assert safe_url("nats://127.0.0.1:4322") == "nats://127.0.0.1:4322"


def test_unreachable_is_warned_at_once_then_at_most_every_interval():
    now = [0.0]
    say = UnreachableLog(every=30.0, clock=lambda: now[0])
    assert say.failed() == 1          # the first failure: at once
    for _ in range(59):               # every 0.5 s for 29.5 s: quiet
        now[0] += 0.5
        assert say.failed() is None
    now[0] += 0.5
    assert say.failed() == 60         # then with the count since the last warning
    say.reached()
    assert say.failed() == 1          # a new outage: at once again


async def test_unreachable_nats_is_warned_once_then_connected_and_a_close_is_quiet(
        tmp_path, caplog):
    server = NatsServer(tmp_path / "nats", port=free_port())
    publisher = EventPublisher(
        f"nats://someone:secret@127.0.0.1:{server.port}", "T_LATE", subjects=("tlate.>",))
    with caplog.at_level(logging.DEBUG, logger="services.shared.events"):
        try:
            await publisher.start()
            await asyncio.sleep(2.5)  # several failed attempts (one every 0.5 s)
            warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
            assert [r.getMessage() for r in warnings] == ["NATS not reachable, retrying"]
            assert warnings[0].nats_url == f"nats://127.0.0.1:{server.port}"
            assert "secret" not in caplog.text
            server.start()
            assert await publisher.connected(10.0)
            assert any(r.levelno == logging.INFO and r.getMessage() == "connected to NATS"
                       for r in caplog.records)
            caplog.clear()
        finally:
            await publisher.close()
            server.stop()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def _stored(url: str, stream: str, count: int, timeout: float = 20.0) -> list[CloudEvent]:
    """The first ``count`` events of ``stream``, in stored order (waiting for them)."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while (await js.stream_info(stream)).state.messages < count:
            assert asyncio.get_running_loop().time() < deadline, "events not stored in time"
            await asyncio.sleep(0.1)
        return [CloudEvent.from_json_bytes((await js.get_msg(stream, seq)).data)
                for seq in range(1, count + 1)]
    finally:
        await nc.close()


async def test_events_published_soon_are_stored_in_order_across_an_outage(tmp_path):
    # An operation's progress while NATS is down, then back: stored as handed over, so
    # no reader sees it done and then back at 10 % (each failed event used to retry on
    # a timer of its own).
    server = NatsServer(tmp_path / "nats", port=free_port()).start()
    publisher = EventPublisher(server.url, "T_ORDER", subjects=("torder.>",))
    try:
        assert await publisher.connected(5.0)
        server.kill()
        for n in range(1, 11):
            publisher.publish_soon(_event(type="torder.progressed", data={"n": n}))
            await asyncio.sleep(0.15)
        await asyncio.to_thread(server.restart)
        stored = await _stored(server.url, "T_ORDER", 10)
        assert [e.data["n"] for e in stored] == list(range(1, 11))
        assert publisher.failures == 0
    finally:
        await publisher.close()
        server.stop()


async def test_events_published_soon_at_once_are_stored_in_order(nats_server):
    publisher, subject = _isolated(nats_server)
    try:
        assert await publisher.connected(5.0)
        for n in range(200):
            publisher.publish_soon(_event(type=subject, data={"n": n}))
        stored = await _stored(nats_server.url, publisher.stream, 200)
        assert [e.data["n"] for e in stored] == list(range(200))
    finally:
        await publisher.close()


async def test_an_event_given_up_lets_the_next_ones_go_and_is_counted(tmp_path, caplog):
    server = NatsServer(tmp_path / "nats", port=free_port())
    publisher = EventPublisher(server.url, "T_GIVEUP", subjects=("tgiveup.>",),
                               background_retry_seconds=0.5)
    try:
        with caplog.at_level(logging.ERROR, logger="services.shared.events"):
            lost = _event(type="tgiveup.thing")
            publisher.publish_soon(lost)  # no broker yet: retried, then given up
            await asyncio.sleep(1.0)
            assert publisher.failures == 1
            assert [r.event_id for r in caplog.records] == [lost.id]
        server.start()
        assert await publisher.connected(10.0)
        publisher.publish_soon(_event(type="tgiveup.thing", data={"n": 2}))
        assert [e.data["n"] for e in await _stored(server.url, "T_GIVEUP", 1)] == [2]
    finally:
        await publisher.close()
        server.stop()


async def test_events_still_queued_at_close_are_counted_and_logged(caplog):
    # A service stopping while NATS is down: its events are lost, but not silently.
    publisher = EventPublisher(f"nats://127.0.0.1:{free_port()}", "T_CLOSE",
                               subjects=("tclose.>",))
    events = [_event(type="tclose.thing") for _ in range(5)]
    for event in events:
        publisher.publish_soon(event)
    await asyncio.sleep(0.3)
    with caplog.at_level(logging.ERROR, logger="services.shared.events"):
        started = asyncio.get_running_loop().time()
        await publisher.close()
        took = asyncio.get_running_loop().time() - started
    assert publisher.failures == 5
    dropped = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.event_id for r in dropped] == [e.id for e in events]
    assert {r.event_type for r in dropped} == {"tclose.thing"}
    assert took < 1.0  # no broker to flush to: no wait for it


async def test_close_publishes_what_is_queued_when_connected(nats_server):
    publisher, subject = _isolated(nats_server)
    assert await publisher.connected(5.0)
    for n in range(50):
        publisher.publish_soon(_event(type=subject, data={"n": n}))
    await publisher.close()
    assert publisher.failures == 0
    stored = await _stored(nats_server.url, publisher.stream, 50, timeout=1.0)
    assert [e.data["n"] for e in stored] == list(range(50))


class _JsonLines(logging.Handler):
    """The JSON lines the services would write (the request id is read from the context
    of the logging call, as the services' formatter does)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.setFormatter(JsonFormatter("test"))
        self.lines: list[dict] = []

    def emit(self, record):
        self.lines.append(json.loads(self.format(record)))


async def test_background_log_lines_carry_their_own_events_request_id():
    # Events of three calls share the publisher's one background task: each line about
    # an event names that event and the request that handed it over, or none.
    publisher = EventPublisher(f"nats://127.0.0.1:{free_port()}", "T_RID",
                               subjects=("trid.>",), background_retry_seconds=0.3)
    events = {}

    async def call(request_id: str) -> None:
        if request_id:
            request_id_var.set(request_id)
        events[request_id] = _event(type="trid.thing", subject=f"from/{request_id or 'none'}")
        publisher.publish_soon(events[request_id])

    lines = _JsonLines()
    logger = logging.getLogger("services.shared.events")
    logger.addHandler(lines)
    try:
        for request_id in ("req-AAA", "req-BBB", ""):
            await asyncio.create_task(call(request_id))
        await asyncio.sleep(1.5)
    finally:
        logger.removeHandler(lines)
        await publisher.close(0)
    given_up = [line for line in lines.lines if line["message"] == "event given up"]
    assert [(line["event_id"], line["event_subject"], line.get("request_id"))
            for line in given_up] == [
        (events["req-AAA"].id, "from/req-AAA", "req-AAA"),
        (events["req-BBB"].id, "from/req-BBB", "req-BBB"),
        (events[""].id, "from/none", None)]


async def _stream_config(url: str, stream: str):
    nc = await nats.connect(url)
    try:
        return (await nc.jetstream().stream_info(stream)).config
    finally:
        await nc.close()


async def test_stream_is_created_with_its_limits(nats_server):
    tag = uuid.uuid4().hex[:8]
    limits = StreamLimits(max_age_seconds=3650 * 86400.0, max_bytes=64 * 2**20, replicas=1)
    publisher = EventPublisher(nats_server.url, f"T_{tag.upper()}", subjects=(f"t{tag}.>",),
                               limits=limits)
    assert await publisher.connected(5.0)
    await publisher.close()
    config = await _stream_config(nats_server.url, publisher.stream)
    assert config.max_age == 3650 * 86400.0
    assert config.max_bytes == 64 * 2**20
    assert config.num_replicas == 1
    assert config.discard == "new"  # full: refuse the new, never drop the unread old


async def test_an_existing_streams_limits_are_brought_to_the_settings(nats_server, caplog):
    # A stream created by an earlier version (no limits), then a setting changed.
    tag = uuid.uuid4().hex[:8]
    stream, subjects = f"T_{tag.upper()}", (f"t{tag}.>",)
    earlier = EventPublisher(nats_server.url, stream, subjects=subjects)
    assert await earlier.connected(5.0)
    await earlier.publish(_event(type=f"t{tag}.thing"))
    await earlier.close()
    assert (await _stream_config(nats_server.url, stream)).max_age == 0  # for ever

    for days in (30, 3650):
        publisher = EventPublisher(nats_server.url, stream, subjects=subjects,
                                   limits=StreamLimits(days * 86400.0, 2**30, 1))
        with caplog.at_level(logging.INFO, logger="services.shared.events"):
            assert await publisher.connected(5.0)
        await publisher.close()
        config = await _stream_config(nats_server.url, stream)
        assert (config.max_age, config.max_bytes, config.discard) == (
            days * 86400.0, 2**30, "new")
        assert [r.max_age_days for r in caplog.records
                if r.getMessage() == "event stream settings applied"] == [days]
        caplog.clear()

    # The same limits again: nothing to change, nothing said.
    publisher = EventPublisher(nats_server.url, stream, subjects=subjects,
                               limits=StreamLimits(3650 * 86400.0, 2**30, 1))
    with caplog.at_level(logging.INFO, logger="services.shared.events"):
        assert await publisher.connected(5.0)
    await publisher.close()
    assert not [r for r in caplog.records if "settings" in r.getMessage()]


async def test_limits_the_server_cannot_take_are_an_error_and_events_still_go(
        nats_server, caplog):
    # Three replicas asked of a single server: said at ERROR, the stream as it was.
    publisher, subject = _isolated(nats_server)
    assert await publisher.connected(5.0)
    await publisher.close()
    publisher = EventPublisher(nats_server.url, publisher.stream, subjects=publisher.subjects,
                               limits=StreamLimits(86400.0, 0, 3))
    with caplog.at_level(logging.ERROR, logger="services.shared.events"):
        assert await publisher.connected(5.0)
        await publisher.publish(_event(type=subject))
    await publisher.close()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "event stream settings not applied: the stream keeps its own"]
    assert "replicas" in errors[0].error and errors[0].replicas == 3


async def test_an_event_too_large_for_the_broker_does_not_hold_up_the_next(nats_server):
    publisher, subject = _isolated(nats_server)
    try:
        assert await publisher.connected(5.0)
        publisher.publish_soon(_event(type=subject, data={"n": 0,
                                                         "pad": "x" * publisher.max_payload}))
        publisher.publish_soon(_event(type=subject, data={"n": 1}))
        stored = await _stored(nats_server.url, publisher.stream, 1, timeout=2.0)
        assert [e.data["n"] for e in stored] == [1]
        assert publisher.failures == 1
    finally:
        await publisher.close()
