"""A guarantee whose payout is rare (or near certain) keeps an honest error, against closed
forms: its expected payout is conditioned on the failing phase, whose law the model knows
exactly, and keeps a few-events floor for what the draws decide; only a payout the model
rules out, or fixes, reads ± 0."""

import numpy as np
import pytest

from services.risk.engine.procurement import (
    CostDistribution,
    CostItem,
    CoveredLoss,
    DistributionKind,
    GuaranteeTerms,
    Phase,
    RiskEvent,
    evaluate_guarantee,
)
from tests.risk.procurement.builders import procurement_model as _model

K = DistributionKind
SEEDS = range(200)


def _runs(model, terms, scenarios=1_000):
    return [evaluate_guarantee(model, terms, scenarios=scenarios, seed=seed) for seed in SEEDS]


def _honest(estimates, exact):
    value = np.array([e.value for e in estimates])
    se = np.array([e.standard_error for e in estimates])
    assert np.all(se > 0), f"{np.sum(se == 0)} runs read ± 0"
    assert np.mean(np.abs(value - exact) > 3 * se) <= 0.015


def test_a_payout_on_a_rare_failure():
    # P(fail) = 1e-3 (one supplier, pass 0.999), loss at failure = the triangular cost, half
    # of it paid, the cap out of reach: E[payout] = 1e-3 · 0.5 · (a + c + b)/3. A run of
    # 1,000 scenarios draws no failure 37 % of the time: it read 0 ± 0.
    a, c, b = 4_000_000_00, 4_500_000_00, 5_500_000_00
    m = _model([CostItem("system", CostDistribution(K.TRIANGULAR, a, c, b))], b,
               phases=(Phase("delivery", 1, 0.999),))
    terms = GuaranteeTerms(CoveredLoss.LOSS_AT_FAILURE, 0.5, cap_cents=10**12)
    runs = _runs(m, terms)
    p_fail = 1 - 0.999
    exact = p_fail * 0.5 * (a + c + b) / 3
    _honest([g.expected_payout_cents for g in runs], exact)
    _honest([g.break_even_fee_cents for g in runs], exact)
    for g in runs[:5]:
        # P(payout) = P(fail) exactly: every failure pays
        assert g.payout_probability.value == pytest.approx(p_fail, rel=1e-9)
        assert g.payout_probability.standard_error == 0.0
        rate = g.break_even_fee_rate
        assert rate.value == pytest.approx(g.expected_payout_cents.value / terms.cap_cents)
        # VaR 99 % is 0 (a payout rarer than 1 %), so ES 99 % = E[payout]/0.01
        es = g.risk_levels[-1].expected_shortfall_cents
        assert g.risk_levels[-1].value_at_risk_cents.value == 0.0
        assert abs(es.value - exact / 0.01) < 4 * es.standard_error


def test_a_payout_on_a_rare_overrun():
    # the overrun comes from a risk event of P 1e-3 (the draws, not the phase): E[payout] =
    # 1e-3 · min(cap, 0.5 · impact)
    base, impact, cap = 100_000_000, 50_000_000, 20_000_000
    m = _model([CostItem("x", CostDistribution(K.FIXED, mode_cents=base))], base,
               risk_events=(RiskEvent("fire", 0.001,
                                      CostDistribution(K.FIXED, mode_cents=impact)),))
    runs = _runs(m, GuaranteeTerms(CoveredLoss.COST_OVERRUN, 0.5, cap_cents=cap))
    _honest([g.expected_payout_cents for g in runs], 0.001 * min(cap, 0.5 * impact))
    _honest([g.payout_probability for g in runs], 0.001)


def test_a_payout_at_the_cap_in_nearly_every_scenario():
    # the mirror image: the event has P 0.999 and pays the cap: E[payout] = 0.999 · cap; a run
    # that drew it in every scenario read cap ± 0
    base, impact, cap = 100_000_000, 50_000_000, 20_000_000
    m = _model([CostItem("x", CostDistribution(K.FIXED, mode_cents=base))], base,
               risk_events=(RiskEvent("fire", 0.999,
                                      CostDistribution(K.FIXED, mode_cents=impact)),))
    runs = _runs(m, GuaranteeTerms(CoveredLoss.COST_OVERRUN, 0.5, cap_cents=cap))
    _honest([g.expected_payout_cents for g in runs], 0.999 * cap)


def test_only_a_payout_the_model_rules_out_or_fixes_reads_exactly():
    items = [CostItem("x", CostDistribution(K.UNIFORM, minimum_cents=4_000_000_00,
                                            maximum_cents=5_500_000_00))]
    terms = GuaranteeTerms(CoveredLoss.LOSS_AT_FAILURE, 0.5, cap_cents=1_000_000_00)
    # no phase can fail: nothing to pay
    g = evaluate_guarantee(_model(items, 6_000_000_00), terms, scenarios=1_000, seed=1)
    assert g.expected_payout_cents == g.payout_probability == g.break_even_fee_rate
    assert (g.expected_payout_cents.value, g.expected_payout_cents.standard_error) == (0, 0)
    # the cost cannot pass the budget: no overrun to pay
    g = evaluate_guarantee(_model(items, 5_500_000_00),
                           GuaranteeTerms(CoveredLoss.COST_OVERRUN, 0.5, cap_cents=10**9),
                           scenarios=1_000, seed=1)
    assert (g.expected_payout_cents.value, g.expected_payout_cents.standard_error) == (0, 0)
    # every failure (P 1e-4) pays the cap (half of at least €4M is above €1M): E[payout] is
    # 1e-4 · €1M exactly, in every run (it read €0 ± €0 in 84 of 200 runs)
    m = _model(items, 6_000_000_00, phases=(Phase("delivery", 1, 0.9999),))
    for seed in range(20):
        g = evaluate_guarantee(m, terms, scenarios=1_000, seed=seed)
        assert g.expected_payout_cents.value == pytest.approx((1 - 0.9999) * 1_000_000_00)
        assert g.expected_payout_cents.standard_error == 0.0


def test_the_conditioned_figures_do_not_depend_on_the_chunking():
    phases = (Phase("design", 4, 0.7), Phase("prototype", 3, 0.6), Phase("test", 2, 0.8))
    items = [CostItem("d", CostDistribution(K.TRIANGULAR, 10_00, 20_00, 50_00), "design"),
             CostItem("p", CostDistribution(K.PERT, 100_00, 150_00, 400_00), "prototype"),
             CostItem("buy", CostDistribution(K.UNIFORM, minimum_cents=500_00,
                                              maximum_cents=900_00), only_on_success=True)]
    terms = GuaranteeTerms(CoveredLoss.LOSS_AT_FAILURE, 0.7, cap_cents=150_00)
    m = _model(items, 800_00, phases=phases)
    runs = [evaluate_guarantee(m, terms, scenarios=5 * 4096 + 17, seed=4, chunk_scenarios=chunk)
            for chunk in (None, 4096, 3 * 4096)]
    assert runs[0] == runs[1] == runs[2]
