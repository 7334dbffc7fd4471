"""Bias and honesty of the early-stopped mean for a heavy-tailed cost item.

Not collected by pytest (no test_ prefix). Run (minutes with 1,000 seeds):
    .venv/bin/python -m tests.risk.procurement.measure_heavy_tail_bias [seeds [name part]]

For each model (one lognormal cost item given by p10/p90, alone or beside the common
case's items): over many seeds, the early-stopped mean's deviation from the exact mean
(mg.mean_and_variance of every marginal, summed, plus p·E[impact]) as a share of the
exact mean, ± its standard error (sd of the per-seed means / √seeds), z; the stopping
point in blocks; the mean reported SE (as estimate_procurement_risk reports it: the
larger of the rule's √(V/n) and the sample's own) against
  * the empirical SD of the stopped means across seeds ("SE/SD"), and
  * the exact SE of a fixed-size run of the same length, sd/√n ("SE/exact", mean over
    seeds of the ratio: below 1 means the run thinks it is more precise than it is);
and the coverage of mean ± 1.96 reported SE (95 % if honest).

simulate() rather than estimate_procurement_risk: the same mean (the plain mean of the
same scenarios) and the same reported SE, without the summary's cost.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from services.risk.engine.procurement import (
    BLOCK_SCENARIOS,
    CostDistribution,
    CostItem,
    DistributionKind,
    NoveltyLevel,
    Phase,
    ProcurementKind,
    ProcurementModel,
    RiskEvent,
)
from services.risk.engine.procurement import marginals as mg
from services.risk.engine.procurement.plan import compile_model
from services.risk.engine.procurement.simulation import simulate

K = DistributionKind
MEDIAN = 100_000_000  # 1 M€ median of the heavy item


def heavy_item(ratio: float, median: int = MEDIAN) -> CostItem:
    p10 = round(median / math.sqrt(ratio))
    return CostItem("heavy", CostDistribution(K.LOGNORMAL, p10_cents=p10,
                                              p90_cents=round(p10 * ratio)))


def alone(ratio: float) -> ProcurementModel:
    return ProcurementModel(ProcurementKind.NEW_PRODUCT_OR_SERVICE, NoveltyLevel.NEW_TO_SECTOR,
                            (heavy_item(ratio),), 1, phases=(Phase("d", 1, 1.0),))


def with_common(ratio: float) -> ProcurementModel:
    # the heavy item beside a 1.5 M€-median PERT, a triangular and a 30 % event
    items = (CostItem("a", CostDistribution(K.PERT, 100_000_000, 150_000_000, 300_000_000)),
             CostItem("b", CostDistribution(K.TRIANGULAR, 40_000_000, 50_000_000, 120_000_000)),
             heavy_item(ratio))
    ev = (RiskEvent("late", 0.3, CostDistribution(K.TRIANGULAR, 1_000_000, 4_000_000,
                                                  10_000_000)),)
    return ProcurementModel(ProcurementKind.NEW_PRODUCT_OR_SERVICE, NoveltyLevel.NEW_TO_SECTOR,
                            items, 1, risk_events=ev, phases=(Phase("d", 1, 1.0),))


def exact_moments(plan) -> tuple[float, float]:
    """Exact mean and SD of total cost (all items always spent, no copula here)."""
    mean = var = 0.0
    for m in plan.cost_marginals:
        e, v = mg.mean_and_variance(m)
        mean, var = mean + e, var + v
    for occ, imp in zip(plan.risk_occurrence, plan.risk_impacts, strict=True):
        p = occ.params[0]
        e, v = mg.mean_and_variance(imp)
        mean, var = mean + p * e, var + p * v + p * (1 - p) * e * e
    return mean, math.sqrt(var)


def cases(ratios):
    for ratio in ratios:
        for label, build in (("alone", alone), ("+common", with_common)):
            for blocks in (12, 40):
                yield f"p90/p10={ratio:g} {label} target@{blocks}", build(ratio), blocks


def measure(plan, blocks, seeds, first_seed):
    mean, sd = exact_moments(plan)
    target = sd / math.sqrt(blocks * BLOCK_SCENARIOS)
    values, reported, exact_ratio, stop = [], [], [], []
    for seed in range(first_seed, first_seed + seeds):
        run = simulate(plan, scenarios=400 * BLOCK_SCENARIOS, seed=seed,
                       chunk_scenarios=2 * BLOCK_SCENARIOS, target_standard_error_cents=target)
        x = run.total_cost_cents
        n = len(x)
        se = max(run.model_standard_error_cents, float(x.std(ddof=1)) / math.sqrt(n))
        values.append(float(x.mean()))
        reported.append(se)
        exact_ratio.append(se / (sd / math.sqrt(n)))
        stop.append(n // BLOCK_SCENARIOS)
    v, rep = np.array(values), np.array(reported)
    bias = (v.mean() - mean) / mean
    bias_se = v.std(ddof=1) / math.sqrt(seeds) / mean
    cover = float(np.mean(np.abs(v - mean) <= 1.96 * rep))
    return dict(target=target, bias=bias, bias_se=bias_se, z=bias / bias_se,
                se_over_sd=float(rep.mean() / v.std(ddof=1)),
                se_over_exact=float(np.mean(exact_ratio)),
                median_se_over_exact=float(np.median(exact_ratio)),
                cover=cover, blocks=float(np.mean(stop)), bmin=min(stop), bmax=max(stop))


def main(seeds: int, only: str = "", ratios=(5, 20, 100, 1000)) -> None:
    for case, (name, model, blocks) in enumerate(cases(ratios)):
        if only not in name:
            continue
        plan = compile_model(model)
        start = time.perf_counter()
        r = measure(plan, blocks, seeds, first_seed=7_000_000 + case * 1_000_000)
        print(f"{name:36s} bias {r['bias']:+.3%} ± {r['bias_se']:.3%} (z {r['z']:+5.1f})  "
              f"SE/SD {r['se_over_sd']:.2f}  SE/exact mean {r['se_over_exact']:.2f} "
              f"median {r['median_se_over_exact']:.2f}  cover95 {r['cover']:.1%}  "
              f"blocks {r['blocks']:5.1f} [{r['bmin']}, {r['bmax']}]  "
              f"({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000, *sys.argv[2:3])
