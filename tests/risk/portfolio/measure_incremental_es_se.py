"""The incremental-risk figures' standard errors (ΔES and ΔVaR of ``incremental_risk``) on
coarse books, whose losses sit on a grid of whole payouts, against the exact laws of the book
without and with the candidate (``sector_books.SectorBook.with_candidate``: a candidate in
a sector of independent-sector books keeps the book with it exactly computable). Over many
seeds: RMS error / mean reported SE (with its own spread over the seeds), the shares of
|z| > 2 and |z| > 3, and how often each run's VaR before / after is off its exact atom. A
measurement, not a test:

    .venv/bin/python -m tests.risk.portfolio.measure_incremental_es_se [--seeds 200]
        [--blocks 16 32] [--method monte_carlo importance_sampling] [--book edge+1 ...]
        [--levels 0.99 0.999] [--first-seed 1]

The README's figures: ``--method importance_sampling --blocks 16`` and ``--method
monte_carlo --blocks 64`` (200 seeds, every book; ~0.03–0.13 s per run). Plain MC at 99.9 %
wants 64 blocks: with fewer, ΔES rests on a handful of tail scenarios where the candidate
defaulted, and a run with none reports a change of 0 ± 0.

ΔES = ES_after − ES_before on common random numbers. Each ES estimate is Ĝ(VaR̂),
Ĝ(x) = x + Σ w (L − x)⁺/(n(1 − α)), whose error is the influence function's plus the remainder
Ĝ(VaR̂) − Ĝ(VaR) ≤ 0 its VaR's error adds on a lumpy law (``montecarlo._Tail._es_var_error``);
ΔES's error is then the paired influence function's plus R_after − R_before.

ΔVaR's error is (VaR̂_after − VaR_after) − (VaR̂_before − VaR_before), whole atoms on these
books; its SE is the larger of the paired influence function's and the RMS of that
difference under the two runs' joint plug-in law (``montecarlo.var_error_change``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from services.risk.engine.portfolio import BLOCK_SCENARIOS, Fund, incremental_risk
from tests.risk.portfolio.sector_books import UNIT, sector_book

# (book, candidate sector, candidate units): whole payouts of one unit, atoms one unit apart
BOOKS = {
    # 50 one-unit payouts: at 99 % α sits on the upper edge of an atom (P(L ≥ 4 units) =
    # 1.0009 %) and ES − VaR is half an atom; with a one-unit candidate P(L ≥ 4) = 1.057 %
    "edge+1": (dict(sizes=(50,), pds=(0.01,), loadings=(0.3,), units=(1, 1)), 0, 1),
    # a three-unit candidate: VaR 99.5 % moves from 4 to 5 units
    "edge+3": (dict(sizes=(50,), pds=(0.01,), loadings=(0.3,), units=(1, 1)), 0, 3),
    # a five-unit candidate: VaR 99 % moves from 4 to 5 units, 99.9 % from 6 to 8
    "edge+5": (dict(sizes=(50,), pds=(0.01,), loadings=(0.3,), units=(1, 1)), 0, 5),
    # 80 one-unit payouts in two sectors (ES − VaR about one atom at 99.9 %)
    "few+1": (dict(sizes=(40, 40), pds=(0.01, 0.02), loadings=(0.4, 0.3), units=(1, 1)), 1, 1),
    "few+3": (dict(sizes=(40, 40), pds=(0.01, 0.02), loadings=(0.4, 0.3), units=(1, 1)), 0, 3),
    # 300 one-unit payouts in two sectors (ES − VaR several atoms)
    "two+1": (dict(sizes=(150, 150), pds=(0.01, 0.02), loadings=(0.5, 0.3), units=(1, 1)), 0, 1),
    # payouts of 1–6 and 2–12 units: the plug-in law puts a quarter to two thirds of its
    # mass on the estimate's own atom (the edge books: most of it, the smooth one: ~10 %)
    "lumpy6+3": (dict(sizes=(150, 150), pds=(0.01, 0.02), loadings=(0.5, 0.3), units=(1, 6)),
                 0, 3),
    "lumpy12+6": (dict(sizes=(120, 120), pds=(0.01, 0.01), loadings=(0.5, 0.5), units=(2, 12)),
                  0, 6),
    # the smooth control: payouts of 5–60 units, a 30-unit candidate
    "smooth+30": (dict(sizes=(120, 120), pds=(0.01, 0.01), loadings=(0.5, 0.5)), 0, 30),
}
LEVELS = (0.99, 0.999)


def incremental_books(name: str):
    """(book before, candidate, book after) of ``BOOKS[name]``."""
    kwargs, sector, units = BOOKS[name]
    before = sector_book(**kwargs)
    candidate, after = before.with_candidate(sector, units)
    return before, candidate, after


def runs(name: str, method: str, blocks: int, seeds, levels=LEVELS):
    """{level: array (seeds, 2, 2)}: [ΔVaR, ΔES] × [error against the exact change, reported
    SE], and {level: array (seeds, 2)}: VaR before / after off its exact atom."""
    before, candidate, after = incremental_books(name)
    exact = {q: (np.array(after.exact(q)[:2]) - np.array(before.exact(q)[:2]),
                 before.exact(q)[0], after.exact(q)[0]) for q in levels}
    out = {q: [] for q in levels}
    off = {q: [] for q in levels}
    for seed in seeds:
        r = incremental_risk(before.portfolio, Fund(capital_cents=0), before.dependence,
                             candidate, seed=seed, method=method,
                             scenarios=blocks * BLOCK_SCENARIOS, levels=levels)
        for t in r.tail_risk:
            change, v_b, v_a = exact[t.level]
            out[t.level].append([
                [t.value_at_risk_change_cents.value - change[0],
                 t.value_at_risk_change_cents.standard_error],
                [t.expected_shortfall_change_cents.value - change[1],
                 t.expected_shortfall_change_cents.standard_error]])
            off[t.level].append([t.value_at_risk_before_cents.value != v_b,
                                 t.value_at_risk_after_cents.value != v_a])
    return ({q: np.array(v) for q, v in out.items()}, {q: np.array(v) for q, v in off.items()},
            exact)


def ratio(err: np.ndarray, se: np.ndarray) -> float:
    """RMS error / mean reported SE (0 when every run was exact and said so)."""
    rms = float(np.sqrt(np.mean(err ** 2)))
    return rms / float(se.mean()) if se.mean() > 0 else (np.inf if rms > 0 else 0.0)


def z_scores(err: np.ndarray, se: np.ndarray) -> np.ndarray:
    return np.where(se > 0, np.abs(err) / np.where(se > 0, se, 1.0),
                    np.where(err != 0, np.inf, 0.0))


def _spread(err: np.ndarray, se: np.ndarray, resamples: int = 1000) -> float:
    """How far RMS error / mean SE moves from one set of seeds to another (resampled)."""
    pick = np.random.default_rng(0).integers(0, err.size, (resamples, err.size))
    return float(np.std([ratio(err[p], se[p]) for p in pick]))


def show(book: str, method: str, blocks: int, seeds, levels) -> None:
    """Print the figures of ``runs`` for one book, method and run size."""
    cpu = time.process_time()
    out, off, exact = runs(book, method, blocks, seeds, levels)
    cpu = (time.process_time() - cpu) / len(seeds)
    print(f"{book:10s} {method:19s} blocks {blocks:3d} cpu/run {cpu:.3f}s")
    for q in levels:
        change, v_b, v_a = exact[q]
        print(f"  {q}: VaR {v_b / UNIT:g} -> {v_a / UNIT:g} units, exact ΔES "
              f"{change[1] / UNIT:.4f} units; VaR off its atom before "
              f"{off[q][:, 0].mean():.0%}, after {off[q][:, 1].mean():.0%}, "
              f"either {off[q].any(axis=1).mean():.0%}")
        for j, name in enumerate(("ΔVaR", "ΔES")):
            err, se = out[q][:, j, 0], out[q][:, j, 1]
            z = z_scores(err, se)
            print(f"    {name:4s} rmse/SE {ratio(err, se):5.2f} ±{_spread(err, se):4.2f}"
                  f" |z|>2 {np.mean(z > 2):5.1%} |z|>3 {np.mean(z > 3):5.1%} "
                  f"max|z| {z.max():6.2f} mean SE {se.mean() / UNIT:.4f} units")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--blocks", type=int, nargs="+", default=[16, 32])
    ap.add_argument("--method", nargs="+", default=["monte_carlo", "importance_sampling"])
    ap.add_argument("--book", nargs="+", default=list(BOOKS), choices=list(BOOKS))
    ap.add_argument("--levels", type=float, nargs="+", default=list(LEVELS))
    ap.add_argument("--first-seed", type=int, default=1)
    args = ap.parse_args()
    levels = tuple(sorted(args.levels))
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    for book in args.book:
        for method in args.method:
            for blocks in args.blocks:
                show(book, method, blocks, seeds, levels)


if __name__ == "__main__":
    main()
