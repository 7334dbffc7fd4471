"""Gross grant equivalent of a guarantee. Expected values are computed by hand from
Reg. (EU) 2023/2831 Art. 4(6)(b) (EUR 2 250 000 / 5 y, EUR 1 125 000 / 10 y, proportion
of EUR 300 000), Reg. (EU) 1407/2013 Art. 4(6)(b) (EUR 1 500 000 / 5 y, EUR 750 000 /
10 y, proportion of EUR 200 000) and the SME premiums of Commission Notice 2008/C 155/02
section 3.3 (BB 2.0 %, no rating 3.8 %)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.funding.ledger.fund_rules import fund_rules_on
from services.funding.ledger.gge import exposure_cents, gross_grant_equivalent
from services.funding.ledger.model import GuaranteeTerms

RULES_2024 = fund_rules_on(date(2024, 6, 1)).gge
RULES_2023 = fund_rules_on(date(2023, 6, 1)).gge


def terms(amount_eur: int, rate: str, months: int, *, cap_eur: int = 100_000_000,
          fee: str = "0.01", rating: str = "") -> GuaranteeTerms:
    return GuaranteeTerms(amount_eur * 100, Decimal(rate), cap_eur * 100, Decimal(fee), months,
                          rating)


def test_exposure_is_the_smaller_of_rate_times_amount_and_cap() -> None:
    assert exposure_cents(terms(1_000_000, "0.8", 60)) == 800_000_00
    assert exposure_cents(terms(1_000_000, "0.8", 60, cap_eur=500_000)) == 500_000_00
    # 333.33 × 0.5 = 166.665 → floored to 166.66
    assert exposure_cents(GuaranteeTerms(333_33, Decimal("0.5"), 10**9, Decimal(0), 12)) == \
        166_66


@pytest.mark.parametrize(("rules", "t", "expected_cents", "method"), [
    # 300 000 × 800 000/2 250 000 × 3/5 = 64 000.00
    (RULES_2024, terms(1_000_000, "0.8", 36), 64_000_00, "safe_harbour_proportional"),
    # 200 000 × 800 000/1 500 000 × 3/5 = 64 000.00 (same product amount × years)
    (RULES_2023, terms(1_000_000, "0.8", 36), 64_000_00, "safe_harbour_proportional"),
    # 1407/2013, 7 years → ten-year pair: 200 000 × 700 000/750 000 × 7/10 = 130 666.666…
    (RULES_2023, terms(1_000_000, "0.7", 84), 13_066_667, "safe_harbour_proportional"),
    # cap binds: 300 000 × 500 000/2 250 000 = 66 666.666… → rounded up
    (RULES_2024, terms(1_000_000, "0.8", 60, cap_eur=500_000), 6_666_667,
     "safe_harbour_proportional"),
    # 90 % of the loan: no safe harbour; BB 2.0 % − fee 0.5 % = 1.5 % × 900 000 × 5 = 67 500
    (RULES_2024, terms(1_000_000, "0.9", 60, fee="0.005", rating="BB"), 67_500_00,
     "safe_harbour_premium"),
    # 2 400 000 guaranteed > 2 250 000: no rating → 3.8 % − 1 % = 2.8 % × 2 400 000 × 5
    (RULES_2024, terms(3_000_000, "0.8", 60), 336_000_00, "safe_harbour_premium"),
    # 12 years is beyond both durations: 2.8 % × 400 000 × 12 = 134 400
    (RULES_2024, terms(500_000, "0.8", 144), 134_400_00, "safe_harbour_premium"),
    # fee above the premium: no aid
    (RULES_2024, terms(1_000_000, "0.9", 60, fee="0.05", rating="BBB"), 0,
     "safe_harbour_premium"),
])
def test_gross_grant_equivalent(rules, t, expected_cents, method) -> None:  # type: ignore[no-untyped-def]
    gge, trace = gross_grant_equivalent(t, rules)
    assert gge == expected_cents
    assert trace["method"] == method
    assert trace["gge_cents"] == expected_cents
