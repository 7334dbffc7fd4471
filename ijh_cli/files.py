"""Reading human-edited YAML and CSV with the file, line and field of every problem.

YAML is composed into nodes (not loaded) so each value keeps the line it came from;
a :class:`SourceMap` remembers, for each proto field path the file fills, the file line
and the file's own field name, so that a service's ``BadRequest`` field violation
(``model.cost_items[2].distribution.triangular.mode_cents``) points back at the line.

Money in files is **euros**: a string (or bare number) with at most two decimals,
spaces, ``_`` or ``,`` as thousands separators allowed ("42 000.00", "42000", 42000.5).
The text is converted with :class:`decimal.Decimal` to integer cents, never through a
binary float.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from ijh_cli.errors import USAGE, CliError

MAX_REPORTED = 20


@dataclass(frozen=True)
class Problem:
    """One thing wrong in an input file."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class InputFileError(CliError):
    """Every problem found in one input file (exit code 2)."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        lines = [str(p) for p in problems[:MAX_REPORTED]]
        if len(problems) > MAX_REPORTED:
            lines.append(f"... and {len(problems) - MAX_REPORTED} more")
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{len(problems)} {noun} in the input:\n  " + "\n  ".join(lines),
                         USAGE)


@dataclass
class Node:
    """A YAML value with the line (1-based) it starts on and its path in the file."""

    value: Any  # dict[str, Node] | list[Node] | scalar
    line: int
    path: str
    raw: str | None = None  # a scalar's text as written
    key_lines: dict[str, int] = field(default_factory=dict)

    @property
    def is_map(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_list(self) -> bool:
        return isinstance(self.value, list)


@dataclass
class SourceMap:
    """proto field path -> (file, line, the file's field name)."""

    file: str
    entries: dict[str, tuple[int, str]] = field(default_factory=dict)

    def add(self, proto_path: str, line: int, file_field: str) -> None:
        self.entries.setdefault(proto_path, (line, file_field))

    def locate(self, proto_path: str) -> tuple[int, str] | None:
        """The line and file field of ``proto_path`` or of its nearest mapped parent."""
        path = proto_path
        while path:
            if path in self.entries:
                return self.entries[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return None


_SCALARS = yaml.SafeLoader("")


def _to_node(node: yaml.Node, path: str) -> Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = Node({}, line, path)
        for key_node, value_node in node.value:
            key = str(_SCALARS.construct_object(key_node))
            out.value[key] = _to_node(value_node, f"{path}.{key}" if path else key)
            out.key_lines[key] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return Node([_to_node(item, f"{path}[{i}]") for i, item in enumerate(node.value)],
                    line, path)
    return Node(_SCALARS.construct_object(node), line, path, raw=node.value)


def load_yaml(path: Path) -> Node:
    """The document of ``path`` as nodes; a syntax error names its line."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"{name}: cannot read: {exc.strerror}", USAGE) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise InputFileError([Problem(name, line, "(syntax)",
                                      f"not valid YAML: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise InputFileError([Problem(name, 1, "(syntax)", f"not valid YAML: {exc}")]) from None
    if root is None:
        raise InputFileError([Problem(name, 1, "(document)", "the file is empty")])
    try:
        return _to_node(root, "")
    except yaml.YAMLError as exc:
        line = exc.problem_mark.line + 1 if getattr(exc, "problem_mark", None) else 1
        raise InputFileError([Problem(name, line, "(syntax)", str(exc))]) from None


_GROUPING = re.compile(r"(?<=\d)[ _,\u00a0\u202f](?=\d{3}(\D|$))")
_EUROS = re.compile(r"^-?\d+(\.\d{1,2})?$")
_MAX_CENTS = 2**63 - 1


def euros_to_cents(text: str) -> int:
    """Exact cents of a euro amount written with at most two decimals."""
    cleaned = _GROUPING.sub("", text.strip().removeprefix("€").removesuffix("€").strip())
    if not _EUROS.match(cleaned):
        raise ValueError(f"{text!r} is not an amount in euros with at most two decimals "
                         "(e.g. \"42000.00\")")
    cents = int(Decimal(cleaned) * 100)
    if abs(cents) > _MAX_CENTS:  # a request's int64: past it, assigning it failed
        raise ValueError(f"{text!r} is more than a request can carry (at most "
                         f"{_MAX_CENTS // 100:,}.{_MAX_CENTS % 100:02d} euros)")
    return cents


def decimal_text(text: str) -> str:
    """A decimal number as exact text (rates and shares are sent as decimal strings)."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a decimal number") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a finite number")
    return str(value)


class Reader:
    """Reads typed values out of a node tree, collecting every problem with its line."""

    def __init__(self, file: str, sources: SourceMap | None = None):
        self.file = file
        self.problems: list[Problem] = []
        self.sources = sources or SourceMap(file)

    def problem(self, node: Node | None, message: str, path: str | None = None,
                line: int | None = None) -> None:
        self.problems.append(Problem(self.file, line or (node.line if node else 1),
                                     path or (node.path if node else "(document)"), message))

    def raise_if_any(self) -> None:
        if self.problems:
            raise InputFileError(self.problems)

    def mark(self, proto_path: str, node: Node | None) -> None:
        if node is not None:
            self.sources.add(proto_path, node.line, node.path or "(document)")

    def mapping(self, node: Node | None, allowed: set[str] | None = None,
                what: str = "a mapping of fields") -> dict[str, Node] | None:
        """A mapping's fields; unknown field names are reported (typos)."""
        if node is None:
            return None
        if not node.is_map:
            self.problem(node, f"must be {what}, not {_kind(node)}")
            return None
        if allowed is not None:
            for key in node.value:
                if key not in allowed:
                    self.problem(node.value[key], f"unknown field {key!r} (expected one of "
                                 f"{', '.join(sorted(allowed))})",
                                 line=node.key_lines.get(key))
        return node.value

    def get(self, parent: Node, fields: dict[str, Node] | None, key: str,
            required: bool = False) -> Node | None:
        """A field of a mapping; a missing required one is reported at the mapping's line."""
        if fields is None:
            return None
        child = fields.get(key)
        if child is None or child.value is None:
            if required:
                where = f"{parent.path}.{key}" if parent.path else key
                self.problem(parent, "missing required field", path=where)
            return None
        return child

    def sequence(self, node: Node | None, what: str = "a list") -> list[Node]:
        if node is None:
            return []
        if not node.is_list:
            self.problem(node, f"must be {what}, not {_kind(node)}")
            return []
        return node.value

    def text(self, node: Node | None, proto_path: str = "") -> str | None:
        if node is None:
            return None
        if node.is_map or node.is_list:
            self.problem(node, f"must be text, not {_kind(node)}")
            return None
        self.mark(proto_path, node)
        return node.raw if isinstance(node.value, str) else str(node.raw)

    def iso_date(self, node: Node | None, proto_path: str = "") -> str | None:
        if node is None:
            return None
        self.mark(proto_path, node)
        if isinstance(node.value, date):
            return node.value.isoformat()
        try:
            return date.fromisoformat(str(node.raw)).isoformat()
        except ValueError:
            self.problem(node, f"{node.raw!r} is not a date YYYY-MM-DD")
            return None

    def integer(self, node: Node | None, proto_path: str = "", minimum: int | None = None,
                maximum: int | None = None) -> int | None:
        if node is None:
            return None
        self.mark(proto_path, node)
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int):
            text = str(node.raw or "").replace("_", "").replace(" ", "")
            if node.is_map or node.is_list or not re.fullmatch(r"-?\d+", text):
                self.problem(node, f"must be a whole number, not {_shown(node)}")
                return None
            value = int(text)
        if minimum is not None and value < minimum:
            self.problem(node, f"must be at least {minimum}, not {value}")
            return None
        if maximum is not None and value > maximum:
            self.problem(node, f"must be at most {maximum}, not {value}")
            return None
        return value

    def number(self, node: Node | None, proto_path: str = "", minimum: float | None = None,
               maximum: float | None = None) -> float | None:
        if node is None:
            return None
        self.mark(proto_path, node)
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            try:
                value = float(str(node.raw).strip()) if not (node.is_map or node.is_list) \
                    else None
            except ValueError:
                value = None
            if value is None:
                self.problem(node, f"must be a number, not {_shown(node)}")
                return None
        value = float(value)
        if minimum is not None and value < minimum:
            self.problem(node, f"must be at least {minimum:g}, not {value:g}")
            return None
        if maximum is not None and value > maximum:
            self.problem(node, f"must be at most {maximum:g}, not {value:g}")
            return None
        return value

    def probability(self, node: Node | None, proto_path: str = "") -> float | None:
        return self.number(node, proto_path, 0.0, 1.0)

    def euros(self, node: Node | None, proto_path: str = "",
              minimum_cents: int | None = 0) -> int | None:
        """Integer cents of a euro amount (see the module docstring)."""
        if node is None:
            return None
        self.mark(proto_path, node)
        if node.is_map or node.is_list or isinstance(node.value, bool):
            self.problem(node, f"must be an amount in euros like \"42000.00\", not "
                         f"{_shown(node)}")
            return None
        try:
            cents = euros_to_cents(str(node.raw))
        except ValueError as exc:
            self.problem(node, str(exc))
            return None
        if minimum_cents is not None and cents < minimum_cents:
            self.problem(node, f"must be at least {minimum_cents / 100:.2f} euros")
            return None
        return cents

    def decimal(self, node: Node | None, proto_path: str = "") -> str | None:
        if node is None:
            return None
        self.mark(proto_path, node)
        try:
            return decimal_text(str(node.raw if node.raw is not None else ""))
        except ValueError as exc:
            self.problem(node, str(exc))
            return None

    def boolean(self, node: Node | None, proto_path: str = "") -> bool | None:
        if node is None:
            return None
        self.mark(proto_path, node)
        if not isinstance(node.value, bool):
            self.problem(node, f"must be true or false, not {_shown(node)}")
            return None
        return node.value

    def choice(self, node: Node | None, choices: dict[str, Any], proto_path: str = "",
               what: str = "value") -> Any:
        """One of the words of a closed vocabulary (case-insensitive, - or _)."""
        if node is None:
            return None
        self.mark(proto_path, node)
        word = str(node.raw or "").strip().lower().replace("-", "_").replace(" ", "_")
        if node.is_map or node.is_list or word not in choices:
            self.problem(node, f"unknown {what} {_shown(node)} (expected one of "
                         f"{', '.join(choices)})")
            return None
        return choices[word]

    def names(self, node: Node | None, proto_path: str = "") -> list[str]:
        out = []
        for i, item in enumerate(self.sequence(node, "a list of names")):
            name = self.text(item, f"{proto_path}[{i}]")
            if name is not None:
                out.append(name)
        return out


def _kind(node: Node) -> str:
    if node.is_map:
        return "a mapping"
    if node.is_list:
        return "a list"
    return _shown(node)


def _shown(node: Node) -> str:
    if node.is_map:
        return "a mapping"
    if node.is_list:
        return "a list"
    if isinstance(node.value, bool):
        return f"the boolean {node.raw}"
    return repr(node.raw)
