"""How the fund's risk is measured and modelled: the risk-appetite measure
(``risk.measure``, e.g. ``ES99.9``) and the fund's risk model (``risk.model``: default
probability by rating class, LGD, factor loading, horizon, scenarios, seed), both dated
fund parameters carried by the fund rules (``FundRules.risk_measure``, ``risk_model``).
The server describes the portfolio to the risk service with them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.funding.ledger.fund_rules import FundRules


def risk_measure(measure: str) -> tuple[str, float]:
    """``ES99.9`` -> ("ES", 0.999); ``VaR99.5`` -> ("VaR", 0.995). ValueError otherwise."""
    match = re.fullmatch(r"(ES|VaR)(\d{2}(?:\.\d+)?)", measure)
    if match is None:
        raise ValueError(f"risk measure {measure!r} is not ES<level> or VaR<level>")
    return match.group(1), float(Decimal(match.group(2)) / 100)


def probability_of_default(model: Mapping[str, Any], rating_class: str) -> Decimal:
    """The model's default probability for a rating class (case-insensitive); an unrated
    or unlisted class gets the model's ``default`` (the prudent unrated value)."""
    table = model["probability_of_default"]
    return Decimal(str(table["by_rating"].get(rating_class.upper(), table["default"])))


def model_and_level(rules: FundRules) -> tuple[Mapping[str, Any], float]:
    """The risk model and the measure's level of these fund rules; ValueError when they
    have no model or a measure that is not ES/VaR at a level."""
    if rules.risk_model is None:
        raise ValueError(f"no fund risk model (parameter risk.model) in {rules.version}")
    _, level = risk_measure(rules.risk_measure)
    return rules.risk_model, level
