"""Turn an ``ijh.events.v1`` payload message into a CloudEvent (one way, for all services)."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf import json_format
from google.protobuf.message import Message

from services.shared.cloudevents import CloudEvent


def cloud_event(event_type: str, source: str, subject: str, payload: Message,
                absent: Iterable[str] = ()) -> CloudEvent:
    """A CloudEvent whose ``data`` is the JSON form of ``payload`` (proto field names,
    64-bit integers as JSON strings per the proto3 JSON mapping). Every field is written,
    zeros too, except those named in ``absent``: figures the answer does not have, which
    a plain proto3 field cannot mark unset (its 0 would read as a value)."""
    data = json_format.MessageToDict(payload, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)
    for name in absent:
        data.pop(name, None)
    return CloudEvent(type=event_type, source=source, subject=subject, data=data,
                      dataschema=f"urn:ijh:proto:{payload.DESCRIPTOR.full_name}")
