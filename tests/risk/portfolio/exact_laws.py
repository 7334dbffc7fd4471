"""Exact tail figures of a loss law on a lattice, the reference the engine is tested
against (not the engine's own code)."""

from __future__ import annotations

import numpy as np


def var_es_of_lattice(pmf: np.ndarray, level: float, unit: float) -> tuple[float, float]:
    """Exact VaR and (Acerbi–Tasche) ES at ``level`` of the loss ``k · unit`` whose
    probabilities are ``pmf[k]``."""
    support = np.arange(pmf.size) * float(unit)
    cdf = np.cumsum(pmf)
    i = int(np.argmax(cdf >= level - 1e-15))
    es = (support[i + 1:] @ pmf[i + 1:] + support[i] * (cdf[i] - level)) / (1 - level)
    return float(support[i]), float(es)
