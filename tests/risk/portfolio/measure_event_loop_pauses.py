"""How long an asyncio event loop pauses while the engine works in a worker thread, as the
risk service runs it (a 5 ms ticker on the loop; its longest gap and its 99th percentile).

    .venv/bin/python -m tests.risk.portfolio.measure_event_loop_pauses [guarantees]

A gap as long as the work means the engine held the GIL: the service's health checks,
GetOperation and cancels waited that long.
"""

from __future__ import annotations

import asyncio
import sys
import time

import numpy as np

from services.risk.engine.portfolio import (
    Dependence,
    Fund,
    risk_contributions,
    simulate_portfolio,
)
from tests.risk.portfolio.bench_portfolio import _one_factor, _ten_factor


async def pauses(name: str, work) -> None:
    gaps: list[float] = []
    done = False

    async def ticker():
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    began = time.perf_counter()
    await asyncio.to_thread(work)
    took = time.perf_counter() - began
    done = True
    await ticking
    print(f"{name:<32} work {took:6.2f} s   longest pause {max(gaps) * 1e3:6.0f} ms   "
          f"p99 {np.quantile(gaps, 0.99) * 1e3:4.0f} ms", flush=True)


async def main(n: int) -> None:
    one, ten = _one_factor(n), _ten_factor(n)
    fund = Fund(capital_cents=0)
    one_factor = dict(fund=fund, dependence=Dependence.one_factor(), seed=1)
    ten_factor = dict(fund=fund, dependence=ten[1], seed=1)
    simulate_portfolio(one, **one_factor, scenarios=1024, method="monte_carlo")  # compile
    await pauses("monte carlo, one factor", lambda: simulate_portfolio(
        one, **one_factor, scenarios=8192, method="monte_carlo"))
    await pauses("importance sampling, ten factors", lambda: simulate_portfolio(
        ten[0], **ten_factor, scenarios=8192, method="importance_sampling"))
    await pauses("semi-analytic, one factor", lambda: simulate_portfolio(
        one, **one_factor, method="semi_analytic"))
    await pauses("contributions, ten factors", lambda: risk_contributions(
        ten[0], **ten_factor, scenarios=8192))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
