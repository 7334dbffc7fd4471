"""De minimis windows on both sides of their edges and of the 2024-01-01 change.
Expected figures are hand-computed from Reg. (EU) 1407/2013 Art. 3(2) (EUR 200 000, the
fiscal year and the two before) and Reg. (EU) 2023/2831 Art. 3(2) (EUR 300 000, any
three years, rolling)."""

from __future__ import annotations

from datetime import date

import pytest

from services.funding.ledger.de_minimis import (
    FISCAL_YEARS,
    ROLLING_YEARS,
    AidRecord,
    DeMinimisRules,
    RegisteredAid,
    assess_de_minimis,
    ceiling_breaches,
    window_start,
)
from services.funding.ledger.fund_rules import fund_rules_on

ROLLING = DeMinimisRules(300_000_00, ROLLING_YEARS, 3, "2023/2831")
FISCAL = DeMinimisRules(200_000_00, FISCAL_YEARS, 3, "1407/2013")
BID = "1234567-1"


@pytest.mark.parametrize(("grant", "start"), [
    (date(2027, 3, 1), date(2024, 3, 2)),    # aid of 2024-03-01 is out, of 03-02 in
    (date(2028, 2, 29), date(2025, 3, 1)),   # leap day: three years back is 2025-02-28
    (date(2024, 1, 1), date(2021, 1, 2)),
])
def test_rolling_window_is_the_three_years_ending_on_the_grant_date(grant: date,
                                                                    start: date) -> None:
    assert window_start(grant, ROLLING) == start


@pytest.mark.parametrize(("grant", "start"), [
    (date(2023, 6, 30), date(2021, 1, 1)),
    (date(2023, 12, 31), date(2021, 1, 1)),
    (date(2022, 1, 1), date(2020, 1, 1)),
])
def test_fiscal_window_is_this_and_the_two_previous_years(grant: date, start: date) -> None:
    assert window_start(grant, FISCAL) == start


def test_aid_leaves_the_rolling_window_the_day_after_three_years() -> None:
    history = [AidRecord(date(2021, 6, 1), 290_000_00, "old")]
    before = assess_de_minimis(BID, date(2024, 5, 31), 20_000_00, history, ROLLING)
    assert before.counted_cents == 290_000_00
    assert not before.within_ceiling                        # 290k + 20k > 300k
    (v,) = [before.violation()]
    assert v is not None and (v.type, v.subject) == ("DE_MINIMIS", f"beneficiary/{BID}")
    after = assess_de_minimis(BID, date(2024, 6, 1), 20_000_00, history, ROLLING)
    assert after.counted_cents == 0 and after.within_ceiling
    assert after.room_cents == 300_000_00


def test_exactly_at_the_ceiling_is_allowed() -> None:
    history = [AidRecord(date(2024, 2, 1), 280_000_00, "a")]
    at = assess_de_minimis(BID, date(2024, 3, 1), 20_000_00, history, ROLLING)
    assert at.within_ceiling and at.violation() is None
    over = assess_de_minimis(BID, date(2024, 3, 1), 20_000_01, history, ROLLING)
    assert not over.within_ceiling


def test_the_2024_change_with_the_rules_in_force() -> None:
    """150k (2021-06-01) + 40k (2023-01-15) already granted, 20k more: refused on
    2023-12-31 (200k over 2021-2023), allowed on 2024-01-01 (300k rolling)."""
    history = [AidRecord(date(2021, 6, 1), 150_000_00, "a"),
               AidRecord(date(2023, 1, 15), 40_000_00, "b")]
    old = fund_rules_on(date(2023, 12, 31)).de_minimis
    new = fund_rules_on(date(2024, 1, 1)).de_minimis
    assert (old.ceiling_cents, old.window) == (200_000_00, FISCAL_YEARS)
    assert (new.ceiling_cents, new.window) == (300_000_00, ROLLING_YEARS)
    refused = assess_de_minimis(BID, date(2023, 12, 31), 20_000_00, history, old)
    assert refused.counted_cents == 190_000_00 and not refused.within_ceiling
    allowed = assess_de_minimis(BID, date(2024, 1, 1), 20_000_00, history, new)
    assert allowed.counted_cents == 190_000_00 and allowed.within_ceiling
    assert allowed.room_cents == 110_000_00


def test_fiscal_window_drops_aid_of_three_years_before() -> None:
    history = [AidRecord(date(2020, 12, 31), 150_000_00, "a"),
               AidRecord(date(2021, 1, 1), 40_000_00, "b")]
    a = assess_de_minimis(BID, date(2023, 12, 31), 20_000_00, history, FISCAL)
    assert a.counted_cents == 40_000_00 and a.within_ceiling
    b = assess_de_minimis(BID, date(2022, 12, 31), 20_000_00, history, FISCAL)
    assert b.counted_cents == 190_000_00 and not b.within_ceiling


def test_later_aid_is_not_counted_for_an_earlier_grant_date() -> None:
    history = [AidRecord(date(2025, 1, 2), 100_000_00, "later")]
    assert assess_de_minimis(BID, date(2025, 1, 1), 0, history, ROLLING).counted_cents == 0


def test_a_breach_is_judged_under_the_rules_of_each_grant_date() -> None:
    """A 2023 grant is over the €200 000 of 1407/2013 (fiscal years) with €210 000 in its
    window, a 2024 grant with the same aid is within €300 000; corrected rows count for
    nothing, and a date under no rules is not judged."""
    rows = [RegisteredAid(1, BID, date(2021, 3, 1), 150_000_00, "a"),
            RegisteredAid(2, BID, date(2023, 5, 1), 60_000_00, "b", application_id=7),
            RegisteredAid(3, BID, date(2024, 2, 1), 10_000_00, "c", reversed_by_id=4),
            RegisteredAid(4, BID, date(2024, 2, 1), 10_000_00, "c", reverses_id=3),
            RegisteredAid(5, BID, date(2024, 3, 1), 1_00, "d")]
    [breach] = ceiling_breaches(rows, lambda on: FISCAL if on.year < 2024 else ROLLING)
    assert (breach.aid.id, breach.window_start, breach.counted_cents, breach.ceiling_cents,
            breach.over_ceiling_cents) == (2, date(2021, 1, 1), 210_000_00, 200_000_00,
                                           10_000_00)
    assert breach.covers(date(2021, 1, 1)) and not breach.covers(date(2023, 5, 2))
    assert ceiling_breaches(rows, lambda on: ROLLING if on.year >= 2024 else None) == []
    assessment = assess_de_minimis(BID, date(2024, 3, 1), 0,
                                   [r.record() for r in rows if r.counts], ROLLING)
    assert (assessment.counted_cents, assessment.over_ceiling_cents) == (60_001_00, 0)
    assert [assessment.counts(r) for r in rows] == [False, True, False, False, True]
