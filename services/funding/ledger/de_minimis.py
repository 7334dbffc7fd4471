"""De minimis: how much aid a single undertaking may still receive on a date.

Two regimes, chosen by the *grant date of the new aid* (the date on which the right to
the aid is granted, here the approval date):

* from 2024-01-01, Commission Regulation (EU) 2023/2831 Art. 3(2): €300,000 over **any
  period of three years**, assessed on a rolling basis (recital 10): the window is the
  three years ending on the grant date, i.e. ``[grant date − 3 years + 1 day, grant date]``;
* before, Regulation (EU) No 1407/2013 Art. 3(2): €200,000 over **the current and the
  two previous fiscal years**: ``[1 January of year − 2, grant date]`` (fiscal year =
  calendar year; see README, gaps).

Aid counted is every aid already granted to the undertaking in the window, whatever
regulation it was granted under (a 2023 grant counts against the 2024 rolling window).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from services.shared.errors import PreconditionViolation

ROLLING_YEARS = "rolling_years"
FISCAL_YEARS = "fiscal_years"


@dataclass(frozen=True)
class DeMinimisRules:
    """The ceiling and window in force on a date; ``reference`` cites the regulation."""

    ceiling_cents: int
    window: str
    years: int
    reference: str

    def __post_init__(self) -> None:
        if self.window not in (ROLLING_YEARS, FISCAL_YEARS):
            raise ValueError(f"unknown de minimis window {self.window!r}")
        if self.years < 1 or self.ceiling_cents < 0:
            raise ValueError("de minimis years must be ≥ 1 and ceiling ≥ 0")


@dataclass(frozen=True)
class AidRecord:
    """Aid already granted to an undertaking: ``amount_cents`` is its gross grant
    equivalent, ``granted_on`` the date the right to it was granted."""

    granted_on: date
    amount_cents: int
    reference: str


@dataclass(frozen=True)
class RegisteredAid:
    """One row of an undertaking's de minimis register as stored: aid recorded from its
    de minimis declaration, or granted here by approving ``application_id``, or a
    correction reversing row ``reverses_id`` (``reason`` says why). A reversed row and
    its reversal no longer count; both stay in the register."""

    id: int
    business_id: str
    granted_on: date
    amount_cents: int
    reference: str
    recorded_at: datetime | None = None
    recorded_by: str = ""
    application_id: int | None = None
    reverses_id: int | None = None
    reversed_by_id: int | None = None
    reason: str = ""

    @property
    def counts(self) -> bool:
        """Whether the row is aid at all (neither a correction nor corrected)."""
        return self.reverses_id is None and self.reversed_by_id is None

    def record(self) -> AidRecord:
        return AidRecord(self.granted_on, self.amount_cents, self.reference)


@dataclass(frozen=True)
class DeMinimisAssessment:
    business_id: str
    grant_date: date
    window_start: date
    counted_cents: int
    new_aid_cents: int
    ceiling_cents: int
    counted: tuple[AidRecord, ...]

    @property
    def room_cents(self) -> int:
        """Aid the undertaking may still receive on the grant date (before the new aid)."""
        return max(0, self.ceiling_cents - self.counted_cents)

    def counts(self, aid: RegisteredAid) -> bool:
        """Whether the register row ``aid`` counts toward the ceiling on the grant date:
        aid (neither a correction nor corrected) granted within the window. The one
        definition every answer showing a row as counted uses."""
        return aid.counts and self.window_start <= aid.granted_on <= self.grant_date

    @property
    def over_ceiling_cents(self) -> int:
        """How far the counted aid, with the new aid, is above the ceiling (0: within).
        Aid declared late can put a company over it after the fact: the room is then 0
        and this says by how much."""
        return max(0, self.counted_cents + self.new_aid_cents - self.ceiling_cents)

    @property
    def within_ceiling(self) -> bool:
        return self.counted_cents + self.new_aid_cents <= self.ceiling_cents

    def violation(self) -> PreconditionViolation | None:
        if self.within_ceiling:
            return None
        return PreconditionViolation(
            "DE_MINIMIS", f"beneficiary/{self.business_id}",
            f"aid {self.new_aid_cents} cents on top of {self.counted_cents} cents granted "
            f"since {self.window_start.isoformat()} exceeds the ceiling of "
            f"{self.ceiling_cents} cents (room {self.room_cents} cents)")

    def trace(self) -> dict[str, Any]:
        return {
            "rule": "DE_MINIMIS",
            "business_id": self.business_id,
            "grant_date": self.grant_date.isoformat(),
            "window": [self.window_start.isoformat(), self.grant_date.isoformat()],
            "ceiling_cents": self.ceiling_cents,
            "counted_cents": self.counted_cents,
            "counted": [{"granted_on": a.granted_on.isoformat(), "amount_cents": a.amount_cents,
                         "reference": a.reference} for a in self.counted],
            "new_aid_cents": self.new_aid_cents,
            "room_cents": self.room_cents,
            "within_ceiling": self.within_ceiling,
        }


@dataclass(frozen=True)
class CeilingBreach:
    """A grant in the register whose window, with the aid the register holds now, holds
    more than the ceiling of its grant date: had all of it been known then, the grant
    would have been refused. Aid declared late does this; recording it is right (it was
    granted), and the breach is what an officer must then see."""

    aid: RegisteredAid
    window_start: date
    counted_cents: int
    ceiling_cents: int

    @property
    def over_ceiling_cents(self) -> int:
        return self.counted_cents - self.ceiling_cents

    def covers(self, granted_on: date) -> bool:
        """Whether aid granted on ``granted_on`` counts in this grant's window."""
        return self.window_start <= granted_on <= self.aid.granted_on


def ceiling_breaches(rows: Iterable[RegisteredAid],
                     rules_on: Callable[[date], DeMinimisRules | None]
                     ) -> list[CeilingBreach]:
    """Every row that counts whose window (under the rules of its grant date, ``rules_on``;
    None: none in force, not assessed), with every row that counts, is above the
    ceiling, by grant date."""
    counting = sorted((r for r in rows if r.counts), key=lambda r: (r.granted_on, r.id))
    history = [r.record() for r in counting]
    out = []
    for row in counting:
        rules = rules_on(row.granted_on)
        if rules is None:
            continue
        a = assess_de_minimis(row.business_id, row.granted_on, 0, history, rules)
        if a.counted_cents > a.ceiling_cents:
            out.append(CeilingBreach(row, a.window_start, a.counted_cents, a.ceiling_cents))
    return out


@dataclass(frozen=True)
class RecordedAid:
    """Aid just recorded in the register, with the register assessed on the day it was
    recorded, this aid included (None when no de minimis rules are in force that day),
    and the grants whose window now holds more than the ceiling because of it."""

    aid: RegisteredAid
    assessment: DeMinimisAssessment | None = None
    breaches: tuple[CeilingBreach, ...] = ()


def _years_before(on: date, years: int) -> date:
    try:
        return on.replace(year=on.year - years)
    except ValueError:  # 29 February in a non-leap target year
        return on.replace(year=on.year - years, day=28)


def window_start(grant_date: date, rules: DeMinimisRules) -> date:
    """First day whose aid still counts for aid granted on ``grant_date``."""
    if rules.window == ROLLING_YEARS:
        return _years_before(grant_date, rules.years) + timedelta(days=1)
    return date(grant_date.year - (rules.years - 1), 1, 1)


def assess_de_minimis(business_id: str, grant_date: date, new_aid_cents: int,
                      history: Iterable[AidRecord], rules: DeMinimisRules
                      ) -> DeMinimisAssessment:
    """Sum the aid in the window ending on ``grant_date`` and compare with the ceiling."""
    start = window_start(grant_date, rules)
    counted = tuple(sorted((a for a in history if start <= a.granted_on <= grant_date),
                           key=lambda a: (a.granted_on, a.reference)))
    return DeMinimisAssessment(
        business_id=business_id, grant_date=grant_date, window_start=start,
        counted_cents=sum(a.amount_cents for a in counted), new_aid_cents=new_aid_cents,
        ceiling_cents=rules.ceiling_cents, counted=counted)
