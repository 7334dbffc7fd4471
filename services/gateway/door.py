"""The door: every forwarded call passes these checks, in this order, before the
backend sees it.

1. authentication: a bearer token signed by a trusted key (UNAUTHENTICATED);
2. size: at most ``IJH_GATEWAY_MAX_REQUEST_BYTES`` (RESOURCE_EXHAUSTED);
3. rate: a token bucket per token subject (RESOURCE_EXHAUSTED + RetryInfo + QuotaFailure);
4. form: bytes that do not parse as the method's request (INVALID_ARGUMENT,
   ``REQUEST_UNDECODABLE``);
5. authorization: the role and ownership table in :mod:`services.gateway.policy`
   (PERMISSION_DENIED);
6. validation: the protos' ``buf.validate`` rules (INVALID_ARGUMENT + BadRequest).

A call that has passed these checks takes a place among ``IJH_GATEWAY_MAX_CONCURRENT_CALLS``
(all callers) and ``IJH_GATEWAY_MAX_CONCURRENT_CALLS_PER_CALLER`` (its token subject's),
held until it ends, a stream while open (:class:`ConcurrencyLimits`, taken by
:meth:`Door.admit` once the proxy has checked its backend); with none free it is refused
RESOURCE_EXHAUSTED ``GATEWAY_BUSY`` or ``TOO_MANY_CONCURRENT_CALLS`` + RetryInfo +
QuotaFailure. Only calls whose caller is known count: a flood without a token is refused at
step 1 and takes no place. Health and reflection need no token and are not counted there;
their streams (``Health/Watch``, reflection), which may stay open for hours, are bounded on
their own (:class:`TokenlessStreams`, ``IJH_GATEWAY_MAX_STREAMS_WITHOUT_TOKEN``,
``TOO_MANY_STREAMS_WITHOUT_TOKEN``); ``Health/Check``, what probes call, is not.

A unary call is checked once, with its request. A client stream is checked when it
opens (1, 3 and the role in 5) and then every message as it arrives (1 again: the token it
opened with, still trusted and unexpired; 2, 4, ownership in 5, and 6), so a stream's later
messages meet the same rules as its first, and a key dropped or a token expired while it
runs ends it.

Every refusal carries a ``google.rpc.ErrorInfo`` (domain ``ijh``, a machine-readable
reason), is counted in ``ijh_gateway_refusals_total{reason}`` and logged as one JSON
line with the method, subject and reason. A validation refusal's message names the first
few bad fields with their rule (its BadRequest names the first 50), and its log line
lists them (``fields``, at most ten, and ``field_count``). An accepted call is forwarded with the
caller's identity as ``x-ijh-caller-subject``, ``x-ijh-caller-role`` and
``x-ijh-caller-business-id`` metadata and ``x-ijh-caller-assertion``, an HMAC under the
key of the gateway's link to that backend over that identity, the method, the request id
and an expiry 10 s ahead (:mod:`services.shared.caller_assertion`): the backends believe
the identity only with a good signature, not because of who can reach them (the gateway
never forwards a caller's own ``x-ijh-*``).
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable

from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from prometheus_client import Counter, Gauge

from services.gateway import policy, validation
from services.gateway.identity import Caller, TokenVerifier, Unauthenticated
from services.gateway.proxy import (
    CallContext,
    OversizedRequest,
    UndecodableRequest,
    undecodable_message,
)
from services.shared import grpc_errors
from services.shared.caller import IDENTITY_KEYS, identity_metadata
from services.shared.caller_assertion import CallerKeys
from services.shared.wrapping import BehaviorWrapper

log = logging.getLogger(__name__)

DOMAIN = "ijh"
_BEARER = "bearer "
# When a caller refused for want of a place is told to try again: calls take
# milliseconds to seconds, so places free up about that fast.
BUSY_RETRY_SECONDS = 1.0
# The streams that need no token; each may stay open for hours.
TOKENLESS_STREAMS = frozenset({
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
})


class RateLimiter:
    """Token buckets, one per key: ``rate`` tokens a second up to ``burst``."""

    def __init__(self, rate_per_second: float, burst: float, clock=time.monotonic,
                 max_keys: int = 100_000):
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate_per_second
        self.burst = burst
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()

    def take(self, key: str) -> float:
        """Take one token: 0.0 when allowed, else the seconds until one is available."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._buckets.popitem(last=False)  # the longest-idle caller
            bucket = self._buckets[key] = [self.burst, now]
        else:
            self._buckets.move_to_end(key)
            bucket[0] = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
            bucket[1] = now
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return 0.0
        return (1.0 - bucket[0]) / self.rate


class ConcurrencyLimits:
    """Places for calls in flight: ``total`` in all, ``per_caller`` for one token subject.
    A place is taken as a call passes the door and given back when it ends; a call that
    finds none free is refused at once, not queued (its RetryInfo says when to retry).
    Counters, not an asyncio.Semaphore: everything runs on the one event loop, and nothing
    waits for a place."""

    def __init__(self, total: int, per_caller: int):
        if total < 1 or per_caller < 1:
            raise ValueError("limits must be at least 1")
        self.total = total
        self.per_caller = per_caller
        self.in_use = 0
        self._by_caller: dict[str, int] = {}

    def take(self, subject: str) -> str | None:
        """Take a place for ``subject``: None when taken, else the refusal's reason."""
        held = self._by_caller.get(subject, 0)
        if held >= self.per_caller:
            return "TOO_MANY_CONCURRENT_CALLS"
        if self.in_use >= self.total:
            return "GATEWAY_BUSY"
        self.in_use += 1
        self._by_caller[subject] = held + 1
        return None

    def give_back(self, subject: str) -> None:
        self.in_use -= 1
        held = self._by_caller[subject] - 1
        if held:
            self._by_caller[subject] = held
        else:
            del self._by_caller[subject]  # the table holds callers with calls open only

    def held_by(self, subject: str) -> int:
        return self._by_caller.get(subject, 0)


def _pack(message) -> any_pb2.Any:
    detail = any_pb2.Any()
    detail.Pack(message)
    return detail


def _duration(seconds: float) -> duration_pb2.Duration:
    whole = math.floor(seconds)
    return duration_pb2.Duration(seconds=whole, nanos=int((seconds - whole) * 1e9))


class Door:
    """The checks of :mod:`services.gateway.door` as one ServiceProxy request hook."""

    def __init__(self, verifier: TokenVerifier, limiter: RateLimiter, max_request_bytes: int,
                 refusals: Counter, keys: CallerKeys, limits: ConcurrencyLimits | None = None):
        self.verifier = verifier
        self.keys = keys
        self.limiter = limiter
        self.max_request_bytes = max_request_bytes
        self.refusals = refusals
        self.limits = limits

    async def __call__(self, call: CallContext) -> None:
        opening = call.caller is None  # a stream's later messages come back here
        if opening:
            call.caller = await self._authenticate(call)
        else:
            call.caller = await self._authenticate_again(call)
        caller = call.caller
        if isinstance(call.request, OversizedRequest):
            await self._refuse(
                call, caller, code_pb2.RESOURCE_EXHAUSTED, "REQUEST_TOO_LARGE",
                f"request of {call.request.size_bytes} bytes exceeds the gateway's limit of "
                f"{self.max_request_bytes} bytes",
                {"size_bytes": str(call.request.size_bytes),
                 "limit_bytes": str(self.max_request_bytes)})
        wait = self.limiter.take(caller.subject) if opening else 0.0
        if wait > 0.0:
            quota = error_details_pb2.QuotaFailure(violations=[
                error_details_pb2.QuotaFailure.Violation(
                    subject=f"caller:{caller.subject}",
                    description=f"at most {self.limiter.rate:g} calls/s per caller, "
                                f"bursts of {self.limiter.burst:g}")])
            await self._refuse(
                call, caller, code_pb2.RESOURCE_EXHAUSTED, "RATE_LIMITED",
                f"rate limit exceeded; retry in {wait:.3f} s", {"subject": caller.subject},
                [error_details_pb2.RetryInfo(retry_delay=_duration(wait)), quota])
        if isinstance(call.request, UndecodableRequest):
            await self._refuse(call, caller, code_pb2.INVALID_ARGUMENT, "REQUEST_UNDECODABLE",
                               undecodable_message(call.method),
                               {"size_bytes": str(call.request.size_bytes)})
        method = f"/{call.method.containing_service.full_name}/{call.method.name}"
        decision = policy.decide(method, caller, call.request)
        if not decision.allowed:
            await self._refuse(call, caller, code_pb2.PERMISSION_DENIED, decision.reason,
                               decision.message, {"role": caller.role.value})
        # A stream that has just opened has no message to check yet.
        violations = [] if call.request is None else validation.violations_of(call.request)
        if violations:
            await self._refuse(call, caller, code_pb2.INVALID_ARGUMENT, "INVALID_REQUEST",
                               validation.summary(violations), {},
                               [validation.bad_request(violations)],
                               {"fields": validation.logged_fields(violations),
                                "field_count": len(violations)})
        # Signed again at each of a stream's messages: the backend call opens after the
        # first one, which may come long after the stream opened, and a fresh assertion has
        # its whole validity then.
        call.outgoing[:] = [pair for pair in call.outgoing if pair[0] not in IDENTITY_KEYS]
        call.outgoing.extend(identity_metadata(
            self.keys, method, call.request_id, caller.subject, caller.role.value,
            caller.business_id, time.time()))

    async def admit(self, call: CallContext) -> None:
        """The proxy's last step before forwarding a call (a stream when it opens): take
        a place for it in :attr:`limits`, given back when the call ends however it ends
        (gRPC's done callback: a stream's generator may be closed only later), or refuse
        it."""
        if self.limits is None:
            return
        caller: Caller = call.caller
        subject = caller.subject
        reason = self.limits.take(subject)
        if reason is None:
            call.context.add_done_callback(lambda _context: self.limits.give_back(subject))
            return
        if reason == "TOO_MANY_CONCURRENT_CALLS":
            limit, quota_subject = self.limits.per_caller, f"caller:{subject}"
            message = (f"you have {self.limits.held_by(subject)} calls or streams open at "
                       f"the gateway, the most one caller may; retry once one has ended")
            description = f"at most {limit} calls at once per caller (streams while open)"
        else:
            limit, quota_subject = self.limits.total, "gateway"
            message = (f"the gateway is serving its limit of {limit} calls at once; retry "
                       f"in {BUSY_RETRY_SECONDS:g} s")
            description = f"at most {limit} calls at once, all callers together"
        quota = error_details_pb2.QuotaFailure(violations=[
            error_details_pb2.QuotaFailure.Violation(subject=quota_subject,
                                                     description=description)])
        await self._refuse(
            call, caller, code_pb2.RESOURCE_EXHAUSTED, reason, message,
            {"limit": str(limit)},
            [error_details_pb2.RetryInfo(retry_delay=_duration(BUSY_RETRY_SECONDS)), quota],
            {"in_use": self.limits.in_use, "caller_in_use": self.limits.held_by(subject)})

    async def _authenticate(self, call: CallContext) -> Caller:
        header = ""
        for key, value in call.context.invocation_metadata() or ():
            if key == "authorization":
                header = value
                break
        try:
            if not header:
                raise Unauthenticated("TOKEN_MISSING",
                                      "no bearer token (metadata authorization: Bearer <JWT>)")
            if not header[:len(_BEARER)].lower() == _BEARER:
                raise Unauthenticated("TOKEN_MALFORMED", "authorization must be 'Bearer <JWT>'")
            return self.verifier.verify(header[len(_BEARER):].strip())
        except Unauthenticated as exc:
            await self._refuse(call, None, code_pb2.UNAUTHENTICATED, exc.reason, str(exc), {})
            raise  # not reached: _refuse aborts

    async def _authenticate_again(self, call: CallContext) -> Caller:
        """A stream's later message: the token it opened with, verified again (while cached,
        a dictionary lookup). A stream lives up to an hour: a key dropped meanwhile (the
        cache emptied) or the token expired ends it, as it would refuse a new call."""
        caller: Caller = call.caller
        try:
            return self.verifier.verify(caller.token)
        except Unauthenticated as exc:
            await self._refuse(call, caller, code_pb2.UNAUTHENTICATED, exc.reason, str(exc), {})
            raise  # not reached: _refuse aborts

    async def _refuse(self, call: CallContext, caller: Caller | None, code: int, reason: str,
                      message: str, metadata: dict[str, str], details=(),
                      logged: dict | None = None) -> None:
        """Refuse the call: count it, log it (with ``logged`` added to the line) and abort
        with ErrorInfo and ``details``."""
        method = f"/{call.method.containing_service.full_name}/{call.method.name}"
        await call.abort(refusal(self.refusals, method, caller, code, reason, message,
                                 metadata, details, logged))


def refusal(refusals: Counter, method: str, caller: Caller | None, code: int, reason: str,
            message: str, metadata: dict[str, str], details=(),
            logged: dict | None = None) -> status_pb2.Status:
    """Count and log a refusal (``logged`` added to its line); the status that says it,
    with ErrorInfo and ``details``."""
    refusals.labels(reason).inc()
    log.warning("refused", extra={
        "method": method, "subject": caller.subject if caller else "",
        "role": caller.role.value if caller else "", "reason": reason,
        "code": code_pb2.Code.Name(code), "detail": message, **(logged or {})})
    info = error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN,
                                       metadata={"method": method, **metadata})
    return status_pb2.Status(code=code, message=message,
                             details=[_pack(info), *(_pack(d) for d in details)])


class TokenlessStreams(BehaviorWrapper):
    """A server interceptor bounding the streams that need no token
    (:data:`TOKENLESS_STREAMS`) to ``limit`` open at once: past it, RESOURCE_EXHAUSTED
    ``TOO_MANY_STREAMS_WITHOUT_TOKEN`` + RetryInfo, counted in ``refusals`` and logged.
    ``gauge`` shows how many are open. Probes call ``Health/Check``, which is not bounded;
    a caller balancing over gateway replicas watches each one's health (one stream per
    connection)."""

    def __init__(self, limit: int, refusals: Counter, gauge: Gauge):
        super().__init__()
        self.limit = limit
        self.refusals = refusals
        self.gauge = gauge
        self.open = 0

    def wraps(self, method: str) -> bool:
        return method in TOKENLESS_STREAMS

    def wrap(self, method: str, behavior: Callable) -> Callable:
        if inspect.isasyncgenfunction(behavior):  # reflection
            async def bounded_stream(request, context):
                await self._enter(method, context)
                async for reply in behavior(request, context):
                    yield reply
            return bounded_stream
        if inspect.iscoroutinefunction(behavior):  # Health/Watch writes with context.write
            async def bounded(request, context):
                await self._enter(method, context)
                return await behavior(request, context)
            return bounded
        return behavior

    async def _enter(self, method: str, context) -> None:
        if self.open >= self.limit:
            await grpc_errors.abort(context, refusal(
                self.refusals, method, None, code_pb2.RESOURCE_EXHAUSTED,
                "TOO_MANY_STREAMS_WITHOUT_TOKEN",
                f"the gateway has its limit of {self.limit} health-watch and reflection "
                f"streams open; retry later, or call grpc.health.v1.Health/Check",
                {"limit": str(self.limit)},
                [error_details_pb2.RetryInfo(retry_delay=_duration(BUSY_RETRY_SECONDS))]))
        self.open += 1
        self.gauge.inc()
        context.add_done_callback(self._leave)

    def _leave(self, _context) -> None:
        self.open -= 1
        self.gauge.dec()
