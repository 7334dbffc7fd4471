"""The explanation trace of a grant, and a parameter change seen in figure and trace."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

from services.funding.rules import (
    Applicant,
    CostLine,
    GrantApplication,
    ParameterSet,
    compute_grant,
    ijh_parameters,
)
from services.funding.rules.grant import REQUIRED_PARAMETERS
from services.funding.rules.rulebook import PARAMETER_DIRECTORY

APPLICATION = GrantApplication(
    applicant=Applicant("0201256-6", "contracting_authority", "City of Helsinki"),
    procurement_kind="pre_commercial_procurement",
    reference_date=date(2024, 3, 1),
    cost_lines=(
        CostLine("own_personnel", "project manager", salary_cents=600000,
                 working_time_share="0.4", indirect_cost_rate="0.25"),
        CostLine("purchased_expert_services", "market dialogue consultant",
                 amount_cents=1000000, vat_cents=255000),
        CostLine("travel", "supplier visit", amount_cents=45000),
    ),
    application_id="applications/42",
)


def test_explanation_names_every_parameter_with_value_and_reference() -> None:
    result = compute_grant(APPLICATION)
    used = {p.name: p for p in result.parameters_used}
    assert set(used) == set(REQUIRED_PARAMETERS)
    in_force = ijh_parameters().at(date(2024, 3, 1))
    for name, use in used.items():
        assert use.reference == in_force.get(name).reference
        assert use.valid_from == in_force.get(name).valid_from.isoformat()
    assert used["grant_rate"].value == "0.50"
    assert used["grant_rounding"].value == '{"mode":"ROUND_DOWN","unit_cents":1}'


def test_every_figure_has_a_trace_step() -> None:
    result = compute_grant(APPLICATION)
    figures = {s.figure for s in result.explanation}
    expected = {"applicant_eligible", "procurement_kind_eligible", "eligible", "grant_rate",
                "claimed_cents", "eligible_cents", "rejected_cents", "grant_cents"}
    for i in range(3):
        expected |= {f"cost_lines[{i}].{f}" for f in ("claimed_cents", "accepted_cents",
                                                      "rejected_cents")}
    assert expected <= figures
    steps = {s.figure: s for s in result.explanation}
    # 600000 × 0.4 × 1.25 = 300000; experts 1000000; travel 0 -> 1300000; grant 650000
    assert steps["cost_lines[0].accepted_cents"].result == "300000"
    assert dict(steps["cost_lines[0].accepted_cents"].inputs)["working_time_share"] == "0.4"
    assert steps["eligible_cents"].result == "1300000"
    assert steps["grant_cents"].result == "650000" == str(result.grant_cents)
    assert {p.name for p in steps["grant_cents"].parameters} == {
        "grant_rate", "grant_rounding", "maximum_grant_cents"}


def test_result_is_json_serialisable_and_carries_version() -> None:
    result = compute_grant(APPLICATION)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["rules_version"] == result.rules_version
    assert data["rules_version"].startswith("ijh-rules/2018-01-01+sha256:")
    assert data["grant_cents"] == 650000
    assert data["application_id"] == "applications/42"
    # The totals are named as in ComputeGrantResponse, and only so.
    totals = (data["claimed_cents"], data["eligible_cents"], data["rejected_cents"])
    assert totals == (result.claimed_cents, result.eligible_cents, result.rejected_cents)
    assert not {"claimed_total_cents", "eligible_total_cents", "rejected_total_cents"} & set(data)
    assert data["explanation"][0]["parameters"][0]["reference"]


def test_changing_a_parameter_changes_figure_and_explanation(tmp_path: Path) -> None:
    directory = tmp_path / "parameters"
    shutil.copytree(PARAMETER_DIRECTORY, directory)
    grant_rate = directory / "grant_rate.yaml"
    grant_rate.write_text(grant_rate.read_text(encoding="utf-8") + """\
  2024-01-01:
    value: 0.40
    reference: Test directive 1/2024 lowering the rate (test only)
    last_reviewed: 2026-11-29
""", encoding="utf-8")
    changed = ParameterSet.load(directory, set_name="ijh-rules")

    before = compute_grant(APPLICATION)
    after = compute_grant(APPLICATION, changed)
    # 1300000 × 0.40 = 520000 instead of 1300000 × 0.50 = 650000
    assert (before.grant_cents, after.grant_cents) == (650000, 520000)
    used = {p.name: p for p in after.parameters_used}
    assert used["grant_rate"].value == "0.40"
    assert used["grant_rate"].reference.startswith("Test directive 1/2024")
    assert used["grant_rate"].valid_from == "2024-01-01"
    assert after.rules_version != before.rules_version
    assert after.rules_version.startswith("ijh-rules/2024-01-01+")
    # the day before the new value the copy still gives the shipped figure and version
    day_before = GrantApplication(**{**APPLICATION.__dict__, "reference_date": date(2023, 12, 31)})
    assert compute_grant(day_before, changed).grant_cents == 650000
    assert (compute_grant(day_before, changed).rules_version
            == compute_grant(day_before).rules_version)


def _rules_capped_at(tmp_path: Path, cents: int) -> ParameterSet:
    """The shipped IJH rules with a maximum grant of ``cents`` (test only)."""
    directory = tmp_path / "parameters"
    shutil.copytree(PARAMETER_DIRECTORY, directory)
    (directory / "maximum_grant_cents.yaml").write_text(f"""\
description: test cap
values:
  2009-01-01:
    value: {cents}
    reference: Test cap (test only)
    last_reviewed: 2026-11-29
""", encoding="utf-8")
    return ParameterSet.load(directory, set_name="ijh-rules")


def test_maximum_grant_parameter_caps_the_grant(tmp_path: Path) -> None:
    result = compute_grant(APPLICATION, _rules_capped_at(tmp_path, 600000))
    # 650000 computed, capped at 600000; the 50000 above the cap is reported
    assert result.grant_cents == 600000
    assert [(r.reason.value, r.amount_cents) for r in result.rejections] == [
        ("grant_above_maximum", 50000)]


def test_an_absurd_indirect_cost_rate_is_a_bad_request_not_a_crash() -> None:
    import dataclasses

    import pytest

    from services.shared.errors import InvalidArgument

    for rate in ("1" + "0" * 30, "1E+30", "10.000001"):
        line = dataclasses.replace(APPLICATION.cost_lines[0], indirect_cost_rate=rate)
        with pytest.raises(InvalidArgument) as failure:
            compute_grant(dataclasses.replace(APPLICATION, cost_lines=(line,)))
        assert [v.field for v in failure.value.violations] == \
            ["cost_lines[0].indirect_cost_rate"], rate
    # At the bound: computed, the excess over the maximum in force rejected with a reason.
    line = dataclasses.replace(APPLICATION.cost_lines[0], indirect_cost_rate="10")
    result = compute_grant(dataclasses.replace(APPLICATION, cost_lines=(line,)))
    assert result.cost_lines[0].claimed_cents == 600000 * 4 // 10 * 11
    assert result.cost_lines[0].rejected_cents > 0


def test_descriptions_speak_of_euros_and_fields_without_a_unit() -> None:
    """Review h10/7: an application file gives amount_eur and salary_eur, and a salary on
    a purchased line was answered "give amount_cents", the API's name. A description
    names the field without its unit, and amounts in euros."""
    import dataclasses

    import pytest

    from services.shared.errors import InvalidArgument

    personnel, purchased = APPLICATION.cost_lines[0], APPLICATION.cost_lines[1]
    lines = (dataclasses.replace(personnel, amount_cents=1000),
             dataclasses.replace(purchased, salary_cents=1000),
             dataclasses.replace(purchased, amount_cents=100_000_000_001))
    with pytest.raises(InvalidArgument) as failure:
        compute_grant(dataclasses.replace(APPLICATION, cost_lines=lines))
    assert [(v.field, v.description) for v in failure.value.violations] == [
        ("cost_lines[0].amount_cents", "does not apply to own_personnel; give the salary "
                                       "instead"),
        ("cost_lines[1].salary_cents", "applies to own_personnel only; give the amount "
                                       "instead"),
        ("cost_lines[2].amount_cents", "is above the largest amount accepted, "
                                       "€1,000,000,000.00")]
    assert not any("cents" in v.description for v in failure.value.violations)


def test_a_capped_grant_says_the_maximum_in_euros(tmp_path: Path) -> None:
    result = compute_grant(APPLICATION, _rules_capped_at(tmp_path, 600050))
    [rejection] = result.rejections
    assert rejection.description == "the grant is capped at the maximum grant in force, " \
                                    "€6,000.50"
