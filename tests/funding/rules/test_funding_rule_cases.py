"""Runs the YAML rule cases in ``cases/``: inputs, reference date, expected outputs.

A case file has ``defaults`` (merged into each case) and ``cases``. A case is a grant
case (``applicant``, ``procurement_kind``, ``cost_lines``) or, with ``kind: scoring``, a
scoring case (``score_sheets``). ``expect`` is a subset of the result's ``to_dict()``:
mappings are compared key by key, lists element by element (same length). Money is
compared exactly; Decimal strings within ``tolerance`` when one is given. Two extra keys:
``rules_version_prefix`` and ``parameter_valid_from`` ({parameter: first day of the value
used}). ``expect_error`` names the error kind and the fields or parameters it must list.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.funding.rules import (
    GrantApplication,
    ParameterNotInForce,
    ScoreSheet,
    compute_grant,
    ijh_parameters,
    score_application,
)
from services.shared.errors import InvalidArgument

CASES_DIR = Path(__file__).with_name("cases")


def _load_cases() -> list[dict[str, Any]]:
    cases = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        defaults = doc.get("defaults", {})
        for case in doc["cases"]:
            merged = {**defaults, **case, "_file": path.name}
            cases.append(merged)
    return cases


CASES = _load_cases()


def _as_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str):
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def _match(expected: Any, actual: Any, tolerance: Decimal, where: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected a mapping, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{where}.{key}: missing in result"
            _match(value, actual[key], tolerance, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: expected a list, got {actual!r}"
        assert len(actual) == len(expected), (
            f"{where}: {len(actual)} items, expected {len(expected)}")
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            _match(e, a, tolerance, f"{where}[{i}]")
    else:
        exp_dec, act_dec = _as_decimal(expected), _as_decimal(actual)
        if tolerance and exp_dec is not None and act_dec is not None:
            assert abs(exp_dec - act_dec) <= tolerance, (
                f"{where}: {actual} vs {expected} ± {tolerance}")
        else:
            assert actual == expected, f"{where}: got {actual!r}, expected {expected!r}"


def _run(case: dict[str, Any]) -> dict[str, Any]:
    if case.get("kind") == "scoring":
        sheets = [ScoreSheet.from_dict(s) for s in case["score_sheets"]]
        return score_application(sheets, case["reference_date"]).to_dict()
    application = GrantApplication.from_dict({
        "applicant": case["applicant"], "procurement_kind": case["procurement_kind"],
        "reference_date": case["reference_date"], "cost_lines": case["cost_lines"]})
    return compute_grant(application).to_dict()


@pytest.mark.parametrize("case", CASES, ids=[f"{c['_file']}::{c['name']}" for c in CASES])
def test_rule_case(case: dict[str, Any]) -> None:
    error = case.get("expect_error")
    if error:
        if error["kind"] == "invalid_argument":
            with pytest.raises(InvalidArgument) as caught:
                _run(case)
            assert sorted(v.field for v in caught.value.violations) == sorted(error["fields"])
        elif error["kind"] == "parameter_not_in_force":
            with pytest.raises(ParameterNotInForce) as caught:
                _run(case)
            assert sorted(m[0] for m in caught.value.missing) == sorted(error["parameters"])
            on = case["reference_date"].isoformat()
            assert all(on in v.description for v in caught.value.violations)
        else:
            pytest.fail(f"unknown expect_error kind {error['kind']}")
        return

    result = _run(case)
    expect = dict(case["expect"])
    prefix = expect.pop("rules_version_prefix", None)
    if prefix:
        assert result["rules_version"].startswith(prefix), result["rules_version"]
    for name, valid_from in expect.pop("parameter_valid_from", {}).items():
        used = {p["name"]: p for p in result["parameters_used"]}
        assert used[name]["valid_from"] == valid_from.isoformat(), name
    _match(expect, result, Decimal(str(case.get("tolerance", "0"))), "result")


def test_cases_cover_both_sides_of_every_parameter_change() -> None:
    """Every date on which an IJH parameter value starts (or ends) has a case on that day
    and on the day before."""
    case_dates = {c["reference_date"] for c in CASES if isinstance(c["reference_date"], date)}
    for change in ijh_parameters().change_dates():
        assert change in case_dates, f"no case on {change}"
        assert change - timedelta(days=1) in case_dates, f"no case on the day before {change}"
