"""Money amounts: one bound for every amount the services take, in integer cents."""

from __future__ import annotations

#: The largest single amount (an exposure, a cap, a cost, a budget), in cents: €10 trillion,
#: beyond any real procurement and well inside int64 and BIGINT, so that sums of a few
#: thousand of them cannot overflow an answer's int64 cents.
MAX_CENTS = 10**15
