"""The SCORE refusal's violations: one per failing criterion and one on the application,
none of whose texts grows with the rubric, so the error mapper's 300-byte cut of each
description loses nothing however many criteria fail."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from services.funding.ledger.ports import CriterionVerdict, ScoreResult
from services.funding.ledger.score_refusal import score_violations
from services.shared.grpc_errors import MAX_TEXT_BYTES


def _result(criteria: int, failing: int, total: str, mark: str, passed: bool = False
            ) -> ScoreResult:
    return ScoreResult(
        Decimal(total), passed, "ijh-rules/test",
        criteria=tuple(CriterionVerdict(f"criterion_number_{i}_of_a_long_rubric",
                                         Decimal("1.25") if i < failing else Decimal(4),
                                         Decimal("3.5"), i >= failing)
                       for i in range(criteria)),
        overall_pass_mark=Decimal(mark), total_passed=Decimal(total) >= Decimal(mark))


def test_every_failing_criterion_is_a_violation_within_the_cut() -> None:
    violations = score_violations("applications/123456789", date(2026, 11, 30),
                                  _result(40, 40, "50.00", "117.5"))
    assert [v.subject for v in violations] == ["applications/123456789", *[
        f"criterion/criterion_number_{i}_of_a_long_rubric" for i in range(40)]]
    assert {v.type for v in violations} == {"SCORE"}
    assert "40 of its 40 criteria below their pass mark, total 50.00 < overall pass mark " \
           "117.5:" in violations[0].description
    assert {v.description for v in violations[1:]} == {"mean 1.25 < pass mark 3.5"}
    assert all(len(v.description.encode()) <= MAX_TEXT_BYTES for v in violations)


def test_a_passing_aggregate_is_no_violation_and_a_total_alone_is_one() -> None:
    assert score_violations("applications/1", date(2026, 11, 30),
                            _result(5, 0, "20", "17", passed=True)) == []
    [only] = score_violations("applications/1", date(2026, 11, 30), _result(5, 0, "15", "17"))
    assert "0 of its 5 criteria below their pass mark, total 15 < overall pass mark 17" \
        in only.description
    [total, _] = score_violations("applications/1", date(2026, 11, 30),
                                  _result(5, 1, "18", "17"))
    assert "total 18 reaches the overall pass mark 17:" in total.description
