"""Default priors: what the engine assumes where the agency leaves something out.

Judgement-based starting values, not fitted to data (the package README gives the
rationale for developers). Every use is listed in the answer (``defaults_used``) with a
rationale the agency can read and cite: ``PHASE_PRIORS_SOURCE`` and ``SPREAD_SOURCE``
below, never a pointer to internal documentation. The agency can replace each default
with its own figure.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import NoveltyLevel, ProcurementKind

DEFAULT_NOVELTY = NoveltyLevel.NEW_IN_FINLAND
DEFAULT_PERT_SHAPE = 4.0  # the classic PERT weight of the mode (Malcolm et al. 1959)


@dataclass(frozen=True)
class PhasePrior:
    name: str
    suppliers: int
    pass_probability: dict[NoveltyLevel, float]


@dataclass(frozen=True)
class Spread:
    """A PERT spread around a most-likely value m: minimum m·(1−down), maximum m·(1+up)."""

    down: float
    up: float


_N2S, _NIF, _NWW = (NoveltyLevel.NEW_TO_SECTOR, NoveltyLevel.NEW_IN_FINLAND,
                    NoveltyLevel.NEW_WORLDWIDE)

# Suppliers per phase follow the usual PCP funnel (competing suppliers cut after each
# phase, e.g. 4 → 3 → 2) and the Tax Administration's two-supplier innovation partnership
# (a case in TEM's action plan, chapter 2.2). Pass probabilities are per supplier per
# phase; a purchase of a ready product has one "delivery" gate.
PHASE_PRIORS: dict[ProcurementKind, tuple[PhasePrior, ...]] = {
    ProcurementKind.PRE_COMMERCIAL_PROCUREMENT: (
        PhasePrior("solution_design", 4, {_N2S: 0.80, _NIF: 0.70, _NWW: 0.55}),
        PhasePrior("prototype", 3, {_N2S: 0.75, _NIF: 0.65, _NWW: 0.50}),
        PhasePrior("test_series", 2, {_N2S: 0.85, _NIF: 0.80, _NWW: 0.70}),
    ),
    ProcurementKind.INNOVATION_PARTNERSHIP: (
        PhasePrior("development", 2, {_N2S: 0.85, _NIF: 0.75, _NWW: 0.60}),
    ),
    ProcurementKind.NEW_PRODUCT_OR_SERVICE: (
        PhasePrior("delivery", 1, {_N2S: 0.97, _NIF: 0.93, _NWW: 0.85}),
    ),
    ProcurementKind.CATALYST_PROCUREMENT: (
        PhasePrior("delivery", 1, {_N2S: 0.95, _NIF: 0.90, _NWW: 0.80}),
    ),
}

# Right-skewed spreads for a value given only as "most likely". The upper ends are
# anchored on the UK Green Book optimism-bias upper bounds (Mott MacDonald 2002):
# capital cost 200 % and works duration 54 % for equipment/development projects,
# 66 % capital cost for non-standard civil engineering.
COST_SPREADS: dict[NoveltyLevel, Spread] = {
    _N2S: Spread(down=0.05, up=0.40),
    _NIF: Spread(down=0.10, up=0.66),
    _NWW: Spread(down=0.10, up=2.00),
}
DURATION_SPREADS: dict[NoveltyLevel, Spread] = {
    _N2S: Spread(down=0.05, up=0.25),
    _NIF: Spread(down=0.05, up=0.39),
    _NWW: Spread(down=0.10, up=0.54),
}

# The basis of each default, as shown to the agency in ``defaults_used`` (rationale).
PHASE_PRIORS_SOURCE = (
    "risk service default (expert judgement, not fitted to data): phases and supplier "
    "counts follow the usual pre-commercial procurement funnel, with competing suppliers "
    "cut after each phase, and for an innovation partnership the Tax Administration's "
    "two-supplier case in the Ministry of Economic Affairs and Employment's (TEM) action "
    "plan for innovative public procurement 2017-2019, chapter 2.2; pass probabilities "
    "are judgement by novelty level. Give the phases to replace it.")
SPREAD_SOURCE = (
    "risk service default (expert judgement, not fitted to data): PERT distribution "
    "(shape 4, Malcolm et al. 1959) whose upper ends are anchored on the UK Green Book "
    "optimism-bias upper bounds (Mott MacDonald 2002: capital cost +200 % and duration "
    "+54 % for equipment/development projects, +66 % cost for non-standard civil "
    "engineering). Give a minimum and maximum, or a distribution, to replace it.")
