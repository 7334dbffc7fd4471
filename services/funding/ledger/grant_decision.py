"""An IJH grant's approval, judged: the terms the decision sets (a grant below the
computed one, an indirect-cost rate) against what the rules give, and whether the rules
changed the grant between submission and decision. Pure: the repository computes the two
grants (the rules core) and reads the submitted figure; this says what the approval may
grant, what its trace records and what refuses it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from services.funding.ledger.ports import GrantResult
from services.funding.ledger.validation import invalid
from services.shared.errors import PreconditionViolation


@dataclass(frozen=True)
class GrantDecision:
    decided_cents: int  # what the approval grants
    grant_change: dict[str, Any]  # the trace's: submitted, each date's rules, decided
    decision_terms: dict[str, Any]  # the trace's: the rate and the computed/decided grant
    violations: tuple[PreconditionViolation, ...]


def judge_grant_decision(subject: str, today: date, computed: GrantResult,
                         before: GrantResult | None, submitted_on: date,
                         submitted_cents: int | None, submitted_under: str,
                         indirect_cost_rate: Decimal | str | None,
                         expected_grant_cents: int | None, grant_cents: int | None
                         ) -> GrantDecision:
    """``computed``: the grant under the rules in force ``today`` at the decision's rate;
    ``before``: under those of ``submitted_on`` at the same rate (None when the rate is
    above their maximum); ``submitted_cents``/``submitted_under``: the figure the scorers
    saw and its rules version. Raises InvalidArgument on ``expected_grant_cents`` when the
    officer's figure, not a rule, is off."""
    # The rules give the most; the decision may fix less (maximum_grant_cents: "the
    # amount is fixed in each funding decision").
    decided = computed.grant_cents if grant_cents is None else grant_cents
    # Did the rules change the grant between submission and decision? Only the same
    # terms under both dates' rules tell: the submitted figure had no decision rate.
    before_cents = None if before is None else before.grant_cents
    before_version = "" if before is None else before.rules_version
    changed = before_cents != computed.grant_cents
    rate = None if indirect_cost_rate is None else str(indirect_cost_rate)
    # submitted: the figure the scorers saw (each line's own rate); rules: what the
    # rules of each date give at the decision's rate (``changed``: they differ);
    # decided: what the decision fixed out of today's figure (decision terms).
    change = {"submitted": {"grant_cents": submitted_cents, "rules_version": submitted_under},
              "rules": {"indirect_cost_rate": rate,
                        "submission": {"on": submitted_on, "grant_cents": before_cents,
                                       "rules_version": before_version},
                        "decision": {"on": today, "grant_cents": computed.grant_cents,
                                     "rules_version": computed.rules_version}},
              "changed": changed,
              "decided": {"grant_cents": decided, "rules_version": computed.rules_version},
              "expected_grant_cents": expected_grant_cents}
    terms = {"indirect_cost_rate": rate, "computed_grant_cents": computed.grant_cents,
             "grant_cents": decided}
    violations: list[PreconditionViolation] = []
    if decided > computed.grant_cents:
        violations.append(PreconditionViolation(
            "GRANT_ABOVE_COMPUTED", subject,
            f"the decision's grant {decided} cents is above the {computed.grant_cents} "
            f"cents the rules in force on {today.isoformat()} give "
            f"({computed.rules_version}): set at most {computed.grant_cents} cents"))
    if expected_grant_cents is not None and expected_grant_cents != computed.grant_cents:
        at = "" if rate is None else f" at indirect_cost_rate {rate}"
        if not changed:  # the officer's figure, not a rule, is off
            raise invalid("expected_grant_cents", (
                f"the rules give {computed.grant_cents} cents{at}, as on the submission "
                f"date ({computed.rules_version}), not {expected_grant_cents} cents: it is "
                "the computed grant (grant_cents fixes a lower amount)"))
        was = (f"{before_cents} cents" if before is not None
               else "nothing (the rate was above their maximum)")
        # The two dates, not the two rules versions (the approval's trace keeps those):
        # with them the description passed the 300 bytes the error mapper keeps of it.
        # Every figure says "cents": the ijh command shows each in euros too.
        violations.append(PreconditionViolation(
            "GRANT_CHANGED", subject,
            f"the rules in force on {today.isoformat()} changed the grant{at} from {was} "
            f"on its submission day {submitted_on.isoformat()} to {computed.grant_cents} "
            f"cents, not the {expected_grant_cents} cents expected: approve again "
            f"expecting {computed.grant_cents} cents, or reject it"))
    if not computed.eligible or computed.grant_cents <= 0:
        # A refusal carries no trace: the reason itself, and what to do with it.
        violations.append(PreconditionViolation(
            "GRANT_NOT_ELIGIBLE", subject,
            f"the rules in force on {today.isoformat()} grant nothing: "
            f"{'; '.join(computed.refusals) or 'no eligible cost'}: reject it with that "
            "reason"))
    return GrantDecision(decided, change, terms, tuple(violations))
