"""JSON logs on stderr, one object per line, with the current request id."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
import uuid

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
# The metadata key a request id travels under: from the caller, to the backends, and
# back to the caller.
REQUEST_ID_KEY = "x-request-id"


def request_id_from(context) -> str:
    """The caller's ``x-request-id`` (gRPC servicer context), or a new one when absent."""
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_KEY and value:
            return value
    return uuid.uuid4().hex

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
