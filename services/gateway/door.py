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

import logging
import math
import time
from collections import OrderedDict

from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from prometheus_client import Counter

from services.gateway import policy, validation
from services.gateway.identity import Caller, TokenVerifier, Unauthenticated
from services.gateway.proxy import (
    CallContext,
    OversizedRequest,
    UndecodableRequest,
    undecodable_message,
)
from services.shared.caller import IDENTITY_KEYS, identity_metadata
from services.shared.caller_assertion import CallerKeys

log = logging.getLogger(__name__)

DOMAIN = "ijh"
_BEARER = "bearer "


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
                 refusals: Counter, keys: CallerKeys):
        self.verifier = verifier
        self.keys = keys
        self.limiter = limiter
        self.max_request_bytes = max_request_bytes
        self.refusals = refusals

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
        self.refusals.labels(reason).inc()
        log.warning("refused", extra={
            "method": method, "subject": caller.subject if caller else "",
            "role": caller.role.value if caller else "", "reason": reason,
            "code": code_pb2.Code.Name(code), "detail": message, **(logged or {})})
        info = error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN,
                                           metadata={"method": method, **metadata})
        status = status_pb2.Status(code=code, message=message,
                                   details=[_pack(info), *(_pack(d) for d in details)])
        await call.abort(status)
