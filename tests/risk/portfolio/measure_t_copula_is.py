"""Are importance sampling's standard errors honest on Student-t copula books? Over many
seeds, per figure: RMS error against a long plain Monte Carlo reference / mean reported SE,
spread over the seeds / mean SE, and the share of runs beyond 3 (and 2) reported SEs; the
same for plain Monte Carlo, whose block count can be set for equal CPU. A measurement, not
a test:

    .venv/bin/python -m tests.risk.portfolio.measure_t_copula_is --book t4-one-1y \
        --method importance_sampling --blocks 16 --seeds 200
    .venv/bin/python -m tests.risk.portfolio.measure_t_copula_is --book t4-one-1y \
        --reference 16384      # the reference run (cached in --cache)

The factor shift moves the Gaussian factors but not the t copula's scale W (χ²_ν/ν), which
is shared by every guarantee: tail scenarios of a t book come mostly from small W, which
the shift does not make more likely, so they arrive rarely and with heavy weights that one
run's SE does not see.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from services.risk.engine.portfolio import (
    BLOCK_SCENARIOS,
    Dependence,
    Fund,
    Portfolio,
    merge_shards,
    sector_loadings,
    simulate_portfolio,
    simulate_shard,
)

LEVELS = (0.99, 0.999)


def _book_600(factors: int) -> Portfolio:
    # the 600-guarantee book of three sectors (Beta LGDs, caps, deductibles) on which the
    # EL SE was first seen to be understated
    rng = np.random.default_rng(2)
    n = 600
    sector = rng.integers(0, factors, n)
    exposure = rng.integers(100_000, 10_000_000, n)
    return Portfolio.from_arrays(
        exposure_cents=exposure,
        probability_of_default=np.exp(rng.uniform(np.log(0.001), np.log(0.05), n)),
        loss_given_default=rng.uniform(0.2, 0.8, n),
        loss_given_default_std=np.where(rng.random(n) < 0.5, 0.1, 0.0),
        guarantee_rate=rng.choice([0.5, 0.8], n),
        cap_cents=(exposure * rng.uniform(0.2, 0.6, n)).astype(np.int64),
        deductible_cents=rng.integers(0, 200_000, n),
        factor_loadings=sector_loadings(sector, 0.2, factors),
        sector=sector, sector_names=tuple(f"s{k}" for k in range(factors)))


def _book_one() -> Portfolio:
    rng = np.random.default_rng(3)
    n = 1000
    return Portfolio.from_arrays(
        exposure_cents=rng.integers(100_000, 10_000_000, n),
        probability_of_default=np.exp(rng.uniform(np.log(0.003), np.log(0.03), n)),
        loss_given_default=0.45, guarantee_rate=0.8,
        factor_loadings=np.full((n, 1), 0.4))


# name: (portfolio, dependence, fund); capitals near VaR 99.9 % (1 year: exhaustion is
# P(L > capital), a tail probability of about 0.1 %) or the fund's own (3 years, fees)
BOOKS = {
    "t4-one-1y": lambda: (_book_one(), Dependence.one_factor("student_t", 4.0),
                          Fund(capital_cents=710_000_000, annual_fee_income_cents=0)),
    "t10-sectors-cap-3y": lambda: (_book_600(3), Dependence(np.eye(3), "student_t", 10.0),
                                   Fund(capital_cents=4 * 10**7, horizon_years=3,
                                        portfolio_cap_rate=0.12,
                                        annual_fee_income_cents=10**6)),
    "t4-sectors-cap-1y": lambda: (_book_600(3), Dependence(np.eye(3), "student_t", 4.0),
                                  Fund(capital_cents=235_000_000, portfolio_cap_rate=0.125,
                                       annual_fee_income_cents=0)),
}


def figures(r) -> dict[str, tuple[float, float]]:
    out = {"EL": r.expected_loss_cents}
    for level in LEVELS:
        out[f"VaR{level * 100:g}"] = r.at(level).value_at_risk_cents
    out["ES99.9"] = r.at(0.999).expected_shortfall_cents
    for year, e in enumerate(r.exhaustion_probability_by_year, 1):
        out[f"P(exh y{year})"] = e
    return {k: (e.value, e.standard_error) for k, e in out.items()}


def reference(book: str, blocks: int, cache: str) -> dict:
    refs = json.loads(Path(cache).read_text()) if os.path.exists(cache) else {}
    if book in refs and refs[book]["blocks"] >= blocks:
        return refs[book]
    p, dep, fund = BOOKS[book]()
    t = time.process_time()
    r = simulate_portfolio(p, fund, dep, seed=10**6, method="monte_carlo",
                           scenarios=blocks * BLOCK_SCENARIOS, levels=LEVELS)
    refs[book] = {"blocks": blocks, "cpu_s": time.process_time() - t,
                  "figures": figures(r), "cap": r.portfolio_cap_cents}
    Path(cache).write_text(json.dumps(refs, indent=1))
    return refs[book]


def run(p, fund, dep, seed: int, method: str, blocks: int):
    """One run of ``blocks`` blocks. Through a shard: ``simulate_portfolio`` refuses
    importance sampling on the t copula (``check_model_method``); one shard of every block
    is the same run bit for bit."""
    return merge_shards([simulate_shard(p, fund, dep, seed=seed, block_range=(0, blocks),
                                        method=method, levels=LEVELS)])


def measure(book: str, method: str, blocks: int, seeds: int, ref: dict) -> None:
    p, dep, fund = BOOKS[book]()
    run(p, fund, dep, 0, method, 1)  # compiled before the clock starts
    rows, cpu = [], 0.0
    for seed in range(1, seeds + 1):
        t = time.process_time()
        r = run(p, fund, dep, seed, method, blocks)
        cpu += time.process_time() - t
        rows.append(figures(r))
    print(f"{book} {method} {blocks} blocks x {seeds} seeds, cpu/run {cpu / seeds:.3f} s "
          f"(reference: plain MC {ref['blocks']} blocks)")
    for name, (exact, ref_se) in ref["figures"].items():
        v = np.array([row[name][0] for row in rows])
        se = np.array([row[name][1] for row in rows])
        if se.mean() == 0:
            print(f"  {name:12s} SE 0 (exact: {v.mean():.6g} vs reference {exact:.6g})")
            continue
        err = v - exact
        z = np.abs(err) / np.where(se > 0, se, np.nan)
        z = np.where(se > 0, z, np.where(err != 0, np.inf, 0.0))
        pick = np.random.default_rng(0).integers(0, seeds, (1000, seeds))
        boot = np.sqrt(np.mean(err[pick] ** 2, 1)) / se[pick].mean(1)
        print(f"  {name:12s} ref {exact:.6g} (ref SE/mean SE {ref_se / se.mean():.3f}) "
              f"RMSerr/SE {np.sqrt(np.mean(err**2)) / se.mean():5.2f} "
              f"[{np.quantile(boot, .025):.2f}, {np.quantile(boot, .975):.2f}] "
              f"spread/SE {v.std(ddof=1) / se.mean():5.2f} bias/SE {err.mean() / se.mean():+.2f} "
              f"|z|>2 {np.mean(z > 2):5.1%} |z|>3 {np.mean(z > 3):5.1%} "
              f"SE 0 {np.mean(se == 0):4.1%} "
              f"var x cpu {np.mean(err**2) * cpu / seeds:.3g}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--book", required=True, choices=sorted(BOOKS))
    ap.add_argument("--method", default="importance_sampling")
    ap.add_argument("--blocks", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--reference", type=int, default=16384, help="plain MC blocks")
    ap.add_argument("--cache", default="var/t_copula_reference.json")
    ap.add_argument("--reference-only", action="store_true")
    args = ap.parse_args()
    ref = reference(args.book, args.reference, args.cache)
    if args.reference_only:
        print(args.book, json.dumps(ref))
        return
    measure(args.book, args.method, args.blocks, args.seeds, ref)


if __name__ == "__main__":
    main()
