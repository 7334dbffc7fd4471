"""Semi-analytic VaR/ES and their error estimates against the exact law, on lumpy books
(a few large sizes with no common unit of a lattice unit) and smooth ones.

Not collected by pytest (no test_ prefix). Run (about a minute; exact laws are cached
in the system's temporary folder, ijh_exact_laws/):
    .venv/bin/python -m tests.risk.portfolio.measure_semi_analytic_errors [tag [books]]

Per figure: the true relative error (engine − exact) / exact in %, the reported error
estimate in %, and their ratio (above 1: the estimate under-reads, marked !).
The exact law: ``exact_laws.one_factor_lattice_pmf`` on the common 1e4-cent lattice.
"""
from __future__ import annotations

import math
import os
import sys
import tempfile

import numpy as np

from services.risk.engine.portfolio import Dependence, Fund, Portfolio, analytic, simulate_portfolio
from tests.risk.portfolio.exact_laws import one_factor_lattice_pmf, var_es_of_lattice

LEVELS = (0.99, 0.995, 0.999)
CACHE = os.path.join(tempfile.gettempdir(), "ijh_exact_laws")
os.makedirs(CACHE, exist_ok=True)


def book(name, groups, rho, quantum=10_000, pd=None):
    """groups: list of (count, amount_cents, pd)."""
    amt = np.concatenate([np.full(n, a, np.int64) for n, a, _ in groups])
    pds = np.concatenate([np.full(n, p) for n, _, p in groups]) if pd is None else pd
    return dict(name=name, amount=amt, pd=pds, rho=rho, quantum=quantum)


def smooth(name, n, lo, hi, pd_lo, pd_hi, rho, seed, quantum=10_000):
    rng = np.random.default_rng(seed)
    amt = rng.integers(lo, hi + 1, n).astype(np.int64) * quantum
    pds = np.exp(rng.uniform(math.log(pd_lo), math.log(pd_hi), n))
    return dict(name=name, amount=amt, pd=pds, rho=rho, quantum=quantum)


BOOKS = [
    book("L1 40x1e6+40x1.37e6 pd10 r.2", [(40, 1_000_000, .10), (40, 1_370_000, .10)], .2),
    book("L2 100x1e6+100x1.73e6 pd2 r.15", [(100, 1_000_000, .02), (100, 1_730_000, .02)], .15),
    book("L3 20x1e6+20x1.37e6+10x2.91e6 pd5 r.3",
         [(20, 1_000_000, .05), (20, 1_370_000, .05), (10, 2_910_000, .05)], .3),
    book("L4 60x1e6+60x1.41e6 pd3 r.1", [(60, 1_000_000, .03), (60, 1_410_000, .03)], .1),
    book("L5 30x2e6+30x1.13e6 pd8 r.25", [(30, 2_000_000, .08), (30, 1_130_000, .08)], .25),
    book("L6 150x1e6+50x2.37e6 pd1 r.2", [(150, 1_000_000, .01), (50, 2_370_000, .01)], .2),
    book("L7 25x1e6+25x1.29e6+25x1.61e6 pd6 r.15",
         [(25, 1_000_000, .06), (25, 1_290_000, .06), (25, 1_610_000, .06)], .15),
    book("L8 80x1e6+80x1.37e6 pd1 r.3", [(80, 1_000_000, .01), (80, 1_370_000, .01)], .3),
    book("L9 50x1e6+50x1.53e6 pd4 r.2", [(50, 1_000_000, .04), (50, 1_530_000, .04)], .2),
    book("L10 40x1e6 pd1 + 40x1.37e6 pd10 r.2", [(40, 1_000_000, .01), (40, 1_370_000, .10)], .2),
    book("L11 20x1e6+20x1.17e6 pd10 r.1", [(20, 1_000_000, .10), (20, 1_170_000, .10)], .1),
    book("L12 120x1e6+60x1.37e6+20x3.11e6 pd2 r.25",
         [(120, 1_000_000, .02), (60, 1_370_000, .02), (20, 3_110_000, .02)], .25),
    smooth("S1 300 x U[20,200]e4 pd1-5 r.15", 300, 20, 200, .01, .05, .15, 1),
    smooth("S2 150 x U[50,500]e4 pd1-5 r.2", 150, 50, 500, .01, .05, .2, 2),
    smooth("S3 500 x U[10,100]e4 pd.5-3 r.1", 500, 10, 100, .005, .03, .1, 3),
    smooth("S4 60 x U[50,300]e4 pd2-10 r.25", 60, 50, 300, .02, .10, .25, 4),
]

_last = {}
_orig = analytic.one_factor_loss_distribution


def _capture(*a, **k):
    d = _orig(*a, **k)
    _last["dist"] = d
    return d


analytic.one_factor_loss_distribution = _capture


def run(b):
    n = b["amount"].size
    key = f"{CACHE}/{b['name'].split()[0]}.npy"
    if os.path.exists(key):
        pmf = np.load(key)
    else:
        pmf = one_factor_lattice_pmf(b["amount"] // b["quantum"], b["pd"],
                                     math.sqrt(b["rho"]))
        np.save(key, pmf)
    port = Portfolio.from_arrays(exposure_cents=b["amount"],
                                 probability_of_default=b["pd"], loss_given_default=1.0,
                                 factor_loadings=np.full(n, math.sqrt(b["rho"])))
    res = simulate_portfolio(port, Fund(capital_cents=10**15), Dependence.one_factor(),
                             seed=0, levels=LEVELS)
    assert res.method == "semi_analytic"
    dist = _last["dist"]
    rows = []
    for q in LEVELS:
        ev, ee = var_es_of_lattice(pmf, q, b["quantum"])
        got = res.at(q)
        for fig, est, exact in (("VaR", got.value_at_risk_cents, ev),
                                ("ES", got.expected_shortfall_cents, ee)):
            true = (est.value - exact) / exact
            rel = est.standard_error / exact
            rows.append((fig, q, true, rel, abs(true) / rel if rel > 0 else math.inf))
    return dist, res, rows


def main():
    tag = sys.argv[1] if len(sys.argv) > 1 else ""
    only = sys.argv[2].split(",") if len(sys.argv) > 2 else None
    n_bad = n_fig = 0
    worst = 0.0
    smooth_infl = []
    print(f"== scan {tag}")
    print(f"{'book':44s} {'unit/q':>7s} pass | " + " | ".join(
        f"{f}{q*100:g}: true% est% r" for q in LEVELS for f in ("V", "E")))
    for b in BOOKS:
        if only and b["name"].split()[0] not in only:
            continue
        dist, res, rows = run(b)
        unit = dist.loss_unit
        passinfo = res.notes[1].split(":")[0] if len(res.notes) > 1 else ""
        cells = []
        for _fig, _q, true, rel, ratio in rows:
            n_fig += 1
            flag = "!" if ratio > 1 else " "
            if ratio > 1:
                n_bad += 1
            worst = max(worst, ratio)
            if b["name"].startswith("S"):
                smooth_infl.append(rel / max(abs(true), 1e-12))
            cells.append(f"{true*100:+.3f} {rel*100:.3f} {ratio:.2f}{flag}")
        print(f"{b['name']:44s} {unit / b['quantum']:7.2f} {passinfo:6s} | " + " | ".join(cells),
              flush=True)
    print(f"figures with true > estimate: {n_bad}/{n_fig}; worst ratio {worst:.2f}")


if __name__ == "__main__":
    main()
