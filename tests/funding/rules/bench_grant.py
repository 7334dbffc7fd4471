"""In-process throughput of the IJH rules (run: pytest tests/funding/rules/bench_grant.py).

Not collected by the normal test run (file name does not match test_*.py)."""

from __future__ import annotations

from datetime import date

import pytest

from services.funding.rules import (
    Applicant,
    CostLine,
    CriterionScore,
    GrantApplication,
    ScoreSheet,
    compute_grant,
    rubric_in_force,
    score_application,
)

pytestmark = pytest.mark.bench

TYPICAL = GrantApplication(
    applicant=Applicant("0201256-6", "contracting_authority"),
    procurement_kind="pre_commercial_procurement",
    reference_date=date(2024, 3, 1),
    cost_lines=(
        *(CostLine("own_personnel", f"staff {i}", salary_cents=450000 + i,
                   working_time_share="0.35", indirect_cost_rate="0.3") for i in range(4)),
        CostLine("purchased_expert_services", "consultant", amount_cents=2500000,
                 vat_cents=637500),
        CostLine("purchased_expert_services", "lawyer", amount_cents=800000, vat_cents=204000),
        CostLine("procurement", "the PCP itself", amount_cents=90000000),
        CostLine("travel", "visits", amount_cents=120000),
    ),
)


def test_bench_compute_grant_8_lines(benchmark) -> None:
    result = benchmark(compute_grant, TYPICAL)
    assert result.grant_cents > 0


def test_bench_compute_grant_100_lines(benchmark) -> None:
    big = GrantApplication(**{**TYPICAL.__dict__, "cost_lines": TYPICAL.cost_lines * 12 +
                              TYPICAL.cost_lines[:4]})
    result = benchmark(compute_grant, big)
    assert len(result.cost_lines) == 100


def test_bench_score_three_officers(benchmark) -> None:
    names = [c.criterion for c in rubric_in_force(date(2024, 3, 1)).criteria]
    sheets = [ScoreSheet(o, tuple(CriterionScore(n, s) for n in names))
              for o, s in (("a", "3.5"), ("b", "4"), ("c", "2.5"))]
    result = benchmark(score_application, sheets, date(2024, 3, 1))
    assert len(result.criteria) == len(names)
