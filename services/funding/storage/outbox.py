"""The outbox relay: publishes committed events in order, marks each sent only after
the publish returned (the broker's acknowledgement), and retries with the same event id.

Guarantees:

* **no loss** — an event is in the outbox iff its state change committed; a row is
  marked sent only after ``publish`` returned, so a crash between the two re-publishes
  it, with the same id (JetStream drops the duplicate by ``Nats-Msg-Id``);
* **order** — rows go out in ``seq`` order and the relay stops at the first failure, so
  a later event is never published before an earlier one that failed. ``seq`` order is
  commit order on SQLite (writers are serialised) and per application on PostgreSQL
  (transitions of one application hold its row lock);
* **resilience** — a failing ``publish`` (broker down, timeout) is recorded on the row
  (``attempts``, ``last_error``) and retried with exponential back-off; the service
  keeps working, events accumulate, and go out when the broker returns;
* **no poison row** — a publish error that can never succeed (the broker refuses the
  message as above its maximum payload, or the stored envelope cannot be read) marks
  that row *dead* (``dead_at``, ``last_error``), logs it at ERROR and carries on with
  the next row: one bad event does not stop the outbox. Dead rows are not in
  :meth:`OutboxRelay.backlog`; :meth:`OutboxRelay.dead` counts them. They stay in the
  table for an operator: :func:`dead_events` lists them and :func:`resend_dead` clears
  ``dead_at`` so that the running relay publishes them again (the command
  ``python -m services.funding.storage.outbox_admin``).

The running relay also counts the backlog and the dead rows every ``count_interval_s``
(:attr:`OutboxRelay.counts`, with the time of that read): the metrics read those, so a
scrape never waits on the database, and a database that stops answering shows as a
count whose time no longer moves.

Run one relay per database (it does not claim rows, so two relays would publish the
same events twice; harmless for JetStream within its duplicate window, but wasteful).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from nats.errors import MaxPayloadError
from sqlalchemy import Engine, LargeBinary, case, cast, func, select, update

from services.funding.storage import tables as t
from services.funding.storage.codec import aware
from services.funding.storage.engine import ReadTransaction, is_sqlite
from services.shared.cloudevents import CloudEvent

Publish = Callable[[CloudEvent], Awaitable[None]]
log = logging.getLogger(__name__)
#: Beyond BIGINT no row can be named (and PostgreSQL would refuse the parameter).
_MAX_SEQ = 2**63 - 1
#: An event set aside as never publishable.
_IS_DEAD = t.outbox.c.sent_at.is_(None) & t.outbox.c.dead_at.is_not(None)


@dataclass(frozen=True)
class PendingEvent:
    seq: int
    event: CloudEvent | None
    """None when the stored envelope cannot be read (``problem`` says why)."""
    problem: str = ""


@dataclass(frozen=True)
class OutboxCounts:
    """The outbox as last read from the database."""

    backlog: int
    """Events stored and still to be published (dead ones not counted)."""
    dead: int
    read_at: float
    """When they were read (Unix time)."""


def permanent_publish_error(exc: BaseException) -> bool:
    """True for a publish error that retrying cannot cure: the broker refuses the
    message as larger than its maximum payload (``nats.errors.MaxPayloadError``, also
    when wrapped, e.g. in ``EventNotPublished`` with it as the cause)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, MaxPayloadError) or \
                "maximum payload exceeded" in str(current).lower():
            return True
        current = current.__cause__ or current.__context__
    return False


class OutboxRelay:
    """Moves events from the outbox to ``publish`` (injected: the NATS publisher,
    which sets ``Nats-Msg-Id`` = event id and returns after the JetStream ack)."""

    def __init__(self, engine: Engine, publish: Publish, *, batch_size: int = 100,
                 poll_interval_s: float = 1.0, max_backoff_s: float = 30.0,
                 count_interval_s: float = 5.0,
                 is_permanent: Callable[[BaseException], bool] = permanent_publish_error):
        self.engine = engine
        self.publish = publish
        self.is_permanent = is_permanent
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.max_backoff_s = max_backoff_s
        # Failed publishes (each retried later); ijh_outbox_publish_failures_total.
        self.publish_failures = 0
        self.count_interval_s = count_interval_s
        # The last successful count (None before the first): what the gauges show.
        self.counts: OutboxCounts | None = None
        self._counts_failing = False
        self._wake = asyncio.Event()

    def notify(self) -> None:
        """Wake the relay (call after a commit that wrote events). Thread-safe only from
        the relay's own loop; from other threads use ``loop.call_soon_threadsafe``."""
        self._wake.set()

    async def pending(self) -> list[PendingEvent]:
        """Up to ``batch_size`` unsent events that are not dead, oldest first."""
        return await asyncio.to_thread(self._pending)

    def backlog(self) -> int:
        """Events stored and still to be published (blocking: a database query). Dead
        rows, which will never be published, are not counted: see :meth:`dead`."""
        with ReadTransaction(self.engine) as conn:
            return int(conn.execute(select(func.count()).select_from(t.outbox)
                                    .where(t.outbox.c.sent_at.is_(None),
                                           t.outbox.c.dead_at.is_(None))).scalar_one())

    def dead(self) -> int:
        """Events the broker can never accept, set aside (blocking: a database query)."""
        with ReadTransaction(self.engine) as conn:
            return int(conn.execute(select(func.count()).select_from(t.outbox)
                                    .where(_IS_DEAD)).scalar_one())

    async def pending_count(self) -> int:
        return await asyncio.to_thread(self.backlog)

    def count(self) -> OutboxCounts:
        """Backlog and dead rows in one read (blocking: a database query)."""
        o = t.outbox.c
        dead = func.coalesce(func.sum(case((o.dead_at.is_not(None), 1), else_=0)), 0)
        with ReadTransaction(self.engine) as conn:
            row = conn.execute(select(func.count(), dead).select_from(t.outbox)
                               .where(o.sent_at.is_(None))).one()
        return OutboxCounts(int(row[0]) - int(row[1]), int(row[1]), time.time())

    async def refresh_counts(self) -> bool:
        """Read :attr:`counts` afresh; False (the old counts kept) when the database does
        not answer. Never raises: a count is for the metrics, not worth a crash."""
        try:
            self.counts = await asyncio.to_thread(self.count)
        except Exception as exc:
            if not self._counts_failing:  # once per outage, not every interval
                log.warning("outbox: cannot count the backlog; the metrics keep the last "
                            "count: %r", exc)
            self._counts_failing = True
            return False
        if self._counts_failing:
            log.info("outbox: counting the backlog again")
        self._counts_failing = False
        return True

    async def _keep_counting(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.refresh_counts()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.count_interval_s)

    async def run_once(self) -> int:
        """Publish pending events in order until none are left or one fails.

        Returns how many were published. A transient failure is recorded on its row and
        ends the pass (later events wait, preserving order); it is not raised. A
        permanent one (see :func:`permanent_publish_error`) marks the row dead and the
        pass goes on with the next row."""
        sent, _failed = await self._pass()
        return sent

    async def _pass(self) -> tuple[int, bool]:
        """One pass: (events published, whether it ended on a transient failure)."""
        sent = 0
        while True:
            batch = await self.pending()
            if not batch:
                return sent, False
            for item in batch:
                if item.event is None:
                    await self._bury(item, item.problem)
                    continue
                try:
                    await self.publish(item.event)
                except Exception as exc:  # the broker's problem is not ours to crash on
                    if self.is_permanent(exc):
                        await self._bury(item, repr(exc))
                        continue
                    self.publish_failures += 1
                    log.warning("outbox: publish of event %s failed: %r", item.event.id, exc)
                    await asyncio.to_thread(self._record_failure, item.seq, repr(exc))
                    return sent, True
                await asyncio.to_thread(self._mark_sent, item.seq)
                sent += 1
            if len(batch) < self.batch_size:
                return sent, False

    async def _bury(self, item: PendingEvent, error: str) -> None:
        """Set aside an event that can never be published, loudly, and carry on."""
        event = item.event
        log.error("outbox: event %s (seq %d, type %s, subject %s) can never be published "
                  "and is marked dead; later events go on: %s",
                  event.id if event else "?", item.seq, event.type if event else "?",
                  event.subject if event else "?", error[:500])
        await asyncio.to_thread(self._mark_dead, item.seq, error)

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set: after each pass wait for :meth:`notify` or the
        poll interval; after a failure back off exponentially up to ``max_backoff_s``.

        The wake flag is cleared *before* a pass, so a commit that notifies while a pass
        runs starts the next pass at once (never lost), and events that arrived during a
        pass are not mistaken for a failure (only a failed publish backs off). Beside it, the
        counts are read every ``count_interval_s`` (see :attr:`counts`)."""
        counting = asyncio.create_task(self._keep_counting(stop))
        try:
            await self._relay(stop)
        finally:
            counting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await counting

    async def _relay(self, stop: asyncio.Event) -> None:
        backoff = self.poll_interval_s
        while not stop.is_set():
            self._wake.clear()
            try:
                _sent, failed = await self._pass()
            except Exception:  # database hiccup: log, back off, keep going
                log.exception("outbox: relay pass failed")
                failed = True
            backoff = min(backoff * 2, self.max_backoff_s) if failed else self.poll_interval_s
            with contextlib.suppress(TimeoutError):
                waiters = [asyncio.ensure_future(self._wake.wait()),
                           asyncio.ensure_future(stop.wait())]
                try:
                    await asyncio.wait(waiters, timeout=backoff,
                                       return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for w in waiters:
                        w.cancel()

    # --- database side (run in a worker thread) ---------------------------------------

    def _pending(self) -> list[PendingEvent]:
        o = t.outbox.c
        with ReadTransaction(self.engine) as conn:
            rows = conn.execute(select(o.seq, o.envelope)
                                .where(o.sent_at.is_(None), o.dead_at.is_(None))
                                .order_by(o.seq).limit(self.batch_size)).all()
        return [self._decode(int(r.seq), r.envelope) for r in rows]

    @staticmethod
    def _decode(seq: int, envelope: str) -> PendingEvent:
        try:
            return PendingEvent(seq, CloudEvent.from_json_bytes(envelope.encode()))
        except Exception as exc:  # a row no publish can ever send
            return PendingEvent(seq, None, f"unreadable envelope: {exc!r}")

    def _mark_dead(self, seq: int, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(t.outbox).where(t.outbox.c.seq == seq)
                         .values(dead_at=datetime.now(UTC),
                                 attempts=t.outbox.c.attempts + 1, last_error=error[:2000]))

    def _mark_sent(self, seq: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(t.outbox).where(t.outbox.c.seq == seq)
                         .values(sent_at=datetime.now(UTC),
                                 attempts=t.outbox.c.attempts + 1, last_error=None))

    def _record_failure(self, seq: int, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(t.outbox).where(t.outbox.c.seq == seq)
                         .values(attempts=t.outbox.c.attempts + 1, last_error=error[:2000]))


# --- dead events, for an operator ---------------------------------------------------------

@dataclass(frozen=True)
class DeadEvent:
    """An outbox row set aside as never publishable. ``seq`` is its id."""

    seq: int
    event_id: str
    type: str
    subject: str
    size_bytes: int
    """Of the stored envelope (what the broker was sent)."""
    created_at: datetime
    dead_at: datetime
    attempts: int
    last_error: str


class NotDead(ValueError):
    """``resend_dead`` was given ids that are not dead rows (``problems``: id -> why)."""

    def __init__(self, problems: dict[int, str]):
        self.problems = problems
        super().__init__("not dead events, nothing changed: " + "; ".join(
            f"{seq} ({why})" for seq, why in sorted(problems.items())))


def dead_events(engine: Engine) -> list[DeadEvent]:
    """Every dead outbox row, oldest first."""
    o = t.outbox.c
    # Bytes, not characters: the broker's limit is on bytes. SQLite has no octet_length.
    size = (func.length(cast(o.envelope, LargeBinary)) if is_sqlite(engine)
            else func.octet_length(o.envelope))
    with ReadTransaction(engine) as conn:
        rows = conn.execute(select(o.seq, o.event_id, o.type, o.subject, size.label("size"),
                                   o.created_at, o.dead_at, o.attempts, o.last_error)
                            .where(_IS_DEAD).order_by(o.seq)).all()
    return [DeadEvent(int(r.seq), r.event_id, r.type, r.subject, int(r.size),
                      aware(r.created_at), aware(r.dead_at), int(r.attempts),
                      r.last_error or "") for r in rows]


def resend_dead(engine: Engine, seqs: Sequence[int] | None = None) -> list[int]:
    """Clear ``dead_at`` of the dead rows ``seqs`` (None: every dead row) so that the relay
    publishes them again at its next pass, in ``seq`` order (after later events already
    sent). All or nothing: raises :class:`NotDead` naming every id that is not a dead
    row. Returns the ids made pending again. A row the broker still cannot take is
    marked dead again, so fix the cause (e.g. the broker's max_payload) first."""
    o = t.outbox.c
    with engine.begin() as conn:  # rows locked, so the relay cannot move them meanwhile
        if seqs is None:
            chosen = [int(s) for s in conn.execute(
                select(o.seq).where(_IS_DEAD).order_by(o.seq).with_for_update()).scalars()]
        else:
            chosen = sorted(set(seqs))
            storable = [seq for seq in chosen if 0 < seq <= _MAX_SEQ]
            found = {int(r.seq): r for r in conn.execute(
                select(o.seq, o.sent_at, o.dead_at).where(o.seq.in_(storable))
                .with_for_update())}
            problems: dict[int, str] = {}
            for seq in chosen:
                row = found.get(seq)
                if row is None:
                    problems[seq] = "no such outbox row"
                elif row.sent_at is not None:
                    problems[seq] = "already sent"
                elif row.dead_at is None:
                    problems[seq] = "not dead: waiting to be published"
            if problems:
                raise NotDead(problems)
        if chosen:
            conn.execute(update(t.outbox).where(o.seq.in_(chosen)).values(dead_at=None))
    return chosen
