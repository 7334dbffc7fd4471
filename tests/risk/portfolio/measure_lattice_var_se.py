"""VaR's and ES's reported standard errors on coarse books (losses on a grid of whole
payouts, the quantile's atoms wide against its standard error) against the exact law: over
many seeds, RMS error / mean reported SE (with its own spread over the seeds), the shares of
|z| > 2 and |z| > 3 and the largest error in atoms, for VaR, ES and P(L > exact VaR), plain
Monte Carlo and importance sampling. A measurement, not a test:

    .venv/bin/python -m tests.risk.portfolio.measure_lattice_var_se [--seeds 32]
        [--blocks 8 32] [--method monte_carlo importance_sampling] [--book one two three]
        [--levels 0.99 0.999] [--first-seed 1]

The exact reference is the one the engine's VaR uses: the smallest x with P(L ≤ x) ≥ α
(``exact_laws.var_es_of_lattice``).

The ± after RMS error / SE is that figure's own spread over the seeds (resampled): 16 or 32
seeds' ratios move by ± 0.12–0.18, so read them over a few hundred seeds.

The share of runs whose VaR is off the exact atom says how often the VaR's error enters ES.
The ES estimate is Ĝ(VaR̂), Ĝ(x) = x + Σ w (L − x)⁺/(n(1 − α)) (Rockafellar & Uryasev 2002);
its error is Ĝ(VaR) − ES, the influence function's, plus the remainder Ĝ(VaR̂) − Ĝ(VaR) =
−∫ between VaR and VaR̂ of |F̂(t) − α| dt/(1 − α): 0 when VaR̂ = VaR, a whole gap times
|F̂ − α| when it lands on a neighbouring atom.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from services.risk.engine.portfolio import BLOCK_SCENARIOS, Fund, simulate_portfolio
from tests.risk.portfolio.sector_books import UNIT, sector_book

# Whole payouts of one unit (or one to three units): the law's atoms are one unit apart.
BOOKS = {
    "one": dict(sizes=(300,), pds=(0.01,), loadings=(0.5,), units=(1, 1)),
    "two": dict(sizes=(150, 150), pds=(0.01, 0.02), loadings=(0.5, 0.3), units=(1, 1)),
    "three": dict(sizes=(100, 100, 100), pds=(0.005, 0.01, 0.02), loadings=(0.5, 0.4, 0.3),
                  units=(1, 3)),
    # coarser still: 80 one-unit payouts, ES − VaR about one atom at 99.9 %
    "few": dict(sizes=(40, 40), pds=(0.01, 0.02), loadings=(0.4, 0.3), units=(1, 1)),
    # 50 one-unit payouts: at 99 % the level sits on the upper edge of an atom (P(L ≥ 4 units)
    # = 1.0009 %) holding 68 % of the tail, and ES − VaR is half an atom
    "edge": dict(sizes=(50,), pds=(0.01,), loadings=(0.3,), units=(1, 1)),
    # the mixture-of-shifts books with whole payouts of one unit
    "two-equal": dict(sizes=(120, 120), pds=(0.01, 0.01), loadings=(0.5, 0.5), units=(1, 1)),
    "three-equal": dict(sizes=(80, 80, 80), pds=(0.01,) * 3, loadings=(0.5,) * 3, units=(1, 1)),
    "two-few": dict(sizes=(200, 200), pds=(0.01, 0.01), loadings=(0.4, 0.4), units=(1, 3)),
    # the smooth control: payouts of 5–60 units (the mixture-of-shifts tests' books)
    "smooth": dict(sizes=(120, 120), pds=(0.01, 0.01), loadings=(0.5, 0.5)),
    "smooth-three": dict(sizes=(80, 80, 80), pds=(0.01,) * 3, loadings=(0.5,) * 3),
}
LEVELS = (0.99, 0.999)


def measure(book: str, method: str, seeds: int, blocks: int, first_seed: int = 1,
            levels: tuple[float, ...] = LEVELS) -> dict:
    """Per level: VaR, ES and P(L > exact VaR) statistics over ``seeds`` seeds, each run
    asking for all of ``levels`` (importance sampling aims its mixture at them)."""
    b = sector_book(**BOOKS[book])
    out = {"book": book, "method": method, "blocks": blocks, "levels": levels}
    cpu = 0.0
    rows = {level: [] for level in levels}
    for level in levels:
        var, es, tail = b.exact(level)
        # capital = the exact VaR: exhaustion in year 1 is the event L > VaR
        fund = Fund(capital_cents=int(var), annual_fee_income_cents=0)
        for seed in range(first_seed, first_seed + seeds):
            t = time.process_time()
            r = simulate_portfolio(b.portfolio, fund, b.dependence, seed=seed, method=method,
                                   scenarios=blocks * BLOCK_SCENARIOS, levels=levels)
            cpu += time.process_time() - t
            at = r.at(level)
            rows[level].append([(e.value, e.standard_error) for e in (
                at.value_at_risk_cents, at.expected_shortfall_cents,
                r.exhaustion_probability_by_year[0])])
        a = np.array(rows[level])
        stats = {}
        for j, (name, exact) in enumerate((("var", var), ("es", es), ("tail", tail))):
            v, se = a[:, j, 0], a[:, j, 1]
            err = v - exact
            z = np.where(se > 0, np.abs(err) / np.where(se > 0, se, 1.0),
                         np.where(err != 0, np.inf, 0.0))
            stats[name] = dict(exact=exact, rmse_over_se=_rmse_over_se(err, se),
                               rmse_over_se_spread=_bootstrap_spread(err, se),
                               spread_over_se=float(v.std(ddof=1) / se.mean()),
                               share_z_over_2=float(np.mean(z > 2)),
                               share_z_over_3=float(np.mean(z > 3)),
                               max_abs_z=float(np.max(z)),
                               max_err_atoms=float(np.max(np.abs(err)) / UNIT),
                               mean_se_atoms=float(se.mean() / UNIT))
        # runs whose VaR is on another atom than the exact one: ES carries the remainder
        stats["var_off_atom"] = float(np.mean(a[:, 0, 0] != var))
        stats["atom"] = float(b.law[round(var / UNIT)])
        stats["cdf_at_var"] = float(np.cumsum(b.law)[round(var / UNIT)])
        out[level] = stats
    out["cpu_s_per_run"] = cpu / (seeds * len(levels))
    return out


def _rmse_over_se(err: np.ndarray, se: np.ndarray) -> float:
    return float(np.sqrt(np.mean(err ** 2)) / se.mean())


def _bootstrap_spread(err: np.ndarray, se: np.ndarray, resamples: int = 1000) -> float:
    """Standard deviation of RMS error / mean SE over seeds resampled with replacement:
    how far the figure itself moves from one set of seeds to another."""
    pick = np.random.default_rng(0).integers(0, err.size, (resamples, err.size))
    return float(np.std(np.sqrt(np.mean(err[pick] ** 2, axis=1)) / se[pick].mean(axis=1)))


def show(out: dict) -> None:
    print(f"{out['book']:6s} {out['method']:19s} blocks {out['blocks']:3d} "
          f"levels {out['levels']} cpu/run {out['cpu_s_per_run']:.2f}s")
    for level in out["levels"]:
        s = out[level]
        print(f"  {level}: exact VaR {s['var']['exact'] / UNIT:g} units, "
              f"P(L = VaR) {s['atom']:.2e}, P(L <= VaR) {s['cdf_at_var']:.6f}")
        for name in ("var", "es", "tail"):
            d = s[name]
            print(f"    {name:4s} rmse/SE {d['rmse_over_se']:5.2f} "
                  f"±{d['rmse_over_se_spread']:4.2f} spread/SE {d['spread_over_se']:5.2f} "
                  f"|z|>2 {d['share_z_over_2']:5.1%} "
                  f"|z|>3 {d['share_z_over_3']:5.1%} max|z| {d['max_abs_z']:6.2f}"
                  + (f" max err {d['max_err_atoms']:.0f} atoms, mean SE "
                     f"{d['mean_se_atoms']:.2f} atoms" if name == "var" else ""))
        print(f"    VaR off the exact atom in {s['var_off_atom']:.1%} of the runs")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=32)
    ap.add_argument("--blocks", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--method", nargs="+", default=["monte_carlo", "importance_sampling"])
    ap.add_argument("--book", nargs="+", default=["one", "two", "three"], choices=sorted(BOOKS))
    ap.add_argument("--levels", type=float, nargs="+", default=list(LEVELS),
                    help="the levels each run asks for")
    ap.add_argument("--first-seed", type=int, default=1)
    args = ap.parse_args()
    levels = tuple(sorted(args.levels))
    for book in args.book:
        for method in args.method:
            for blocks in args.blocks:
                show(measure(book, method, args.seeds, blocks, args.first_seed, levels))


if __name__ == "__main__":
    main()
