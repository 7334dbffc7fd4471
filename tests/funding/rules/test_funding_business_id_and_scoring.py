"""Y-tunnus checks, per-criterion pass-mark boundaries and rubric lookup."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.funding.rules import (
    CriterionScore,
    ScoreSheet,
    is_valid_business_id,
    rubric_in_force,
    score_application,
)
from services.shared.business_id import business_id_check_digit, business_id_problem

# Check digits computed by hand, weights 7,9,10,5,8,4,2:
#   0112038: 0+9+10+10+0+12+16 = 57,  57 mod 11 = 2  -> 9
#   1572860: 7+45+70+10+64+24+0 = 220, 220 mod 11 = 0 -> 0
#   0201256: 0+18+0+5+16+20+12 = 71,  71 mod 11 = 5  -> 6
#   0512696: 0+45+10+10+48+36+12 = 161, 161 mod 11 = 7 -> 4
#   1234567: 7+18+30+20+40+24+14 = 153, 153 mod 11 = 10 -> 1
VALID = ["0112038-9", "1572860-0", "0201256-6", "0512696-4", "1234567-1"]


@pytest.mark.parametrize("business_id", VALID)
def test_valid_business_ids(business_id: str) -> None:
    assert is_valid_business_id(business_id)


@pytest.mark.parametrize(("business_id", "why"), [
    ("0112038-8", "check digit"),
    ("1234567-2", "expected 1"),
    ("0000006-0", "remainder 1"),  # 6×2 = 12, 12 mod 11 = 1: never issued
    ("0000006-1", "remainder 1"),
    ("123456-7", "7 digits"),
    ("1234567", "7 digits"),
    ("12345671", "7 digits"),
    ("1234567-", "7 digits"),
    (" 1234567-1", "7 digits"),
    ("123456A-1", "7 digits"),
    ("1234567-1 ", "7 digits"),
    ("", "7 digits"),
    (1234567, "string"),
    # One business ID has one spelling: no trailing newline, no non-ASCII digits.
    ("1234567-1\n", "7 digits"),
    ("0201256-6\n", "7 digits"),
    ("\uff11\uff12\uff13\uff14\uff15\uff16\uff17-\uff11", "7 digits"),  # full-width
    ("\u0660\u0662\u0660\u0661\u0662\u0665\u0666-\u0666", "7 digits"),  # Arabic-Indic
])
def test_invalid_business_ids(business_id: object, why: str) -> None:
    problem = business_id_problem(business_id)
    assert problem is not None and why in problem


@given(st.text(alphabet="0123456789", min_size=7, max_size=7))
def test_at_most_one_check_digit_fits(body: str) -> None:
    fitting = [d for d in range(10) if is_valid_business_id(f"{body}-{d}")]
    expected = business_id_check_digit(body)
    assert fitting == ([] if expected is None else [expected])


# --- scoring boundaries -------------------------------------------------------------------

RUBRIC = rubric_in_force(date(2024, 3, 1))
NAMES = [c.criterion for c in RUBRIC.criteria]


def _sheets(target: str, scores: list[str], others: str = "4") -> list[ScoreSheet]:
    return [ScoreSheet(f"officer-{i}", tuple(
        CriterionScore(n, s if n == target else others) for n in NAMES))
        for i, s in enumerate(scores)]


@pytest.mark.parametrize("criterion", NAMES)
def test_each_criterion_passes_at_its_pass_mark_and_fails_just_below(criterion: str) -> None:
    pass_mark = next(c.pass_mark for c in RUBRIC.criteria if c.criterion == criterion)
    assert pass_mark == 3
    at = score_application(_sheets(criterion, ["3", "3.5", "2.5"]), date(2024, 3, 1))
    below = score_application(_sheets(criterion, ["3", "3", "2.5"]), date(2024, 3, 1))
    [at_result] = [c for c in at.criteria if c.criterion == criterion]
    [below_result] = [c for c in below.criteria if c.criterion == criterion]
    assert at_result.mean_score == Decimal("3.00") and at_result.passed
    # (3 + 3 + 2.5) / 3 = 2.8333...
    assert below_result.mean_score == Decimal("2.83") and not below_result.passed
    assert at.passed and not below.passed  # totals 19.00 and 18.83 both reach 17


def test_rubric_scale_and_marks() -> None:
    assert len(RUBRIC.criteria) == 5
    assert RUBRIC.maximum_total == 25 and RUBRIC.overall_pass_mark == 17
    assert RUBRIC.step == Decimal("0.5") and RUBRIC.disagreement_threshold == 2
    assert {c.criterion: c.weight for c in RUBRIC.criteria}["expected_impact"] == Decimal("1.5")


def test_scores_accept_decimal_and_int() -> None:
    sheets = [ScoreSheet("a", tuple(CriterionScore(n, Decimal("3.5")) for n in NAMES)),
              ScoreSheet("b", tuple(CriterionScore(n, 4) for n in NAMES))]
    result = score_application(sheets, date(2024, 3, 1))
    assert all(c.mean_score == Decimal("3.75") for c in result.criteria)
    assert result.total_score == Decimal("18.75")  # 3.75 × 5


@pytest.mark.parametrize("score", [
    "2.99999999999999999999999999999",   # 30 digits: rounded to 3 by 28-digit arithmetic
    "3.00000000000000000000000000001",
    "2.9999999999999999999",             # 20 digits, exact even before
    "3.25",
])
def test_a_score_off_the_half_point_scale_is_refused_however_close(score: str) -> None:
    from services.shared.errors import InvalidArgument

    with pytest.raises(InvalidArgument) as failure:
        score_application(_sheets(NAMES[0], [score]), date(2024, 3, 1))
    assert failure.value.violations[0].field == "score_sheets[0].scores[0].score"


def test_half_points_with_trailing_zeros_are_accepted() -> None:
    result = score_application(_sheets(NAMES[0], ["3.50", "3.0"]), date(2024, 3, 1))
    assert result.criteria[0].officer_scores == (Decimal("3.5"), Decimal("3.0"))
