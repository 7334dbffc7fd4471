"""The headline figures given that the procurement completes, against closed forms: the
all-scenario ones mix in the failed scenarios, which stop spending at the failed phase."""

import pytest
from ijh.risk.v1 import risk_pb2

from services.risk import translate
from services.risk.engine.procurement import (
    CostDistribution,
    CostItem,
    DistributionKind,
    NoveltyLevel,
    Phase,
    ProcurementKind,
    ProcurementModel,
    estimate_procurement_risk,
)

EMPTY = risk_pb2.ProcurementModel()  # the request: only names the defaults' fields

K = DistributionKind
Z = 4.5
A, LO, HI = 1_000_000_00, 0, 2_000_000_00  # design (always) + U(LO, HI) on success
BUDGET = 2_500_000_00
PASS = 0.6


def _model(pass_probability=PASS):
    items = [CostItem("design", CostDistribution(K.FIXED, mode_cents=A)),
             CostItem("purchase", CostDistribution(K.UNIFORM, minimum_cents=LO,
                                                   maximum_cents=HI), only_on_success=True)]
    return ProcurementModel(ProcurementKind.NEW_PRODUCT_OR_SERVICE, NoveltyLevel.NEW_TO_SECTOR,
                            tuple(items), BUDGET,
                            phases=(Phase("delivery", 1, pass_probability),))


def _close(estimate, exact):
    assert estimate.standard_error > 0
    assert abs(estimate.value - exact) <= Z * estimate.standard_error, (estimate, exact)


def test_figures_given_completion_leave_the_failed_scenarios_out():
    # Given completion the cost is A + U(LO, HI): P(cost > budget | completed) =
    # (A + HI − budget)/(HI − LO) = 0.25 and its P80 is A + LO + 0.8 (HI − LO) = €2.6M. Over
    # all scenarios (40 % fail at €1M) they read 0.6 · 0.25 = 0.15 and the P80 of the mix,
    # A + LO + (0.8 − 0.4)/0.6 (HI − LO) ≈ €2.33M: €270k of contingency missing.
    r = estimate_procurement_risk(_model(), scenarios=40_000, seed=11)
    g = r.given_completion
    over = (A + HI - BUDGET) / (HI - LO)
    p80 = A + LO + 0.8 * (HI - LO)
    _close(g.budget_exceedance_probability, over)
    _close(g.cost_at_confidence_cents, p80)
    _close(g.contingency_over_budget_cents, p80 - BUDGET)
    _close(g.contingency_over_base_estimate_cents, p80 - r.base_estimate_cents)
    _close(r.budget_exceedance_probability, PASS * over)
    _close(r.cost_at_confidence_cents, A + LO + (0.8 - (1 - PASS)) / PASS * (HI - LO))


def test_no_figures_given_completion_where_the_model_cannot_fail():
    assert estimate_procurement_risk(_model(1.0), scenarios=4096, seed=1).given_completion is None
    assert translate.risk_response(estimate_procurement_risk(
        _model(1.0), scenarios=4096, seed=1), EMPTY).HasField("given_completion") is False


def test_the_answer_and_the_command_carry_them(capsys):
    from ijh_cli import output

    r = estimate_procurement_risk(_model(), scenarios=4096, seed=1)
    answer = translate.risk_response(r, EMPTY)
    got = answer.given_completion.cost_at_confidence_cents
    assert (got.value, got.standard_error) == (
        r.given_completion.cost_at_confidence_cents.value,
        r.given_completion.cost_at_confidence_cents.standard_error)
    assert answer.given_completion.probability_over_budget.value == pytest.approx(
        r.given_completion.budget_exceedance_probability.value)
    output.estimate(answer, "test", EMPTY)
    out = " ".join(capsys.readouterr().out.split())
    for label in ("P(cost > budget | completed)", "cost at P80 | completed",
                  "contingency over budget | completed"):
        assert label in out


def test_the_figures_given_completion_do_not_depend_on_the_chunking():
    runs = [estimate_procurement_risk(_model(), scenarios=5 * 4096 + 3, seed=2,
                                      chunk_scenarios=chunk) for chunk in (None, 4096)]
    assert runs[0] == runs[1]
