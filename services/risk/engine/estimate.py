"""An estimate is a number with its Monte Carlo standard error."""

from __future__ import annotations

import math
from dataclasses import dataclass

# A proportion from few scenarios: the binomial (Wald) SE √(p(1 − p)/n) is 0 when no scenario
# fell in the event and far too small when a handful did (a true 3/n read as 0 ± 0 in 5 % of
# runs), and likewise when every scenario, or all but a handful, did. Its floor counts
# PSEUDO_EVENTS more events of the event's typical weight, and as many more non-events
# (Agresti & Coull 1998: the 95 % score interval's centre adds z²/2 ≈ 2 events and 2
# non-events). An empty event then reads 0 ± √2/n, whose two SEs (2.8/n) are about the "rule
# of three" bound 3/n (Hanley & Lippman-Hand 1983), a full one 1 ± √2/n; k events (or k
# non-events) read about √(1 + 2/k) times Wald's SE.
PSEUDO_EVENTS = 2.0


@dataclass(frozen=True)
class Estimate:
    """``value`` with its Monte Carlo standard error (0.0 for exact figures)."""

    value: float
    standard_error: float = 0.0


def proportion(weight_sum: float, weight_sq_sum: float, n: int, *, certain: bool = False,
               impossible: bool = False) -> Estimate:
    """The probability of an event from ``n`` scenarios: Σw and Σw² over the scenarios in it
    (w the importance weight; under plain Monte Carlo both are the count). SE: the larger of
    the sample's √((Σw²/n − p²)/n) and the few-events floor (``PSEUDO_EVENTS``) on either
    side: the same with that many more events of weight t = Σw²/Σw (1 when none was seen:
    the model's own law), and with that many fewer (as many more non-events), so that an
    event seen in every scenario reads 1 ± √2/n, as one seen in none reads 0 ± √2/n: a
    near-certain event (P 0.9999 from 10,000 scenarios) read 100 % ± 0 in a third of runs.
    (The floor's −p² matters under importance sampling: Σw²(1 − p)/n², the same under plain
    MC, read an efficient sampler's error with thousands of events √2 times too wide at
    weights 2p.)

    ``certain`` / ``impossible``: the caller knows from the model itself (not from the
    scenarios: an event in every scenario of a run is no proof) that the event always /
    never happens; it then reads 1 / 0 with SE 0."""
    if certain:
        return Estimate(1.0, 0.0)
    if impossible:
        return Estimate(0.0, 0.0)
    p = weight_sum / n
    sample = max(weight_sq_sum / n - p * p, 0.0) / n
    typical = weight_sq_sum / weight_sum if weight_sum > 0 else 1.0
    extra = PSEUDO_EVENTS * typical
    more = ((weight_sq_sum + extra * typical) / n - (p + extra / n) ** 2) / n
    fewer = ((weight_sq_sum - extra * typical) / n - (p - extra / n) ** 2) / n
    return Estimate(p, math.sqrt(max(sample, more, fewer, 0.0)))


def paired_change(change_sum: float, change_sq_sum: float, change_abs_sum: float, n: int
                  ) -> Estimate:
    """The change of a probability between two runs on common random numbers (the same
    ``n`` scenarios without and with a candidate): Σd, Σd² and Σ|d| over d = w(1_after −
    1_before), each scenario −w, 0 or w. SE: the sample's, with the few-events floor of
    ``proportion``: PSEUDO_EVENTS more scenarios that differ, of weight Σd²/Σ|d| (1 when
    none did) and of either sign, so a change no scenario showed reads 0 ± √2/n, not 0 ± 0."""
    change = change_sum / n
    typical = change_sq_sum / change_abs_sum if change_abs_sum > 0 else 1.0
    spread = (change_sq_sum + PSEUDO_EVENTS * typical * typical) / n - change * change
    return Estimate(change, math.sqrt(max(spread, 0.0) / n))
