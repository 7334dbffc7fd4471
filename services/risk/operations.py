"""Long-running portfolio simulations (AIP-151 style operations).

An operation runs in this service's event loop whether or not its starter is still
connected; its progress is kept here (and published on NATS as
``ijh.risk.operation.progressed``) and its result is kept for the retention time.
Operations live in this process: a shutdown stops the running ones (they end ABORTED,
"stopped by a service shutdown") and a restart forgets them all (their seeds make them
reproducible by starting again).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
import math
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
STOPPED_BY_SHUTDOWN = ("stopped by a service shutdown; start it again (same seed, same "
                       "figures) once the risk service is back")
_CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}


def caller_subject(context: grpc.aio.ServicerContext) -> str:
    """The caller's subject as the gateway passed it (empty when called directly)."""
    return caller_metadata(context)[SUBJECT_KEY]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class OperationRecord:
    """What is known of one operation."""

    name: str
    sequence: int
    creator: str
    created: str
    started_monotonic: float
    updated: str = ""
    ended: str = ""
    guarantee_count: int = 0
    progress: risk_pb2.SimulationProgress | None = None
    seconds_left: float = 0.0
    done: bool = False
    error: risk_pb2.OperationError | None = None
    response: risk_pb2.PortfolioRiskResult | None = None
    run: PortfolioRun | None = None
    task: asyncio.Task | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    expires_monotonic: float = float("inf")

    def to_proto(self) -> risk_pb2.Operation:
        operation = risk_pb2.Operation(
            name=self.name, done=self.done,
            metadata=risk_pb2.PortfolioSimulationMetadata(
                create_time=self.created, update_time=self.updated or self.created,
                end_time=self.ended, creator=self.creator,
                guarantee_count=self.guarantee_count, progress=self.progress,
                seconds_left=self.seconds_left))
        if self.error is not None:
            operation.error.CopyFrom(self.error)
        elif self.response is not None:
            operation.response.CopyFrom(self.response)
        return operation


class OperationBook:
    """All operations of this service, newest first."""

    def __init__(self, retention_seconds: float, events: EventPublisher):
        self.retention = retention_seconds
        self.events = events
        self._records: dict[str, OperationRecord] = {}
        # (creator, request_id) -> (operation name, digest of the request it started)
        self._by_request: dict[tuple[str, str], tuple[str, bytes]] = {}
        self._sequence = itertools.count(1)
        self._shutting_down = False

    def start(self, request_id: str, creator: str, fingerprint: bytes,
              prepare: Callable[[], PortfolioRun]) -> OperationRecord:
        """Validate and start, or return the operation this creator already started with
        ``request_id`` for the same request (``fingerprint``, a digest of it); the same
        id with another request is AlreadyExists, as in the funding ledger."""
        self._expire()
        if self._shutting_down:
            raise Unavailable("SHUTTING_DOWN", "the risk service is shutting down; start the "
                              "simulation again in a moment", retry_after_seconds=5.0)
        key = (creator, request_id)
        if key in self._by_request:
            name, started_for = self._by_request[key]
            if started_for != fingerprint:
                raise AlreadyExists(f"request_id {request_id} already started {name} with "
                                    "another simulation; use a new request_id")
            return self._records[name]
        run = prepare()  # validation errors reach the caller; nothing is started
        record = OperationRecord(
            name=f"operations/{uuid.uuid4().hex}", sequence=next(self._sequence),
            creator=creator, created=_now(), started_monotonic=time.monotonic(),
            guarantee_count=run.guarantee_count, run=run,
            # Known from the start: 0 of N until the first chunk (whole blocks, as the
            # engine counts them).
            progress=risk_pb2.SimulationProgress(
                scenarios_total=math.ceil(run.scenarios / pf.BLOCK_SCENARIOS) * pf.BLOCK_SCENARIOS,
                level=run.levels[-1]))
        self._records[record.name] = record
        self._by_request[key] = (record.name, fingerprint)
        record.task = asyncio.get_running_loop().create_task(self._execute(record))
        log.info("operation started", extra={"operation": record.name, "creator": creator,
                                             "guarantees": run.guarantee_count})
        return record

    async def _execute(self, record: OperationRecord) -> None:
        run = record.run
        try:
            async for progress in run.progress():
                record.progress = translate.progress(progress, run.levels[-1]).progress
                self._progressed(record, progress.scenarios_done
                                 / max(progress.scenarios_total, 1) / run.passes)
                self._publish(record)
            if not run.result.cancelled:
                top = run.result.tail_risk[-1]
                record.progress = risk_pb2.SimulationProgress(
                    scenarios_done=run.result.scenarios, scenarios_total=run.result.scenarios,
                    expected_loss_cents=translate.estimate(run.result.expected_loss_cents),
                    level=top.level, value_at_risk_cents=translate.estimate(
                        top.value_at_risk_cents),
                    expected_shortfall_cents=translate.estimate(top.expected_shortfall_cents))
                # the contribution passes: the rest of the work
                record.response = await run.response(lambda share: self._progressed(
                    record, (1 + (run.passes - 1) * share) / run.passes))
            if record.response is None:  # stopped in the simulation or its contributions
                record.error = self._stopped_error()
            else:
                self.events.publish_soon(cloud_event(
                    "ijh.risk.portfolio.simulated", SOURCE, record.name,
                    translate.portfolio_simulated_event(run.result, run.guarantee_count)))
        except asyncio.CancelledError:  # the shutdown's time is up (close)
            record.error = self._stopped_error()
            raise
        except Exception as exc:
            status = status_for(exc)
            record.error = risk_pb2.OperationError(code=status.code, message=status.message)
        finally:
            record.done, record.seconds_left = True, 0.0
            record.ended = record.updated = _now()
            record.expires_monotonic = time.monotonic() + self.retention
            record.run = None  # free the portfolio; the result stays
            record.finished.set()
            self._publish(record)
            log.info("operation done", extra={
                "operation": record.name,
                "code": _CODE_NAMES[record.error.code] if record.error else "OK",
                "error": record.error.message if record.error else ""})

    def _stopped_error(self) -> risk_pb2.OperationError:
        if self._shutting_down:
            return risk_pb2.OperationError(code=grpc.StatusCode.ABORTED.value[0],
                                           message=STOPPED_BY_SHUTDOWN)
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
        code = _CODE_NAMES[record.error.code] if record.error is not None else ""
        self.events.publish_soon(cloud_event(
            "ijh.risk.operation.progressed", SOURCE, record.name,
            events_pb2.OperationProgressed(
                name=record.name, scenarios_done=p.scenarios_done,
                scenarios_total=p.scenarios_total, expected_loss_cents=p.expected_loss_cents.value,
                level=p.level, value_at_risk_cents=p.value_at_risk_cents.value,
                expected_shortfall_cents=p.expected_shortfall_cents.value, done=record.done,
                error_code=code)))

    def get(self, name: str) -> OperationRecord:
        self._expire()
        if name not in self._records:
            raise NotFound(name or "operations/", f"{name or 'operation'} not found: unknown, "
                           "expired after the retention time, or lost when the risk service "
                           "restarted (operations live in its memory); if you know the "
                           "simulation's seed, starting it again with the same seed gives "
                           "the same figures")
        return self._records[name]

    def list(self, page_size: int, page_token: str) -> tuple[list[OperationRecord], str]:
        self._expire()
        if not 0 <= page_size <= 100:
            raise InvalidArgument(FieldViolation("page_size", "must be 0..100"))
        size = page_size or 20
        before = None
        if page_token:
            try:
                before = int(base64.urlsafe_b64decode(page_token.encode()).decode())
            except ValueError as exc:
                raise InvalidArgument(FieldViolation("page_token", "not a token from "
                                                     "ListOperations")) from exc
        ordered = sorted(self._records.values(), key=lambda r: -r.sequence)
        if before is not None:
            ordered = [r for r in ordered if r.sequence < before]
        page = ordered[:size]
        token = ""
        if len(ordered) > size:
            token = base64.urlsafe_b64encode(str(page[-1].sequence).encode()).decode()
        return page, token

    async def wait(self, name: str, timeout_seconds: float) -> OperationRecord:
        record = self.get(name)
        timeout = MAX_WAIT_SECONDS if timeout_seconds <= 0 else min(timeout_seconds,
                                                                      MAX_WAIT_SECONDS)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(record.finished.wait()), timeout)
        return record

    async def cancel(self, name: str) -> OperationRecord:
        """Ask the operation to stop. The engine stops at its next chunk boundary; this
        answers once it has, or after CANCEL_WAIT_SECONDS with the operation still
        running (it then ends CANCELLED shortly: poll or wait)."""
        record = self.get(name)
        if not record.done and record.run is not None:
            record.run.stop.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(record.finished.wait()),
                                       CANCEL_WAIT_SECONDS)
        return record

    def running(self) -> int:
        """Operations started and not yet done."""
        return sum(1 for r in self._records.values() if not r.done)

    def stop_all(self) -> None:
        """A shutdown begins: refuse new operations, tell every running one to stop (its
        engine stops at its next chunk; it ends ABORTED, STOPPED_BY_SHUTDOWN)."""
        self._shutting_down = True
        for record in self._records.values():
            if not record.done and record.run is not None:
                record.run.stop.set()

    async def close(self) -> None:
        """Wait for the stopped operations to end; when the shutdown's time is up (this
        is cancelled), end them now: their last state is still recorded and published,
        and their worker threads, told to stop, are not waited for."""
        tasks = [r.task for r in self._records.values() if not r.done and r.task is not None]
        if not tasks:
            return
        try:
            await asyncio.wait(tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _expire(self) -> None:
        now = time.monotonic()
        for name in [n for n, r in self._records.items() if r.done and r.expires_monotonic < now]:
            del self._records[name]
        live = set(self._records)
        self._by_request = {k: v for k, v in self._by_request.items() if v[0] in live}
