"""Long-running portfolio simulations (AIP-151 style operations).

An operation runs in this service's event loop whether or not its starter is still
connected; its progress is kept here (and published on NATS as
``ijh.risk.operation.progressed``) and its result is kept for the retention time.

Each operation is also recorded in the operation store (:mod:`services.risk.operation_store`,
a JetStream key-value bucket): when it starts, at every heartbeat while it runs, and when
it ends; the end is shown here (waiters wake, reads answer done) once it is recorded, so
that no replica reads as running what another has answered done. Reads look in this
process first, then in the store, so a finished result survives a restart and any replica
answers for any operation; a running operation whose process is gone reads as ABORTED
("interrupted"). A cancel of an operation another replica runs is written into its
record; that replica stops it at its next heartbeat. While NATS is away operations work
in memory only (a WARNING says so); their records are written once it is back. A shutdown
refuses new operations at once and stops the running ones at the end of the drain (those
that finish before then complete); their ABORTED records are written before the process
exits.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import grpc
from ijh.events.v1 import events_pb2
from ijh.risk.v1 import risk_pb2

from services.risk import translate
from services.risk.engine import portfolio as pf
from services.risk.operation_store import (
    CLAIM_PENDING_SECONDS,
    HEARTBEAT_SECONDS,
    STALE_SECONDS,
    BadRecord,
    Conflict,
    OperationStore,
    Owner,
    RecordTooLarge,
    Silence,
    StoredOperation,
    StoreUnavailable,
    operation_key,
    operation_name,
    request_key,
    without_result,
)
from services.risk.portfolio_run import PortfolioRun
from services.shared.caller import SUBJECT_KEY, caller_metadata
from services.shared.errors import (
    AlreadyExists,
    FieldViolation,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from services.shared.event_data import cloud_event
from services.shared.events import EventPublisher
from services.shared.grpc_errors import status_for

log = logging.getLogger(__name__)

SOURCE = "ijh/risk"  # the CloudEvents source of every risk-service event
MAX_WAIT_SECONDS = 60.0
CANCEL_WAIT_SECONDS = 2.0
# How often a wait polls the store for an operation another replica runs.
STORED_POLL_SECONDS = 1.0
# The start-up sweep comes back for the records it left out (read in full past its time,
# or failing to read or to be settled now) after this long; after a pass that got
# through none of them (the store is away), twice as long as the last time, up to the
# maximum. Until none is left: a record expires with the retention at the latest. (A
# record whose read fails is read after the others; lists back off from it on their
# own, operation_store.UNREAD_RETRY_SECONDS, the sweep by its passes. A record in a
# format this version does not read is not read again.)
SWEEP_RETRY_SECONDS = HEARTBEAT_SECONDS
SWEEP_RETRY_MAX_SECONDS = 60.0
def stopped_by_shutdown(seed: int) -> str:
    return (f"stopped by a service shutdown; start it again once the risk service is back "
            f"— seed {seed} gives the same figures")
_CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}
_PHASES = {risk_pb2.SIMULATION_PHASE_SIMULATING: "simulating",
           risk_pb2.SIMULATION_PHASE_CONTRIBUTIONS: "contributions"}


def _code_name(record: OperationRecord) -> str:
    """The status name of the operation's error ("CANCELLED", "ABORTED", ...); "" without."""
    return _CODE_NAMES[record.error.code] if record.error is not None else ""


def _page_position(token: str) -> tuple[str, ...]:
    """The (create time, name) a ListOperations page token continues after."""
    try:
        position = tuple(base64.urlsafe_b64decode(token.encode()).decode().split(" "))
    except ValueError:
        position = ()
    if len(position) != 2:
        raise InvalidArgument(FieldViolation("page_token", "not a token from ListOperations"))
    return position


def caller_subject(context: grpc.aio.ServicerContext) -> str:
    """The caller's subject as its signer vouched for it (CallerCheck has verified it)."""
    return caller_metadata(context)[SUBJECT_KEY]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class OperationRecord:
    """What is known of one operation."""

    name: str
    creator: str
    created: str
    started_monotonic: float
    updated: str = ""
    ended: str = ""
    guarantee_count: int = 0
    horizon_years: int = 0
    method: int = 0  # PortfolioMethod: the one that runs
    progress: risk_pb2.SimulationProgress | None = None
    seconds_left: float = 0.0
    done: bool = False
    error: risk_pb2.OperationError | None = None
    response: risk_pb2.PortfolioRiskResult | None = None
    run: PortfolioRun | None = None
    task: asyncio.Task | None = None
    # Set once the end (``done``) is recorded in the store, or the store cannot take it
    # now: only then is it shown (waiters wake, reads answer done).
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    expires_monotonic: float = float("inf")
    seed: int = 0
    request_key: str = ""  # the store's key of the request_id that started it
    fingerprint: bytes = b""
    cancel_requested: bool = False  # through the store, by another replica
    # The store: the record's revision (None: not written yet), whether the request's
    # entry and the final state are written; one write of a record at a time.
    revision: int | None = None
    request_stored: bool = False
    request_lost: bool = False  # its request's entry names another operation: left so
    # Its start is still claiming its request_id (the start writes the entry, or finds
    # another replica's start holds it and withdraws this one): not listed meanwhile,
    # and the heartbeat leaves the entry to it.
    claiming: bool = False
    delete_failed: bool = False  # withdrawn (it did not run), its record not deleted yet
    stored_final: bool = False
    # Ended in the store by another replica (taken for gone): that final state is kept
    # and shown; this process stops its run.
    settled: risk_pb2.Operation | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    progress_sequence: int = 0  # of its last ijh.risk.operation.progressed event

    @property
    def contributions_stopped(self) -> bool:
        """Done with its result, but its contributions were stopped."""
        return self.response is not None and self.response.contributions_stopped

    def to_proto(self, result: bool = True, stored: bool = False) -> risk_pb2.Operation:
        """The operation; without its ``response`` unless ``result`` (a list's view).
        An answer shows the end once it is ``finished``; the record for the store
        (``stored``) has it as soon as the run is over."""
        if self.settled is not None:
            settled = risk_pb2.Operation()
            settled.CopyFrom(self.settled if result else without_result(self.settled))
            return settled
        done = self.done and (stored or self.finished.is_set())
        operation = risk_pb2.Operation(
            name=self.name, done=done,
            metadata=risk_pb2.PortfolioSimulationMetadata(
                create_time=self.created, update_time=self.updated or self.created,
                end_time=self.ended if done else "", creator=self.creator,
                guarantee_count=self.guarantee_count, progress=self.progress,
                seconds_left=self.seconds_left, horizon_years=self.horizon_years,
                seed=self.seed, method=self.method,
                contributions_stopped=done and self.contributions_stopped))
        if not done:
            return operation
        if self.error is not None:
            operation.error.CopyFrom(self.error)
        elif self.response is not None and result:
            operation.response.CopyFrom(self.response)
        return operation


class OperationBook:
    """All operations: this process's in memory, every replica's in the store."""

    def __init__(self, retention_seconds: float, events: EventPublisher,
                 store: OperationStore, owner: Owner):
        self.retention = retention_seconds
        self.events = events
        self.store = store
        self.owner = owner
        self._records: dict[str, OperationRecord] = {}
        # Starts that lost their request_id to another replica's (:meth:`_withdraw`),
        # until their retention has passed: never listed or answered, and their records
        # deleted (``revision`` None once done; retried at each heartbeat until then).
        self._withdrawing: dict[str, OperationRecord] = {}
        # (creator, request_id) -> (operation name, digest of the request it started)
        self._by_request: dict[tuple[str, str], tuple[str, bytes]] = {}
        # (creator, request_id) -> the start in progress for it: an identical start
        # arriving meanwhile (a client's retry) waits for it and answers the same.
        self._starting: dict[tuple[str, str], asyncio.Task] = {}
        # This process's start, on this host's wall clock: an earlier instance of this
        # replica that wrote after it is still stopping, not gone.
        self._started_wall = time.time()
        self._silence = Silence(forget_after=retention_seconds + STALE_SECONDS)
        self._shutting_down = False
        self._wake = asyncio.Event()  # a record to write now (an operation ended)
        self._syncing: asyncio.Task | None = None
        self._sweeping: asyncio.Task | None = None
        self._sync_stopped = False
        self.swept = asyncio.Event()  # the start-up sweep has judged every record
        self._store_down = False  # warned that records cannot be written

    async def start(self, request_id: str, creator: str, fingerprint: bytes,
                    prepare: Callable[[], PortfolioRun]) -> risk_pb2.Operation:
        """Validate and start, or return the operation this creator already started with
        ``request_id`` for the same request (``fingerprint``, a digest of it), here or on
        any replica; the same id with another request is AlreadyExists, as in the funding
        ledger."""
        self._expire()
        self._refuse_if_shutting_down()
        key = (creator, request_id)
        while True:
            if key in self._by_request:
                name, started_for = self._by_request[key]
                _same_request(request_id, name, started_for, fingerprint)
                return self._records[name].to_proto()
            starting = self._starting.get(key)
            if starting is None:
                break
            try:
                name, started_for = await asyncio.shield(starting)
            except Exception:  # it failed (its caller is told): try anew
                continue
            _same_request(request_id, name, started_for, fingerprint)
            return await self.get(name)
        # Reserved before the first await; the start goes on if its caller leaves.
        starting = asyncio.get_running_loop().create_task(
            self._begin(key, request_id, fingerprint, prepare))
        self._starting[key] = starting
        name, started_for = await asyncio.shield(starting)
        _same_request(request_id, name, started_for, fingerprint)
        return await self.get(name)

    def _refuse_if_shutting_down(self) -> None:
        if self._shutting_down:
            raise Unavailable("SHUTTING_DOWN", "the risk service is shutting down; start the "
                              "simulation again in a moment", retry_after_seconds=5.0)

    async def _begin(self, key: tuple[str, str], request_id: str, fingerprint: bytes,
                     prepare: Callable[[], PortfolioRun]) -> tuple[str, bytes]:
        """Start the operation for ``key``, or find the one its request_id started on
        any replica: (its name, the digest of the request it was started for)."""
        try:
            return await self._begin_reserved(key, request_id, fingerprint, prepare)
        finally:
            del self._starting[key]

    async def _begin_reserved(self, key: tuple[str, str], request_id: str,
                              fingerprint: bytes, prepare: Callable[[], PortfolioRun]
                              ) -> tuple[str, bytes]:
        creator = key[0]
        stored_key = request_key(creator, request_id)
        takeover = None
        with contextlib.suppress(StoreUnavailable):  # then this replica's memory decides
            earlier, takeover = await self._earlier(stored_key)
            if earlier is not None:
                return earlier
        # Off the event loop (a million rows take seconds to read); validation errors
        # reach the caller and nothing is started.
        run = await asyncio.to_thread(prepare)
        self._refuse_if_shutting_down()  # it began while the rows were read
        record = OperationRecord(
            name=f"operations/{uuid.uuid4().hex}", creator=creator, created=_now(),
            started_monotonic=time.monotonic(), guarantee_count=run.guarantee_count, run=run,
            horizon_years=run.horizon_years,
            method=translate.portfolio_method_enum(run.method_run),
            seed=run.seed,
            request_key=stored_key, fingerprint=fingerprint, claiming=True,
            # Known from the start: 0 of N until the first chunk (whole blocks, as the
            # engine counts them).
            progress=risk_pb2.SimulationProgress(
                scenarios_total=run.blocks * pf.BLOCK_SCENARIOS, level=run.levels[-1]))
        self._records[record.name] = record
        try:
            # The record first, then the request's entry naming it: an entry never names
            # an operation that is not there (but for a moment, or when a start died
            # between).
            await self._save_or_warn(record, request=False)
            held = None
            if record.revision is not None:
                # another replica given the same request_id at the same moment: one runs
                with contextlib.suppress(StoreUnavailable):  # written with a heartbeat
                    held = await self.store.claim_request(stored_key, record.name,
                                                          fingerprint, takeover)
        finally:
            # Settled, or cut short (the shutdown's time is up: the entry may name it,
            # so it is left as it is, to be read "interrupted")
            record.claiming = False
        if held is not None and held.name != record.name:
            self._withdraw(record)
            await self._delete_withdrawn(record)
            return held.name, held.fingerprint
        record.request_stored = held is not None
        self._by_request[key] = (record.name, fingerprint)
        record.task = asyncio.get_running_loop().create_task(self._execute(record))
        log.info("operation started", extra={"operation": record.name, "creator": creator,
                                             "guarantees": run.guarantee_count})
        return record.name, fingerprint

    def _withdraw(self, record: OperationRecord) -> None:
        """Take back a start that lost its request_id to another replica's: at once no
        longer listed, answered (its name was never given to anyone: NOT_FOUND) or
        written, but known here, so that
        a read of its record meanwhile (a list, the sweep) does not take it for a
        crashed operation of this process and end it ABORTED; its record is deleted
        (:meth:`_delete_withdrawn`)."""
        del self._records[record.name]
        record.stored_final = True  # a heartbeat waiting for the lock writes nothing
        record.run = None  # free the portfolio
        record.expires_monotonic = time.monotonic() + self.retention
        self._withdrawing[record.name] = record

    async def _delete_withdrawn(self, record: OperationRecord) -> None:
        """Delete a withdrawn start's record; when the store cannot take it now, or is
        written by others three times in a row, the writer tries again at its next
        heartbeat (a warning says so, once)."""
        if record.revision is None:
            return  # deleted, or never written
        key = operation_key(record.name)
        try:
            async with record.lock:  # a heartbeat in flight lands first
                for _ in range(3):
                    try:
                        await self.store.delete(key, record.revision)
                        break
                    except Conflict:  # written meanwhile (e.g. ended by another replica)
                        current = await self.store.load(key)
                        if current is None:
                            break
                        record.revision = current.revision
                else:
                    raise Conflict("written by others three times in a row")
        except (StoreUnavailable, Conflict, BadRecord) as exc:
            if not record.delete_failed:
                record.delete_failed = True
                log.warning("record of a start that did not run not deleted: tried again "
                            "at each heartbeat", extra={
                                "operation": record.name,
                                "error": f"{type(exc).__name__}: {exc}".rstrip(": ")})
            return
        if record.delete_failed:
            log.info("record of a start that did not run deleted",
                     extra={"operation": record.name})
        record.revision = None

    async def _earlier(self, stored_key: str) -> tuple[tuple[str, bytes] | None, int | None]:
        """The operation (name, request digest) a request's entry names, or None; and,
        for an entry naming an operation that stays missing for CLAIM_PENDING_SECONDS
        (its start died between, or its record was lost), the entry's revision, to take
        it over with compare-and-set."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLAIM_PENDING_SECONDS
        while True:
            entry = await self.store.request(stored_key)
            if entry is None:
                return None, None
            key = operation_key(entry.name)
            if entry.name in self._records:
                return (entry.name, entry.fingerprint), None
            try:
                found = key is not None and await self.store.load(key) is not None
            except BadRecord:
                found = True
            if found:
                return (entry.name, entry.fingerprint), None
            if loop.time() >= deadline:
                log.warning("request entry names an operation that is not stored: taken "
                            "over", extra={"key": stored_key, "operation": entry.name})
                return None, entry.revision
            await asyncio.sleep(0.25)

    async def _execute(self, record: OperationRecord) -> None:
        run = record.run
        cut_short = False
        contributing = False  # the simulation has ended; its contributions are computed
        try:
            async for progress in run.progress():
                record.progress = translate.progress(progress, run.levels[-1],
                                                     run.passes).progress
                self._progressed(record, record.progress.done_share)
                self._publish(record)
            if not run.result.cancelled:
                record.progress = translate.result_progress(run.result, run.passes)
                if run.options.include_contributions:
                    # The rest of the work, reported as it goes. Stopped now (a cancel, a
                    # shutdown), the simulation's result is kept: it is whole.
                    contributing = True
                    record.progress = translate.result_progress(run.result, run.passes, 0.0)
                    self._publish(record)
                    async for share in run.contribution_shares():
                        record.progress = translate.result_progress(run.result, run.passes,
                                                                    share)
                        self._progressed(record, record.progress.done_share)
                        self._publish(record)
                record.response = run.result_message(self._stopped_why())
            if record.response is None:  # stopped in the simulation
                record.error = self._stopped_error(record)
        except asyncio.CancelledError:  # the shutdown's time is up (close)
            if contributing:
                run.contributions, run.contributions_stopped = None, True
                record.response = run.result_message(self._stopped_why())
            else:
                record.error = self._stopped_error(record)
            cut_short = True
            raise
        except Exception as exc:
            status = status_for(exc)
            record.error = risk_pb2.OperationError(code=status.code, message=status.message)
        finally:
            if record.response is not None:
                self.events.publish_soon(cloud_event(
                    "ijh.risk.portfolio.simulated", SOURCE, record.name,
                    translate.portfolio_simulated_event(run.result, run.guarantee_count),
                    absent=translate.portfolio_simulated_event_absent(run.result)))
            record.done, record.seconds_left = True, 0.0
            record.ended = record.updated = _now()
            record.expires_monotonic = time.monotonic() + self.retention
            record.run = None  # free the portfolio; the result stays
            try:
                # Recorded before it is shown: a replica asked right after this one
                # answered "done" must not read it running from the store. (Cut short,
                # store_final writes it: the shutdown's time is up.)
                if not cut_short:
                    await self._save_or_warn(record)
            finally:
                record.finished.set()
                if not record.stored_final:  # an end not written yet: the writer's
                    self._wake.set()
                self._publish(record)
                log.info("operation done", extra={
                    "operation": record.name, "code": _code_name(record) or "OK",
                    "error": record.error.message if record.error else ""})

    def _stopped_why(self) -> str:
        """What stopped a run now (the note of contributions stopped)."""
        return "stopped by a service shutdown" if self._shutting_down else "cancelled on request"

    def _stopped_error(self, record: OperationRecord) -> risk_pb2.OperationError:
        if self._shutting_down:
            return risk_pb2.OperationError(code=grpc.StatusCode.ABORTED.value[0],
                                           message=stopped_by_shutdown(record.seed))
        return risk_pb2.OperationError(code=grpc.StatusCode.CANCELLED.value[0],
                                       message="cancelled on request")

    @staticmethod
    def _progressed(record: OperationRecord, done_share: float) -> None:
        """The operation's share of its work done: time left is the elapsed time scaled."""
        if record.done:  # a late report from the worker thread
            return
        record.updated = _now()
        elapsed = time.monotonic() - record.started_monotonic
        record.seconds_left = elapsed * (1 - done_share) / max(done_share, 1e-9)

    def _publish(self, record: OperationRecord) -> None:
        p = record.progress or risk_pb2.SimulationProgress()
        code = _code_name(record)
        record.progress_sequence += 1
        self.events.publish_soon(cloud_event(
            "ijh.risk.operation.progressed", SOURCE, record.name,
            events_pb2.OperationProgressed(
                name=record.name, scenarios_done=p.scenarios_done,
                scenarios_total=p.scenarios_total, expected_loss_cents=p.expected_loss_cents.value,
                level=p.level, value_at_risk_cents=p.value_at_risk_cents.value,
                expected_shortfall_cents=p.expected_shortfall_cents.value, done=record.done,
                error_code=code, sequence=record.progress_sequence,
                phase=_PHASES.get(p.phase, ""), phase_done_share=p.phase_done_share,
                contributions_stopped=record.contributions_stopped)))

    # ------------------------------------------------------------------ reads

    async def get(self, name: str) -> risk_pb2.Operation:
        self._expire()
        if name in self._records:
            return self._records[name].to_proto()
        return (await self._load(name)).operation

    async def _load(self, name: str) -> StoredOperation:
        """Another replica's (or an earlier instance's) operation, from the store; one
        whose process is gone is ended ABORTED here (and in the store)."""
        if name in self._withdrawing:  # its record may still be there, running
            raise _not_found(name)
        key = operation_key(name)
        try:
            stored = await self.store.load(key) if key is not None else None
        except StoreUnavailable as exc:
            raise Unavailable(
                "OPERATION_STORE_UNAVAILABLE", f"{name} is not running on this replica and "
                "the operation store (NATS) cannot be read now; retry in a moment",
                retry_after_seconds=5.0) from exc
        except BadRecord as exc:
            log.warning("operation record not read", extra={"operation": name,
                                                            "error": str(exc)})
            raise Unavailable(
                "OPERATION_RECORD_UNREADABLE", f"{name} is recorded in a format this "
                "version of the risk service does not read (another version wrote it); "
                "retry in a moment, or ask the replica that runs it",
                retry_after_seconds=5.0) from exc
        if stored is None:
            raise _not_found(name)
        return await self._settle(stored)

    async def _settle(self, stored: StoredOperation, must_write: bool = False
                      ) -> StoredOperation:
        """``stored``, ended ABORTED when its process is gone (written back unless
        another writer came first: then as that writer left it). ``stored`` may be a
        summary (a list's): only a running record is written back, and a running record
        has no result, so its summary is the whole of it. An end the store cannot take
        now is answered unwritten, or (``must_write``: the sweep, which comes back for
        it) StoreUnavailable."""
        for _ in range(3):
            key = operation_key(stored.operation.name)
            silent = self._silence.observe(key, stored.revision, time.monotonic())
            name = stored.operation.name
            if not stored.interrupted(self.owner, self._started_wall, silent, known_here=(
                    name in self._records or name in self._withdrawing)):
                return stored
            ended = stored.as_interrupted(_now())
            try:
                ended.revision = await self.store.save(key, ended)
                log.info("operation interrupted", extra={
                    "operation": stored.operation.name, "owner": str(stored.owner)})
                return ended
            except Conflict:  # read what the other writer left, and judge again
                try:
                    stored = await self.store.load(key) or ended
                except StoreUnavailable:
                    if must_write:
                        raise
                    return ended
                except BadRecord:
                    return ended
            except StoreUnavailable:
                if must_write:
                    raise
                return ended
        return stored

    async def list(self, page_size: int, page_token: str
                   ) -> risk_pb2.ListOperationsResponse:
        """Every replica's operations, newest first (by create time, then name), without
        their results (GetOperation has them): a page reads each stored operation's
        summary (a few hundred bytes), not its result (a record without a summary is read
        in full: :meth:`OperationStore.summaries`). A record it could not read (now, or
        in this version's format) has no known place in the order: it is named in
        ``unreachable``, by every page that could not read it. A later page that reads
        it shows it only if its place is after the token (a place in the order): else
        the page it belonged on named it. Unavailable when the store cannot be read: this
        replica's operations alone would leave the others' out unnamed. A start still
        claiming its request_id, or withdrawn, is not listed."""
        self._expire()
        if not 0 <= page_size <= 100:
            raise InvalidArgument(FieldViolation("page_size", "must be 0..100"))
        size = page_size or 20
        before = _page_position(page_token) if page_token else None
        try:
            stored = await self.store.summaries()
        except StoreUnavailable as exc:
            raise Unavailable(
                "OPERATION_STORE_UNAVAILABLE", "the operation store (NATS) cannot be read "
                "now, so the operations of the other replicas cannot be listed; retry in a "
                "moment", retry_after_seconds=5.0) from exc
        # After the read: a start withdrawn meanwhile is not taken from before it.
        operations = {name: r.to_proto(result=False) for name, r in self._records.items()
                      if not r.claiming}
        hidden = {*self._withdrawing, *(n for n, r in self._records.items() if r.claiming)}
        unreachable = sorted({name for name in map(operation_name, [
            *stored.left_out, *stored.unreadable]) if name not in operations.keys() | hidden})
        for summary in stored:
            name = summary.operation.name
            if name not in operations and name not in hidden:
                operations[name] = without_result((await self._settle(summary)).operation)
        ordered = sorted(operations.values(), key=_order, reverse=True)
        if before is not None:
            ordered = [o for o in ordered if _order(o) < before]
        page = ordered[:size]
        token = ""
        if len(ordered) > size:
            token = base64.urlsafe_b64encode(" ".join(_order(page[-1])).encode()).decode()
        return risk_pb2.ListOperationsResponse(operations=page, next_page_token=token,
                                               unreachable=unreachable)

    async def wait(self, name: str, timeout_seconds: float) -> risk_pb2.Operation:
        timeout = MAX_WAIT_SECONDS if timeout_seconds <= 0 else min(timeout_seconds,
                                                                      MAX_WAIT_SECONDS)
        self._expire()
        record = self._records.get(name)
        if record is None:
            return await self._wait_stored(name, timeout)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(record.finished.wait()), timeout)
        return record.to_proto()

    async def _wait_stored(self, name: str, timeout: float) -> risk_pb2.Operation:
        """Poll the store: the owner writes the end at once, progress at its heartbeat."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        stored = await self._load(name)
        while not stored.operation.done and (left := deadline - loop.time()) > 0:
            await asyncio.sleep(min(STORED_POLL_SECONDS, left))
            stored = await self._load(name)
        return stored.operation

    async def cancel(self, name: str) -> risk_pb2.Operation:
        """Ask the operation to stop. The engine stops at its next chunk boundary; this
        answers once it has, or after CANCEL_WAIT_SECONDS with the operation still
        running (it then ends CANCELLED shortly: poll or wait). Another replica's
        operation: the request is written into its record, and that replica stops it at
        its next heartbeat (HEARTBEAT_SECONDS)."""
        self._expire()
        record = self._records.get(name)
        if record is None:
            return await self._cancel_stored(name)
        if not record.finished.is_set():
            if record.run is not None:
                record.run.stop.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(record.finished.wait()),
                                       CANCEL_WAIT_SECONDS)
        return record.to_proto()

    async def _cancel_stored(self, name: str) -> risk_pb2.Operation:
        for _ in range(3):
            stored = await self._load(name)
            if stored.operation.done or stored.cancel_requested:
                break
            stored.cancel_requested = True
            try:
                await self.store.save(operation_key(name), stored)
                log.info("operation cancel requested", extra={"operation": name,
                                                              "owner": str(stored.owner)})
                break
            except Conflict:  # its owner's heartbeat came first: read it again
                continue
            except StoreUnavailable as exc:
                raise Unavailable(
                    "OPERATION_STORE_UNAVAILABLE", f"{name} runs on another replica "
                    f"({stored.owner}) and the operation store (NATS) cannot be written "
                    "now; retry in a moment", retry_after_seconds=5.0) from exc
        return await self._wait_stored(name, CANCEL_WAIT_SECONDS)

    def running(self) -> int:
        """Operations started here and not yet done."""
        return sum(1 for r in self._records.values() if not r.done)

    # ------------------------------------------------------------------ the store

    async def _save(self, record: OperationRecord, request: bool = True) -> None:
        """Write the record's present state (with this process's heartbeat), then
        (``request``) refresh its request's entry, so that it lasts as long as the
        record. Someone else wrote the record since (compare-and-set lost): a cancel
        request from another replica is picked up here; a final state (an
        "interrupted" from a replica that took this one for gone) is final: this
        process stops its run and leaves the record as it is."""
        key = operation_key(record.name)
        async with record.lock:
            if record.stored_final:
                return
            for _ in range(3):
                done = record.done
                stored = StoredOperation(record.to_proto(stored=True), record.seed,
                                         self.owner, time.time(), record.cancel_requested,
                                         record.revision)
                try:
                    record.revision = await self.store.save(key, stored)
                    break
                except Conflict:
                    current = await self.store.load(key)
                    record.revision = current.revision if current is not None else None
                    if current is not None and current.operation.done:
                        self._settled_elsewhere(record, current)
                        return
                    if current is not None and current.cancel_requested and not record.done:
                        record.cancel_requested = True
                        if record.run is not None:
                            record.run.stop.set()
                        log.info("operation cancelled through the store",
                                 extra={"operation": record.name})
            else:
                return  # three writers in a row came first: the next heartbeat tries again
            record.stored_final = done
        if request:
            await self._keep_request(record)

    def _settled_elsewhere(self, record: OperationRecord, current: StoredOperation) -> None:
        record.settled = current.operation
        record.stored_final = True
        if not record.done and record.run is not None:
            record.run.stop.set()
        log.warning("operation ended in the store by another replica, which took this one "
                    "for gone: its run here is stopped and the stored end kept", extra={
                        "operation": record.name, "owner": str(self.owner),
                        "error": current.operation.error.message})

    async def _keep_request(self, record: OperationRecord) -> None:
        """Create or refresh (compare-and-set) the request's entry naming the record."""
        if record.claiming or record.request_lost or not record.request_key:
            return
        held = await self.store.keep_request(record.request_key, record.name,
                                             record.fingerprint)
        record.request_stored = True
        if held.name != record.name:
            record.request_lost = True
            log.warning("request_id started another operation too (on another replica, "
                        "while the operation store was not reachable): its entry names "
                        "that one and is left so", extra={
                            "operation": record.name, "other": held.name})

    async def _save_or_warn(self, record: OperationRecord, request: bool = True) -> None:
        try:
            await self._save(record, request)
        except StoreUnavailable as exc:
            if not self._store_down:
                self._store_down = True
                log.warning("operation store not reachable: operations are kept in this "
                            "process only, and their results will not survive a restart "
                            "until NATS is back (they are written then)", extra={
                                "operation": record.name, "error": str(exc)})
            return
        except RecordTooLarge as exc:
            record.stored_final = True  # never fits: stop trying
            log.warning("operation not stored: its record is too large even without the "
                        "result's repeated fields; it is kept in this process only",
                        extra={"operation": record.name, "error": str(exc)})
        except Exception as exc:  # e.g. BadRecord: the writer must go on for the others
            log.warning("operation record not written", exc_info=True, extra={
                "operation": record.name, "error": f"{type(exc).__name__}: {exc}"})
            return
        if self._store_down:
            self._store_down = False
            log.info("operation store reachable again: operation records written")

    async def sync_forever(self) -> None:
        """The one background writer: running operations at every heartbeat, ends not
        written when they came and records held back while NATS was away once it is
        back; at every heartbeat too, the deletes of withdrawn starts' records that
        failed."""
        loop = asyncio.get_running_loop()
        next_beat = loop.time()
        while not self._sync_stopped:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(next_beat - loop.time(), 0)):
                    await self._wake.wait()
            self._wake.clear()
            beat = loop.time() >= next_beat
            if beat:
                next_beat = loop.time() + HEARTBEAT_SECONDS
                self._expire()  # withdrawn starts past their retention: not deleted again
            try:  # one bad pass (whatever it is) must not end the writer
                # Concurrently: one slow write does not hold the others' heartbeats.
                await asyncio.gather(*(
                    self._save_or_warn(record) for record in list(self._records.values())
                    if (beat and not record.done)
                    or (record.done and not record.stored_final)), *(
                    self._delete_withdrawn(record)
                    for record in list(self._withdrawing.values()) if beat))
            except Exception:
                if self._sync_stopped:
                    break
                log.exception("operation records not written in this pass")

    async def sweep(self) -> None:
        """The start-up sweep: settle the records an earlier instance of this replica
        (or a process gone) left running, so that lists do not show them running. Once
        the store is reached (tried at every heartbeat), it judges every record from its
        summary; those left out (read in full past the time for it, or failing to read
        or to be written now) it reads again (SWEEP_RETRY_SECONDS), until none is left.
        Its own task: neither start-up nor the writer's heartbeats wait for it."""
        left: list[str] | None = None  # keys to read again; None: the store not read yet
        retry = SWEEP_RETRY_SECONDS
        while not self._sync_stopped:
            before = left
            try:
                # retry_failed: a list's failed read does not hold this pass up
                if left is None:
                    found = await self.store.summaries(retry_failed=True)
                else:
                    found = await self.store.summaries_in_full(left, retry_failed=True)
                left = [*found.left_out, *await self._settle_all(found)]
            except StoreUnavailable as exc:
                log.debug("operation store not read yet", extra={"error": str(exc)})
                await self._pause(HEARTBEAT_SECONDS)
                continue
            except Exception:  # one bad pass (whatever it is) must not end the sweep
                log.exception("operation records not swept in this pass")
            if left is not None and not left:
                self.swept.set()
                return
            gained = before is None or (left is not None and len(left) < len(before))
            retry = SWEEP_RETRY_SECONDS if gained else min(2 * retry,
                                                           SWEEP_RETRY_MAX_SECONDS)
            if left is not None:
                log.info("operation records left out of the sweep: read again later",
                         extra={"left_out": len(left), "seconds": retry})
            await self._pause(retry)

    async def _pause(self, seconds: float) -> None:
        """The sweep's wait before it tries again; none once the book is stopping: the
        stop's cancel may have been lost in a NATS call (nats-py turns it into an error
        of its own, or Python 3.11's wait_for drops it as the reply lands), and
        store_final waits for the sweep."""
        if not self._sync_stopped:
            await asyncio.sleep(seconds)

    async def _settle_all(self, found: list[StoredOperation]) -> list[str]:
        """Settle each record in turn (only one whose process is gone is written); the
        keys of those the store could not take now."""
        unsettled = []
        for record in found:
            if self._sync_stopped:  # its cancel lost in a write: no more writes
                break
            try:
                await self._settle(record, must_write=True)
            except StoreUnavailable:
                unsettled.append(operation_key(record.operation.name))
            except Exception:  # not the store's doing: trying again would not help
                log.exception("operation record not settled",
                              extra={"operation": record.operation.name})
        return unsettled

    async def start_sync(self) -> None:
        """Start the background writer and the start-up sweep (a start hook)."""
        loop = asyncio.get_running_loop()
        self._syncing = loop.create_task(self.sync_forever())
        self._sweeping = loop.create_task(self.sweep())

    # ------------------------------------------------------------------ shutdown

    def shut_down(self, stop_after_seconds: float) -> None:
        """A shutdown begins: refuse new operations now; let running ones go on through
        the drain (``stop_after_seconds``), then tell them to stop (each engine stops at
        its next chunk; it ends ABORTED, :func:`stopped_by_shutdown`)."""
        self._shutting_down = True
        asyncio.get_running_loop().call_later(stop_after_seconds, self.stop_all)

    def stop_all(self) -> None:
        self._shutting_down = True
        for record in self._records.values():
            if not record.done and record.run is not None:
                record.run.stop.set()

    async def close(self) -> None:
        """Wait for the stopped operations to end; when the shutdown's time is up (this
        is cancelled), end them now: their last state is still recorded and published,
        and their worker threads, told to stop, are not waited for."""
        tasks: set[asyncio.Task] = set()
        try:
            while True:
                self.stop_all()  # also what a start in flight began meanwhile
                tasks |= {*self._starting.values(),
                          *(r.task for r in self._records.values()
                            if not r.finished.is_set() and r.task is not None)}
                pending = [task for task in tasks if not task.done()]
                if not pending:
                    return
                await asyncio.wait(pending)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def store_final(self) -> None:
        """Write the ended operations' records not written yet (those the shutdown
        stopped): a shutdown hook after :meth:`close`, so ABORTED reaches the store
        before the process exits."""
        # A flag as well as the cancel: the NATS client may turn a cancel of a request
        # into an error of its own, which the writer and the sweep survive.
        self._sync_stopped = True
        background = [t for t in (self._syncing, self._sweeping) if t is not None]
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await asyncio.gather(*(self._save_or_warn(r) for r in self._records.values()
                               if r.done and not r.stored_final),
                             *map(self._delete_withdrawn, list(self._withdrawing.values())))

    def _expire(self) -> None:
        now = time.monotonic()
        for name in [n for n, r in self._records.items() if r.done and r.expires_monotonic < now]:
            del self._records[name]
        for name in [n for n, r in self._withdrawing.items() if r.expires_monotonic < now]:
            del self._withdrawing[name]  # its record, if not deleted, has expired too
        live = set(self._records)
        self._by_request = {k: v for k, v in self._by_request.items() if v[0] in live}


def _not_found(name: str) -> NotFound:
    return NotFound(name or "operations/", f"{name or 'operation'} not found: unknown, or "
                    "expired after the retention time, or lost in a restart of the risk "
                    "service while NATS (which keeps operations) was away; if you know the "
                    "simulation's seed, starting it again with the same seed gives the same "
                    "figures")


def _same_request(request_id: str, name: str, started_for: bytes, fingerprint: bytes) -> None:
    if started_for != fingerprint:
        raise AlreadyExists(f"request_id {request_id} already started {name} with "
                            "another simulation; use a new request_id")


def _order(operation: risk_pb2.Operation) -> tuple[str, str]:
    """Newest first: RFC 3339 times in one format sort as text."""
    return operation.metadata.create_time, operation.name
