"""What a guarantee would cover, against closed forms: the expected loss before it, the part
the agency keeps, and the chance the payout reaches its cap; and that the answer carries
them (API and command)."""

import math

import pytest
from ijh.risk.v1 import risk_pb2
from scipy import stats

from services.risk import translate
from services.risk.engine.procurement import (
    CostDistribution,
    CostItem,
    CoveredLoss,
    DistributionKind,
    GuaranteeTerms,
    Phase,
    evaluate_guarantee,
)
from tests.risk.procurement.builders import procurement_model as _model

EMPTY = risk_pb2.ProcurementModel()  # the request: only names the defaults' fields

K = DistributionKind
Z = 4.5


def _close(estimate, exact):
    assert estimate.standard_error > 0
    assert abs(estimate.value - exact) <= Z * estimate.standard_error, (estimate, exact)


def _stop_loss(mu, sigma, k):
    """E[(X − k)⁺] for X ~ N(μ, σ²)."""
    d = (mu - k) / sigma
    return (mu - k) * stats.norm.cdf(d) + sigma * stats.norm.pdf(d)


def test_an_overrun_guarantee_on_a_normal_cost():
    # X ~ N(μ, σ) (truncation at 0 is 10 σ away). loss = (X − B)⁺, payout = min(cap,
    # r(X − B − D)⁺) = r[(X − B − D)⁺ − (X − B − D − cap/r)⁺]; P(payout = cap) =
    # P(X ≥ B + D + cap/r).
    mu, sigma, budget, ded, rate, cap = 10_000_000, 1_000_000, 10_500_000, 200_000, 0.5, 300_000
    items = [CostItem("x", CostDistribution(K.TRUNCATED_NORMAL, mean_cents=mu,
                                            standard_deviation_cents=sigma))]
    g = evaluate_guarantee(_model(items, budget), GuaranteeTerms(
        CoveredLoss.COST_OVERRUN, rate, cap_cents=cap, deductible_cents=ded),
        scenarios=80_000, seed=21)
    loss = _stop_loss(mu, sigma, budget)
    payout = rate * (_stop_loss(mu, sigma, budget + ded)
                     - _stop_loss(mu, sigma, budget + ded + cap / rate))
    _close(g.expected_loss_cents, loss)
    _close(g.expected_payout_cents, payout)
    _close(g.expected_retained_loss_cents, loss - payout)
    _close(g.cap_reached_probability, stats.norm.sf((budget + ded + cap / rate - mu) / sigma))


def test_a_loss_at_failure_guarantee():
    # P(fail) = 0.3 (one supplier), spend at failure U(a, b): E[loss] = 0.3 (a + b)/2; with
    # rate 1, no deductible and the cap at c in (a, b): payout = min(X, c), so P(cap) =
    # 0.3 (b − c)/(b − a) and what the agency keeps is 0.3 E[(X − c)⁺] = 0.3 (b − c)²/(2(b − a)).
    a, b, c = 1_000_000, 3_000_000, 2_500_000
    items = [CostItem("x", CostDistribution(K.UNIFORM, minimum_cents=a, maximum_cents=b))]
    g = evaluate_guarantee(_model(items, b, phases=(Phase("gate", 1, 0.7),)),
                           GuaranteeTerms(CoveredLoss.LOSS_AT_FAILURE, 1.0, cap_cents=c),
                           scenarios=40_000, seed=5)
    p = 1 - 0.7
    _close(g.expected_loss_cents, p * (a + b) / 2)
    _close(g.expected_retained_loss_cents, p * (b - c) ** 2 / (2 * (b - a)))
    _close(g.cap_reached_probability, p * (b - c) / (b - a))
    assert g.expected_loss_cents.value == pytest.approx(
        g.expected_payout_cents.value + g.expected_retained_loss_cents.value)


def test_a_guarantee_that_cannot_reach_its_cap_says_so_exactly():
    # the cost is at most 3,000,000 c: half of it never reaches a cap of 2,000,000 c
    items = [CostItem("x", CostDistribution(K.UNIFORM, minimum_cents=1_000_000,
                                            maximum_cents=3_000_000))]
    g = evaluate_guarantee(_model(items, 0, phases=(Phase("gate", 1, 0.5),)),
                           GuaranteeTerms(CoveredLoss.LOSS_AT_FAILURE, 0.5, cap_cents=2_000_000),
                           scenarios=4096, seed=1)
    assert (g.cap_reached_probability.value, g.cap_reached_probability.standard_error) == (0, 0)


def test_the_answer_carries_what_the_guarantee_covers(capsys):
    from ijh_cli import output

    items = [CostItem("x", CostDistribution(K.UNIFORM, minimum_cents=1_000_000,
                                            maximum_cents=3_000_000))]
    g = evaluate_guarantee(_model(items, 0, phases=(Phase("gate", 1, 0.7),)),
                           GuaranteeTerms(CoveredLoss.LOSS_AT_FAILURE, 1.0, cap_cents=2_500_000),
                           scenarios=4096, seed=1)
    answer = translate.guarantee_response(g, EMPTY)
    for field, figure in (("expected_loss_cents", g.expected_loss_cents),
                          ("expected_retained_loss_cents", g.expected_retained_loss_cents),
                          ("probability_payout_at_cap", g.cap_reached_probability)):
        got = getattr(answer, field)
        assert (got.value, got.standard_error) == (figure.value, figure.standard_error)
    output.guarantee(answer, "test")
    out = " ".join(capsys.readouterr().out.split())
    for label in ("expected loss without the guarantee", "loss the agency keeps",
                  "P(payout reaches the cap)", "break-even fee rate (whole term, not per year)"):
        assert label in out
    assert not math.isnan(answer.expected_loss_cents.value)
