"""Validation at the door: the ``buf.validate`` constraints of the protos, checked by
protovalidate before a request is forwarded, refused as INVALID_ARGUMENT with a
``google.rpc.BadRequest`` naming each bad field (``cost_lines[2].category``, the
same paths the backends use).

A request type whose files (transitively) do not import ``buf/validate/validate.proto``
cannot carry constraints, so it is not walked; once the protos gain annotations they
are checked with no code change here.
"""

from __future__ import annotations

import functools

import protovalidate
from google.protobuf.descriptor import Descriptor, FileDescriptor
from google.rpc import error_details_pb2

from services.shared.errors import MAX_REPORTED_VIOLATIONS

VALIDATE_PROTO = "buf/validate/validate.proto"


def field_path(violation) -> str:
    """The violation's field path as the API spells it: ``items[1].code``, ``labels["k"]``."""
    parts: list[str] = []
    for element in violation.proto.field.elements:
        text = element.field_name
        subscript = element.subscript
        if subscript is not None:
            value = subscript.value
            if subscript.field == "string_key":
                text += f'["{value}"]'
            elif subscript.field == "bool_key":
                text += f"[{str(value).lower()}]"
            else:
                text += f"[{value}]"
        parts.append(text)
    return ".".join(parts)


def bad_request(violations) -> error_details_pb2.BadRequest:
    """protovalidate violations -> ``google.rpc.BadRequest`` field violations, the first
    ``MAX_REPORTED_VIOLATIONS`` (the message says how many in all)."""
    return error_details_pb2.BadRequest(field_violations=[
        error_details_pb2.BadRequest.FieldViolation(
            field=field_path(v), description=v.proto.message or v.proto.rule_id,
            reason=v.proto.rule_id)
        for v in violations[:MAX_REPORTED_VIOLATIONS]])


# A refusal's message names the first few bad fields (the BadRequest the first 50);
# its log line lists a few more. A field path or rule text can be long (a map key is
# the caller's), so each is clipped: the message and the log line stay small.
MESSAGE_FIELDS = 3
LOGGED_FIELDS = 10
_CLIP = 100


def _clip(text: str) -> str:
    return text if len(text) <= _CLIP else text[:_CLIP - 3] + "..."


def summary(violations) -> str:
    """A refusal's message: how many fields break the rules, the first few with their
    rule ("2 fields break the API's rules: reference_date (...), applicant.business_id
    (...)"), then "and N more"."""
    count = len(violations)
    named = ", ".join(f"{_clip(field_path(v))} ({_clip(v.proto.message or v.proto.rule_id)})"
                      for v in violations[:MESSAGE_FIELDS])
    more = f", and {count - MESSAGE_FIELDS} more" if count > MESSAGE_FIELDS else ""
    verb = "field breaks" if count == 1 else "fields break"
    return f"{count} {verb} the API's rules: {named}{more}"


def logged_fields(violations) -> list[str]:
    """The bad fields' paths for a refusal's log line: the first ``LOGGED_FIELDS``,
    clipped."""
    return [_clip(field_path(v)) for v in violations[:LOGGED_FIELDS]]


def _imports_validate(file: FileDescriptor, seen: set[str]) -> bool:
    if file.name in seen:
        return False
    seen.add(file.name)
    if file.name == VALIDATE_PROTO:
        return True
    return any(_imports_validate(dep, seen) for dep in file.dependencies)


@functools.cache
def has_constraints(message: Descriptor) -> bool:
    """Whether any message reachable from ``message`` may carry ``buf.validate`` rules."""
    pending, seen_types, seen_files = [message], set(), set()
    while pending:
        current = pending.pop()
        if current.full_name in seen_types:
            continue
        seen_types.add(current.full_name)
        if _imports_validate(current.file, seen_files):
            return True
        pending.extend(f.message_type for f in current.fields if f.message_type is not None)
    return False


def violations_of(message) -> list:
    """The protovalidate violations of ``message`` ([] when valid or unconstrained)."""
    if not has_constraints(message.DESCRIPTOR):
        return []
    return protovalidate.collect_violations(message)
