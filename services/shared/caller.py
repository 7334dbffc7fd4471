"""The caller's identity as the gateway passes it to the backends (gRPC metadata).

The gateway sets these after checking the bearer token and drops any a client sent;
the backends trust them because only the gateway can reach their ports.
"""

from __future__ import annotations

SUBJECT_KEY = "x-ijh-caller-subject"
ROLE_KEY = "x-ijh-caller-role"
BUSINESS_ID_KEY = "x-ijh-caller-business-id"


def caller_metadata(context) -> dict[str, str]:
    """Subject, role and business ID from a call's metadata ("" where absent)."""
    metadata = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
    return {key: metadata.get(key, "").strip() for key in (SUBJECT_KEY, ROLE_KEY,
                                                           BUSINESS_ID_KEY)}
