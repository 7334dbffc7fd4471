"""Durable records of long-running operations, in a NATS JetStream key-value bucket.

The risk service runs an operation in its own memory (:mod:`services.risk.operations`)
and keeps a copy of it here, so that a finished result outlives a restart and any
replica can answer for an operation another one started. The bucket keeps each key's
last value only (history 1) for the retention time after it was written (max_age).

Keys (a key is a subject; ``operations.>`` lists the records):

- ``operations.{id}``: the operation ``operations/{id}``: a JSON object holding the
  ``Operation`` message (base64 of its bytes, so figures come back bit-identical), its
  seed, its owner (replica and process instance), the owner's last heartbeat (the
  owner's wall clock: compared only by a later instance of the same replica, on the
  same host) and whether someone asked to cancel it. Never the portfolio. Its message
  also carries the record's summary in the ``Ijh-Operation-Summary`` header: the same
  record without the result (base64 of its JSON), written by the same write, so that it
  has the record's revision and never disagrees with it. Lists read the summaries alone
  (a headers-only read: no result crosses the wire). A record without one is read in
  full (its result then crosses the wire, and is left out of the list): one an earlier
  version wrote, or one whose summary is above SUMMARY_MAX_BYTES (JetStream refuses
  headers above 64 KiB; e.g. a very long error message).
- ``requests.{sha256(json [creator, request_id])}``: the operation a caller's
  request_id started and a digest of the request, written after the operation's record
  and only with compare-and-set (created, or updated at the revision read), so that two
  replicas given the same request_id at once start it once; refreshed with each
  heartbeat, so that it lasts as long as the operation.

The top half is pure (encoding, the size policy, the staleness rule); :class:`OperationStore`
is the shell around the bucket.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import json
import logging
import re
from dataclasses import dataclass

import grpc
from google.protobuf.message import DecodeError
from ijh.risk.v1 import risk_pb2
from nats.js import api
from nats.js.errors import (
    APIError,
    BadRequestError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
)
from nats.js.kv import KV_MARKER_REASON, KV_OP

from services.shared.events import EventPublisher

log = logging.getLogger(__name__)

BUCKET = "IJH_RISK_OPERATIONS"
# The owner rewrites each running operation's record this often (its heartbeat, with the
# progress reached): a bounded write rate, and how late a cancel from another replica
# is picked up.
HEARTBEAT_SECONDS = 5.0
# A running record another replica owns lost its owner when its revision has not
# changed for this long, as this process sees it (its own monotonic clock: hosts' wall
# clocks are not compared): three missed heartbeats, so that one slow write does not
# abort a live replica's operation.
STALE_SECONDS = 3 * HEARTBEAT_SECONDS
# The retention must outlast a silent owner's judgement, and more.
MIN_RETENTION_SECONDS = 2 * STALE_SECONDS
# A request's entry naming an operation that is not in the store is taken for a start
# in progress this long (seen from the caller's start), then for stale and taken over.
CLAIM_PENDING_SECONDS = 3.0
# Room left under the server's max_payload for the message's headers and subject.
PAYLOAD_MARGIN_BYTES = 4096
# Bound on one store call, so that a hung broker never holds a request for long.
STORE_TIMEOUT_SECONDS = 2.0
# Bound, in all, on a list's reads in full of the records without a summary. One read
# in full taking more than half of it is taken for failing (they take milliseconds), so
# that one record whose read hangs leaves time for the others.
IN_FULL_SECONDS = STORE_TIMEOUT_SECONDS
# A record whose read failed is read after the others, and not at all (left out) for
# this long after its failure, doubled at each failure in a row up to the maximum: one
# record that cannot be read costs each list and each sweep pass little or nothing.
UNREAD_RETRY_SECONDS = HEARTBEAT_SECONDS
UNREAD_RETRY_MAX_SECONDS = 60.0
_NAME = re.compile(r"operations/([0-9a-f]{32})")
SUMMARY_HEADER = "Ijh-Operation-Summary"
# A larger summary is not written (JetStream refuses a message whose headers are above
# 64 KiB): a record without one is read in full.
SUMMARY_MAX_BYTES = 32 * 1024
# JetStream's answer to a write whose expected last revision is not the key's.
_WRONG_LAST_SEQUENCE = (10071, 10164)
# JetStream's answer to a write whose headers are above 64 KiB.
_HEADERS_TOO_LARGE = 10097
# What a value this version cannot read raises (json's and base64's are ValueErrors).
_UNREADABLE = (ValueError, KeyError, TypeError, DecodeError)


def interrupted_message(seed: int) -> str:
    return (f"interrupted: the risk service restarted while it ran; start it again — seed "
            f"{seed} gives the same figures")


@dataclass(frozen=True)
class Owner:
    """Who runs an operation: the replica (host and listening address: a restart of it
    keeps this) and this process's instance (new at every start)."""

    replica: str
    instance: str

    def __str__(self) -> str:
        return f"{self.replica} (instance {self.instance})"


@dataclass
class StoredOperation:
    """One operation as the bucket holds it."""

    operation: risk_pb2.Operation
    seed: int
    owner: Owner
    heartbeat: float  # wall-clock seconds (time.time()) of the owner's last write
    cancel_requested: bool = False
    revision: int | None = None  # the bucket's revision it was read at; None: not stored

    def interrupted(self, me: Owner, me_started: float, silent_seconds: float,
                    known_here: bool) -> bool:
        """Running, by a process that is gone:

        - this process (``me``) when it does not have it in memory (``known_here``): a
          ghost, e.g. a record whose start lost its request_id to another replica;
        - an earlier instance of this replica whose last write (``heartbeat``) is older
          than this process's start (``me_started``; one host, one clock): it is gone.
          One that still writes after it (its shutdown hooks run after it freed the
          port) is judged like any other owner;
        - any owner whose record has not changed for STALE_SECONDS as this process saw
          it (``silent_seconds``, measured here: see :class:`Silence`)."""
        if self.operation.done:
            return False
        if self.owner == me:
            return not known_here
        if self.owner.replica == me.replica and self.heartbeat < me_started:
            return True
        return silent_seconds > STALE_SECONDS

    def as_interrupted(self, end_time: str) -> StoredOperation:
        """This record ended ABORTED, its progress as last reported kept."""
        operation = risk_pb2.Operation()
        operation.CopyFrom(self.operation)
        operation.done = True
        operation.metadata.end_time = operation.metadata.update_time = end_time
        operation.metadata.seconds_left = 0.0
        operation.error.CopyFrom(risk_pb2.OperationError(
            code=grpc.StatusCode.ABORTED.value[0], message=interrupted_message(self.seed)))
        return dataclasses.replace(self, operation=operation)


class Silence:
    """How long each record has been at its present revision, as this process saw it
    (its monotonic clock): the first time a revision is read starts its count."""

    def __init__(self, forget_after: float):
        self.forget_after = forget_after
        self._seen: dict[str, tuple[int | None, float]] = {}

    def observe(self, key: str, revision: int | None, now: float) -> float:
        """Seconds ``key`` has been at ``revision`` (0.0 the first time it is seen)."""
        seen = self._seen.get(key)
        if seen is None or seen[0] != revision:
            seen = self._seen[key] = (revision, now)
            if len(self._seen) > 1024:  # forget records not read for a long time
                self._seen = {k: v for k, v in self._seen.items()
                              if now - v[1] <= self.forget_after}
        return now - seen[1]


@dataclass(frozen=True)
class RequestEntry:
    """A ``requests.*`` entry: the operation a request_id started, with the digest of
    the request, at the bucket's revision it was read at."""

    name: str
    fingerprint: bytes
    revision: int | None = None


def encode_request(name: str, fingerprint: bytes) -> bytes:
    return json.dumps({"name": name, "fingerprint": fingerprint.hex()}).encode()


def decode_request(data: bytes, revision: int | None = None) -> RequestEntry:
    value = json.loads(data)
    return RequestEntry(str(value["name"]), bytes.fromhex(value["fingerprint"]), revision)


def check_retention(seconds: float) -> float:
    """The retention, if at least MIN_RETENTION_SECONDS; else ValueError saying so."""
    if not seconds >= MIN_RETENTION_SECONDS:
        raise ValueError(
            f"{seconds:g}: must be at least {MIN_RETENTION_SECONDS:g} seconds (twice the "
            f"{STALE_SECONDS:g} s after which a silent replica's operation is ended), so "
            "that a record and its request_id outlive the judgement of its owner")
    return seconds


class RecordTooLarge(Exception):
    """Even without its repeated result fields the record is above the size limit."""


def operation_key(name: str) -> str | None:
    """The bucket key of operation ``name``; None for a name this service never gives."""
    match = _NAME.fullmatch(name)
    return f"operations.{match.group(1)}" if match else None


def operation_name(key: str) -> str:
    """The operation whose record is at ``key`` (``operations.{id}``)."""
    return "operations/" + key.removeprefix("operations.")


def request_key(creator: str, request_id: str) -> str:
    """The key of a request_id; the pair is JSON-encoded, so no two pairs share it."""
    digest = hashlib.sha256(json.dumps([creator, request_id]).encode()).hexdigest()
    return f"requests.{digest}"


def encode(stored: StoredOperation, max_bytes: int) -> bytes:
    """The record's bytes, at most ``max_bytes``. A result too large for that is stored
    without its largest repeated fields (the top contributors first, as a rule), each
    dropped one named in the result's notes; the result kept in memory is not changed."""
    operation = stored.operation
    trimmed = None
    while True:
        data = json.dumps({
            "operation": base64.b64encode(operation.SerializeToString()).decode(),
            "seed": stored.seed, "owner": dataclasses.asdict(stored.owner),
            "heartbeat": stored.heartbeat, "cancel_requested": stored.cancel_requested,
        }, separators=(",", ":")).encode()
        if len(data) <= max_bytes:
            return data
        if trimmed is None:
            trimmed = risk_pb2.Operation()
            trimmed.CopyFrom(operation)
            operation = trimmed
        largest = _largest_repeated(operation.response)
        if largest is None:
            raise RecordTooLarge(f"{len(data):,} bytes, above {max_bytes:,}")
        parent, field = largest
        parent.ClearField(field)
        path = field if parent is operation.response else f"contributions.{field}"
        operation.response.notes.append(
            f"{path} is not kept with the stored operation (too large for the operation "
            f"store); start it again with seed {stored.seed} for it")


def _largest_repeated(result: risk_pb2.PortfolioRiskResult):
    """(message, field name) of the result's largest non-empty repeated field."""
    candidates = [(m, f.name) for m in (result, result.contributions)
                  for f in m.DESCRIPTOR.fields
                  if f.is_repeated and f.name != "notes"]
    sized = [(sum(_size(v) for v in getattr(m, name)), m, name) for m, name in candidates
             if len(getattr(m, name))]
    if not sized:
        return None
    _, message, name = max(sized, key=lambda t: t[0])
    return message, name


def _size(value) -> int:
    return value.ByteSize() if hasattr(value, "ByteSize") else 8


def without_result(operation: risk_pb2.Operation) -> risk_pb2.Operation:
    """``operation`` without its ``response`` (a list's view; an error is kept: the two
    are a oneof)."""
    if not operation.HasField("response"):
        return operation
    return risk_pb2.Operation(name=operation.name, metadata=operation.metadata,
                              done=operation.done)


def encode_summary(stored: StoredOperation) -> str | None:
    """The record's summary header: the record without its result (a running operation
    has no result: its summary is the whole record); None above SUMMARY_MAX_BYTES."""
    summary = dataclasses.replace(stored, operation=without_result(stored.operation))
    value = base64.b64encode(encode(summary, max_bytes=2**31)).decode()
    return value if len(value) <= SUMMARY_MAX_BYTES else None


def decode_summary(value: str, revision: int | None = None) -> StoredOperation:
    return decode(base64.b64decode(value), revision)


def decode(data: bytes, revision: int | None = None) -> StoredOperation:
    record = json.loads(data)
    return StoredOperation(
        operation=risk_pb2.Operation.FromString(base64.b64decode(record["operation"])),
        seed=int(record["seed"]), owner=Owner(**record["owner"]),
        heartbeat=float(record["heartbeat"]),
        cancel_requested=bool(record.get("cancel_requested")), revision=revision)


class BadRecord(Exception):
    """A stored value this version cannot read (e.g. written by another version)."""


def _decoded(entry) -> StoredOperation:
    try:
        return decode(entry.value, entry.revision)
    except _UNREADABLE as exc:
        raise BadRecord(f"{entry.key}: {type(exc).__name__}: {exc}") from exc


class Summaries(list):
    """Summaries of operation records (a list of :class:`StoredOperation`), and the keys
    of the records ``left_out`` of it for now: to be read in full, but the time for that
    was up, or the read failed now or lately (:meth:`OperationStore.summaries_in_full`
    reads them again); and of those ``unreadable``: in a format this version does not
    read (reading them again would not help). A record gone is in none."""

    def __init__(self, found=(), left_out=(), unreadable=()):
        super().__init__(found)
        self.left_out = list(left_out)
        self.unreadable = list(unreadable)


class StoreUnavailable(Exception):
    """The bucket cannot be reached now (NATS down, JetStream not answering)."""


class Conflict(Exception):
    """Someone else wrote the record since it was read (compare-and-set failed)."""


class OperationStore:
    """The bucket, on the event publisher's connection; every call raises
    :class:`StoreUnavailable` rather than wait long for a broker that is away."""

    def __init__(self, events: EventPublisher, retention_seconds: float, bucket: str = BUCKET):
        self.events = events
        self.bucket_name = bucket
        self.retention = check_retention(retention_seconds)  # never 0: max_age 0 is forever
        self._kv = None
        # Keys whose read in full failed: (failures in a row, when to read it again, on
        # the loop's clock). Warned of at the first failure only.
        self._unread: dict[str, tuple[int, float]] = {}

    def _jetstream(self):
        js = self.events.jetstream()
        if js is None:
            self._kv = None
            raise StoreUnavailable("not connected to NATS")
        return js

    async def _bucket(self):
        js = self._jetstream()
        if self._kv is None:
            config = api.KeyValueConfig(bucket=self.bucket_name, history=1, ttl=self.retention,
                                        storage=api.StorageType.FILE)
            try:
                self._kv = await js.create_key_value(config)
            except BadRequestError as exc:
                if exc.err_code != 10058:  # not "already in use with another configuration"
                    raise
                await self._retain(js)
                self._kv = await js.key_value(self.bucket_name)
        return self._kv

    async def _retain(self, js) -> None:
        """The bucket exists with another retention (the setting changed): apply ours."""
        info = await js.stream_info(f"KV_{self.bucket_name}")
        info.config.max_age = self.retention
        info.config.duplicate_window = min(info.config.duplicate_window or 120.0,
                                           self.retention)
        await js.update_stream(info.config)
        log.info("operation store retention changed",
                 extra={"bucket": self.bucket_name, "retention_seconds": self.retention})

    async def _call(self, call):
        """Run ``call(kv)`` within STORE_TIMEOUT_SECONDS; failures are StoreUnavailable
        (a compare-and-set that lost is :class:`Conflict`, a missing key None)."""
        try:
            async with asyncio.timeout(STORE_TIMEOUT_SECONDS):
                return await call(await self._bucket())
        except KeyWrongLastSequenceError as exc:
            raise Conflict(str(exc)) from exc
        except KeyNotFoundError:
            return None
        except (StoreUnavailable, RecordTooLarge):
            raise
        except Exception as exc:
            # nats-py makes KeyWrongLastSequenceError of this for an update only: not
            # for a delete, nor for a write of ours (:meth:`_write`)
            if isinstance(exc, APIError) and exc.err_code in _WRONG_LAST_SEQUENCE:
                raise Conflict(str(exc)) from exc
            self._kv = None  # e.g. the bucket was deleted: look it up again next time
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc

    async def save(self, key: str, stored: StoredOperation) -> int:
        """Write ``stored`` if the record is still at ``stored.revision`` (None: absent);
        returns the new revision. Raises Conflict, StoreUnavailable or RecordTooLarge."""
        summary = encode_summary(stored)

        async def write(kv):  # connected: the server's max_payload is known
            data = encode(stored, self.events.max_payload - PAYLOAD_MARGIN_BYTES
                          - len(summary or ""))
            return await self._write(key, data, summary, stored.revision)
        return await self._call(write)

    async def _write(self, key: str, data: bytes, summary: str | None,
                     last: int | None) -> int:
        """The bucket's compare-and-set write (last None: create), with the summary
        header (if any): nats-py's KeyValue writes no headers, so this publishes on the
        key's subject as it does."""
        headers = {api.Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(last or 0)}
        if summary is not None:
            headers[SUMMARY_HEADER] = summary
        try:
            ack = await self._jetstream().publish(self._subject(key), data, headers=headers)
        except APIError as exc:
            if exc.err_code == _HEADERS_TOO_LARGE:
                raise RecordTooLarge(f"headers: {exc.description}") from exc
            raise
        return ack.seq

    def _subject(self, key: str) -> str:
        return f"$KV.{self.bucket_name}.{key}"

    async def load(self, key: str) -> StoredOperation | None:
        """The record at ``key``, None when there is none; BadRecord when it does not
        decode."""
        entry = await self._call(lambda kv: kv.get(key))
        return None if entry is None else _decoded(entry)

    async def delete(self, key: str, revision: int) -> None:
        """Delete the record if it is still at ``revision``; else Conflict."""
        await self._call(lambda kv: kv.delete(key, last=revision))

    async def summaries(self, retry_failed: bool = False) -> Summaries:
        """Every operation's summary (the record without its result), at the record's
        revision. A record without one (an earlier version wrote it, or its summary is
        too large for a header) is read in full, its result left out: these within
        IN_FULL_SECONDS in all (past it the rest are left out, with a warning;
        ``retry_failed``: :meth:`summaries_in_full`). A record that cannot be read now
        is logged and ``left_out``, one that does not decode logged and ``unreadable``."""
        latest: dict[str, tuple[int, dict[str, str]]] = {}
        for key, revision, headers in await self._call(lambda kv: self._headers()):
            if revision > latest.get(key, (0, {}))[0]:  # a key read twice: the later
                latest[key] = revision, headers
        summaries, in_full, unreadable = [], [], []
        for key, (revision, headers) in latest.items():
            if KV_OP in headers or KV_MARKER_REASON in headers:
                continue  # deleted, or expired
            if SUMMARY_HEADER not in headers:
                in_full.append(key)
                continue
            try:
                summaries.append(decode_summary(headers[SUMMARY_HEADER], revision))
            except _UNREADABLE as exc:
                _unreadable(f"{key}: {type(exc).__name__}: {exc}")
                unreadable.append(key)
        read = await self.summaries_in_full(in_full, retry_failed=retry_failed)
        return Summaries([*summaries, *read], read.left_out, [*unreadable, *read.unreadable])

    async def summaries_in_full(self, keys: list[str], retry_failed: bool = False
                                ) -> Summaries:
        """The records at ``keys`` without their results, read in full, in turn, within
        IN_FULL_SECONDS in all, those whose read failed before last (read last), and
        each within half that time (else failing). Those past the time (with a warning),
        those failing now (a warning the first time only) and, unless ``retry_failed``,
        those whose read failed less than UNREAD_RETRY_SECONDS (doubled at each failure
        in a row) ago (not read) are ``left_out``: untried ones first, failing ones last.
        ``retry_failed`` (the sweep's, whose passes back off on their own): those are
        read too, last; a list's failed read does not hold the sweep up. Those that do
        not decode are ``unreadable``. StoreUnavailable when NATS is not connected."""
        self._jetstream()  # else each read fails at once
        loop = asyncio.get_running_loop()
        now = loop.time()
        waiting = set() if retry_failed else {
            k for k in keys if self._unread.get(k, (0, now))[1] > now}
        held = [k for k in keys if k in waiting]
        # In turn (a stable sort), those that failed before last.
        due = sorted((k for k in keys if k not in waiting), key=lambda k: k in self._unread)
        found, failed, unreadable, read, reading = [], [], [], 0, None
        deadline = now + IN_FULL_SECONDS
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                for reading in due:
                    # Checked here too: the timeout's cancel is lost when it lands as a
                    # reply arrives (nats-py's requests use Python 3.11's wait_for).
                    if loop.time() >= deadline:
                        break
                    try:
                        async with asyncio.timeout(IN_FULL_SECONDS / 2):
                            found.extend(await self._in_full(reading))
                        self._read_again(reading)
                    except (TimeoutError, StoreUnavailable) as exc:
                        failed.append(reading)
                        self._failed(reading, f"{type(exc).__name__}: {exc}".rstrip(": "))
                    except BadRecord as exc:
                        self._read_again(reading)  # read: its format is what fails
                        _unreadable(str(exc))
                        unreadable.append(reading)
                    read += 1
        if read < len(due):
            log.warning("operation records left out: the time to read the records "
                        "without a summary in full is up", extra={
                            "left_out": len(due) - read, "seconds": IN_FULL_SECONDS})
        return Summaries(found, [*due[read:], *failed, *held], unreadable)

    def _failed(self, key: str, error: str) -> None:
        count = self._unread.get(key, (0, 0.0))[0] + 1
        retry = min(UNREAD_RETRY_SECONDS * 2 ** (count - 1), UNREAD_RETRY_MAX_SECONDS)
        self._unread[key] = count, asyncio.get_running_loop().time() + retry
        if len(self._unread) > 1024:  # keys gone meanwhile (expired) are not read again
            del self._unread[next(iter(self._unread))]
        if count == 1:
            log.warning("operation record not read: read after the others from now on, "
                        "and not logged again until it is read", extra={
                            "key": key, "error": error, "retry_seconds": retry})
        else:
            log.debug("operation record not read again", extra={
                "key": key, "error": error, "failures": count, "retry_seconds": retry})

    def _read_again(self, key: str) -> None:
        if self._unread.pop(key, None) is not None:
            log.info("operation record read again", extra={"key": key})

    async def _in_full(self, key: str) -> list[StoredOperation]:
        """[the record at ``key`` without its result], read in full; [] when it is gone
        (deleted or expired). StoreUnavailable when it cannot be read now, BadRecord
        when it does not decode."""
        stored = await self.load(key)
        return [] if stored is None else [
            dataclasses.replace(stored, operation=without_result(stored.operation))]

    async def _headers(self) -> list[tuple[str, int, dict[str, str]]]:
        """(key, revision, headers) of each ``operations.*`` record's message, without
        its body: an ordered consumer, last message per key, headers only (what nats-py's
        KeyValue.watch does, with the headers kept). A key may come more than once (a
        write landing while it reads, a replay after the consumer's reset)."""
        prefix = self._subject("")
        subscribing = asyncio.ensure_future(self._jetstream().subscribe(
            prefix + "operations.>", stream=f"KV_{self.bucket_name}", ordered_consumer=True,
            deliver_policy=api.DeliverPolicy.LAST_PER_SUBJECT, headers_only=True))
        try:
            subscription = await asyncio.shield(subscribing)
        except asyncio.CancelledError:  # the time is up while it subscribed
            subscribing.add_done_callback(_unsubscribe)
            raise
        found = []
        try:
            info = await subscription.consumer_info()
            left = info.num_pending + info.delivered.consumer_seq  # 0: nothing stored
            while left:
                message = await subscription.next_msg(timeout=STORE_TIMEOUT_SECONDS)
                left = message.metadata.num_pending
                found.append((message.subject[len(prefix):], message.metadata.sequence.stream,
                              message.headers or {}))
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(subscription.unsubscribe())
        return found

    async def request(self, key: str) -> RequestEntry | None:
        """A request's entry; None when there is none (or it does not decode: logged)."""
        entry = await self._call(lambda kv: kv.get(key))
        if entry is None:
            return None
        try:
            return decode_request(entry.value, entry.revision)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("request entry not read", extra={"key": key, "error": str(exc)})
            return None

    async def claim_request(self, key: str, name: str, fingerprint: bytes,
                            revision: int | None = None) -> RequestEntry:
        """Make the request's entry name ``name``: created, or (``revision``: a stale
        entry taken over) updated at that revision. Returns the entry the key holds
        then: ``name``'s when this claim won, another operation's when one came first."""
        data = encode_request(name, fingerprint)
        for _ in range(3):
            try:
                if revision is None:
                    written = await self._call(lambda kv: kv.create(key, data))
                else:
                    written = await self._call(
                        lambda kv, last=revision: kv.update(key, data, last=last))
                return RequestEntry(name, fingerprint, written)
            except Conflict:
                current = await self.request(key)
                if current is not None:
                    return current
                revision = None  # gone meanwhile (expired): create it
        raise StoreUnavailable(f"{key}: written by others three times in a row")

    async def keep_request(self, key: str, name: str, fingerprint: bytes) -> RequestEntry:
        """Refresh a request's entry (its age starts again): with every heartbeat of its
        operation and when it ends, so that it expires with the result, not before; or
        create it when the operation was first stored after an outage. Only with
        compare-and-set: an entry naming another operation is left as it is and
        returned (its name is not ``name``)."""
        current = await self.request(key)
        if current is not None and current.name != name:
            return current
        return await self.claim_request(key, name, fingerprint,
                                        None if current is None else current.revision)


def _unreadable(error: str) -> None:
    log.warning("operation record not read: not in a format this version reads",
                extra={"error": error})


def _unsubscribe(subscribing: asyncio.Future) -> None:
    """A subscription whose start was given up on: end it once it exists (no consumer
    is left behind)."""
    if subscribing.cancelled() or subscribing.exception() is not None:
        return
    ending = asyncio.ensure_future(subscribing.result().unsubscribe())
    _ENDING.add(ending)
    ending.add_done_callback(_ENDING.discard)


_ENDING: set[asyncio.Future] = set()  # subscriptions being ended (kept referenced)
