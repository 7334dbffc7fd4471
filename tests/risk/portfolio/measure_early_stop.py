"""Early stopping (``target_relative_error``) against the exact law: where runs stop and
how honest ES ± SE is there, beside fixed-size runs. A measurement, not a test:

    .venv/bin/python -m tests.risk.portfolio.measure_early_stop [--seeds 300]
        [--book smooth one] [--method monte_carlo importance_sampling]
        [--levels 0.99 0.999] [--targets 0.02 0.05 0.1 0.2] [--max-blocks 512]

Each seed's blocks are simulated once; the result is finalized on every prefix of
STOP_STRIDE_BLOCKS-block steps (the check points ``iter_monte_carlo`` evaluates, each on
exactly that prefix, so a run's figures at a check point are bit for bit those of a run
stopped there) and the engine's own stopping test (``montecarlo.stop_reached``) picks the
stop for each target. ``--check`` also runs ``simulate_portfolio`` with each target for the
first seeds and asserts the same stopping point and ES. The reference is the exact law of
the book (``sector_books``: ``exact_laws``, closed form over the factors, not the engine).

Figures per target at the stopping level (the highest of ``--levels``): blocks at the stop
(mean, quartiles, share at the first check point, share that never stopped), the
count of scenarios at or beyond the run's VaR there and their effective sample size
(Σw)²/Σw² (medians), the ES bias
(mean (estimate − exact)/exact, ± its SE over the seeds), RMS error / mean reported SE, the
shares of runs with ES beyond 2 and 3 SE of the exact value, the largest |z|; then the
same for fixed-size runs at every check point (``fixed``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from services.risk.engine.portfolio import BLOCK_SCENARIOS, Fund, simulate_portfolio
from services.risk.engine.portfolio import montecarlo as mc
from tests.risk.portfolio.measure_lattice_var_se import BOOKS
from tests.risk.portfolio.sector_books import sector_book


def records(book, method: str, levels: tuple[float, ...], seeds: range, max_blocks: int,
            targets: list[float]) -> dict:
    """Per seed and check point: ES value and SE at the stopping level, the count of tail
    scenarios and the engine's stopping verdict for each target (seeds, points[, targets])."""
    stride = mc.STOP_STRIDE_BLOCKS
    points = np.arange(stride, max_blocks + 1, stride)
    es = np.zeros((len(seeds), points.size))
    se = np.zeros_like(es)
    count = np.zeros_like(es)
    ess = np.zeros_like(es)
    reached = np.zeros((*es.shape, len(targets)), dtype=bool)
    fund = Fund(capital_cents=10**15)
    for i, seed in enumerate(seeds):
        plan = mc.SimulationPlan(book.portfolio, fund, book.dependence, seed=seed,
                                 method=method, levels=levels)
        shard = None
        for j, stop in enumerate(points):
            part = mc.simulate_blocks(plan, int(stop) - stride, int(stop))
            shard = part if shard is None else mc.concat_shards([shard, part])
            result = mc._finalize(shard)
            top = result.tail_risk[-1]
            es[i, j] = top.expected_shortfall_cents.value
            se[i, j] = top.expected_shortfall_cents.standard_error
            var = top.value_at_risk_cents.value
            count[i, j] = np.count_nonzero(shard.tail_loss >= var)
            w = shard.tail_weight[shard.tail_loss >= var]
            ess[i, j] = w.sum() ** 2 / (w @ w)
            reached[i, j] = [mc.stop_reached(shard, result, t) for t in targets]
    return dict(points=points, es=es, se=se, count=count, ess=ess, reached=reached)


def stops(rec: dict, k: int, min_blocks: int = mc.MIN_STOP_BLOCKS) -> np.ndarray:
    """Index of the check point where each seed's run stops with the k-th target (the last
    when it never does: the run's end), by the engine's own test on each prefix."""
    points = rec["points"]
    ok = rec["reached"][:, :, k] & (points >= min_blocks)[None, :]
    ok[:, -1] = True
    return np.argmax(ok, axis=1)


def figures(es: np.ndarray, se: np.ndarray, exact: float) -> dict:
    err = es - exact
    z = np.abs(err) / np.where(se > 0, se, np.nan)
    z = np.where(se > 0, z, np.where(err != 0, np.inf, 0.0))
    rel = err / exact
    return dict(bias=float(rel.mean()), bias_se=float(rel.std(ddof=1) / np.sqrt(rel.size)),
                rmse_over_se=float(np.sqrt(np.mean(err ** 2)) / se.mean()),
                z2=float(np.mean(z > 2)), z3=float(np.mean(z > 3)), zmax=float(np.max(z)),
                rel_se=float(np.mean(se / np.abs(es))))


def line(f: dict) -> str:
    return (f"ES bias {f['bias']:+6.2%} ±{f['bias_se']:.2%}  rmse/SE {f['rmse_over_se']:4.2f}  "
            f"|z|>2 {f['z2']:5.1%}  |z|>3 {f['z3']:5.1%}  max|z| {f['zmax']:5.1f}  "
            f"mean SE/ES {f['rel_se']:.3f}")


def measure(book_name: str, method: str, levels: tuple[float, ...], seeds: int,
            targets: list[float], max_blocks: int, first_seed: int = 1,
            check: int = 0, save: str | None = None) -> None:
    book = sector_book(**BOOKS[book_name])
    level = levels[-1]
    exact = book.exact(level)[1]
    t = time.process_time()
    rec = records(book, method, levels, range(first_seed, first_seed + seeds), max_blocks,
                  targets)
    cpu = time.process_time() - t
    points, es, se, count, ess = (rec[k] for k in ("points", "es", "se", "count", "ess"))
    if save:
        np.savez(f"{save}-{book_name}-{method}-{level}.npz", exact=exact, **rec)
    rows = np.arange(es.shape[0])
    print(f"{book_name} {method} levels {levels}: stop on ES {level}, exact "
          f"{exact:.6g}; {seeds} seeds, check points {points[0]}..{points[-1]} blocks "
          f"({cpu:.0f} s)")
    for k, target in enumerate(targets):
        at = stops(rec, k)
        blocks = points[at]
        print(f"  target {target:<5g} stop blocks mean {blocks.mean():6.1f} "
              f"q25/50/75 {np.percentile(blocks, 25):.0f}/{np.median(blocks):.0f}/"
              f"{np.percentile(blocks, 75):.0f}  at first {np.mean(at == 0):5.1%}  "
              f"never {np.mean(~rec['reached'][rows, at, k]):5.1%}  "
              f"tail n {np.median(count[rows, at]):.0f}, ESS {np.median(ess[rows, at]):.0f}")
        print("      stopped: " + line(figures(es[rows, at], se[rows, at], exact)))
        near = int(np.argmin(np.abs(points - blocks.mean())))
        print(f"      fixed {points[near]:4d}: "
              + line(figures(es[:, near], se[:, near], exact)))
        for i in range(min(check, seeds)):
            r = simulate_portfolio(book.portfolio, Fund(capital_cents=10**15),
                                   book.dependence, seed=first_seed + i, method=method,
                                   levels=levels,
                                   scenarios=int(points[-1]) * BLOCK_SCENARIOS,
                                   target_relative_error=target)
            assert r.scenarios == blocks[i] * BLOCK_SCENARIOS, (i, r.scenarios, blocks[i])
            assert r.tail_risk[-1].expected_shortfall_cents.value == es[i, at[i]]
    print("  fixed-size runs:")
    for j, p in enumerate(points):
        if p in (16, 32, 48, 64, 96, 128, 256, 512) or j == points.size - 1:
            print(f"      fixed {p:4d}: tail n {np.median(count[:, j]):5.0f}, ESS "
                  f"{np.median(ess[:, j]):5.0f}  "
                  + line(figures(es[:, j], se[:, j], exact)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=300)
    ap.add_argument("--book", nargs="+", default=["smooth", "one"], choices=sorted(BOOKS))
    ap.add_argument("--method", nargs="+", default=["monte_carlo", "importance_sampling"])
    ap.add_argument("--levels", type=float, nargs="+", default=[0.99, 0.999])
    ap.add_argument("--targets", type=float, nargs="+", default=[0.02, 0.05, 0.1, 0.2])
    ap.add_argument("--max-blocks", type=int, default=512)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--check", type=int, default=0,
                    help="seeds also run through simulate_portfolio (same stop asserted)")
    ap.add_argument("--save", help="also save the per-check-point figures to SAVE-*.npz")
    args = ap.parse_args()
    levels = tuple(sorted(args.levels))
    for book in args.book:
        for method in args.method:
            measure(book, method, levels, args.seeds, args.targets, args.max_blocks,
                    args.first_seed, args.check, args.save)


if __name__ == "__main__":
    main()
