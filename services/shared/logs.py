"""JSON logs on stderr, one object per line, with the current request id."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
# True while serving a call whose caller sent a request id that was not acceptable.
request_id_replaced_var: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "request_id_replaced", default=False)
# The metadata key a request id travels under: from the caller, to the backends, and
# back to the caller.
REQUEST_ID_KEY = "x-request-id"
# A caller's request id is used as sent only when it is fit to log and pass on: 1 to 128
# characters of [A-Za-z0-9._:-] (a UUID, a ULID, a trace id, "batch-7:row.42"). Anything
# else (too long, spaces, other punctuation, non-ASCII) is replaced by a new id rather
# than refused: the id only labels the call's log lines, it changes nothing the call
# does, and a missing one is made up the same way. The new id goes back to the caller
# as usual, and every log line of the call says ``"request_id_replaced": true``.
MAX_REQUEST_ID_LENGTH = 128
_ACCEPTABLE_REQUEST_ID = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_REQUEST_ID_LENGTH}}}")


def new_request_id() -> str:
    return uuid.uuid4().hex


def acceptable_request_id(value) -> bool:
    """Whether a caller's request id is used as sent (see ``MAX_REQUEST_ID_LENGTH``)."""
    return isinstance(value, str) and _ACCEPTABLE_REQUEST_ID.fullmatch(value) is not None


def read_request_id(context) -> tuple[str, bool]:
    """The call's request id (gRPC servicer context) and whether the caller's was replaced:
    the caller's first ``x-request-id`` when acceptable, else a new one."""
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_KEY and value:
            if acceptable_request_id(value):
                return value, False
            return new_request_id(), True
    return new_request_id(), False


def bind_request_id(context) -> str:
    """Read the call's request id (:func:`read_request_id`) into the log context: every log
    line of the call carries it, and ``request_id_replaced`` when the caller's was not
    acceptable."""
    request_id, replaced = read_request_id(context)
    request_id_var.set(request_id)
    request_id_replaced_var.set(replaced)
    return request_id


_RESERVED = set(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object; ``extra=`` fields are kept as keys.

    Every call writes an access line in each process it passes, so this is on the
    request path: one shared encoder, the timestamp's seconds formatted once a second."""

    def __init__(self, service: str):
        super().__init__()
        self.service = service
        self._encoder = json.JSONEncoder(default=str)
        self._second = -1
        self._second_text = ""

    def _time(self, created: float, msecs: float) -> str:
        second = int(created)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
            self._second = second
        return f"{self._second_text}.{int(msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self._time(record.created, record.msecs),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
            if request_id_replaced_var.get():
                entry["request_id_replaced"] = True
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key[0] != "_":
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self._encoder.encode(entry)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route all logging to stderr as JSON lines, tagged with ``service``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
