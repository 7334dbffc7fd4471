"""The operation store's pure half: records round-trip bit-identical, the size policy,
and who counts as gone; and the operation book's use of the store, against an in-memory
stand-in for the key-value bucket (races are made to happen here at will)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from types import SimpleNamespace

import grpc
import pytest
from ijh.risk.v1 import risk_pb2 as r
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from services.risk import operations
from services.risk.operation_store import (
    MIN_RETENTION_SECONDS,
    STALE_SECONDS,
    SUMMARY_HEADER,
    OperationStore,
    Owner,
    RecordTooLarge,
    Silence,
    StoredOperation,
    check_retention,
    decode,
    encode,
    operation_key,
    request_key,
)
from services.risk.operations import OperationBook
from services.shared.errors import NotFound, Unavailable

ME = Owner("host-a/127.0.0.1:50052", "aaaa")


def _operation(top: int = 3, done: bool = True) -> r.Operation:
    operation = r.Operation(
        name="operations/" + "0" * 32, done=done, metadata=r.PortfolioSimulationMetadata(
            create_time="2026-01-01T00:00:00.000Z", creator="analyst", guarantee_count=top))
    if done:
        result = operation.response
        result.seed, result.scenario_count = 7, 1024
        result.expected_loss_cents.value = 1 / 3  # a figure with every bit used
        result.loss_histogram_edges_cents.extend([0.1 * i for i in range(50)])
        result.contributions.top_guarantees.extend(
            r.GuaranteeContribution(row=i, id=f"guarantee-{i:07d}") for i in range(top))
    return operation


def _stored(operation: r.Operation, owner: Owner = ME, heartbeat: float = 1000.0
            ) -> StoredOperation:
    return StoredOperation(operation, seed=7, owner=owner, heartbeat=heartbeat)


def test_a_record_comes_back_bit_identical():
    stored = _stored(_operation())
    back = decode(encode(stored, 10**6), revision=4)
    assert back.operation.SerializeToString() == stored.operation.SerializeToString()
    assert (back.seed, back.owner, back.heartbeat, back.revision) == (7, ME, 1000.0, 4)


def test_a_result_too_large_is_stored_without_its_largest_repeated_field_and_says_so():
    stored = _stored(_operation(top=20_000))
    data = encode(stored, 100_000)
    assert len(data) <= 100_000
    kept = decode(data).operation.response
    assert not kept.contributions.top_guarantees
    assert kept.loss_histogram_edges_cents == stored.operation.response.loss_histogram_edges_cents
    assert any("contributions.top_guarantees" in note and "seed 7" in note
               for note in kept.notes)
    # The result in memory is the full one.
    assert len(stored.operation.response.contributions.top_guarantees) == 20_000
    with pytest.raises(RecordTooLarge):
        encode(stored, 200)


OTHER = Owner("host-b/127.0.0.1:50052", "bbbb")
STARTED = 1000.0  # this process's start, on this host's wall clock


@pytest.mark.parametrize(("owner", "heartbeat", "silent", "done", "known", "interrupted"), [
    # an earlier instance of this replica, last written before this process started
    (Owner(ME.replica, "old"), STARTED - 1, 0.0, False, False, True),
    # ...and one still writing after it (its shutdown): alive until it falls silent
    (Owner(ME.replica, "old"), STARTED + 1, 0.0, False, False, False),
    (Owner(ME.replica, "old"), STARTED + 1, STALE_SECONDS + 1, False, False, True),
    # another replica: judged by how long its record has not changed here, not by its
    # heartbeat (another host's clock)
    (OTHER, 0.0, 0.0, False, False, False),
    (OTHER, 10**9, STALE_SECONDS + 1, False, False, True),
    (Owner(ME.replica, "old"), 0.0, 10**6, True, False, False),  # ended: nothing to end
    (ME, 0.0, 10**6, False, True, False),  # this process's own, running here
    (ME, 10**9, 0.0, False, False, True),  # this process's, not in its memory: a ghost
])
def test_who_counts_as_gone(owner, heartbeat, silent, done, known, interrupted):
    stored = _stored(_operation(done=done), owner, heartbeat)
    assert stored.interrupted(ME, STARTED, silent, known_here=known) is interrupted


def test_silence_counts_from_the_first_sight_of_a_revision():
    silence = Silence(forget_after=100.0)
    assert silence.observe("operations.a", 3, now=50.0) == 0.0
    assert silence.observe("operations.a", 3, now=70.0) == 20.0
    assert silence.observe("operations.a", 4, now=71.0) == 0.0  # its owner wrote again
    assert silence.observe("operations.b", 3, now=72.0) == 0.0


def test_an_interrupted_operation_ends_aborted_naming_its_seed():
    running = _operation(done=False)
    running.metadata.progress.scenarios_done = 512
    ended = _stored(running).as_interrupted("2026-01-01T01:00:00.000Z").operation
    assert ended.done and ended.error.code == grpc.StatusCode.ABORTED.value[0]
    assert "restarted" in ended.error.message and "seed 7 gives" in ended.error.message
    assert ended.metadata.end_time == "2026-01-01T01:00:00.000Z"
    assert ended.metadata.progress.scenarios_done == 512
    assert not running.done  # a copy


def test_keys():
    assert operation_key("operations/" + "ab" * 16) == "operations." + "ab" * 16
    assert operation_key("operations/nope") is None
    assert operation_key("operations/../x") is None
    assert request_key("a", "b") != request_key("a\0b", "")
    # The pair is encoded without a separator that could be in either part.
    assert request_key("a\0b", "") != request_key("a", "b\0")
    assert request_key("a b", "c") != request_key("a", "b c")


def test_a_retention_shorter_than_twice_the_staleness_is_refused():
    assert check_retention(86400.0) == 86400.0
    assert check_retention(MIN_RETENTION_SECONDS) == MIN_RETENTION_SECONDS
    with pytest.raises(ValueError, match="at least 30 seconds"):
        check_retention(2.0)


# ---------------------------------------------------------------- the book and the store


class FakeKV:
    """The bucket's calls the store makes, in memory; each yields to the loop, and
    ``slow`` makes every call take that long (the races). A record's headers are kept
    beside its value: a value put without them is one an earlier version wrote."""

    def __init__(self):
        self.data: dict[str, tuple[bytes, int]] = {}
        self.headers: dict[str, dict[str, str]] = {}
        self.sequence = 0
        self.slow = 0.0

    async def _turn(self):
        await asyncio.sleep(self.slow)

    def _put(self, key, value, headers=None):
        self.sequence += 1
        self.data[key] = (value, self.sequence)
        self.headers[key] = headers or {}
        return self.sequence

    async def get(self, key):
        await self._turn()
        if key not in self.data:
            raise KeyNotFoundError
        value, revision = self.data[key]
        return SimpleNamespace(key=key, value=value, revision=revision)

    async def create(self, key, value):
        await self._turn()
        if key in self.data:
            raise KeyWrongLastSequenceError
        return self._put(key, value)

    async def update(self, key, value, last):
        await self._turn()
        if key not in self.data or self.data[key][1] != last:
            raise KeyWrongLastSequenceError
        return self._put(key, value)

    async def delete(self, key, last):
        await self._turn()
        if key not in self.data or self.data[key][1] != last:
            raise KeyWrongLastSequenceError
        del self.data[key]

    async def write(self, key, value, summary, last):
        await self._turn()
        if (self.data[key][1] if key in self.data else 0) != (last or 0):
            raise KeyWrongLastSequenceError
        return self._put(key, value, {} if summary is None else {SUMMARY_HEADER: summary})

    async def operation_headers(self):
        await self._turn()
        return [(k, revision, self.headers[k]) for k, (_, revision) in self.data.items()
                if k.startswith("operations.")]


class FakeStore(OperationStore):
    def __init__(self, kv: FakeKV):
        super().__init__(SimpleNamespace(max_payload=10**6), retention_seconds=3600)
        self.kv = kv

    def _jetstream(self):  # connected
        return self.kv

    async def _bucket(self):
        return self.kv

    async def _write(self, key, data, summary, last):
        return await self.kv.write(key, data, summary, last)

    async def _headers(self):
        return await self.kv.operation_headers()


class FakeRun:
    """Runs until stopped, then fails (the book records an error: it is done)."""

    def __init__(self):
        self.guarantee_count, self.seed, self.scenarios, self.blocks = 1, 7, 1024, 1
        self.levels, self.passes, self.horizon_years = [0.99], 1, 1
        self.method, self.method_run = "monte_carlo", "monte_carlo"
        self.stop = asyncio.Event()

    async def progress(self):
        await self.stop.wait()
        raise RuntimeError("stopped")
        yield


def _book(kv: FakeKV, owner: Owner = ME) -> OperationBook:
    events = SimpleNamespace(publish_soon=lambda event: None)
    return OperationBook(3600.0, events, FakeStore(kv), owner)


async def _stop_all(book: OperationBook) -> None:
    book.stop_all()
    await book.close()


async def test_two_identical_starts_at_once_start_one_operation():
    kv = FakeKV()
    kv.slow = 0.01  # the store's reads take a while: both starts are in flight at once
    book = _book(kv)
    prepared = []

    def prepare():
        prepared.append(FakeRun())
        return prepared[-1]
    first, second = await asyncio.gather(book.start("req-1", "analyst", b"fp", prepare),
                                         book.start("req-1", "analyst", b"fp", prepare))
    assert first.name == second.name and len(prepared) == 1
    assert book._by_request[("analyst", "req-1")][0] == first.name
    entry = json.loads(kv.data[request_key("analyst", "req-1")][0])
    assert entry["name"] == first.name
    await _stop_all(book)


async def test_a_start_that_loses_its_request_id_to_another_replica_answers_with_its():
    kv = FakeKV()
    other = _book(kv, OTHER)
    theirs = await other.start("req-1", "analyst", b"fp", FakeRun)
    book = _book(kv)
    ours = await book.start("req-1", "analyst", b"fp", FakeRun)
    assert ours.name == theirs.name and book.running() == 0
    assert [k for k in kv.data if k.startswith("operations.")] == [
        operation_key(theirs.name)]
    await _stop_all(other)


async def test_a_request_entry_naming_a_missing_operation_is_taken_over(monkeypatch):
    monkeypatch.setattr(operations, "CLAIM_PENDING_SECONDS", 0.05)
    kv = FakeKV()
    key = request_key("analyst", "req-1")
    kv._put(key, json.dumps({"name": "operations/" + "f" * 32, "fingerprint": "6670"}
                            ).encode())
    book = _book(kv)
    started = await book.start("req-1", "analyst", b"fp", FakeRun)
    assert json.loads(kv.data[key][0])["name"] == started.name
    assert (await book.get(started.name)).name == started.name
    await _stop_all(book)


async def test_a_record_ended_by_another_replica_stays_ended_and_its_run_stops():
    kv = FakeKV()
    book = _book(kv)
    started = await book.start("req-1", "analyst", b"fp", FakeRun)
    record = book._records[started.name]
    key = operation_key(started.name)
    # Another replica took this one for gone and wrote it ABORTED.
    stored = await book.store.load(key)
    ended = stored.as_interrupted("2026-01-01T00:00:00.000Z")
    await book.store.save(key, ended)
    await book._save(record)  # the owner's next heartbeat
    after = await book.store.load(key)
    assert after.operation.done and after.operation.error.code == grpc.StatusCode.ABORTED.value[0]
    assert record.run is None or record.run.stop.is_set()
    await asyncio.wait_for(record.finished.wait(), 5)
    await book._save(record)  # its end here is not written over the stored one
    assert (await book.store.load(key)).operation == after.operation
    assert (await book.get(started.name)).error.code == grpc.StatusCode.ABORTED.value[0]


async def test_a_record_read_twice_in_one_pass_counts_at_its_latest_revision():
    # The headers-only consumer may deliver a key twice in one pass (written again while
    # it read, or replayed after a reset), either way round: the latest revision counts.
    kv = FakeKV()
    book = _book(kv)
    key = operation_key(_operation().name)
    revision = await book.store.save(key, _stored(_operation(done=False), OTHER))
    before = await kv.operation_headers()
    ended = dataclasses.replace(_stored(_operation(), OTHER), revision=revision)
    await book.store.save(key, ended)
    after = await kv.operation_headers()
    for found in (before + after, after + before):
        async def headers(found=found):
            return found
        kv.operation_headers = headers
        assert [(s.revision, s.operation.done) for s in await book.store.summaries()] == [
            (revision + 1, True)]
        listed = (await book.list(10, "")).operations
        assert [o.done for o in listed] == [True]


async def test_a_record_this_version_cannot_read_is_skipped_and_the_writer_goes_on():
    kv = FakeKV()
    book = _book(kv)
    started = await book.start("req-1", "analyst", b"fp", FakeRun)
    kv._put("operations." + "e" * 32, b"{not json")
    listed = (await book.list(100, "")).operations
    assert [o.name for o in listed] == [started.name]
    assert [s.operation.name for s in await book.store.summaries()] == [started.name]
    # The running operation's own record overwritten by something unreadable: its
    # heartbeat is refused (compare-and-set), the re-read fails to decode; logged.
    kv._put(operation_key(started.name), b"[]")
    await book._save_or_warn(book._records[started.name])
    book._sync_stopped = False
    sync = asyncio.create_task(book.sync_forever())
    await asyncio.sleep(0.05)
    assert not sync.done()
    sync.cancel()
    await asyncio.gather(sync, return_exceptions=True)
    with pytest.raises(NotFound):
        await book.get("operations/" + "d" * 32)
    await _stop_all(book)
    assert request_key("a", "b").startswith("requests.")


async def test_a_start_whose_rows_are_read_while_the_service_shuts_down_is_refused():
    # Reading a large portfolio takes seconds in a worker thread; a shutdown that begins
    # meanwhile must not find, after it has stopped and awaited everything, a new
    # operation running that nobody stops or records.
    book = _book(FakeKV())
    reading, release = threading.Event(), threading.Event()

    def prepare():
        reading.set()
        release.wait(5)
        return FakeRun()
    start = asyncio.ensure_future(book.start("req-1", "analyst", b"fp", prepare))
    await asyncio.to_thread(reading.wait, 5)
    book.shut_down(0.0)
    closing = asyncio.ensure_future(book.close())
    await asyncio.sleep(0.05)
    assert not closing.done()  # the start in flight is waited for
    release.set()
    with pytest.raises(Unavailable) as refused:
        await start
    assert refused.value.reason == "SHUTTING_DOWN"
    await asyncio.wait_for(closing, 5)
    assert book.running() == 0 and not book._records
