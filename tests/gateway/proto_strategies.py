"""Hypothesis strategies that walk protobuf descriptors: whole requests generated from a
message's fields, and valid requests mutated a field or two at a time.

Values lean on the edges: NaN, ±inf, -0.0, subnormals and the largest doubles; 0, ±1 and
the extremes of each integer width; empty, very long, control-character and non-ASCII
strings; enum numbers outside the enum; repeated fields empty, short and one past their
``buf.validate`` ``max_items``; nested messages present or absent; one member of a oneof.
Field-name *hints* (``{"business_id": strategy}`` or, for one message only,
``{"ijh.funding.v1.Applicant.business_id": strategy}``) put domain values (business IDs,
dates, decimal strings, resource names) where a generic string would be refused at the
first pattern, so the fuzzing reaches past the door.

A mutation returns the request and a list of what it changed (``cost_lines[1].amount_cents
= -1``), for the failure message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from buf.validate import validate_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

F = FieldDescriptor

INT32_EDGES = [0, 1, -1, 2, 7, 100, 1000, 1001, 2**31 - 1, -(2**31)]
INT64_EDGES = [0, 1, -1, 2, 1000, 10**12, 10**15, 10**15 + 1, 2**31, 2**53 + 1,
               2**62, 2**63 - 1, -(2**63)]
UINT32_EDGES = [0, 1, 2**31, 2**32 - 1]
UINT64_EDGES = [0, 1, 2**53 + 1, 2**63, 2**64 - 1]
DOUBLE_EDGES = [0.0, -0.0, math.nan, -math.nan, math.inf, -math.inf, 5e-324, 1e-300,
                2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157e308,
                1e300, 1e20, 0.5, 1.0, 1.0000000000000002, 0.9999999999999999, -1.0, 2.0,
                1e-9, 0.999, 100.0]
EDGE_STRINGS = [
    "", " ", "a", "\x00", "\t\n", "\r\n", "null", "None", "-1", "0", "1e309", "NaN",
    "Infinity", "\u202e", "é", "Ω", "😀", "\u200b", "\ufeff", "ａ", "'; DROP TABLE x; --",
    "%s%n%x", "../../etc/passwd", "{}", "[]", "\\", '"', "x" * 65, "x" * 101, "x" * 201,
    "x" * 501, "x" * 2001, "é" * 1001, "😀" * 300, "y" * 70_000,
]

_INT_EDGES = {
    F.TYPE_INT32: (INT32_EDGES, -(2**31), 2**31 - 1),
    F.TYPE_SINT32: (INT32_EDGES, -(2**31), 2**31 - 1),
    F.TYPE_SFIXED32: (INT32_EDGES, -(2**31), 2**31 - 1),
    F.TYPE_INT64: (INT64_EDGES, -(2**63), 2**63 - 1),
    F.TYPE_SINT64: (INT64_EDGES, -(2**63), 2**63 - 1),
    F.TYPE_SFIXED64: (INT64_EDGES, -(2**63), 2**63 - 1),
    F.TYPE_UINT32: (UINT32_EDGES, 0, 2**32 - 1),
    F.TYPE_FIXED32: (UINT32_EDGES, 0, 2**32 - 1),
    F.TYPE_UINT64: (UINT64_EDGES, 0, 2**64 - 1),
    F.TYPE_FIXED64: (UINT64_EDGES, 0, 2**64 - 1),
}

#: Text that protobuf can carry (valid UTF-8: no lone surrogates).
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


def is_map(field: FieldDescriptor) -> bool:
    return (field.type == F.TYPE_MESSAGE and field.message_type is not None
            and field.message_type.GetOptions().map_entry)


def is_repeated(field: FieldDescriptor) -> bool:
    return field.is_repeated


def max_items(field: FieldDescriptor) -> int | None:
    """The field's ``buf.validate`` ``repeated.max_items``, if it has one."""
    rules = field.GetOptions().Extensions[validate_pb2.field]
    if rules.HasField("repeated") and rules.repeated.HasField("max_items"):
        return rules.repeated.max_items
    return None


def _real_oneof(field: FieldDescriptor):
    oneof = field.containing_oneof
    if oneof is None or (len(oneof.fields) == 1 and oneof.name.startswith("_")):
        return None  # proto3 ``optional``: a synthetic oneof of one field
    return oneof


@dataclass
class ProtoStrategies:
    """Strategies for the messages of one API, with its field-name ``hints``."""

    hints: Mapping[str, st.SearchStrategy] | None = None
    max_depth: int = 5
    max_list: int = 3

    # ---- scalars ------------------------------------------------------------------

    def hinted(self, field: FieldDescriptor) -> st.SearchStrategy | None:
        hints = self.hints or {}
        hint = hints.get(field.full_name)
        return hint if hint is not None else hints.get(field.name)

    def scalar(self, field: FieldDescriptor) -> st.SearchStrategy:
        """Values for one element of ``field`` (not a message)."""
        hint = self.hinted(field)
        if hint is not None:
            return hint
        kind = field.type
        if kind in _INT_EDGES:
            edges, low, high = _INT_EDGES[kind]
            return st.one_of(st.sampled_from(edges), st.integers(low, high),
                             st.integers(-3, 10).filter(lambda n, lo=low: n >= lo))
        if kind == F.TYPE_DOUBLE:
            return st.one_of(st.sampled_from(DOUBLE_EDGES), st.floats())
        if kind == F.TYPE_FLOAT:
            return st.one_of(st.sampled_from(DOUBLE_EDGES[:6]), st.floats(width=32))
        if kind == F.TYPE_BOOL:
            return st.booleans()
        if kind == F.TYPE_STRING:
            return st.one_of(st.sampled_from(EDGE_STRINGS), _TEXT)
        if kind == F.TYPE_BYTES:
            return st.binary(max_size=64)
        if kind == F.TYPE_ENUM:
            known = [v.number for v in field.enum_type.values]
            return st.one_of(st.sampled_from(known),
                             st.sampled_from([-1, max(known) + 1, 99, 2**31 - 1, -(2**31)]))
        raise TypeError(f"no strategy for {field.full_name} (type {kind})")

    # ---- messages -----------------------------------------------------------------

    def message(self, descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
        """Whole messages of ``descriptor``: each field set or not; one oneof member."""
        return st.composite(lambda draw: self._draw_message(draw, descriptor, depth))()

    def _draw_message(self, draw, descriptor: Descriptor, depth: int) -> Message:
        msg = GetMessageClass(descriptor)()
        done_oneofs = set()
        for field in descriptor.fields:
            oneof = _real_oneof(field)
            if oneof is not None:
                if oneof.name in done_oneofs:
                    continue
                done_oneofs.add(oneof.name)
                chosen = draw(st.sampled_from([None, *oneof.fields]))
                if chosen is not None:
                    self._draw_into(draw, msg, chosen, depth)
                continue
            if draw(st.integers(0, 2)) == 0:  # a third of the fields stay unset
                continue
            self._draw_into(draw, msg, field, depth)
        return msg

    def _draw_into(self, draw, msg: Message, field: FieldDescriptor, depth: int) -> None:
        if field.type == F.TYPE_MESSAGE and depth >= self.max_depth:
            return
        if is_map(field):
            key_field = field.message_type.fields_by_name["key"]
            value_field = field.message_type.fields_by_name["value"]
            target = getattr(msg, field.name)
            for _ in range(draw(st.integers(0, self.max_list))):
                key = draw(self.scalar(key_field))
                if value_field.type == F.TYPE_MESSAGE:
                    target[key].CopyFrom(draw(self.message(value_field.message_type,
                                                           depth + 1)))
                else:
                    target[key] = draw(self.scalar(value_field))
            return
        if is_repeated(field):
            target = getattr(msg, field.name)
            count = draw(st.integers(0, self.max_list))
            for _ in range(count):
                if field.type == F.TYPE_MESSAGE:
                    target.add().CopyFrom(draw(self.message(field.message_type, depth + 1)))
                else:
                    target.append(draw(self.scalar(field)))
            return
        if field.type == F.TYPE_MESSAGE:
            getattr(msg, field.name).CopyFrom(draw(self.message(field.message_type, depth + 1)))
            if not getattr(msg, field.name).ListFields():
                getattr(msg, field.name).SetInParent()  # present, if empty
            return
        setattr(msg, field.name, draw(self.scalar(field)))

    # ---- mutations of a valid message -------------------------------------------

    def mutated(self, base: Message, max_mutations: int = 3
                ) -> st.SearchStrategy[tuple[Message, list[str]]]:
        """``base`` with one to ``max_mutations`` fields changed (mostly one), and what
        was changed."""
        return st.composite(lambda draw: self._draw_mutated(draw, base, max_mutations))()

    def _draw_mutated(self, draw, base: Message, max_mutations: int):
        msg = type(base)()
        msg.CopyFrom(base)
        changes: list[str] = []
        count = draw(st.sampled_from([1, 1, 1, 1, 2, max_mutations]))
        for _ in range(count):
            # A field with a hint is picked three times as often: its domain values are
            # where a valid request is one step from a deep path.
            sites = [site for site in _sites(msg, "")
                     for _ in range(3 if self.hinted(site[1]) is not None else 1)]
            if not sites:
                break
            parent, field, path = draw(st.sampled_from(sites))
            changes.append(self._mutate(draw, parent, field, path))
        return msg, changes

    def _mutate(self, draw, parent: Message, field: FieldDescriptor, path: str) -> str:
        if is_map(field) or is_repeated(field):
            target = getattr(parent, field.name)
            length = len(target)
            actions = ["clear", "append"]
            if length:
                actions += ["replace", "replace", "delete", "duplicate"]
            limit = max_items(field)
            if limit is not None and length and limit <= 5000:
                actions.append("past_max")
            action = draw(st.sampled_from(actions))
            if is_map(field):
                action = "clear" if action != "append" else action
            if action == "clear":
                parent.ClearField(field.name)
                return f"{path} cleared"
            if action == "append":
                self._draw_append(draw, parent, field)
                return f"{path} += one generated element"
            index = draw(st.integers(0, length - 1))
            if action == "delete":
                del target[index]
                return f"{path}[{index}] deleted"
            if action == "duplicate":
                _append_copy(target, field, target[index])
                return f"{path}[{index}] duplicated"
            if action == "past_max":
                while len(target) <= limit:
                    _append_copy(target, field, target[index])
                return f"{path} grown to {len(target)} (max_items {limit})"
            if field.type == F.TYPE_MESSAGE:  # replace
                value = draw(self.message(field.message_type, 1))
                target[index].CopyFrom(value)
                return f"{path}[{index}] = generated {field.message_type.name}"
            value = draw(self.scalar(field))
            target[index] = value
            return f"{path}[{index}] = {_show(value)}"
        if field.type == F.TYPE_MESSAGE:
            action = draw(st.sampled_from(["clear", "generate", "empty"]))
            if action == "clear":
                parent.ClearField(field.name)
                return f"{path} cleared"
            if action == "empty":
                parent.ClearField(field.name)
                getattr(parent, field.name).SetInParent()
                return f"{path} = empty {field.message_type.name}"
            getattr(parent, field.name).CopyFrom(draw(self.message(field.message_type, 1)))
            return f"{path} = generated {field.message_type.name}"
        if draw(st.integers(0, 5)) == 0:
            parent.ClearField(field.name)
            return f"{path} cleared"
        value = draw(self.scalar(field))
        setattr(parent, field.name, value)
        return f"{path} = {_show(value)}"

    def _draw_append(self, draw, parent: Message, field: FieldDescriptor) -> None:
        if is_map(field):
            key = draw(self.scalar(field.message_type.fields_by_name["key"]))
            value_field = field.message_type.fields_by_name["value"]
            target = getattr(parent, field.name)
            if value_field.type == F.TYPE_MESSAGE:
                target[key].CopyFrom(draw(self.message(value_field.message_type, 1)))
            else:
                target[key] = draw(self.scalar(value_field))
        elif field.type == F.TYPE_MESSAGE:
            getattr(parent, field.name).add().CopyFrom(draw(self.message(field.message_type, 1)))
        else:
            getattr(parent, field.name).append(draw(self.scalar(field)))


def _append_copy(target, field: FieldDescriptor, value) -> None:
    if field.type == F.TYPE_MESSAGE:
        target.add().CopyFrom(value)
    else:
        target.append(value)


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}... ({len(text)} chars)"


def _sites(msg: Message, prefix: str):
    """Every field of ``msg`` and of the messages set inside it: (parent, field, path)."""
    for field in msg.DESCRIPTOR.fields:
        path = f"{prefix}{field.name}"
        yield msg, field, path
        if field.type != F.TYPE_MESSAGE or is_map(field):
            continue
        if is_repeated(field):
            for i, element in enumerate(getattr(msg, field.name)):
                yield from _sites(element, f"{path}[{i}].")
        elif msg.HasField(field.name):
            yield from _sites(getattr(msg, field.name), f"{path}.")


def resolve_field_path(request: Message, path: str) -> str | None:
    """Why ``path`` (``cost_lines[2].category``, ``labels["k"]``) does not name a field
    of ``request``, or None when it does. An index must be inside the list the request
    sent; a path may end at a message, a list or a scalar."""
    part_re = re.compile(r'^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\])?$')
    if not path:
        return "empty field path"
    node: Message | None = request
    for part in path.split("."):
        if node is None:
            return f"{part!r} is inside a scalar"
        match = part_re.match(part)
        if match is None:
            return f"{part!r} is not a field name"
        name, index, key = match.groups()
        field = node.DESCRIPTOR.fields_by_name.get(name)
        if field is None:
            return f"{node.DESCRIPTOR.full_name} has no field {name!r}"
        value = getattr(node, name)
        if index is not None or key is not None:
            if not (is_repeated(field) or is_map(field)):
                return f"{name} is not a list"
            if index is not None:
                if is_map(field):
                    return f"{name} is a map, indexed by a number"
                if int(index) >= len(value):
                    return f"{name}[{index}]: the request has {len(value)} elements"
                value = value[int(index)]
                node = value if field.type == F.TYPE_MESSAGE else None
            else:
                node = value[key] if field.message_type.fields_by_name[
                    "value"].type == F.TYPE_MESSAGE else None
        elif field.type == F.TYPE_MESSAGE and not (is_repeated(field) or is_map(field)):
            node = value
        else:
            node = None
    return None


def non_finite_doubles(msg: Message, prefix: str = "") -> list[str]:
    """Paths of NaN or infinite double/float fields anywhere in ``msg``."""
    found = []
    for field, value in msg.ListFields():
        path = f"{prefix}{field.name}"
        if field.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
            values = value if is_repeated(field) else [value]
            found += [f"{path}={v!r}" for v in values if not math.isfinite(v)]
        elif field.type == F.TYPE_MESSAGE and not is_map(field):
            if is_repeated(field):
                for i, element in enumerate(value):
                    found += non_finite_doubles(element, f"{path}[{i}].")
            else:
                found += non_finite_doubles(value, f"{path}.")
    return found


