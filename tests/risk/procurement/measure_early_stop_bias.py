"""Measure the bias of early-stopped mean total cost against the model's closed form.

Not collected by pytest (no test_ prefix). Run (a few minutes with 2,000 seeds):
    .venv/bin/python -m tests.risk.procurement.measure_early_stop_bias [seeds [name part]]

For each model: the mean over many seeds of the early-stopped estimate, minus the
closed-form mean, as a share of it (for a rare phase failure: as a share of P(failure)
× the cost it drops, the part of the mean the failures carry); ± its standard error
(sample sd of the per-seed estimates / √seeds); the mean and range of the stopping
point in blocks; and the share of runs whose reported SE ended above the target.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import replace

import numpy as np

from services.risk.engine.procurement import (
    BLOCK_SCENARIOS,
    CorrelationBlock,
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

K = DistributionKind


def rare_event_model(p: float, impact_cents: int,
                     base: CostDistribution | None = None) -> ProcurementModel:
    base = base or CostDistribution(K.FIXED, mode_cents=10_000_000)
    items = (CostItem("base", base),)
    ev = (RiskEvent("big", p, CostDistribution(K.FIXED, mode_cents=impact_cents)),)
    return ProcurementModel(ProcurementKind.NEW_PRODUCT_OR_SERVICE, NoveltyLevel.NEW_TO_SECTOR,
                            items, 1, risk_events=ev, phases=(Phase("d", 1, 1.0),))


def rare_failure_model(p: float, jump_cents: int,
                       base: CostDistribution | None = None) -> ProcurementModel:
    """Three suppliers, each failing with p^(1/3): the procurement fails with p, and
    then the delivery (``jump_cents``, spent only on success) is not bought."""
    base = base or CostDistribution(K.FIXED, mode_cents=10_000_000)
    items = (CostItem("base", base),
             CostItem("delivery", CostDistribution(K.FIXED, mode_cents=jump_cents),
                      only_on_success=True))
    phases = (Phase("d", 3, 1.0 - p ** (1.0 / 3.0)),)
    return ProcurementModel(ProcurementKind.NEW_PRODUCT_OR_SERVICE, NoveltyLevel.NEW_TO_SECTOR,
                            items, 1, phases=phases)


def phased_model() -> ProcurementModel:
    # Frequent failures (not rare), a cost in each incurrence: one supplier per phase,
    # so phase c is reached with Π_{j<c} q_j.
    items = (CostItem("a", CostDistribution(K.PERT, 1_000_000, 1_300_000, 2_500_000)),
             CostItem("proto", CostDistribution(K.TRIANGULAR, 400_000, 500_000, 1_200_000),
                      phase="proto"),
             CostItem("rollout", CostDistribution(K.LOGNORMAL, p10_cents=200_000,
                                                  p90_cents=600_000), only_on_success=True))
    phases = (Phase("design", 1, 0.8), Phase("proto", 1, 0.7))
    return ProcurementModel(ProcurementKind.NEW_PRODUCT_OR_SERVICE, NoveltyLevel.NEW_TO_SECTOR,
                            items, 1, phases=phases)


def target_for_blocks(sd_cents: float, blocks: float) -> float:
    """The target SE that a run of ``blocks`` blocks reaches on average."""
    return sd_cents / math.sqrt(blocks * BLOCK_SCENARIOS)


def common_model() -> ProcurementModel:
    # No rare events: three skewed items and a 30 % event, as in a typical request.
    items = (CostItem("a", CostDistribution(K.PERT, 1_000_000, 1_300_000, 2_500_000)),
             CostItem("b", CostDistribution(K.TRIANGULAR, 400_000, 500_000, 1_200_000)),
             CostItem("c", CostDistribution(K.LOGNORMAL, p10_cents=200_000,
                                            p90_cents=600_000)))
    ev = (RiskEvent("late", 0.3, CostDistribution(K.TRIANGULAR, 10_000, 40_000, 100_000)),)
    return ProcurementModel(ProcurementKind.NEW_PRODUCT_OR_SERVICE, NoveltyLevel.NEW_TO_SECTOR,
                            items, 1, risk_events=ev, phases=(Phase("d", 1, 1.0),))


def cases():
    tri = CostDistribution(K.TRIANGULAR, 5_000_000, 10_000_000, 20_000_000)
    for p, impact, blocks, base in ((0.001, 10**10, 12, None), (0.002, 10**10, 12, None),
                                    (0.005, 10**9, 12, None), (0.0005, 4 * 10**9, 12, None),
                                    (0.001, 10**10, 12, tri)):
        model = rare_event_model(p, impact, base)
        base_mean = 10_000_000 if base is None else (5e6 + 10e6 + 20e6) / 3
        base_var = 0.0 if base is None else (5e6**2 + 10e6**2 + 20e6**2 - 5e6 * 10e6 - 5e6 * 20e6
                                             - 10e6 * 20e6) / 18
        mean = base_mean + p * impact  # E[cost] = E[base] + p·E[impact]
        sd = math.sqrt(base_var + p * (1 - p) * impact**2)
        name = f"p={p} impact={impact:.0e}" + (" base=triangular" if base else "")
        yield name, model, mean, target_for_blocks(sd, blocks), mean
        if base is not None:
            # the same with the event's occurrence rank-correlated 0.5 with the base:
            # the copula keeps the marginals, so the mean is the same; the SD a little
            # higher (the target stays, so runs are a bit longer)
            corr = (CorrelationBlock(("base", "big"), (1, 0.5, 0.5, 1)),)
            yield name + " copula 0.5", replace(model, correlations=corr), mean, \
                target_for_blocks(sd, blocks), mean
    # common case: closed-form mean (PERT (a+4m+b)/6, triangular (a+m+b)/3, lognormal
    # median·exp(σ²/2)), target from a long run's SD
    sigma = (math.log(600_000) - math.log(200_000)) / (2 * 1.2815515655446004)
    mean = ((1_000_000 + 4 * 1_300_000 + 2_500_000) / 6 + (400_000 + 500_000 + 1_200_000) / 3
            + math.sqrt(200_000 * 600_000) * math.exp(sigma**2 / 2) + 0.3 * 50_000)
    sd = estimate_procurement_risk(common_model(), scenarios=400_000, seed=1
                                   ).total_cost_cents.standard_deviation.value
    yield "common case (no rare event)", common_model(), mean, target_for_blocks(sd, 12), mean
    # the same three costs behind phase gates passed with 0.8 and 0.7 (failures common):
    # E = E[a] + 0.8·E[proto] + 0.56·E[rollout]
    mean = ((1_000_000 + 4 * 1_300_000 + 2_500_000) / 6 + 0.8 * (400_000 + 500_000 + 1_200_000) / 3
            + 0.56 * math.sqrt(200_000 * 600_000) * math.exp(sigma**2 / 2))
    sd = estimate_procurement_risk(phased_model(), scenarios=400_000, seed=1
                                   ).total_cost_cents.standard_deviation.value
    yield "common case, phases 0.8 / 0.7", phased_model(), mean, target_for_blocks(sd, 12), \
        mean
    # rare, costly failures: E = E[base] + (1 − p)·jump, Var = Var(base) + p(1 − p)·jump²;
    # the bias is reported as a share of p·jump
    for p, jump, base in ((0.001, 10**10, None), (0.0002, 10**10, None), (0.001, 10**10, tri)):
        base_mean = 10_000_000 if base is None else (5e6 + 10e6 + 20e6) / 3
        base_var = 0.0 if base is None else (5e6**2 + 10e6**2 + 20e6**2 - 5e6 * 10e6 - 5e6 * 20e6
                                             - 10e6 * 20e6) / 18
        sd = math.sqrt(base_var + p * (1 - p) * jump**2)
        name = f"failure p={p} drops {jump:.0e}" + (" base=triangular" if base else "")
        yield name, rare_failure_model(p, jump, base), base_mean + (1 - p) * jump, \
            target_for_blocks(sd, 12), p * jump


def measure(model, mean, target, seeds, first_seed, scale):
    values, blocks, over = [], [], 0
    for seed in range(first_seed, first_seed + seeds):
        # small chunks: the default one draws ~200 blocks of so small a model before
        # the first stopping check (results do not depend on the chunk)
        r = estimate_procurement_risk(model, scenarios=400 * BLOCK_SCENARIOS, seed=seed,
                                      target_standard_error_cents=target,
                                      chunk_scenarios=2 * BLOCK_SCENARIOS)
        values.append(r.total_cost_cents.mean.value)
        blocks.append(r.scenarios // BLOCK_SCENARIOS)
        over += r.total_cost_cents.mean.standard_error > target
    v = np.array(values)
    bias = (v.mean() - mean) / scale
    se = v.std(ddof=1) / math.sqrt(seeds) / scale
    return bias, se, np.mean(blocks), min(blocks), max(blocks), over / seeds


def main(seeds: int, only: str = "") -> None:
    for case, (name, model, mean, target, scale) in enumerate(cases()):
        if only not in name:
            continue
        start = time.perf_counter()
        # seeds apart for each model: with the same seed, two models draw the same
        # uniforms, so their errors would be correlated
        bias, se, b_mean, b_min, b_max, over = measure(model, mean, target, seeds,
                                                       first_seed=case * 1_000_000,
                                                       scale=scale)
        print(f"{name:44s} target {target:11.4g}  bias {bias:+.3%} ± {se:.3%} "
              f"(z {bias / se:+.1f})  blocks {b_mean:5.1f} [{b_min}, {b_max}]  "
              f"SE > target {over:.0%}  ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000, *sys.argv[2:3])
