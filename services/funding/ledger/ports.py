"""What the ledger needs from outside, as small protocols: the IJH rules core (grant and
scoring) and the risk model (``incremental_risk``, see ``fund_rules.IncrementalRisk``).
The storage layer takes implementations by injection; tests pass simple fakes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from services.funding.ledger.model import ApplicationDraft


@dataclass(frozen=True)
class GrantResult:
    """The rules core's grant for an IJH application, with its explanation trace."""

    grant_cents: int
    rules_version: str
    eligible: bool = True
    trace: dict[str, Any] = field(default_factory=dict)
    refusals: tuple[str, ...] = ()
    """Why it grants nothing, in words (empty when it grants something)."""


@dataclass(frozen=True)
class CriterionVerdict:
    """One rubric criterion's mean over the officers' sheets against its pass mark."""

    criterion: str
    mean_score: Decimal
    pass_mark: Decimal
    passed: bool


@dataclass(frozen=True)
class ScoreResult:
    """The rules core's aggregate of the officers' score sheets so far: ``criteria`` each
    criterion's verdict in rubric order, ``total_passed`` whether the total reaches the
    ``overall_pass_mark`` (both compared exactly by the rules core)."""

    total: Decimal
    passed: bool
    rules_version: str
    trace: dict[str, Any] = field(default_factory=dict)
    criteria: tuple[CriterionVerdict, ...] = ()
    overall_pass_mark: Decimal | None = None
    total_passed: bool = True


class IjhRules(Protocol):
    def compute_grant(self, draft: ApplicationDraft, on: date, application: str = "",
                      indirect_cost_rate: Decimal | str | None = None) -> GrantResult:
        """Grant in cents for the draft's cost lines under the rules in force on ``on``,
        its trace naming ``application`` (e.g. ``applications/42``; empty before the
        application exists), own personnel funded at most at the decision's
        ``indirect_cost_rate`` (None: not decided yet); raises ``InvalidArgument`` for
        malformed cost lines or rate."""
        ...

    def score(self, sheets: Sequence[tuple[str, Mapping[str, Decimal]]], on: date
              ) -> ScoreResult:
        """Aggregate total and pass/fail of all officers' sheets ``(officer_id, criterion →
        points)``; raises ``InvalidArgument`` for unknown criteria or off-scale points."""
        ...
