"""CloudEvents 1.0 structured JSON envelopes (pure: no NATS here).

Every event this system emits is one of these, published on a lowercase dotted
subject equal to its ``type`` (e.g. ``ijh.funding.grant.computed``) with the
JetStream header ``Nats-Msg-Id`` = ``id`` so that a retried publish is stored once.
The payload (``data``) is the JSON form of a message from ``ijh.events.v1``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SPEC_VERSION = "1.0"


def _now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class CloudEvent:
    """One event. ``type`` doubles as the NATS subject; ``subject`` names the resource."""

    type: str
    source: str
    subject: str
    data: dict[str, Any]
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: str = field(default_factory=_now_rfc3339)
    datacontenttype: str = "application/json"
    dataschema: str = ""

    @property
    def nats_subject(self) -> str:
        return self.type

    def to_json_bytes(self) -> bytes:
        """The structured-mode envelope, UTF-8 JSON with sorted keys (stable bytes)."""
        envelope: dict[str, Any] = {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "subject": self.subject,
            "time": self.time,
            "datacontenttype": self.datacontenttype,
            "data": self.data,
        }
        if self.dataschema:
            envelope["dataschema"] = self.dataschema
        return json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json_bytes(cls, raw: bytes) -> CloudEvent:
        """Parse an envelope written by :meth:`to_json_bytes` (or any CloudEvents 1.0 JSON)."""
        envelope = json.loads(raw)
        if envelope.get("specversion") != SPEC_VERSION:
            raise ValueError(f"unsupported specversion {envelope.get('specversion')!r}")
        return cls(
            type=envelope["type"],
            source=envelope["source"],
            subject=envelope.get("subject", ""),
            data=envelope.get("data") or {},
            id=envelope["id"],
            time=envelope.get("time", ""),
            datacontenttype=envelope.get("datacontenttype", "application/json"),
            dataschema=envelope.get("dataschema", ""),
        )
