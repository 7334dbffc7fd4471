"""The generic dated-parameter machinery (services.funding.rules.parameters), on small
hand-written directories, and the shipped IJH parameter set."""

from __future__ import annotations

import json
import re
import textwrap
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from services.funding.rules import list_parameters, rules_version
from services.funding.rules.grant import REQUIRED_PARAMETERS
from services.funding.rules.parameters import (
    ParameterFileError,
    ParameterNotInForce,
    ParameterSet,
    UnknownParameter,
)
from services.funding.rules.rulebook import PARAMETER_DIRECTORY, ijh_parameters
from services.funding.rules.scoring import RUBRIC_PARAMETERS
from services.shared.errors import FailedPrecondition, NotFound

# De minimis ceilings as the fund engineer will write them: 1407/2013 until 2023-12-31,
# 2023/2831 from 2024-01-01 to 2030-12-31 (DOMAIN.md).
DE_MINIMIS = """\
description: De minimis ceiling per single undertaking.
unit: EUR cents
values:
  2014-01-01:
    value: 20000000
    valid_until: 2023-12-31
    reference: Regulation (EU) 1407/2013 Art. 3(2), EUR 200,000 over 3 fiscal years
    last_reviewed: 2026-11-29
  2024-01-01:
    value: 30000000
    valid_until: 2030-12-31
    reference: Regulation (EU) 2023/2831 Art. 3(2), EUR 300,000 over any 3 years
    last_reviewed: 2026-11-29
"""

RATE = """\
description: A guarantee rate.
unit: ratio
values:
  2020-01-01:
    value: 0.1
    reference: Fund configuration
    last_reviewed: 2026-11-29
  2022-07-01:
    value: 0.35
    reference: Fund configuration, board decision 2022
    last_reviewed: 2026-11-29
"""


def _write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return directory


@pytest.fixture
def fund_set(tmp_path: Path) -> ParameterSet:
    _write(tmp_path, {"de_minimis_ceiling_cents.yaml": DE_MINIMIS,
                      "guarantee_rate.yaml": RATE,
                      "caps/portfolio.yaml": RATE.replace("0.35", "0.2")})
    return ParameterSet.load(tmp_path, set_name="fund-rules")


def test_value_in_force_on_both_sides_of_a_change(fund_set: ParameterSet) -> None:
    assert fund_set.get("de_minimis_ceiling_cents", date(2023, 12, 31)).value == 20000000
    assert fund_set.get("de_minimis_ceiling_cents", date(2024, 1, 1)).value == 30000000
    assert fund_set.get("guarantee_rate", date(2022, 6, 30)).value == Decimal("0.1")
    assert fund_set.get("guarantee_rate", date(2022, 7, 1)).value == Decimal("0.35")


def test_numbers_load_as_exact_decimals(fund_set: ParameterSet) -> None:
    value = fund_set.get("guarantee_rate", date(2021, 1, 1)).value
    assert type(value) is Decimal and value == Decimal("0.1")


def test_validity_periods(fund_set: ParameterSet) -> None:
    first, second = fund_set.history("guarantee_rate")
    assert (first.valid_from, first.valid_until) == (date(2020, 1, 1), date(2022, 6, 30))
    assert (second.valid_from, second.valid_until) == (date(2022, 7, 1), None)
    last = fund_set.history("de_minimis_ceiling_cents")[-1]
    assert last.valid_until == date(2030, 12, 31)


def test_no_value_before_first_or_after_last_is_a_clear_error(fund_set: ParameterSet) -> None:
    for on in (date(2013, 12, 31), date(2031, 1, 1)):
        with pytest.raises(ParameterNotInForce) as caught:
            fund_set.get("de_minimis_ceiling_cents", on)
        assert isinstance(caught.value, FailedPrecondition)
        text = str(caught.value)
        assert "de_minimis_ceiling_cents" in text and on.isoformat() in text
        assert caught.value.violations[0].subject == "parameters/de_minimis_ceiling_cents"


def test_require_names_every_missing_parameter(fund_set: ParameterSet) -> None:
    with pytest.raises(ParameterNotInForce) as caught:
        fund_set.at(date(2019, 1, 1)).require("guarantee_rate", "de_minimis_ceiling_cents",
                                              "caps.portfolio")
    assert [m[0] for m in caught.value.missing] == ["guarantee_rate", "caps.portfolio"]


def test_a_date_before_any_rule_says_so_in_one_sentence() -> None:
    # A grant asked for 1990 got ten PARAMETER_NOT_IN_FORCE lines and no plain answer.
    from services.funding.rules.rulebook import ijh_parameters

    with pytest.raises(ParameterNotInForce) as caught:
        ijh_parameters().at(date(1990, 1, 1)).require(*ijh_parameters().names)
    assert str(caught.value) == "nothing of ijh-rules is in force on 1990-01-01: its values " \
                                "start 2009-01-01"
    assert len(caught.value.violations) == len(ijh_parameters().names)  # the details stay


def test_unknown_parameter_is_not_found(fund_set: ParameterSet) -> None:
    with pytest.raises(UnknownParameter) as caught:
        fund_set.at(date(2024, 1, 1)).get("leverage")
    assert isinstance(caught.value, NotFound)


def test_list_in_force_sorted_with_references(fund_set: ParameterSet) -> None:
    listed = fund_set.list(date(2024, 1, 1))
    assert [p.name for p in listed] == ["caps.portfolio", "de_minimis_ceiling_cents",
                                        "guarantee_rate"]
    assert "2023/2831" in listed[1].reference
    json.dumps([p.to_dict() for p in listed])  # serialisable
    # after 2030-12-31 the de minimis value has expired and is not listed
    assert [p.name for p in fund_set.list(date(2031, 6, 1))] == ["caps.portfolio",
                                                                 "guarantee_rate"]


def test_version_id(fund_set: ParameterSet, tmp_path: Path) -> None:
    version = fund_set.at(date(2024, 3, 1)).version
    assert re.fullmatch(r"fund-rules/2024-01-01\+sha256:[0-9a-f]{12}", version)
    assert fund_set.at(date(2025, 1, 1)).version == version  # same values in force
    assert fund_set.at(date(2023, 12, 31)).version != version
    # the same files loaded again give the same id; a changed value gives another
    again = ParameterSet.load(tmp_path, set_name="fund-rules")
    assert again.at(date(2024, 3, 1)).version == version
    (tmp_path / "guarantee_rate.yaml").write_text(RATE.replace("0.35", "0.36"))
    changed = ParameterSet.load(tmp_path, set_name="fund-rules")
    assert changed.at(date(2024, 3, 1)).version != version
    assert changed.at(date(2021, 3, 1)).version == fund_set.at(date(2021, 3, 1)).version


def test_change_dates(fund_set: ParameterSet) -> None:
    assert fund_set.change_dates() == (date(2014, 1, 1), date(2020, 1, 1), date(2022, 7, 1),
                                       date(2024, 1, 1), date(2031, 1, 1))


def test_values_are_read_only(tmp_path: Path) -> None:
    _write(tmp_path, {"kinds.yaml": """\
        description: kinds
        values:
          2020-01-01: {value: [a, b], reference: r, last_reviewed: 2026-01-01}
        """})
    value = ParameterSet.load(tmp_path).get("kinds", date(2021, 1, 1)).value
    assert value == ("a", "b")
    with pytest.raises(AttributeError):
        value.append("c")  # type: ignore[attr-defined]


@pytest.mark.parametrize(("text", "message"), [
    ("values: {2020-01-01: {value: 1, reference: r, last_reviewed: 2026-01-01}}",
     "description is required"),
    ("description: d\nvalues: {2020-01-01: {value: 1, last_reviewed: 2026-01-01}}",
     "needs a reference"),
    ("description: d\nvalues: {2020-01-01: {value: 1, reference: r}}", "needs last_reviewed"),
    ("description: d\nvalues: {2020-01-01: {reference: r, last_reviewed: 2026-01-01}}",
     "with a 'value'"),
    ("description: d\nvalues: {2020-13-01: {value: 1, reference: r, last_reviewed: 2026-01-01}}",
     "month must be in 1..12"),
    ("description: d\nvalues: {'2020-1-1': {value: 1, reference: r, last_reviewed: 2026-01-01}}",
     "must be a date"),
    ("description: d\nvalues: {2020-01-01: {value: .inf, reference: r, "
     "last_reviewed: 2026-01-01}}", "non-finite"),
    ("description: d\nvalues:\n  2020-01-01: {value: 1, reference: r, last_reviewed: 2026-01-01,"
     " valid_until: 2021-01-01}\n  2021-01-01: {value: 2, reference: r, "
     "last_reviewed: 2026-01-01}", "overlaps"),
    ("description: d\nvalues: {}", "non-empty"),
    ("description: d\ncolour: red\nvalues: {2020-01-01: {value: 1, reference: r, "
     "last_reviewed: 2026-01-01}}", "unknown keys"),
])
def test_malformed_files_are_rejected_at_load(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "p.yaml").write_text(text)
    with pytest.raises(ParameterFileError, match=message):
        ParameterSet.load(tmp_path)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ParameterFileError):
        ParameterSet.load(tmp_path / "nope")


# --- the shipped IJH set --------------------------------------------------------------

def test_ijh_parameters_complete_from_2009() -> None:
    ps = ijh_parameters()
    for on in (*ps.change_dates(), date(2026, 11, 29)):
        ps.at(on).require(*REQUIRED_PARAMETERS, *RUBRIC_PARAMETERS)
    with pytest.raises(ParameterNotInForce):
        ps.at(date(2008, 12, 31)).require("grant_rate")


def test_every_ijh_value_has_reference_and_review_date() -> None:
    ps = ijh_parameters()
    for name in ps.names:
        for value in ps.history(name):
            assert len(value.reference) > 20, name
            assert value.last_reviewed >= value.valid_from, name


def test_list_parameters_and_version_for_the_rpc() -> None:
    listed = list_parameters(date(2024, 3, 1))
    names = [p.name for p in listed]
    assert names == sorted(names)
    assert set(REQUIRED_PARAMETERS) <= set(names)
    grant_rate = next(p for p in listed if p.name == "grant_rate")
    assert grant_rate.value == Decimal("0.50")
    assert "Business Finland" in grant_rate.reference
    assert re.fullmatch(r"ijh-rules/2018-01-01\+sha256:[0-9a-f]{12}",
                        rules_version(date(2024, 3, 1)))
    assert PARAMETER_DIRECTORY.is_dir()
