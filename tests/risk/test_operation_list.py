"""ListOperations reads the operations' summaries, not their results: the operation book
and its store in this process, on a real nats-server of the module's own (its /varz
counts what it sends), each test on a bucket of its own."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
import urllib.request
import uuid
from types import SimpleNamespace

import grpc
import pytest
from ijh.risk.v1 import risk_pb2 as r

from services.risk import operation_store, operations
from services.risk.operation_store import (
    OperationStore,
    Owner,
    StoredOperation,
    StoreUnavailable,
    encode,
    encode_summary,
    operation_key,
)
from services.risk.operations import OperationBook
from services.shared.errors import InvalidArgument
from services.shared.events import EventPublisher
from services.shared.nats_server import NatsServer

ME = Owner("host-a/127.0.0.1:50052", "aaaa")
OTHER = Owner("host-b/127.0.0.1:50052", "bbbb")
ABORTED = grpc.StatusCode.ABORTED.value[0]
CANCELLED = grpc.StatusCode.CANCELLED.value[0]
TOP = 5_000  # contributions per result: about 120 kB each


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory):
    server = NatsServer(tmp_path_factory.mktemp("nats")).start()
    yield server
    server.stop()


@pytest.fixture
async def events(nats_server):
    # The services' own stream: a second stream over `ijh.>` on the session's server
    # overlaps it, and whichever came second could not be created (the stack's, when
    # these tests ran before the stack started: its events were lost).
    events = EventPublisher(nats_server.url, "IJH_EVENTS")
    await events.start()
    for _ in range(200):
        if events.is_connected:
            break
        await asyncio.sleep(0.05)
    yield events
    await events.close()


@pytest.fixture
def store(events):
    return OperationStore(events, 3600.0, bucket=f"LIST_TEST_{uuid.uuid4().hex[:8]}")


def _book(store: OperationStore, owner: Owner = ME) -> OperationBook:
    return OperationBook(3600.0, SimpleNamespace(publish_soon=lambda event: None), store,
                         owner)


def _sent(server: NatsServer) -> int:
    """Bytes the nats-server has sent to its clients."""
    url = f"http://127.0.0.1:{server.monitor_port}/varz"
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.load(answer)["out_bytes"]


def _operation(second: int, done: bool = True, error: int = 0, top: int = TOP
               ) -> r.Operation:
    operation = r.Operation(name=f"operations/{uuid.uuid4().hex}", done=done,
                            metadata=r.PortfolioSimulationMetadata(
                                create_time=f"2026-01-01T00:{second // 60:02d}:"
                                            f"{second % 60:02d}.000Z",
                                creator="t-analyst", guarantee_count=top))
    if error:
        operation.error.code, operation.error.message = error, "cancelled on request"
    elif done:
        result = operation.response
        result.seed, result.scenario_count = second, 409_600
        result.contributions.top_guarantees.extend(
            r.GuaranteeContribution(row=i, id=f"guarantee-{i:07d}") for i in range(top))
    return operation


async def _save(store: OperationStore, operation: r.Operation, owner: Owner = OTHER,
                heartbeat: float | None = None, revision: int | None = None) -> int:
    stored = StoredOperation(operation, 7, owner, time.time() if heartbeat is None
                             else heartbeat, revision=revision)
    return await store.save(operation_key(operation.name), stored)


async def _pages(book: OperationBook, size: int, then: OperationBook | None = None
                 ) -> list[tuple[list[r.Operation], str]]:
    """Every page, in turn from ``book`` and ``then`` (another replica) when given."""
    pages, token, readers = [], "", [book, then or book]
    while True:
        answer = await readers[len(pages) % 2].list(size, token)
        page, token = answer.operations, answer.next_page_token
        pages.append((page, token))
        if not token:
            return pages


async def test_pages_are_in_order_and_read_summaries_not_results(nats_server, store):
    # 45 operations of another replica, done, each with a result of about 120 kB; two
    # pairs share a create time (then the name decides), two ended with an error.
    seconds = [*range(43), 10, 20]
    operations = [_operation(s, error=CANCELLED if s in (5, 6) else 0) for s in seconds]
    for operation in operations:
        await _save(store, operation)
    results = sum(o.response.ByteSize() for o in operations)
    assert results > 5_000_000
    expected = sorted(operations, key=lambda o: (o.metadata.create_time, o.name),
                      reverse=True)
    book, other = _book(store), _book(store, Owner("host-c/127.0.0.1:50052", "cccc"))

    sent = _sent(nats_server)
    pages = await _pages(book, 20, then=other)  # tokens hold across replicas
    per_page = (_sent(nats_server) - sent) / len(pages)

    assert [len(page) for page, _ in pages] == [20, 20, 5]
    assert [bool(token) for _, token in pages] == [True, True, False]
    listed = [o for page, _ in pages for o in page]
    assert [o.name for o in listed] == [o.name for o in expected]
    assert all(o.done and not o.HasField("response") for o in listed)
    assert {o.name for o in listed if o.HasField("error")} == {
        o.name for o in operations if o.HasField("error")}
    assert listed[0].metadata == expected[0].metadata
    # A page costs the summaries (well under 1 kB each), not the results (before, every
    # page read all of them: over 5 MB).
    assert per_page < len(operations) * 1_000, per_page
    # The result is GetOperation's, whole.
    assert (await book.get(expected[0].name)).response == expected[0].response


async def test_a_record_an_earlier_version_wrote_is_listed_from_the_record(store):
    assert await store.summaries() == []  # an empty bucket: read at once
    # Before the summaries, a record was the value alone (no header): it is read in
    # full, and listed in its place without its result. A deleted record is not listed.
    summarised, older, deleted = _operation(1), _operation(2), _operation(3)
    await _save(store, summarised)
    kv = await store._bucket()
    await kv.create(operation_key(older.name),
                    encode(StoredOperation(older, 7, OTHER, time.time()), 10**6))
    await store.delete(operation_key(deleted.name), await _save(store, deleted))
    answer = await _book(store).list(10, "")
    listed = answer.operations
    assert [o.name for o in listed] == [older.name, summarised.name]
    assert not answer.next_page_token and not answer.unreachable
    assert not any(o.HasField("response") for o in listed)
    assert listed[0].metadata == older.metadata


async def _older(store: OperationStore, operation: r.Operation, owner: Owner = OTHER,
                 heartbeat: float | None = None) -> None:
    """A record as an earlier version wrote it: the value alone, no summary header."""
    kv = await store._bucket()
    stored = StoredOperation(operation, 7, owner,
                             time.time() if heartbeat is None else heartbeat)
    await kv.create(operation_key(operation.name), encode(stored, 10**6))


async def test_a_record_read_in_full_that_fails_is_left_out_alone(store, monkeypatch,
                                                                  caplog):
    summarised, older = _operation(1), [_operation(2), _operation(3), _operation(4)]
    await _save(store, summarised)
    for operation in older:
        await _older(store, operation)
    failing = operation_key(older[1].name)
    load = store.load

    async def flaky_load(key):
        if key == failing:
            raise operation_store.StoreUnavailable("TimeoutError")
        return await load(key)
    monkeypatch.setattr(store, "load", flaky_load)
    answer = await _book(store).list(10, "")
    # Not this replica's operations alone (none): every other one is listed, and the
    # page says which one it could not read.
    assert [o.name for o in answer.operations] == [older[2].name, older[0].name,
                                                   summarised.name]
    assert answer.unreachable == [older[1].name]
    assert [(r.levelname, r.key) for r in caplog.records
            if r.getMessage().startswith("operation record not read")] == [
        ("WARNING", failing)]


async def test_records_read_in_full_are_read_for_a_bounded_time(store, monkeypatch,
                                                                caplog):
    # Twenty records without a summary, each read in 0.1 s: within a bound of 0.35 s,
    # the first few are listed, the rest left out (and said so); the summarised one is.
    monkeypatch.setattr(operation_store, "IN_FULL_SECONDS", 0.35)
    summarised, older = _operation(59), [_operation(s) for s in range(20)]
    await _save(store, summarised)
    for operation in older:
        await _older(store, operation)
    load = store.load

    async def slow_load(key):
        await asyncio.sleep(0.1)
        return await load(key)
    monkeypatch.setattr(store, "load", slow_load)
    began = time.monotonic()
    listed = (await _book(store).list(100, "")).operations
    assert time.monotonic() - began < 1.5  # not 2 s and more
    names = [o.name for o in listed]
    assert names[0] == summarised.name and 1 < len(names) < 1 + len(older)
    assert names[1:] == [o.name for o in older[:len(names) - 1]][::-1]  # in stream order
    warnings = [r for r in caplog.records if "left out" in r.getMessage()]
    assert [(w.levelname, w.left_out) for w in warnings] == [
        ("WARNING", len(older) + 1 - len(names))]


async def test_the_bound_on_reads_in_full_holds_when_a_read_loses_its_cancel(
        store, monkeypatch):
    # nats-py's requests wait with Python 3.11's asyncio.wait_for, which loses a cancel
    # that lands as the reply arrives: the read returns, and the bound's timeout has
    # fired its one cancel. Seen with records of 480 kB: a list read all 43 in 0.37 s
    # past a bound of 0.05 s. Here every read returns as if so.
    monkeypatch.setattr(operation_store, "IN_FULL_SECONDS", 0.2)
    older = [_operation(s) for s in range(20)]
    for operation in older:
        await _older(store, operation)
    load = store.load

    async def load_keeping_on(key):
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.05)
        return await load(key)
    monkeypatch.setattr(store, "load", load_keeping_on)
    began = time.monotonic()
    listed = (await _book(store).list(100, "")).operations
    assert time.monotonic() - began < 0.6  # not 20 reads of 0.05 s and more
    assert 1 < len(listed) < 10


async def test_paging_lists_each_operation_once_or_names_it_unreachable(store, monkeypatch):
    # 25 operations of another replica, three of them written by an earlier version (no
    # summary: read in full). The read of the newest of those fails while the first page
    # is read (NATS slow for a moment) and answers for the next pages. Before, the
    # second page read it, found its place above the first page's token, and dropped
    # it: an analyst paging through never saw it, and was not told. Now the page that
    # could not read it names it; every other operation is listed exactly once, in order.
    monkeypatch.setattr(operation_store, "UNREAD_RETRY_SECONDS", 0.0)
    operations = [_operation(s, top=10) for s in range(25)]
    older = [operations[24], operations[12], operations[3]]
    for operation in operations:
        await (_older if operation in older else _save)(store, operation)
    failing, load, first_page = operation_key(older[0].name), store.load, [True]

    async def load_failing_for_the_first_page(key):
        if key == failing and first_page[0]:
            raise operation_store.StoreUnavailable("TimeoutError")
        return await load(key)
    monkeypatch.setattr(store, "load", load_failing_for_the_first_page)
    book, answers, token = _book(store), [], ""
    while not answers or token:
        answers.append(await book.list(10, token))
        token, first_page[0] = answers[-1].next_page_token, False
    listed = [o.name for answer in answers for o in answer.operations]
    assert [list(answer.unreachable) for answer in answers] == [[older[0].name], [], []]
    expected = sorted(operations, key=lambda o: (o.metadata.create_time, o.name),
                      reverse=True)
    assert listed == [o.name for o in expected if o is not older[0]]
    assert len(set(listed)) == len(listed)


async def test_an_operation_whose_summary_is_too_large_for_a_header_is_saved_and_listed(
        store):
    # JetStream refuses a message whose headers are above 64 KiB: a summary that large
    # (here a 40 kB error message) is not written; the record is read in full instead.
    huge, other = _operation(1, error=CANCELLED), _operation(2)
    huge.error.message = "x" * 40_000
    await _save(store, huge)
    await _save(store, other)
    listed = (await _book(store).list(10, "")).operations
    assert [o.name for o in listed] == [other.name, huge.name]
    assert listed[1] == huge


async def test_headers_above_jetstream_s_limit_are_a_record_too_large(store, monkeypatch):
    # Were such a summary written, the write would fail the same way at every attempt.
    monkeypatch.setattr(operation_store, "SUMMARY_MAX_BYTES", 10**6)
    huge = _operation(1, error=CANCELLED)
    huge.error.message = "x" * 40_000
    with pytest.raises(operation_store.RecordTooLarge):
        await _save(store, huge)


async def test_a_gone_replica_s_running_operation_lists_aborted(store, monkeypatch):
    book = _book(store)
    # An earlier instance of this replica, last written before this process started:
    # gone at once.
    earlier = _operation(1, done=False)
    await _save(store, earlier, Owner(ME.replica, "old"), heartbeat=time.time() - 60)
    # Another replica: gone once its record has not changed for STALE_SECONDS as this
    # process sees it (shortened here); one that keeps writing stays running.
    monkeypatch.setattr(operation_store, "STALE_SECONDS", 0.5)
    silent, alive = _operation(2, done=False), _operation(3, done=False)
    await _save(store, silent)
    revision = await _save(store, alive)

    listed = {o.name: o for o in (await book.list(10, "")).operations}
    assert listed[earlier.name].done and listed[earlier.name].error.code == ABORTED
    assert "seed 7 gives the same figures" in listed[earlier.name].error.message
    assert not listed[silent.name].done and not listed[alive.name].done  # first seen

    await asyncio.sleep(0.6)
    await _save(store, alive, revision=revision)  # its owner's heartbeat
    listed = {o.name: o for o in (await book.list(10, "")).operations}
    assert listed[silent.name].done and listed[silent.name].error.code == ABORTED
    assert not listed[alive.name].done
    # The settlement is written to the record (and its summary): every replica sees it.
    for name in (earlier.name, silent.name):
        stored = await store.load(operation_key(name))
        assert stored.operation.error.code == ABORTED
    summaries = {s.operation.name: s.operation for s in await store.summaries()}
    assert summaries[silent.name].error.code == ABORTED
    assert (await _book(store, OTHER).get(silent.name)).error.code == ABORTED


@pytest.mark.parametrize(("size", "token", "field"), [
    (101, "", "page_size"), (-1, "", "page_size"), (10, "not a token", "page_token"),
    (10, "bm8tc3BhY2U=", "page_token"),  # base64 of text without a separator
])
async def test_a_bad_page_request_names_its_field(store, size, token, field):
    with pytest.raises(InvalidArgument) as refused:
        await _book(store).list(size, token)
    assert [v.field for v in refused.value.violations] == [field]


async def test_a_result_above_the_payload_limit_is_stored_trimmed_with_its_summary(
        store, monkeypatch):
    # The summary header shares the message's max_payload with the record: a record that
    # fits beside the margin but not beside the margin and the summary is trimmed. (The
    # margin, made smaller than the summary here, would otherwise hide a summary not
    # counted.) The result is padded (notes are never trimmed) to just under the margin.
    monkeypatch.setattr(operation_store, "PAYLOAD_MARGIN_BYTES", 256)
    room = store.events.max_payload - 256
    operation = _operation(1)
    operation.response.notes.append("")
    stored = StoredOperation(operation, 7, OTHER, time.time())
    summary = len(encode_summary(stored))
    operation.response.notes[-1] = "x" * (
        (room - 32 - len(encode(stored, 2**31))) * 3 // 4)
    assert room - summary < len(encode(stored, 2**31)) <= room
    await store.save(operation_key(operation.name), stored)
    kept = (await store.load(operation_key(operation.name))).operation
    assert not kept.response.contributions.top_guarantees
    assert any("contributions.top_guarantees" in note for note in kept.response.notes)
    listed = (await _book(store).list(10, "")).operations
    assert [o.metadata for o in listed] == [operation.metadata]


# An earlier instance of this replica, whose last writes predate the book's start: its
# running operations are interrupted, and the start-up sweep settles them.
EARLIER = Owner(ME.replica, "old")


async def _sweep_passes(book: OperationBook, caplog) -> list[int]:
    """Run the start-up sweep to its end; the records each pass left for the next."""
    caplog.set_level(logging.INFO, logger=operations.__name__)
    await book.sweep()
    assert book.swept.is_set()
    return [r.left_out for r in caplog.records
            if r.getMessage().startswith("operation records left out of the sweep")]


async def _code(store: OperationStore, operation: r.Operation) -> int:
    stored = await store.load(operation_key(operation.name))
    return stored.operation.error.code if stored.operation.done else -1


async def test_the_sweep_comes_back_for_records_past_its_time_to_read_in_full(
        store, monkeypatch, caplog):
    # After an upgrade: 40 finished records an earlier version wrote (no summary: read in
    # full), then 3 it left running. A pass reads in full for IN_FULL_SECONDS (shortened
    # here): the first reads a few of the finished ones, the running ones are past it.
    # Later passes read what is left, and settle them. Each read takes 30 ms and more, so
    # that a pass reads a few whatever the machine (a read of 480 kB took 10 to 50 ms on
    # a loaded one: a pass of 0.05 s then read none, and its retries backed off).
    monkeypatch.setattr(operation_store, "IN_FULL_SECONDS", 0.25)
    monkeypatch.setattr(operations, "SWEEP_RETRY_SECONDS", 0.1)
    monkeypatch.setattr(operations, "SWEEP_RETRY_MAX_SECONDS", 0.4)
    finished = [_operation(s) for s in range(40)]
    running = [_operation(40 + s, done=False) for s in range(3)]
    for operation in finished + running:
        await _older(store, operation, EARLIER, heartbeat=time.time() - 60)
    book = _book(store)
    # The sweep's second pass waits until the test has looked at what the first left.
    first_pass_over, looked = asyncio.Event(), asyncio.Event()
    read_in_full, load = store.summaries_in_full, store.load

    async def summaries_in_full(keys, **options):
        if asyncio.current_task() is not sweeping:  # the list's
            return await read_in_full(keys, **options)
        if first_pass_over.is_set():
            await looked.wait()
        try:
            return await read_in_full(keys, **options)
        finally:
            first_pass_over.set()

    async def slow_load(key):
        await asyncio.sleep(0.03)
        return await load(key)
    monkeypatch.setattr(store, "summaries_in_full", summaries_in_full)
    monkeypatch.setattr(store, "load", slow_load)
    sweeping = asyncio.ensure_future(_sweep_passes(book, caplog))
    try:
        await asyncio.wait_for(first_pass_over.wait(), 10)
        # Meanwhile: the running ones are still running in the store; a list (bound by
        # the same time) does not reach them either: left out (a warning says so).
        assert [await _code(store, o) for o in running] == [-1, -1, -1]
        listed = {o.name: o for o in (await book.list(100, "")).operations}
        assert listed and not listed.keys() & {o.name for o in running}
        assert all(o.done for o in listed.values())
        looked.set()
        passes = await asyncio.wait_for(sweeping, 30)
    finally:
        sweeping.cancel()
    assert [await _code(store, o) for o in running] == [ABORTED] * 3
    assert passes[0] > len(running) and len(passes) >= 2, passes
    # Settled with a summary: listed from it (within the list's time or not), ABORTED.
    listed = {o.name: o for o in (await book.list(100, "")).operations}
    assert [listed[o.name].error.code for o in running] == [ABORTED] * 3
    assert "seed 7 gives the same figures" in listed[running[0].name].error.message


async def test_the_sweep_comes_back_for_a_record_it_failed_to_read_or_to_settle(
        store, monkeypatch, caplog):
    # Two records the earlier instance left running: one an earlier version wrote (read
    # in full) whose read fails at first, one with a summary whose settlement cannot be
    # written at first (NATS slow for a moment). Neither is given up: the next pass
    # settles both.
    monkeypatch.setattr(operations, "SWEEP_RETRY_SECONDS", 0.2)
    monkeypatch.setattr(operation_store, "UNREAD_RETRY_SECONDS", 0.2)
    unread, unwritten = _operation(1, done=False), _operation(2, done=False)
    await _older(store, unread, EARLIER, heartbeat=time.time() - 60)
    await _save(store, unwritten, EARLIER, heartbeat=time.time() - 60)
    failing = {"load": operation_key(unread.name), "save": operation_key(unwritten.name)}
    load, save = store.load, store.save

    def once(call: str, key: str) -> None:
        if failing.get(call) == key:
            del failing[call]
            raise operation_store.StoreUnavailable("TimeoutError")

    async def load_failing_once(key):
        once("load", key)
        return await load(key)

    async def save_failing_once(key, stored):
        once("save", key)
        return await save(key, stored)
    monkeypatch.setattr(store, "load", load_failing_once)
    monkeypatch.setattr(store, "save", save_failing_once)
    passes = await asyncio.wait_for(_sweep_passes(_book(store), caplog), 30)
    assert not failing  # each failed once
    assert [await _code(store, o) for o in (unread, unwritten)] == [ABORTED, ABORTED]
    assert passes == [2]


async def test_the_sweep_stops_with_the_book_when_the_nats_client_loses_its_cancel(
        store, monkeypatch):
    # The shutdown stops the sweep (store_final) while it settles what the earlier
    # instance left running. nats-py may lose that cancel (Python 3.11's wait_for drops
    # it when the reply lands with it) or turn it into an error of its own (its publish
    # raises TooManyStalledMsgsError): the sweep must still end there, not settle the
    # rest and then sleep out its retry (5 s) while the shutdown's last writes wait.
    running = [_operation(s, done=False) for s in range(3)]
    for operation in running:
        await _save(store, operation, EARLIER, heartbeat=time.time() - 60)
    save, writing = store.save, asyncio.Event()

    async def save_turning_a_cancel_into_an_error(key, stored):
        writing.set()
        try:
            await asyncio.sleep(0.2)
        except asyncio.CancelledError:
            raise operation_store.StoreUnavailable("TooManyStalledMsgsError") from None
        return await save(key, stored)
    monkeypatch.setattr(store, "save", save_turning_a_cancel_into_an_error)
    book = _book(store)
    await book.start_sync()
    try:
        await asyncio.wait_for(writing.wait(), 10)
        began = time.monotonic()
        await asyncio.wait_for(book.store_final(), 10)
        stopped = time.monotonic() - began
    finally:
        book._syncing.cancel()
        book._sweeping.cancel()
    assert stopped < 1.0  # not the sweep's retry (5 s) and more
    assert book._sweeping.done() and not book.swept.is_set()
    # Stopped at the write the cancel landed in: the others were not settled after it.
    assert [await _code(store, o) for o in running] == [-1, -1, -1]


async def test_the_sweep_does_not_warn_of_each_record_left_while_nats_is_away(
        store, monkeypatch, caplog):
    # The sweep's first pass leaves 30 records out (no time to read them in full: none
    # here), then NATS goes away for a while. The passes meanwhile log no warning per
    # record (each read would fail at once: 30 a pass, every pass); once NATS is back
    # the sweep settles them all.
    monkeypatch.setattr(operation_store, "IN_FULL_SECONDS", 0.0)
    monkeypatch.setattr(operations, "SWEEP_RETRY_SECONDS", 0.05)
    monkeypatch.setattr(operations, "HEARTBEAT_SECONDS", 0.05)
    running = [_operation(s, done=False) for s in range(30)]
    for operation in running:
        await _older(store, operation, EARLIER, heartbeat=time.time() - 60)
    jetstream, summaries, connected = store.events.jetstream, store.summaries, [True]
    monkeypatch.setattr(store.events, "jetstream",
                        lambda: jetstream() if connected[0] else None)
    first_pass_over = asyncio.Event()

    async def summaries_then_nats_away(**options):
        try:
            return await summaries(**options)
        finally:
            connected[0] = False
            monkeypatch.setattr(operation_store, "IN_FULL_SECONDS", 2.0)
            first_pass_over.set()
    monkeypatch.setattr(store, "summaries", summaries_then_nats_away)
    sweeping = asyncio.ensure_future(_sweep_passes(_book(store), caplog))
    try:
        await asyncio.wait_for(first_pass_over.wait(), 10)
        await asyncio.sleep(0.5)  # passes 0.05 s apart, or 0.1, 0.2, 0.4 s
        away = [r for r in caplog.records if r.getMessage().startswith("operation record not read")]
        connected[0] = True
        await asyncio.wait_for(sweeping, 30)
    finally:
        sweeping.cancel()
    assert away == []
    assert [await _code(store, o) for o in running] == [ABORTED] * 30


async def test_a_record_whose_read_hangs_does_not_starve_the_sweep_and_is_named_once(
        store, monkeypatch, caplog):
    # Four records the earlier instance left running, without a summary (read in full);
    # the read of the first in the stream never answers. Before, every pass spent all
    # of its time for reading in full on it, and put it first again: the others were
    # never reached, and nothing said which record was at fault. Now it costs a pass at
    # most half of that time, is read last (and, failing, not at all for a while), and
    # a warning names it once.
    monkeypatch.setattr(operation_store, "IN_FULL_SECONDS", 1.0)
    monkeypatch.setattr(operation_store, "UNREAD_RETRY_SECONDS", 0.01)
    monkeypatch.setattr(operations, "SWEEP_RETRY_SECONDS", 0.01)
    monkeypatch.setattr(operations, "SWEEP_RETRY_MAX_SECONDS", 0.01)
    hanging, running = _operation(0, done=False), [_operation(s, done=False)
                                                   for s in range(1, 4)]
    for operation in (hanging, *running):
        await _older(store, operation, EARLIER, heartbeat=time.time() - 60)
    hung, answers = operation_key(hanging.name), asyncio.Event()
    load, read_in_full = store.load, store.summaries_in_full
    passes, fourth_pass = [], asyncio.Event()

    async def load_hanging(key):
        if key == hung:
            await answers.wait()
        return await load(key)

    async def summaries_in_full(keys, **options):  # the second pass on
        passes.append(list(keys))
        if len(passes) == 3:
            fourth_pass.set()
            await answers.wait()  # until the test has looked
        return await read_in_full(keys, **options)
    monkeypatch.setattr(store, "load", load_hanging)
    monkeypatch.setattr(store, "summaries_in_full", summaries_in_full)
    caplog.set_level(logging.INFO, logger=operation_store.__name__)
    book = _book(store)
    sweeping = asyncio.ensure_future(_sweep_passes(book, caplog))
    try:
        await asyncio.wait_for(fourth_pass.wait(), 30)
        # Three passes, the hanging record read in each: the others settled...
        assert [await _code(store, o) for o in running] == [ABORTED] * 3
        assert passes[1:] == [[hung], [hung]]
        # ...and one warning naming it.
        assert [(r.levelname, r.key) for r in caplog.records
                if r.getMessage().startswith("operation record not read")] == [
            ("WARNING", hung)]
        answers.set()  # it answers again: read, settled, the sweep is over
        await asyncio.wait_for(sweeping, 30)
    finally:
        answers.set()
        sweeping.cancel()
    assert await _code(store, hanging) == ABORTED
    assert [r.key for r in caplog.records if r.getMessage() == "operation record read again"
            ] == [hung]


async def test_records_this_version_cannot_read_are_named_unreachable_not_read_again(
        store, monkeypatch, caplog):
    # Two records another version wrote, which this one cannot decode: one with a
    # summary, one without (read in full). Before, a list neither listed nor named them:
    # paging through, an analyst was not told of them (GetOperation answers them
    # UNAVAILABLE). Now each page names them; the sweep, which cannot settle them
    # either, does not come back for them (reading them again would not help).
    good = _operation(1, top=10)
    await _save(store, good)
    kv = await store._bucket()
    unsummarised = "operations/" + "e" * 32
    await kv.put(operation_key(unsummarised), b'{"operation": "not what this writes"}')
    summarised = "operations/" + "f" * 32
    await store._write(operation_key(summarised), b"{}",
                       base64.b64encode(b'{"operation": 1}').decode(), None)
    book = _book(store)
    answer = await book.list(100, "")
    assert [o.name for o in answer.operations] == [good.name]
    assert list(answer.unreachable) == [unsummarised, summarised]
    assert await _sweep_passes(book, caplog) == []


async def test_a_list_s_failed_read_does_not_hold_the_sweep_up(store, monkeypatch, caplog):
    # After an upgrade, the earlier instance's running record, without a summary; one
    # read of it fails, in a list (NATS slow for a moment). Before, the sweep then left
    # it out for the list's backoff (5 s, up to 60 s after more failures), and lists
    # named it unreachable meanwhile, although NATS was fine. Now the sweep reads it
    # (after the others) in its first pass, and settles it.
    running = _operation(1, done=False)
    await _older(store, running, EARLIER, heartbeat=time.time() - 60)
    key, load, failing = operation_key(running.name), store.load, [True]

    async def load_failing_once(k):
        if k == key and failing[0]:
            failing[0] = False
            raise StoreUnavailable("TimeoutError")
        return await load(k)
    monkeypatch.setattr(store, "load", load_failing_once)
    book = _book(store)
    assert list((await book.list(10, "")).unreachable) == [running.name]
    assert await asyncio.wait_for(_sweep_passes(book, caplog), 30) == []
    assert await _code(store, running) == ABORTED
