"""The total cost's standard deviation with a heavy-tailed cost item, over seeds.

Not collected by pytest (no test_ prefix). Run (about a minute with 400 seeds):
    .venv/bin/python -m tests.risk.procurement.measure_heavy_tail_sd [seeds [name part]]

For each model (one lognormal given by P90/P10, alone, or at a tenth of its size beside a
PERT spent only on success, a triangular, a 30 % risk event and a phase two suppliers
pass with 0.7 each),
estimate_procurement_risk at 20,000 scenarios per seed: the reported SD's mean and
median against the exact SD (every part independent, so the variances add; a spend
only on success, probability q, has variance q·E[X²] − q²E[X]²), its RMS error against
the exact SD, the RMS reported SE, RMSE/SE (≈ 1 if the SE is honest) and the share of
seeds more than 3 reported SE off.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from services.risk.engine.procurement import (
    CostDistribution,
    CostItem,
    DistributionKind,
    NoveltyLevel,
    Phase,
    ProcurementKind,
    ProcurementModel,
    RiskEvent,
    estimate_procurement_risk,
)
from services.risk.engine.procurement import marginals as mg
from services.risk.engine.procurement.plan import compile_model
from services.risk.engine.procurement.simulation import failure_distribution
from tests.risk.procurement.measure_heavy_tail_bias import MEDIAN, alone, heavy_item

K = DistributionKind
SCENARIOS = 20_000


def mixed(ratio: float) -> ProcurementModel:
    """The heavy item (0.1 M€ median: at P90/P10 = 20 the light items' sampled variance
    is a quarter of the total) beside light items, one spent only on success, a risk
    event and a phase that fails with probability 0.09."""
    items = (CostItem("a", CostDistribution(K.PERT, 100_000_000, 150_000_000, 300_000_000),
                      only_on_success=True),
             CostItem("b", CostDistribution(K.TRIANGULAR, 40_000_000, 50_000_000, 120_000_000)),
             heavy_item(ratio, MEDIAN // 10))
    ev = (RiskEvent("late", 0.3, CostDistribution(K.TRIANGULAR, 10_000_000, 40_000_000,
                                                  100_000_000)),)
    return ProcurementModel(ProcurementKind.NEW_PRODUCT_OR_SERVICE, NoveltyLevel.NEW_TO_SECTOR,
                            items, 1, risk_events=ev, phases=(Phase("d", 2, 0.7),))


def exact_sd(model: ProcurementModel) -> float:
    """Exact SD of total cost for models without correlations: items always spent or
    only on success, independent events."""
    plan = compile_model(model)
    q = 1.0 - float(failure_distribution(plan.phase_suppliers,
                                         plan.phase_pass_probabilities).sum())
    var = 0.0
    for m, item in zip(plan.cost_marginals, model.cost_items, strict=True):
        e, v = mg.mean_and_variance(m)
        w = q if item.only_on_success else 1.0
        var += w * (v + e * e) - (w * e) ** 2
    for occ, imp in zip(plan.risk_occurrence, plan.risk_impacts, strict=True):
        p = occ.params[0]
        e, v = mg.mean_and_variance(imp)
        var += p * v + p * (1 - p) * e * e
    return math.sqrt(var)


def measure(model: ProcurementModel, seeds: int, first_seed: int = 0) -> dict:
    exact = exact_sd(model)
    values, errors = [], []
    for seed in range(first_seed, first_seed + seeds):
        sd = estimate_procurement_risk(model, scenarios=SCENARIOS, seed=seed
                                       ).total_cost_cents.standard_deviation
        values.append(sd.value)
        errors.append(sd.standard_error)
    v, e = np.array(values), np.array(errors)
    rmse = math.sqrt(float(np.mean((v - exact) ** 2)))
    rms_se = math.sqrt(float(np.mean(e * e)))
    return dict(exact=exact, mean=float(v.mean()), median=float(np.median(v)),
                bias_se=float(v.std(ddof=1)) / math.sqrt(seeds), rmse=rmse, rms_se=rms_se,
                ratio=rmse / rms_se if rms_se > 0 else math.inf if rmse > 0 else 1.0,
                off3=float(np.mean(np.abs(v - exact) > 3 * e)))


def main(seeds: int, only: str = "") -> None:
    for ratio in (20, 100):
        for label, build in (("alone", alone), ("mixed", mixed)):
            name = f"p90/p10={ratio} {label}"
            if only not in name:
                continue
            start = time.perf_counter()
            r = measure(build(ratio), seeds)
            x = r["exact"]
            print(f"{name:20s} exact SD {x:.4g}  mean {r['mean'] / x:.4f}x "
                  f"(± {r['bias_se'] / x:.4f})  median {r['median'] / x:.3f}x  "
                  f"RMSE {r['rmse'] / x:.3g}x  RMS SE {r['rms_se'] / x:.3g}x  "
                  f"RMSE/SE {r['ratio']:.2f}  |z|>3 {r['off3']:.1%}  "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400, *sys.argv[2:3])
