"""The one event publisher: CloudEvents on NATS JetStream.

The stream is created at start when absent. Each publish carries ``Nats-Msg-Id`` =
event id, so a retry after a lost acknowledgement is stored once (JetStream's
duplicate window). Publishing never blocks a request on a missing broker: callers
either await :meth:`EventPublisher.publish` (the funding outbox, which must know) or
hand the event to :meth:`EventPublisher.publish_soon` (fire and forget, retried in
the background for a bounded time, failures counted and logged).

The stream's retention and copies (:class:`StreamLimits`, the ``IJH_EVENT_STREAM_*``
settings) are applied when a publisher given them creates the stream, and to an
existing stream whose own differ. Delivery to consumers is at least once: they
de-duplicate by event id (deploy/README.md).

``publish_soon`` keeps one first-in-first-out queue per publisher and publishes it one
event at a time, each after the one before was acknowledged: a failed event holds up
the ones after it and is retried first, so the stream stores them in the order they
were handed over (an operation's progress never goes back after its end, even across
a NATS outage).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import nats
from nats.errors import MaxPayloadError
from nats.js import api
from nats.js.errors import NotFoundError

from services.shared.cloudevents import CloudEvent
from services.shared.logs import request_id_var

if TYPE_CHECKING:
    from services.shared.config import Settings

log = logging.getLogger(__name__)

EVENT_SUBJECTS = ("ijh.>",)
DUPLICATE_WINDOW_SECONDS = 120.0
# publish_soon waits this long before publishing, so that the request's response goes
# out first and the events of calls arriving meanwhile share one flush and one wakeup.
COALESCE_SECONDS = 0.02
# A publish_soon event that failed is retried after this, doubling up to the maximum.
RETRY_FIRST_SECONDS = 0.1
# publish_soon sends up to this many queued events at once, in order, then awaits their
# acknowledgements: one at a time capped the events at one per round trip, and under a
# few thousand calls a second (ComputeGrant publishes one each) the queue grew until its
# events were given up. Sent in order on one connection, they are stored in order.
PUBLISH_WINDOW = 256
RETRY_MAX_SECONDS = 2.0
# While NATS cannot be reached the client retries every 0.5 s; a WARNING says so at the
# first failure, then at most this often (with the count), not at every attempt.
UNREACHABLE_WARNING_SECONDS = 30.0


def safe_url(url: str) -> str:
    """``url`` without credentials (``nats://user:secret@host:4222`` -> ``nats://host:4222``),
    fit for a log line or a message."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


class UnreachableLog:
    """Says that a broker cannot be reached: at once, then at most every ``every``
    seconds with the failures since, and once when it is reached again (the caller
    logs that line). Pure bookkeeping: returns what to log."""

    def __init__(self, every: float = UNREACHABLE_WARNING_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.every = every
        self.clock = clock
        self.failures = 0  # since the last warning
        self._last: float | None = None  # when the last warning was said

    def failed(self) -> int | None:
        """Record a failed attempt; the failure count to warn with now, or None."""
        self.failures += 1
        now = self.clock()
        if self._last is not None and now - self._last < self.every:
            return None
        self._last, count, self.failures = now, self.failures, 0
        return count

    def reached(self) -> None:
        """The broker answered: the next outage is warned at once."""
        self._last, self.failures = None, 0


class EventNotPublished(Exception):
    """JetStream did not acknowledge the event (broker down or no stream)."""


@dataclass(frozen=True)
class StreamLimits:
    """How long and how much the event stream keeps, on how many servers."""

    max_age_seconds: float = 0.0  # 0: for ever
    max_bytes: int = 0  # 0: no limit
    replicas: int = 1

    @classmethod
    def from_settings(cls, settings: Settings) -> StreamLimits:
        return cls(settings.event_stream_max_age, settings.event_stream_bytes,
                   settings.event_stream_replica_count)

    def apply_to(self, config: api.StreamConfig) -> bool:
        """Set these on ``config``; whether that changed it. Full, the stream refuses a
        new event (the publisher retries, the funding outbox keeps it) rather than
        delete an old one a consumer may not have read yet."""
        wanted = (self.max_age_seconds, self.max_bytes or -1, self.replicas,
                  api.DiscardPolicy.NEW)
        current = (config.max_age or 0.0, config.max_bytes or -1, config.num_replicas or 1,
                   api.DiscardPolicy(config.discard or api.DiscardPolicy.OLD))
        if abs(current[0] - wanted[0]) < 1e-3 and current[1:] == wanted[1:]:
            return False
        config.max_age, config.max_bytes, config.num_replicas, config.discard = wanted
        return True

    def log_fields(self) -> dict:
        return {"max_age_days": self.max_age_seconds / 86400, "max_bytes": self.max_bytes,
                "replicas": self.replicas}


@dataclass(frozen=True)
class _Queued:
    """An event handed to publish_soon, the loop time after which it is given up, and
    the request id of the call that handed it over (for its log lines)."""

    event: CloudEvent
    deadline: float
    request_id: str


class EventPublisher:
    """Connects lazily and keeps reconnecting; safe to use while NATS is down."""

    def __init__(self, nats_url: str, stream: str, *, subjects: tuple[str, ...] = EVENT_SUBJECTS,
                 publish_timeout_seconds: float = 2.0, background_retry_seconds: float = 60.0,
                 coalesce_seconds: float = COALESCE_SECONDS, limits: StreamLimits | None = None):
        self.nats_url = nats_url
        self.stream = stream
        self.subjects = list(subjects)
        # The stream's limits, applied on create and to an existing stream; None: created
        # with JetStream's (no limits, one copy) and an existing one left as it is.
        self.limits = limits
        self._stream_error = ""  # the last failure to create the stream, logged once
        # Called (on the event loop) when the broker is back, e.g. to wake an outbox.
        self.on_reconnected: list[Callable[[], None]] = []
        self.publish_timeout = publish_timeout_seconds
        self.background_retry = background_retry_seconds
        self.failures = 0  # events given up on; exported as a metric by the servers
        self._unreachable = UnreachableLog()
        self._closing = False  # a disconnect we asked for is not an outage
        self._nc: nats.NATS | None = None
        self._js = None
        self._stream_ready = False
        self._connecting: asyncio.Task | None = None
        # Events handed to publish_soon and not yet acknowledged, oldest first; one task
        # publishes them (see publish_soon) and is woken when the queue stops being empty.
        self.coalesce_seconds = coalesce_seconds
        self._queue: deque[_Queued] = deque()
        self._queued = asyncio.Event()
        self._emptied = asyncio.Event()
        self._sender: asyncio.Task | None = None

    async def start(self) -> None:
        """Begin connecting in the background; returns at once."""
        if self._connecting is None:
            # Not in the context of the call that happened to start it: the client's
            # tasks and callbacks log for no request.
            self._connecting = asyncio.create_task(self._connect_forever(),
                                                   context=contextvars.Context())

    @property
    def is_connected(self) -> bool:
        """True while connected to NATS (exported as ``ijh_nats_connected``)."""
        return self._nc is not None and self._nc.is_connected

    def jetstream(self):
        """The JetStream context of this connection while connected, else None: other
        JetStream uses of the service (the risk service's operation store) share the one
        connection and its reconnecting."""
        return self._js if self.is_connected else None

    @property
    def max_payload(self) -> int:
        """The largest message the connected server takes (its ``max_payload``)."""
        return self._nc.max_payload if self._nc is not None else 0

    async def _connect_forever(self) -> None:
        # nats.connect retries by itself (max_reconnect_attempts=-1), reporting each
        # failed attempt to _on_error, and returns once connected.
        while self._nc is None:
            try:
                self._nc = await nats.connect(
                    servers=[self.nats_url], connect_timeout=2, reconnect_time_wait=0.5,
                    max_reconnect_attempts=-1, allow_reconnect=True,
                    error_cb=self._on_error, disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected)
                self._js = self._nc.jetstream()
                self._unreachable.reached()
                log.info("connected to NATS", extra={"nats_url": safe_url(self.nats_url)})
            except Exception as exc:  # e.g. a malformed URL: say so, keep trying
                await self._on_error(exc)
                await asyncio.sleep(1.0)
        with contextlib.suppress(Exception):
            await self.ensure_stream()

    async def _on_error(self, exc: Exception) -> None:
        if self._closing:
            return
        count = self._unreachable.failed()
        if count is None:
            log.debug("NATS client error", extra={"error": str(exc)})
            return
        log.warning("NATS not reachable, retrying", extra={
            "nats_url": safe_url(self.nats_url), "failed_attempts": count,
            "error": f"{type(exc).__name__}: {exc}".rstrip(": ")})

    async def _on_disconnected(self) -> None:
        self._stream_ready = False
        if self._closing:
            log.debug("disconnected from NATS (closing)")
        else:
            log.warning("disconnected from NATS", extra={"nats_url": safe_url(self.nats_url)})

    async def _on_reconnected(self) -> None:
        self._unreachable.reached()
        log.info("reconnected to NATS", extra={"nats_url": safe_url(self.nats_url)})
        for callback in self.on_reconnected:
            callback()

    async def connected(self, timeout_seconds: float) -> bool:
        """Wait up to ``timeout_seconds`` for a connection with the stream in place."""
        await self.start()
        deadline = asyncio.get_running_loop().time() + timeout_seconds
        while asyncio.get_running_loop().time() < deadline:
            if self._nc is not None and self._nc.is_connected:
                try:
                    await self.ensure_stream()
                    return True
                except Exception:
                    pass
            await asyncio.sleep(0.05)
        return False

    async def ensure_stream(self) -> None:
        """Create the event stream when absent (file storage, dedup window, the limits),
        or bring an existing one's limits to ours."""
        if self._stream_ready:
            return
        if self._js is None:
            raise EventNotPublished("not connected to NATS")
        try:
            info = await self._js.stream_info(self.stream)
        except NotFoundError:
            await self._create_stream()
        else:
            if self.limits is not None and self.limits.apply_to(info.config):
                await self._update_stream(info.config)
        self._stream_ready = True

    async def _create_stream(self) -> None:
        config = api.StreamConfig(
            name=self.stream, subjects=self.subjects, storage=api.StorageType.FILE,
            num_replicas=1, duplicate_window=DUPLICATE_WINDOW_SECONDS)
        if self.limits is not None:
            self.limits.apply_to(config)
        try:
            await self._js.add_stream(config)
        except Exception as exc:
            # Retried at every publish: said once (until it changes), not at each.
            error = f"{type(exc).__name__}: {exc}"
            if error != self._stream_error:
                self._stream_error = error
                log.error("cannot create the event stream: events are not published",
                          extra={"stream": self.stream, "error": error})
            raise
        self._stream_error = ""
        log.info("created JetStream stream", extra={
            "stream": self.stream, **(self.limits.log_fields() if self.limits else {})})

    async def _update_stream(self, config: api.StreamConfig) -> None:
        """An existing stream with other limits (the settings changed, or another
        version created it): ours, or an ERROR and the stream as it is (it still takes
        events; e.g. more replicas than a single server has)."""
        try:
            await self._js.update_stream(config)
        except Exception as exc:
            log.error("event stream settings not applied: the stream keeps its own", extra={
                "stream": self.stream, "error": f"{type(exc).__name__}: {exc}",
                **self.limits.log_fields()})
            return
        log.info("event stream settings applied",
                 extra={"stream": self.stream, **self.limits.log_fields()})

    async def publish(self, event: CloudEvent) -> api.PubAck:
        """Publish once; raises :class:`EventNotPublished` unless JetStream acknowledged.
        Calling again with the same event is safe: the broker drops the duplicate."""
        await self.start()
        if not self.is_connected:
            raise EventNotPublished("not connected to NATS")
        try:
            await self.ensure_stream()
            return await self._js.publish(
                event.nats_subject, event.to_json_bytes(), timeout=self.publish_timeout,
                stream=self.stream, headers={"Nats-Msg-Id": event.id})
        except EventNotPublished:
            raise
        except Exception as exc:
            self._stream_ready = False
            raise EventNotPublished(f"{type(exc).__name__}: {exc}") from exc

    def publish_soon(self, event: CloudEvent) -> None:
        """Publish in the background, in order, retrying with the same id for a bounded time.

        The queue is published ``coalesce_seconds`` after an event arrives in it empty:
        the request that produced the event is answered before its event is published (a
        JetStream round trip and an acknowledgement, on the request's own event loop),
        and the events of concurrent calls share one wakeup. Events go out one at a time,
        each after the one before was acknowledged. One the broker does not acknowledge
        stays at the head and is retried (backing off, same ``Nats-Msg-Id``) before any
        later one; an event not acknowledged within ``background_retry`` seconds of being
        handed over is given up (counted in :attr:`failures`, logged at ERROR). While the
        broker answers, up to PUBLISH_WINDOW of them are sent at once, in order; after a
        failure, one at a time from the first not acknowledged (the broker drops the
        duplicates of those after it that were) until one is. Only the window in flight
        when the broker goes away can be stored out of order."""
        deadline = asyncio.get_running_loop().time() + self.background_retry
        self._queue.append(_Queued(event, deadline, request_id_var.get()))
        self._emptied.clear()
        self._queued.set()
        if self._sender is None or self._sender.done():
            # The sender serves every call's events: it runs in a context of its own, not
            # in that of the call that happened to start it, so its log lines carry no
            # request id but the one of the event they are about (see _give_up).
            self._sender = asyncio.create_task(self._send_queue(),
                                               context=contextvars.Context())

    async def _send_queue(self) -> None:
        """The one task publishing the publish_soon queue, head first (runs until close)."""
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._queued.clear()
                await self._queued.wait()
            await asyncio.sleep(self.coalesce_seconds)
            delay, size = RETRY_FIRST_SECONDS, PUBLISH_WINDOW
            while self._queue:
                window = [self._queue[i].event for i in range(min(size, len(self._queue)))]
                # Tasks created in order write their messages in order (each runs to its
                # first wait, the send, before the next starts).
                results = await asyncio.gather(*(self.publish(e) for e in window),
                                               return_exceptions=True)
                failed = next((i for i, r in enumerate(results)
                               if isinstance(r, BaseException)), len(results))
                for _ in range(failed):
                    self._queue.popleft()
                if failed == len(results):
                    delay, size = RETRY_FIRST_SECONDS, PUBLISH_WINDOW
                    continue
                # One at a time until the broker answers again: messages sent while it is
                # away wait in the client's reconnect buffer, and a window of them could
                # land around its own retries out of order.
                size = 1
                exc = results[failed]
                if not isinstance(exc, EventNotPublished):
                    raise exc
                if isinstance(exc.__cause__, MaxPayloadError):
                    # Never publishable: it must not hold up the events behind it.
                    self._give_up(self._queue.popleft(), "event given up", str(exc))
                    continue
                # Give up the events whose time is up by the next attempt (a prefix:
                # deadlines grow along the queue), then send again from the head.
                while self._queue and self._queue[0].deadline < loop.time() + delay:
                    self._give_up(self._queue.popleft(), "event given up", str(exc))
                if self._queue:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX_SECONDS)
            self._emptied.set()

    def _give_up(self, queued: _Queued, message: str, error: str) -> None:
        self.failures += 1
        event = queued.event
        extra = {"event_id": event.id, "event_type": event.type,
                 "event_subject": event.subject, "error": error}
        if queued.request_id:  # the call that handed it over
            extra["request_id"] = queued.request_id
        log.error(message, extra=extra)

    async def close(self, drain_timeout_seconds: float = 2.0) -> None:
        """Publish what publish_soon still holds (while connected, for at most
        ``drain_timeout_seconds``), then close the connection. Events still queued then
        are lost: each is counted in :attr:`failures` and logged at ERROR with its id."""
        if self._sender is not None:
            if self._queue and self.is_connected:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._emptied.wait(), drain_timeout_seconds)
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
            # The head may have been in flight, and stored after all: at-least-once
            # readers are told to expect that; here it counts as not published.
            while self._queue:
                self._give_up(self._queue.popleft(), "event dropped: the service stopped "
                              "before it was published", "closing")
        self._closing = True
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
        self._nc = None
