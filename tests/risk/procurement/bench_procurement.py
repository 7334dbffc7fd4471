"""Benchmark: 100,000 scenarios of 50 cost items, 20 risk events, a 30-activity network
and a 10×10 rank-correlation block, beside the same cost model in probabilit 0.4.

Run: .venv/bin/pytest tests/risk/procurement/bench_procurement.py --benchmark-only \
     -p no:cacheprovider -s
"""

import time

import numpy as np
import pytest

from services.risk.engine.procurement import (
    Activity,
    CorrelationBlock,
    CostDistribution,
    CostItem,
    DistributionKind,
    DurationDistribution,
    NoveltyLevel,
    ProcurementKind,
    ProcurementModel,
    RiskEvent,
    estimate_procurement_risk,
)

K = DistributionKind
SCENARIOS = 100_000
N_COST, N_RISK, N_ACT, N_CORR = 50, 20, 30, 10


def cost_params():
    rng = np.random.default_rng(2024)
    out = []
    for i in range(N_COST):
        mode = int(rng.integers(50_000, 5_000_000))
        out.append(("pert" if i % 2 else "triangular", int(mode * 0.8), mode,
                    int(mode * (1.3 + rng.random()))))
    return out


def risk_params():
    rng = np.random.default_rng(7)
    return [(float(rng.uniform(0.02, 0.3)), int(rng.integers(10_000, 200_000)),
             int(rng.integers(200_000, 2_000_000))) for _ in range(N_RISK)]


def correlation_matrix():
    m = np.full((N_CORR, N_CORR), 0.3)
    np.fill_diagonal(m, 1.0)
    return m


def bench_model() -> ProcurementModel:
    items = tuple(CostItem(f"cost{i}", CostDistribution(
        K.PERT if kind == "pert" else K.TRIANGULAR, lo, mode, hi))
        for i, (kind, lo, mode, hi) in enumerate(cost_params()))
    rng = np.random.default_rng(3)
    acts = []
    for j in range(N_ACT):  # a layered network: each activity after 1–3 earlier ones
        preds = () if j < 3 else tuple(
            f"act{p}" for p in sorted(set(rng.integers(max(0, j - 6), j, size=3).tolist())))
        m = float(rng.uniform(5, 30))
        acts.append(Activity(f"act{j}", DurationDistribution(K.TRIANGULAR, 0.8 * m, m, 1.8 * m),
                             preds))
    risks = tuple(RiskEvent(f"risk{k}", p, CostDistribution(K.UNIFORM, minimum_cents=lo,
                                                             maximum_cents=hi),
                            DurationDistribution(K.TRIANGULAR, 1.0, 5.0, 20.0),
                            (f"act{(7 * k) % N_ACT}",))
                  for k, (p, lo, hi) in enumerate(risk_params()))
    corr = (CorrelationBlock(tuple(f"cost{i}" for i in range(N_CORR)),
                             tuple(correlation_matrix().ravel())),)
    return ProcurementModel(kind=ProcurementKind.PRE_COMMERCIAL_PROCUREMENT,
                            novelty=NoveltyLevel.NEW_IN_FINLAND, cost_items=items,
                            activities=tuple(acts), risk_events=risks, correlations=corr,
                            budget_cents=80_000_000, deadline_days=200.0)


def probabilit_cost_model():
    import probabilit as pb
    items = [(pb.PERT if kind == "pert" else pb.Triangular)(lo, mode, hi)
             for kind, lo, mode, hi in cost_params()]
    risks = [pb.Distribution("bernoulli", p) * pb.Uniform(lo, hi)
             for p, lo, hi in risk_params()]
    total = sum(items[1:] + risks, items[0])
    return total.correlate(*items[:N_CORR], corr_mat=correlation_matrix())


def run_probabilit(seed=1):
    return probabilit_cost_model().sample(SCENARIOS, random_state=seed,
                                          correlator="imanconover")


def test_bench_procurement_engine(benchmark):
    model = bench_model()
    start = time.perf_counter()
    reference = run_probabilit()
    probabilit_s = time.perf_counter() - start
    result = benchmark.pedantic(lambda: estimate_procurement_risk(
        model, scenarios=SCENARIOS, seed=1), rounds=3, iterations=1, warmup_rounds=1)
    engine_s = benchmark.stats.stats.min
    benchmark.extra_info.update(probabilit_cost_model_s=probabilit_s,
                                speedup_vs_probabilit=probabilit_s / engine_s)
    print(f"\nengine (full model, 100k): {engine_s:.3f} s; probabilit (cost model only, "
          f"100k, Iman-Conover): {probabilit_s:.3f} s; ratio {probabilit_s / engine_s:.1f}×")
    # same cost model, two engines: the means must agree within MC error
    se = result.total_cost_cents.mean.standard_error
    assert result.scenarios == SCENARIOS
    assert abs(float(np.mean(reference)) - result.total_cost_cents.mean.value) < 6 * se * 1.5 \
        or pytest.fail("means differ")


def test_bench_cost_only_triangular(benchmark):
    # the simplest case: independent triangular items, no schedule
    items = tuple(CostItem(f"c{i}", CostDistribution(K.TRIANGULAR, 80, 100, 200))
                  for i in range(50))
    model = ProcurementModel(kind=ProcurementKind.NEW_PRODUCT_OR_SERVICE,
                             novelty=NoveltyLevel.NEW_TO_SECTOR, cost_items=items,
                             budget_cents=6000)
    benchmark.pedantic(lambda: estimate_procurement_risk(model, scenarios=SCENARIOS, seed=1),
                       rounds=3, iterations=1, warmup_rounds=1)
