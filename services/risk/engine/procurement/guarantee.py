"""evaluate_guarantee: what a partial guarantee from the risk fund would pay."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from services.risk.engine.estimate import Estimate
from services.shared.errors import Collector
from services.shared.money import MAX_CENTS

from . import statistics as st
from .model import (
    CoveredLoss,
    GuaranteeEvaluation,
    GuaranteeRiskLevel,
    GuaranteeTerms,
    ProcurementModel,
)
from .plan import is_finite_number, is_integer
from .risk import check_run_options, compile_checked
from .simulation import simulate

DEFAULT_RISK_LEVELS = (0.95, 0.99)


def guarantee_payout_cents(loss_cents: np.ndarray, terms: GuaranteeTerms) -> np.ndarray:
    """Payout per scenario: the deductible first, then the guarantee rate, then the cap."""
    covered = np.maximum(loss_cents - terms.deductible_cents, 0.0) * terms.guarantee_rate
    return np.minimum(covered, float(terms.cap_cents))


def evaluate_guarantee(model: ProcurementModel, terms: GuaranteeTerms, *, scenarios: int,
                       seed: int, chunk_scenarios: int | None = None,
                       risk_levels: Sequence[float] = DEFAULT_RISK_LEVELS
                       ) -> GuaranteeEvaluation:
    """Monte Carlo value of a guarantee on one procurement.

    The loss is the overrun (total cost − budget, when positive) or the spend at
    failure (total cost of a scenario in which the procurement fails, else 0); the
    scenarios are those of ``estimate_procurement_risk`` with the same seed. Money in:
    integer cents; out: Estimates in float cents. The break-even fee is the expected
    payout, also as a rate of the guaranteed amount (the cap, the most the fund can
    pay). VaR and ES of the payout are given at each of ``risk_levels``.
    """
    c = Collector()
    check_run_options(c, scenarios, seed, chunk_scenarios)
    if not isinstance(terms, GuaranteeTerms):
        raise TypeError("terms must be GuaranteeTerms")
    try:
        covered = CoveredLoss(terms.covered_loss)
    except ValueError:
        covered = None
    c.check(covered not in (None, CoveredLoss.COVERED_LOSS_UNSPECIFIED),
            "terms.covered_loss", "must be COST_OVERRUN or LOSS_AT_FAILURE")
    c.check(is_finite_number(terms.guarantee_rate) and 0.0 < terms.guarantee_rate <= 1.0,
            "terms.guarantee_rate", "must be a rate in (0, 1]")
    c.check(is_integer(terms.cap_cents) and 0 < terms.cap_cents <= MAX_CENTS,
            "terms.cap_cents", f"must be a positive integer number of cents, at most "
                               f"{MAX_CENTS:,}")
    c.check(is_integer(terms.deductible_cents) and 0 <= terms.deductible_cents <= MAX_CENTS,
            "terms.deductible_cents", f"must be a non-negative integer number of cents, at "
                                      f"most {MAX_CENTS:,}")
    for i, level in enumerate(risk_levels):
        c.check(is_finite_number(level) and 0.0 < level < 1.0, f"risk_levels[{i}]",
                "must be a probability strictly between 0 and 1")
    plan = compile_checked(c, model, scenarios)

    run = simulate(plan, scenarios=scenarios, seed=seed, chunk_scenarios=chunk_scenarios,
                   target_standard_error_cents=None)
    cost = run.total_cost_cents
    if covered == CoveredLoss.COST_OVERRUN:
        loss = np.maximum(cost - model.budget_cents, 0.0)
    else:
        loss = np.where(run.failure_phase >= 0, cost, 0.0)
    payout = guarantee_payout_cents(loss, terms)
    ordered = np.sort(payout)
    levels = []
    for level in risk_levels:
        var = st.quantile(ordered, float(level))
        levels.append(GuaranteeRiskLevel(float(level), var,
                                         st.expected_shortfall(ordered, float(level),
                                                               var.value)))
    expected = st.mean(payout)
    cap = float(terms.cap_cents)
    return GuaranteeEvaluation(
        seed=seed, scenarios=run.scenarios, terms=terms,
        expected_payout_cents=expected,
        payout_probability=st.proportion(payout > 0.0),
        risk_levels=tuple(levels),
        break_even_fee_cents=expected,
        break_even_fee_rate=Estimate(expected.value / cap, expected.standard_error / cap),
        guaranteed_amount_cents=terms.cap_cents,
        defaults_used=tuple(plan.defaults_used))

