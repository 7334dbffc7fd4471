"""The IJH rule parameters shipped with this package, and the ListParameters view of them."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path

from services.funding.rules.parameters import ParameterSet, ParameterValue

PARAMETER_DIRECTORY = Path(__file__).with_name("parameters")
RULES_SET_NAME = "ijh-rules"


@lru_cache(maxsize=1)
def ijh_parameters() -> ParameterSet:
    """The IJH parameter set from :data:`PARAMETER_DIRECTORY`, loaded once."""
    return ParameterSet.load(PARAMETER_DIRECTORY, set_name=RULES_SET_NAME)


def list_parameters(on: date, parameters: ParameterSet | None = None) -> tuple[ParameterValue, ...]:
    """Every IJH parameter value in force on ``on``, with references (ListParameters RPC)."""
    return (parameters or ijh_parameters()).list(on)


def rules_version(on: date, parameters: ParameterSet | None = None) -> str:
    """The rules version id for ``on``, e.g. ``ijh-rules/2018-01-01+sha256:…``."""
    return (parameters or ijh_parameters()).at(on).version
