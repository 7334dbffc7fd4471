"""Domain errors: the one vocabulary in which the pure cores say "no".

The cores (risk engine, funding rules, ledger) raise these; the single error mapper
in ``services.shared.grpc_errors`` turns them into gRPC statuses with
``google.rpc`` details. Nothing here imports gRPC, so the cores stay pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    """One bad field. ``field`` is the request path as the API spells it,
    e.g. ``cost_items[3].distribution.mode_cents`` (proto field names, zero-based
    indexes), so a client can point at the exact input."""

    field: str
    description: str


@dataclass(frozen=True)
class PreconditionViolation:
    """A rule that blocks the action: ``type`` names the rule (e.g. ``DE_MINIMIS``),
    ``subject`` what it applies to (e.g. ``beneficiary/1234567-1``)."""

    type: str
    subject: str
    description: str


class DomainError(Exception):
    """Base of every error a core may raise on purpose."""


# A refusal names at most this many bad fields in its google.rpc.BadRequest (and its
# message a few): details travel in a trailer, and gRPC drops a status whose trailers pass
# 16 KiB (about 80 violations), so a request with thousands of bad rows got no answer but
# "metadata size exceeds hard limit". The message says how many there are in all.
MAX_REPORTED_VIOLATIONS = 50
_MESSAGE_VIOLATIONS = 10


class InvalidArgument(DomainError):
    """The request itself is wrong; nothing was done. Maps to INVALID_ARGUMENT + BadRequest."""

    def __init__(self, violations: FieldViolation | Iterable[FieldViolation], message: str = ""):
        if isinstance(violations, FieldViolation):
            violations = [violations]
        self.violations: tuple[FieldViolation, ...] = tuple(violations)
        if not self.violations:
            raise ValueError("InvalidArgument needs at least one field violation")
        text = message or "; ".join(f"{v.field}: {v.description}"
                                    for v in self.violations[:_MESSAGE_VIOLATIONS])
        if not message and len(self.violations) > _MESSAGE_VIOLATIONS:
            text += f"; and {len(self.violations) - _MESSAGE_VIOLATIONS} more"
        super().__init__(text)


class FailedPrecondition(DomainError):
    """The request is well formed but the state or the rules forbid it now.
    Maps to FAILED_PRECONDITION + PreconditionFailure."""

    def __init__(self, violations: PreconditionViolation | Iterable[PreconditionViolation],
                 message: str = ""):
        if isinstance(violations, PreconditionViolation):
            violations = [violations]
        self.violations: tuple[PreconditionViolation, ...] = tuple(violations)
        text = message or "; ".join(f"{v.type} {v.subject}: {v.description}"
                                    for v in self.violations)
        super().__init__(text)


class ResourceExhausted(DomainError):
    """A bound was hit (scenario count, portfolio size, rate). The message states the bound."""


class NotFound(DomainError):
    """The named resource does not exist. ``resource`` is e.g. ``applications/42``."""

    def __init__(self, resource: str, message: str = ""):
        self.resource = resource
        super().__init__(message or f"{resource} not found")


class AlreadyExists(DomainError):
    """A create collided with an existing resource under a different request."""


#: The ``google.rpc.ErrorInfo`` domain of every reason this system gives.
REASON_DOMAIN = "ijh"


class PermissionDenied(DomainError):
    """The caller may not do this; the message says why, and ``reason`` (when given, e.g.
    ``NOT_YOUR_APPLICATION``) says it to a program: an ``ErrorInfo`` with ``metadata``."""

    def __init__(self, message: str, reason: str = "",
                 metadata: Mapping[str, str] | None = None):
        self.reason = reason
        self.metadata = dict(metadata or {})
        super().__init__(message)


class Unavailable(DomainError):
    """Something the answer depends on did not answer; nothing was done, and the same
    request may succeed later. Maps to UNAVAILABLE with an ``ErrorInfo`` (``reason``,
    ``metadata``) and a ``RetryInfo`` of ``retry_after_seconds``."""

    def __init__(self, reason: str, message: str, retry_after_seconds: float,
                 metadata: Mapping[str, str] | None = None):
        self.reason = reason
        self.retry_after_seconds = retry_after_seconds
        self.metadata = dict(metadata or {})
        super().__init__(message)


class Unauthenticated(DomainError):
    """The call carries no usable caller identity (e.g. it bypassed the gateway).
    Maps to UNAUTHENTICATED."""


class Collector:
    """Gathers field violations so a validator reports every bad field at once.

    >>> c = Collector()
    >>> c.check(x >= 0, "amount_cents", "must not be negative")
    >>> c.raise_if_any()
    """

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self.violations.append(FieldViolation(field, description))

    def check(self, ok: bool, field: str, description: str) -> bool:
        if not ok:
            self.add(field, description)
        return ok

    def raise_if_any(self) -> None:
        if self.violations:
            raise InvalidArgument(self.violations)
