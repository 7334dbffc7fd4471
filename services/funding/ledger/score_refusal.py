"""Why the officers' scores block a decision, as precondition violations. Pure.

One ``SCORE`` violation per failing criterion (subject ``criterion/<name>``: its mean
against its pass mark) and one on the application (the rubric's date, how many criteria
fail, the total against the overall pass mark, what to do). The error mapper cuts each
description to 300 bytes: one description naming every failing criterion lost the
middle ones once two or three failed, so no text here grows with the rubric.
"""

from __future__ import annotations

from datetime import date

from services.funding.ledger.ports import ScoreResult
from services.shared.errors import PreconditionViolation


def score_violations(subject: str, on: date, result: ScoreResult
                     ) -> list[PreconditionViolation]:
    """The ``SCORE`` violations of ``result``, the aggregate of the sheets of ``subject``
    (an application) under the rubric in force ``on`` (its submission date); none when it
    passes."""
    if result.passed:
        return []
    failing = [c for c in result.criteria if not c.passed]
    total = (f"total {result.total}" if result.overall_pass_mark is None else
             f"total {result.total} < overall pass mark {result.overall_pass_mark}"
             if not result.total_passed else
             f"total {result.total} reaches the overall pass mark {result.overall_pass_mark}")
    return [PreconditionViolation(
        "SCORE", subject,
        f"the officers' scores fail the rubric of its submission day {on.isoformat()}: "
        f"{len(failing)} of its {len(result.criteria)} criteria below their pass mark, "
        f"{total}: reject it, or whoever mistyped replaces their sheet (ijh application score) and "
        "another officer decides"),
        *(PreconditionViolation("SCORE", f"criterion/{c.criterion}",
                                f"mean {c.mean_score} < pass mark {c.pass_mark}")
          for c in failing)]
