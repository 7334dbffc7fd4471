"""The answers of EstimateProcurementRisk and EvaluateProcurementGuarantee as the service
translates them for the request they answer: the engine's names of model fields become
the request's."""

from __future__ import annotations

from pathlib import Path

from ijh_cli.inputs import load_procurement
from services.risk import translate
from services.risk.engine.procurement import (
    CoveredLoss,
    GuaranteeTerms,
    estimate_procurement_risk,
    evaluate_guarantee,
)

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_name_the_request_field_the_prior_filled():
    # The heat example gives metering_and_reporting only its most likely amount; the
    # engine names the spread it filled by the distribution, as its own model has it
    # (cost_items[4].distribution); the request's field is most_likely_cents.
    request = load_procurement(ROOT / "examples" / "heat_as_a_service.yaml").model
    request.risk_events[2].delay.most_likely_days = 90  # a delay given as most likely too
    model = translate.procurement_model(request)
    result = estimate_procurement_risk(model, scenarios=4096, seed=1)
    reply = translate.risk_response(result, request)
    used = {d.field: d.value for d in reply.defaults_used}
    assert used == {
        "phases": used["phases"],
        "cost_items[4].distribution.most_likely_cents":
            "PERT(minimum €234,000.00, mode €260,000.00, maximum €431,600.00)",
        "risk_events[2].delay.most_likely_days":
            "PERT(minimum 85.5 days, mode 90 days, maximum 125.1 days)"}
    terms = GuaranteeTerms(CoveredLoss.COST_OVERRUN, 0.5, cap_cents=100_000_000)
    guarantee = translate.guarantee_response(
        evaluate_guarantee(model, terms, scenarios=4096, seed=1), request)
    assert {d.field for d in guarantee.defaults_used} == used.keys()


def test_a_default_of_a_field_the_api_spells_alike_keeps_its_path():
    request = load_procurement(ROOT / "examples" / "pcp_procurement.yaml").model
    assert translate.default_field(request, "phases[0].pass_probability") == \
        "phases[0].pass_probability"
    assert translate.default_field(request, "novelty") == "novelty"
    assert translate.default_field(request, "phases") == "phases"
