"""Importance sampling with and without the odds tilt on books whose PDs are all different
(every guarantee its own rating-derived PD) and whose tail comes mostly from single
defaults, against the exact law. A measurement, not a test:

    .venv/bin/python -m tests.risk.portfolio.measure_odds_tilt_distinct_pds [--seeds 200]
        [--blocks 8] [--book d1000 t1500 ...] [--tilt on off] [--levels 0.99 0.999]
        [--group-cells 16]

Per book, level and figure (VaR, ES, P(L > exact VaR)): RMS error / mean reported SE, the
share of runs beyond 2 and 3 SEs, and the variance of the estimate over the seeds times the
CPU seconds of a run (its inverse is the variance per CPU-second; the ratio off/on is the
tilt's gain, measured by the seeds' spread, not by the SEs, which the shift alone
understates on these books).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from services.risk.engine.portfolio import (
    BLOCK_SCENARIOS,
    Dependence,
    Fund,
    Portfolio,
    simulate_portfolio,
)
from services.risk.engine.portfolio import montecarlo as mc
from tests.risk.portfolio.exact_laws import independent_sectors_lattice_pmf
from tests.risk.portfolio.measure_lattice_var_se import _rmse_over_se
from tests.risk.portfolio.sector_books import UNIT, SectorBook

# n guarantees, PDs log-uniform on [lo, hi] (all different), one factor loading, payouts
# of units[0]..units[1] whole units: low loadings, so single defaults make the tail.
BOOKS = {
    # at most 1,024 distinct PDs: the tilt of the previous session used them as its runs
    "d1000": dict(n=1000, pd=(0.001, 0.02), loading=0.15, units=(1, 3)),
    # more: that tilt was off (the factor shift alone)
    "t1200": dict(n=1200, pd=(0.001, 0.02), loading=0.1, units=(1, 1)),
    "t1500": dict(n=1500, pd=(0.0007, 0.013), loading=0.12, units=(1, 3)),
    "d2000": dict(n=2000, pd=(0.0005, 0.01), loading=0.15, units=(1, 3)),
    # a rating scale: 20 grades, PDs 1.25x apart, as runs of equal PD
    "g2000": dict(n=2000, pd=(0.0003, 0.02), loading=0.15, units=(1, 3), grades=20),
}
LEVELS = (0.99, 0.999)


def distinct_pd_book(n: int, pd: tuple[float, float], loading: float,
                     units: tuple[int, int], grades: int = 0, seed: int = 0) -> SectorBook:
    """One factor, ``n`` guarantees with all-different PDs (or each one of ``grades``
    PDs spaced evenly in log), and its exact law."""
    rng = np.random.default_rng(seed)
    pds = np.exp(rng.uniform(np.log(pd[0]), np.log(pd[1]), n)) if not grades else \
        rng.choice(np.geomspace(pd[0], pd[1], grades), n)
    bands = rng.integers(units[0], units[1] + 1, n)
    portfolio = Portfolio.from_arrays(
        exposure_cents=bands.astype(np.int64) * UNIT, probability_of_default=pds,
        loss_given_default=1.0, factor_loadings=np.full((n, 1), loading))
    law = independent_sectors_lattice_pmf([(bands, pds, loading)], panels=16,
                                          nodes_per_panel=12)
    return SectorBook(portfolio, Dependence.one_factor(), law, (law,))


def measure(book: SectorBook, tilt: bool, seeds: int, blocks: int,
            levels: tuple[float, ...] = LEVELS) -> dict:
    out = {}
    for level in levels:
        var, es, tail = book.exact(level)
        fund = Fund(capital_cents=int(var))  # exhaustion in year 1 is the event L > VaR
        rows, cpu = [], 0.0
        for seed in range(1, seeds + 1):
            t = time.process_time()
            r = simulate_portfolio(book.portfolio, fund, book.dependence, seed=seed,
                                   method="importance_sampling", odds_tilt=tilt,
                                   scenarios=blocks * BLOCK_SCENARIOS, levels=levels)
            cpu += time.process_time() - t
            at = r.at(level)
            rows.append([(e.value, e.standard_error) for e in (
                at.value_at_risk_cents, at.expected_shortfall_cents,
                r.exhaustion_probability_by_year[0])])
        a = np.array(rows)
        cpu /= seeds
        for j, (name, exact) in enumerate((("var", var), ("es", es), ("tail", tail))):
            v, se = a[:, j, 0], a[:, j, 1]
            err = v - exact
            z = np.abs(err) / np.where(se > 0, se, np.nan)
            z = np.where(se > 0, z, np.where(err != 0, np.inf, 0.0))
            out[level, name] = dict(rmse_over_se=_rmse_over_se(err, se),
                                    z2=float(np.mean(z > 2)), z3=float(np.mean(z > 3)),
                                    off=float(np.mean(err != 0)),
                                    var_x_cpu=float(np.mean(err ** 2)) * cpu, cpu=cpu,
                                    exact=exact)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--book", nargs="+", default=sorted(BOOKS), choices=sorted(BOOKS))
    ap.add_argument("--tilt", nargs="+", default=["off", "on"], choices=["off", "on"])
    ap.add_argument("--levels", type=float, nargs="+", default=list(LEVELS))
    ap.add_argument("--group-cells", type=int, help="ODDS_TILT_GROUP_CELLS for this run")
    args = ap.parse_args()
    if args.group_cells:
        mc.ODDS_TILT_GROUP_CELLS = args.group_cells
    levels = tuple(sorted(args.levels))
    for name in args.book:
        book = distinct_pd_book(**BOOKS[name])
        plan = mc.SimulationPlan(book.portfolio, Fund(capital_cents=0), book.dependence,
                                 seed=1, method="importance_sampling", levels=levels)
        print(f"{name}: {BOOKS[name]}, tilt used by default: {plan.odds_tilt}, cells "
              f"{getattr(plan, 'cell_start', np.zeros(1)).size - 1}")
        res = {t: measure(book, t == "on", args.seeds, args.blocks, levels)
               for t in args.tilt}
        for key in res[args.tilt[0]]:
            for t in args.tilt:
                d = res[t][key]
                print(f"  {key[0]} {key[1]:4s} tilt {t:3s} rmse/SE {d['rmse_over_se']:5.2f} "
                      f"|z|>2 {d['z2']:5.1%} |z|>3 {d['z3']:5.1%} "
                      f"off exact {d['off']:5.1%} "
                      f"MSE x cpu {d['var_x_cpu']:.3e} cpu/run {d['cpu']:.3f}s")
            if len(args.tilt) == 2:
                off, on = res["off"][key], res["on"][key]
                # VaR of a whole-unit book is a whole unit: seeds often land on it exactly,
                # and then the MSE (and its ratio) says nothing; read "off exact" instead
                gain = (f"{off['var_x_cpu'] / on['var_x_cpu']:.2f}x" if on["var_x_cpu"] > 0
                        else "all seeds exact with the tilt")
                print(f"    variance per CPU-second, on / off: {gain}")


if __name__ == "__main__":
    main()
