"""Dated rule parameters: YAML files of values keyed by the date from which they hold.

Generic on purpose: the IJH grant rules (``services/funding/rules/parameters/``) and the
risk fund's rules (``services/funding/fund/parameters/``) are loaded by the same code.

A parameter file (its name, minus ``.yaml``, is the parameter's name; files in
subdirectories get dotted names, ``caps/portfolio.yaml`` -> ``caps.portfolio``)::

    description: Share of the eligible costs paid as the IJH planning grant.
    unit: ratio
    values:
      2009-01-01:
        value: 0.50                  # numbers with a point load as Decimal, never float
        reference: TEM action plan, Table 1 ...  # citable source, or "Fund configuration: ..."
        last_reviewed: 2025-06-01
      2024-01-01:
        value: 300000_00
        valid_until: 2030-12-31      # optional last day; otherwise the next entry ends it
        reference: ...
        last_reviewed: ...

A value holds from its date up to the day before the next entry (or its own
``valid_until``, inclusive). Outside every value's validity there is *no* value:
:meth:`ParametersInForce.get` raises :class:`ParameterNotInForce` rather than
defaulting. A ``value: null`` is a real value meaning "none" (e.g. no maximum).

Usage::

    ps = ParameterSet.load(directory, set_name="ijh-rules")
    in_force = ps.at(date(2024, 3, 1))
    rate = in_force.get("grant_rate").value
    in_force.version            # "ijh-rules/2017-01-01+sha256:0123456789ab"
    ps.list(date(2024, 3, 1))   # every ParameterValue in force, sorted by name
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from services.shared.errors import FailedPrecondition, NotFound, PreconditionViolation

__all__ = [
    "ParameterFileError",
    "ParameterNotInForce",
    "ParameterSet",
    "ParameterValue",
    "ParametersInForce",
    "UnknownParameter",
    "load_yaml",
    "to_jsonable",
]

_HASH_CHARS = 12


class ParameterFileError(ValueError):
    """A parameter file is malformed. Raised at load time so a bad file stops start-up,
    never a computation."""

    def __init__(self, path: Path | str, message: str):
        self.path = str(path)
        super().__init__(f"{path}: {message}")


class UnknownParameter(NotFound):
    """No parameter of that name exists in the set (at any date)."""

    def __init__(self, name: str, set_name: str):
        self.name = name
        super().__init__(f"parameters/{name}",
                         f"parameter {name!r} does not exist in parameter set {set_name!r}")


class ParameterNotInForce(FailedPrecondition):
    """One or more parameters have no value in force on the requested date.

    ``missing`` holds ``(name, on, description)``; the description says which periods do
    have values so an officer can see whether the date or the data is wrong."""

    def __init__(self, missing: Iterable[tuple[str, date, str]], message: str = ""):
        self.missing = tuple(missing)
        super().__init__([
            PreconditionViolation("PARAMETER_NOT_IN_FORCE", f"parameters/{name}", text)
            for name, _on, text in self.missing
        ], message)


# --- YAML with exact numbers -------------------------------------------------------

class _DecimalSafeLoader(yaml.SafeLoader):
    """SafeLoader that reads YAML floats as Decimal from their text, so 0.1 stays 0.1."""


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal:
    text = loader.construct_scalar(node).replace("_", "")
    if text.lower().lstrip("+-") in {".inf", ".nan"}:
        raise yaml.constructor.ConstructorError(
            None, None, f"non-finite number {text!r} is not a valid parameter value",
            node.start_mark)
    return Decimal(text)


_DecimalSafeLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)


def load_yaml(path: Path | str) -> Any:
    """Load a YAML file with floats read as exact :class:`~decimal.Decimal`."""
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_DecimalSafeLoader)  # a SafeLoader subclass


def to_jsonable(value: Any) -> Any:
    """Turn a parameter value (Decimal, date, list, mapping...) into plain JSON types.

    Decimals become strings so no precision is lost on the way to JSON or protobuf."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "value") and isinstance(value.value, str):  # str Enum
        return value.value
    raise TypeError(f"cannot serialise {type(value).__name__} in a parameter value")


def _freeze(value: Any) -> Any:
    """Lists become tuples and mappings read-only dicts so a value cannot be mutated."""
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return _FrozenDict({k: _freeze(v) for k, v in value.items()})
    return value


class _FrozenDict(dict):
    def _readonly(self, *_args: Any, **_kwargs: Any) -> None:
        raise TypeError("parameter values are read-only")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(json.dumps(to_jsonable(self), sort_keys=True))


# --- values ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ParameterValue:
    """One value of one parameter and the period in which it holds.

    ``valid_until`` is the last day (inclusive) or None while open-ended. ``value`` is a
    Decimal, int, str, bool, None, tuple or read-only mapping, exactly as in the file."""

    name: str
    value: Any
    valid_from: date
    valid_until: date | None
    reference: str
    last_reviewed: date
    unit: str
    description: str

    def holds_on(self, on: date) -> bool:
        """Whether this value is the one in force on ``on``."""
        return self.valid_from <= on and (self.valid_until is None or on <= self.valid_until)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (Decimals as strings, dates as ISO strings)."""
        return {
            "name": self.name,
            "value": to_jsonable(self.value),
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "reference": self.reference,
            "last_reviewed": self.last_reviewed.isoformat(),
            "unit": self.unit,
            "description": self.description,
        }


class ParametersInForce:
    """The values of a :class:`ParameterSet` that hold on one date.

    Parameters without a value on that date are absent; asking for them raises
    :class:`ParameterNotInForce` naming the parameter and the date."""

    def __init__(self, parameter_set: ParameterSet, on: date):
        self.parameter_set = parameter_set
        self.on = on
        self._values: dict[str, ParameterValue] = {}
        for name in parameter_set.names:
            for value in parameter_set.history(name):
                if value.holds_on(on):
                    self._values[name] = value
                    break
        self._version: str | None = None

    def get(self, name: str) -> ParameterValue:
        """The value of ``name`` in force on :attr:`on`."""
        if name in self._values:
            return self._values[name]
        if name not in self.parameter_set.names:
            raise UnknownParameter(name, self.parameter_set.set_name)
        raise ParameterNotInForce([self._missing(name)])

    def require(self, *names: str) -> None:
        """Raise one :class:`ParameterNotInForce` naming *every* listed parameter that has
        no value on :attr:`on` (and :class:`UnknownParameter` for a name never defined)."""
        for name in names:
            if name not in self.parameter_set.names:
                raise UnknownParameter(name, self.parameter_set.set_name)
        missing = [self._missing(n) for n in names if n not in self._values]
        if missing:
            first = min((v.valid_from for n in names
                         for v in self.parameter_set.history(n)), default=None)
            if len(missing) == len(names) and first is not None and self.on < first:
                # A date before the rules existed: one plain sentence, then the details.
                raise ParameterNotInForce(missing, f"nothing of {self.parameter_set.set_name} "
                                                   f"is in force on {self.on.isoformat()}: "
                                                   f"its values start {first.isoformat()}")
            raise ParameterNotInForce(missing)

    def _missing(self, name: str) -> tuple[str, date, str]:
        periods = ", ".join(
            f"{v.valid_from.isoformat()}..{v.valid_until.isoformat() if v.valid_until else ''}"
            for v in self.parameter_set.history(name))
        return (name, self.on,
                f"no value of parameter {name!r} in force on {self.on.isoformat()} "
                f"(values exist for: {periods})")

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __iter__(self) -> Iterator[ParameterValue]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self._values)

    @property
    def values(self) -> tuple[ParameterValue, ...]:
        """Every value in force, sorted by parameter name."""
        return tuple(self._values[n] for n in sorted(self._values))

    @property
    def effective_from(self) -> date | None:
        """The latest ``valid_from`` among the values in force: the first day on which
        exactly this combination of values holds (None if nothing is in force)."""
        return max((v.valid_from for v in self._values.values()), default=None)

    @property
    def version(self) -> str:
        """``<set_name>/<effective_from>+sha256:<12 hex>``, hashed over the name, value,
        start date and reference of every value in force. Not hashed: review dates, prose,
        and ``valid_until``, so adding a later value does not change the version of
        earlier dates. Equal versions mean the same rules produced the figures."""
        if self._version is None:
            canonical = json.dumps(
                [[v.name, to_jsonable(v.value), v.valid_from.isoformat(), v.reference]
                 for v in self.values],
                sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:_HASH_CHARS]
            start = self.effective_from.isoformat() if self.effective_from else "none"
            self._version = f"{self.parameter_set.set_name}/{start}+sha256:{digest}"
        return self._version

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: date, version and every value in force."""
        return {"on": self.on.isoformat(), "version": self.version,
                "parameters": [v.to_dict() for v in self.values]}


class ParameterSet:
    """All dated values of all parameters loaded from one directory."""

    def __init__(self, set_name: str, histories: Mapping[str, Iterable[ParameterValue]]):
        self.set_name = set_name
        self._histories = {n: tuple(sorted(h, key=lambda v: v.valid_from))
                           for n, h in histories.items()}
        self._cache: dict[date, ParametersInForce] = {}

    @classmethod
    def load(cls, directory: Path | str, *, set_name: str | None = None) -> ParameterSet:
        """Load every ``*.yaml`` file under ``directory`` (recursively).

        ``set_name`` prefixes the version id (default: the directory's name). Raises
        :class:`ParameterFileError` for any malformed file."""
        root = Path(directory)
        if not root.is_dir():
            raise ParameterFileError(root, "parameter directory does not exist")
        histories: dict[str, list[ParameterValue]] = {}
        for path in sorted(root.rglob("*.yaml")):
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            histories[name] = _parse_file(path, name)
        if not histories:
            raise ParameterFileError(root, "no *.yaml parameter files found")
        return cls(set_name or root.name, histories)

    @property
    def names(self) -> tuple[str, ...]:
        """Every parameter name in the set, sorted."""
        return tuple(sorted(self._histories))

    def history(self, name: str) -> tuple[ParameterValue, ...]:
        """Every value of ``name``, oldest first."""
        try:
            return self._histories[name]
        except KeyError:
            raise UnknownParameter(name, self.set_name) from None

    def at(self, on: date) -> ParametersInForce:
        """The values in force on ``on`` (cached per date; the set is immutable)."""
        if not isinstance(on, date):
            raise TypeError("on must be a datetime.date")
        found = self._cache.get(on)
        if found is None:
            found = self._cache[on] = ParametersInForce(self, on)
        return found

    def get(self, name: str, on: date) -> ParameterValue:
        """Shortcut for ``at(on).get(name)``."""
        return self.at(on).get(name)

    def list(self, on: date) -> tuple[ParameterValue, ...]:
        """Every value in force on ``on`` with its reference, sorted by name (ListParameters)."""
        return self.at(on).values

    def change_dates(self) -> tuple[date, ...]:
        """Every date on which some value starts or (the day after) ends: the boundaries
        a rule test should cover on both sides."""
        dates: set[date] = set()
        for history in self._histories.values():
            for v in history:
                dates.add(v.valid_from)
                if v.valid_until is not None:
                    dates.add(date.fromordinal(v.valid_until.toordinal() + 1))
        return tuple(sorted(dates))


# --- file parsing ----------------------------------------------------------------------

_ALLOWED_TOP = {"description", "unit", "values"}
_ALLOWED_ENTRY = {"value", "reference", "last_reviewed", "valid_until", "note"}
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _as_date(raw: Any, path: Path, what: str) -> date:
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str) and _DATE_TEXT.match(raw):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    raise ParameterFileError(path, f"{what} must be a date YYYY-MM-DD, got {raw!r}")


def _check_value(raw: Any, path: Path, where: str) -> None:
    if isinstance(raw, float):  # cannot happen with our loader; guards hand-made sets
        raise ParameterFileError(path, f"{where}: binary float values are not allowed")
    if isinstance(raw, dict):
        for k, v in raw.items():
            _check_value(v, path, f"{where}.{k}")
    elif isinstance(raw, list):
        for i, v in enumerate(raw):
            _check_value(v, path, f"{where}[{i}]")


def _parse_file(path: Path, name: str) -> list[ParameterValue]:
    try:
        doc = load_yaml(path)
    except (yaml.YAMLError, ArithmeticError, ValueError) as exc:
        raise ParameterFileError(path, f"not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise ParameterFileError(path, "top level must be a mapping")
    unknown = set(doc) - _ALLOWED_TOP
    if unknown:
        raise ParameterFileError(path, f"unknown keys {sorted(unknown)}")
    description = doc.get("description")
    if not isinstance(description, str) or not description.strip():
        raise ParameterFileError(path, "description is required")
    unit = doc.get("unit", "")
    if not isinstance(unit, str):
        raise ParameterFileError(path, "unit must be a string")
    entries = doc.get("values")
    if not isinstance(entries, dict) or not entries:
        raise ParameterFileError(path, "values must be a non-empty mapping keyed by date")

    starts = sorted((_as_date(k, path, "values key"), k) for k in entries)
    if len({d for d, _ in starts}) != len(starts):
        raise ParameterFileError(path, "two values start on the same date")
    result: list[ParameterValue] = []
    for i, (start, key) in enumerate(starts):
        entry = entries[key]
        where = f"values[{start.isoformat()}]"
        if not isinstance(entry, dict) or "value" not in entry:
            raise ParameterFileError(path, f"{where} must be a mapping with a 'value'")
        unknown = set(entry) - _ALLOWED_ENTRY
        if unknown:
            raise ParameterFileError(path, f"{where} has unknown keys {sorted(unknown)}")
        reference = entry.get("reference")
        if not isinstance(reference, str) or not reference.strip():
            raise ParameterFileError(path, f"{where} needs a reference (law, terms, or "
                                           f"'Fund configuration: ...')")
        if "last_reviewed" not in entry:
            raise ParameterFileError(path, f"{where} needs last_reviewed")
        last_reviewed = _as_date(entry["last_reviewed"], path, f"{where}.last_reviewed")
        _check_value(entry["value"], path, where)
        next_start = starts[i + 1][0] if i + 1 < len(starts) else None
        until: date | None
        if entry.get("valid_until") is not None:
            until = _as_date(entry["valid_until"], path, f"{where}.valid_until")
            if until < start:
                raise ParameterFileError(path, f"{where}.valid_until is before its start")
            if next_start is not None and until >= next_start:
                raise ParameterFileError(path, f"{where}.valid_until overlaps the next value")
        elif next_start is not None:
            until = date.fromordinal(next_start.toordinal() - 1)
        else:
            until = None
        result.append(ParameterValue(
            name=name, value=_freeze(entry["value"]), valid_from=start, valid_until=until,
            reference=" ".join(reference.split()), last_reviewed=last_reviewed, unit=unit,
            description=" ".join(description.split())))
    return result
