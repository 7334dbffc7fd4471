"""An estimate is a number with its Monte Carlo standard error."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Estimate:
    """``value`` with its Monte Carlo standard error (0.0 for exact figures)."""

    value: float
    standard_error: float = 0.0
