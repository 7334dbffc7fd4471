"""Gross grant equivalent (GGE) of a fund guarantee: the aid it carries, in cents.

Method (parameter ``de_minimis.gge_method`` = ``safe_harbour_else_premium``):

1. **Proportional safe harbour** — Reg. (EU) 2023/2831 Art. 4(6)(b) (same structure in
   Reg. 1407/2013 Art. 4(6)(b) with lower amounts): a guarantee covering at most 80 % of
   the underlying loan, with a guaranteed amount of at most €2,250,000 for five years or
   €1,125,000 for ten years (1407/2013: €1,500,000 / €750,000), is transparent; a smaller
   amount or a shorter duration has as GGE "the corresponding proportion" of the
   de minimis ceiling:

       GGE = ceiling × (guaranteed / limit_amount) × (years / limit_years)

   using the five-year pair for terms up to five years and the ten-year pair up to ten
   (both pairs give the same amount × years product, so the formula is continuous).
2. **Safe-harbour premium** otherwise — Reg. 2023/2831 Art. 4(6)(c) and the Commission
   Notice on guarantees (2008/C 155/02) section 3.3: the aid is the premium the market
   would charge minus the fee paid, per year, undiscounted (an upper bound):

       GGE = guaranteed × max(0, premium(rating) − fee_rate) × years

The guaranteed amount is the fund's exposure ``min(amount × rate, cap)``. Amounts are
computed exactly (fractions) and rounded up to the cent (never understate aid).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from fractions import Fraction
from typing import Any

from services.funding.ledger.model import GuaranteeTerms

SAFE_HARBOUR_ELSE_PREMIUM = "safe_harbour_else_premium"
PREMIUM_ONLY = "premium"


@dataclass(frozen=True)
class SafeHarbourLimit:
    years: Decimal
    guaranteed_cents: int


@dataclass(frozen=True)
class GgeRules:
    """Parameters of the GGE method in force on the grant date."""

    method: str
    ceiling_cents: int
    max_share_of_loan: Decimal
    limits: tuple[SafeHarbourLimit, ...]
    premiums: Mapping[str, Decimal]
    default_premium: Decimal
    reference: str


def exposure_cents(terms: GuaranteeTerms) -> int:
    """The most the fund can pay: ``min(amount × rate, cap)``, floored to the cent."""
    covered = int((Decimal(terms.amount_cents) * terms.guarantee_rate)
                  .to_integral_value(rounding=ROUND_FLOOR))
    return min(covered, terms.cap_cents)


def _ceil(x: Fraction) -> int:
    return -((-x.numerator) // x.denominator)


def gross_grant_equivalent(terms: GuaranteeTerms, rules: GgeRules) -> tuple[int, dict[str, Any]]:
    """GGE in cents and the trace that explains it."""
    guaranteed = exposure_cents(terms)
    years = Decimal(terms.term_months) / Decimal(12)
    trace: dict[str, Any] = {
        "rule": "GROSS_GRANT_EQUIVALENT",
        "guaranteed_cents": guaranteed,
        "years": str(years),
        "reference": rules.reference,
    }
    share = (Decimal(guaranteed) / Decimal(terms.amount_cents)) if terms.amount_cents else \
        Decimal(0)
    if rules.method == SAFE_HARBOUR_ELSE_PREMIUM:
        limit = next((lim for lim in sorted(rules.limits, key=lambda lim: lim.years)
                      if years <= lim.years), None)
        reasons = []
        if share > rules.max_share_of_loan:
            reasons.append(f"covers {share:.4f} of the loan > {rules.max_share_of_loan}")
        if limit is None:
            reasons.append("term longer than every safe-harbour duration")
        elif guaranteed > limit.guaranteed_cents:
            reasons.append(f"guaranteed {guaranteed} cents > {limit.guaranteed_cents} cents "
                           f"for {limit.years} years")
        if not reasons and limit is not None:
            gge = _ceil(Fraction(rules.ceiling_cents) * guaranteed / limit.guaranteed_cents
                        * Fraction(terms.term_months, 12) / Fraction(limit.years))
            trace.update(method="safe_harbour_proportional", ceiling_cents=rules.ceiling_cents,
                         limit_cents=limit.guaranteed_cents, limit_years=str(limit.years),
                         formula="ceiling × guaranteed/limit_amount × years/limit_years",
                         gge_cents=gge)
            return gge, trace
        trace["safe_harbour_not_applicable"] = reasons
    elif rules.method != PREMIUM_ONLY:
        raise ValueError(f"unknown GGE method {rules.method!r}")
    premium = rules.premiums.get(terms.rating_class.upper(), rules.default_premium) \
        if terms.rating_class else rules.default_premium
    margin = max(Decimal(0), premium - terms.fee_rate)
    gge = _ceil(Fraction(guaranteed) * Fraction(margin) * Fraction(terms.term_months, 12))
    trace.update(method="safe_harbour_premium", rating_class=terms.rating_class or "(none)",
                 premium_rate=str(premium), fee_rate=str(terms.fee_rate),
                 formula="guaranteed × max(0, premium − fee_rate) × years", gge_cents=gge)
    return gge, trace
