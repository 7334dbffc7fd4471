"""The explanation trace: for every computed figure, the rule, parameters and inputs.

Every value in a trace is a string (Decimals keep their digits, lists and mappings are
JSON) so a trace maps 1:1 to protobuf (``map<string,string>``) and to JSON for storage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from services.funding.rules.parameters import ParametersInForce, ParameterValue, to_jsonable


def render(value: Any) -> str:
    """A figure, input or parameter value as text: scalars plainly, compounds as JSON."""
    kind = type(value)
    if kind is str:
        return value
    if kind is int or kind is Decimal:
        return str(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, StrEnum):
        return value.value
    plain = to_jsonable(value)
    if isinstance(plain, (list, dict)):
        return json.dumps(plain, ensure_ascii=False, separators=(",", ":"))
    return str(plain)


_USES: dict[int, tuple[ParameterValue, ParameterUse]] = {}


@dataclass(frozen=True)
class ParameterUse:
    """A parameter value as used by a rule: what it was, from when, and on what authority."""

    name: str
    value: str
    valid_from: str
    valid_until: str
    reference: str

    @classmethod
    def of(cls, parameter: ParameterValue) -> ParameterUse:
        """Snapshot of a :class:`ParameterValue` for a trace (cached: values are immutable)."""
        cached = _USES.get(id(parameter))
        if cached is not None and cached[0] is parameter:
            return cached[1]
        use = cls(parameter.name, render(parameter.value), parameter.valid_from.isoformat(),
                   parameter.valid_until.isoformat() if parameter.valid_until else "",
                   parameter.reference)
        if len(_USES) > 10_000:  # reloaded parameter sets must not grow this forever
            _USES.clear()
        _USES[id(parameter)] = (parameter, use)  # holding the value keeps its id unique
        return use

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form."""
        return {"name": self.name, "value": self.value, "valid_from": self.valid_from,
                "valid_until": self.valid_until, "reference": self.reference}


@dataclass(frozen=True)
class TraceStep:
    """How one figure was computed.

    ``figure`` is the output path (``cost_lines[2].accepted_cents``), ``rule`` the rule's
    name, ``formula`` the computation in words and symbols, ``result`` the figure."""

    figure: str
    rule: str
    formula: str
    result: str
    inputs: tuple[tuple[str, str], ...]
    parameters: tuple[ParameterUse, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (inputs as an ordered mapping)."""
        return {"figure": self.figure, "rule": self.rule, "formula": self.formula,
                "result": self.result, "inputs": dict(self.inputs),
                "parameters": [p.to_dict() for p in self.parameters]}


class Tracer:
    """Reads parameters on behalf of rules and records one :class:`TraceStep` per figure."""

    def __init__(self, in_force: ParametersInForce):
        self.in_force = in_force
        self.steps: list[TraceStep] = []
        self._used: dict[str, ParameterUse] = {}

    def parameter(self, name: str) -> ParameterValue:
        """The value of ``name`` in force (raises ParameterNotInForce if none)."""
        return self.in_force.get(name)

    def record(self, figure: str, rule: str, formula: str, result: Any,
               inputs: dict[str, Any] | None = None,
               parameters: tuple[str, ...] = ()) -> None:
        """Add the step that produced ``figure``; ``parameters`` are names in force."""
        uses = []
        for name in parameters:
            use = self._used.get(name)
            if use is None:
                use = self._used[name] = ParameterUse.of(self.in_force.get(name))
            uses.append(use)
        self.steps.append(TraceStep(
            figure=figure, rule=rule, formula=formula, result=render(result),
            inputs=tuple((k, render(v)) for k, v in (inputs or {}).items()),
            parameters=tuple(uses)))

    @property
    def parameters_used(self) -> tuple[ParameterUse, ...]:
        """Every parameter some step used, sorted by name."""
        return tuple(self._used[n] for n in sorted(self._used))
