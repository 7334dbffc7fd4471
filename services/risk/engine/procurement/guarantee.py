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
from .simulation import ChunkCallback, cost_bounds_by_outcome, outcome_probabilities, simulate

DEFAULT_RISK_LEVELS = (0.95, 0.99)


def guarantee_payout_cents(loss_cents: np.ndarray, terms: GuaranteeTerms) -> np.ndarray:
    """Payout per scenario: the deductible first, then the guarantee rate, then the cap."""
    covered = np.maximum(loss_cents - terms.deductible_cents, 0.0) * terms.guarantee_rate
    return np.minimum(covered, float(terms.cap_cents))


def _loss_cents(cost_cents: np.ndarray, covered: CoveredLoss, budget_cents: int
                ) -> np.ndarray:
    """The covered loss under each outcome (rows as simulation._outcome_costs: row 0 every
    phase passed, row f + 1 failed in phase f): the overrun, or the spend at failure."""
    if covered == CoveredLoss.COST_OVERRUN:
        return np.maximum(cost_cents - budget_cents, 0.0)
    loss = np.array(cost_cents, dtype=np.float64)
    loss[0] = 0.0
    return loss


def _expected(probability: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Σ_f P(f)·rows[f]: each scenario's figure averaged over the failing phase. A loop of
    elementwise products (not a matrix product), so chunk-independent."""
    out = np.zeros(rows.shape[1:])
    for p, row in zip(probability, rows, strict=True):
        if p > 0.0:
            out = out + p * row
    return out


def evaluate_guarantee(model: ProcurementModel, terms: GuaranteeTerms, *, scenarios: int,
                       seed: int, chunk_scenarios: int | None = None,
                       risk_levels: Sequence[float] = DEFAULT_RISK_LEVELS,
                       on_chunk: ChunkCallback | None = None) -> GuaranteeEvaluation:
    """Monte Carlo value of a guarantee on one procurement.

    The loss is the overrun (total cost − budget, when positive) or the spend at
    failure (total cost of a scenario in which the procurement fails, else 0); the
    scenarios are those of ``estimate_procurement_risk`` with the same seed. Money in:
    integer cents; out: Estimates in float cents. The break-even fee is the expected
    payout, also as a rate of the guaranteed amount (the cap, the most the fund can
    pay), for the whole term: the loss is the procurement's, not a year's. Beside it:
    the expected loss without the guarantee, what the agency keeps of it (loss − payout:
    the deductible, the share above the rate, anything above the cap) and P(the payout
    reaches the cap). VaR and ES of the payout are given at each of ``risk_levels``. The expected
    payout and P(payout) are conditioned on the failing phase (see the README), so their
    SEs do not rest on the failures a run drew.
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

    # The expected payout and P(payout) are conditioned on the failing phase, whose law the
    # model knows exactly and which is drawn independently of every cost: E[payout] =
    # Σ_f P(f)·E[payout | f], each scenario's draws costed under every outcome. The plain
    # mean rested on the failures a run drew: a payout on a failure of P 1e-4 read €0 ± €0
    # in 84 of 200 runs of 1,000 scenarios.
    probability = outcome_probabilities(plan)  # f + 1
    cap = float(terms.cap_cents)
    paid, paying, capped, lost, kept = (np.empty(scenarios) for _ in range(5))

    def observe(start: int, outcome_cost: np.ndarray) -> None:
        loss = _loss_cents(outcome_cost, covered, model.budget_cents)
        payout = guarantee_payout_cents(loss, terms)
        rows = slice(start, start + outcome_cost.shape[1])
        paid[rows] = _expected(probability, payout)
        paying[rows] = _expected(probability, payout > 0.0)
        capped[rows] = _expected(probability, payout >= cap)
        lost[rows] = _expected(probability, loss)
        kept[rows] = _expected(probability, loss - payout)

    run = simulate(plan, scenarios=scenarios, seed=seed, chunk_scenarios=chunk_scenarios,
                   target_standard_error_cents=None, outcome_costs=observe,
                   on_chunk=on_chunk)
    # What the model bounds them to (the costs' supports by outcome): a payout it rules
    # out reads 0 ± 0, one it fixes (a cap every failure reaches) its value ± 0, and
    # anything else keeps a few-events floor (statistics.bounded_mean).
    # The loss (so what the agency keeps, loss − payout, which never falls as the loss
    # rises) is unbounded with a normal or lognormal cost: one no draw showed is then
    # floored at the size of loss that uses the whole guarantee, deductible + cap/rate.
    least_loss, most_loss = (_loss_cents(bound, covered, model.budget_cents)
                             for bound in cost_bounds_by_outcome(plan))
    least, most = (guarantee_payout_cents(bound, terms) for bound in (least_loss, most_loss))
    unseen_loss = terms.deductible_cents + cap / terms.guarantee_rate

    def bounded(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> Estimate:
        return st.bounded_mean(values, float(_expected(probability, low)),
                               float(_expected(probability, high)), unseen_loss)
    cost = run.total_cost_cents
    if covered == CoveredLoss.COST_OVERRUN:
        loss = np.maximum(cost - model.budget_cents, 0.0)
    else:
        loss = np.where(run.failure_phase >= 0, cost, 0.0)
    payout = guarantee_payout_cents(loss, terms)
    ordered = np.sort(payout)
    expected = bounded(paid, least, most)
    levels = []
    for level in risk_levels:
        var = st.quantile(ordered, float(level))
        es = st.expected_shortfall(ordered, float(level), var.value)
        if var.value <= 0.0:
            # ES = VaR + E[(X − VaR)⁺]/(1 − α) = E[payout]/(1 − α) at a VaR of 0 (a payout
            # rarer than 1 − α): the conditioned mean, not the scenarios' (0 ± 0 in a run
            # that drew none)
            tail = 1.0 - float(level)
            es = Estimate(expected.value / tail, expected.standard_error / tail)
        levels.append(GuaranteeRiskLevel(float(level), var, es))
    return GuaranteeEvaluation(
        seed=seed, scenarios=run.scenarios, terms=terms,
        expected_payout_cents=expected,
        payout_probability=bounded(paying, least > 0.0, most > 0.0),
        expected_loss_cents=bounded(lost, least_loss, most_loss),
        expected_retained_loss_cents=bounded(kept, least_loss - least, most_loss - most),
        cap_reached_probability=bounded(capped, least >= cap, most >= cap),
        risk_levels=tuple(levels),
        break_even_fee_cents=expected,
        break_even_fee_rate=Estimate(expected.value / cap, expected.standard_error / cap),
        guaranteed_amount_cents=terms.cap_cents,
        defaults_used=tuple(plan.defaults_used))

