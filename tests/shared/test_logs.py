"""Request ids: which a caller's ``x-request-id`` is kept, which is replaced, and what
the JSON log lines say about it (the gateway and every backend read it the same way)."""

from __future__ import annotations

import contextvars
import json
import logging
import re

import pytest

from services.shared import logs


class _Context:
    """The part of a gRPC servicer context the request id is read from."""

    def __init__(self, *metadata: tuple[str, str]):
        self.metadata = metadata

    def invocation_metadata(self):
        return self.metadata


_NEW = re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize("sent", [
    "0f8c2a1e-5b7d-4c3e-9a6b-2d1f0e9c8b7a",  # a UUID
    "01HZY3J9Q5W8K2M4N6P7R9T1V3",            # a ULID
    "job-7:row_3.a", "x", "x" * logs.MAX_REQUEST_ID_LENGTH,
])
def test_a_fit_request_id_is_kept(sent):
    assert logs.read_request_id(_Context(("x-request-id", sent))) == (sent, False)


@pytest.mark.parametrize("sent", [
    "x" * 5000, "x" * (logs.MAX_REQUEST_ID_LENGTH + 1), "a b", " padded", "a/b", "a=b",
    'say "hi"', "semi;colon", "tab\there", "line\nbreak", "päivä", "x\u200by",
])
def test_an_unfit_request_id_is_replaced(sent):
    request_id, replaced = logs.read_request_id(_Context(("x-request-id", sent)))
    assert replaced and _NEW.fullmatch(request_id)
    assert not logs.acceptable_request_id(sent)


def test_an_absent_request_id_is_made_and_not_called_replaced():
    for context in (_Context(), _Context(("x-request-id", "")), _Context(("other", "v"))):
        request_id, replaced = logs.read_request_id(context)
        assert _NEW.fullmatch(request_id) and not replaced


def _logged(context) -> dict:
    def call() -> dict:
        logs.bind_request_id(context)
        record = logging.makeLogRecord({"msg": "call", "levelname": "INFO", "name": "t"})
        return json.loads(logs.JsonFormatter("t").format(record))
    return contextvars.Context().run(call)  # as a call's own task would


def test_log_lines_say_when_the_request_id_was_replaced():
    replaced = _logged(_Context(("x-request-id", "x" * 5000)))
    assert replaced["request_id_replaced"] is True
    assert _NEW.fullmatch(replaced["request_id"])
    assert len(json.dumps(replaced)) < 400
    kept = _logged(_Context(("x-request-id", "req-1")))
    assert kept["request_id"] == "req-1" and "request_id_replaced" not in kept
    made = _logged(_Context())
    assert "request_id_replaced" not in made
