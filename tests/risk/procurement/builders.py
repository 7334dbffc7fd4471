"""The procurement model the engine tests build: a new product for a new sector, one
delivery phase that always passes unless the test gives its phases."""

from __future__ import annotations

from services.risk.engine.procurement import (
    NoveltyLevel,
    Phase,
    ProcurementKind,
    ProcurementModel,
)

NO_FAILURE = (Phase("delivery", 1, 1.0),)


def procurement_model(cost_items, budget_cents: int = 10**9, **kw) -> ProcurementModel:
    kw.setdefault("phases", NO_FAILURE)
    return ProcurementModel(kind=ProcurementKind.NEW_PRODUCT_OR_SERVICE,
                            novelty=NoveltyLevel.NEW_TO_SECTOR, cost_items=tuple(cost_items),
                            budget_cents=budget_cents, **kw)
