"""Portfolio engine benchmarks. Run: .venv/bin/pytest tests/risk/portfolio/bench_portfolio.py -s

Each figure is a ratio against the plain vectorised numpy Monte Carlo
(tests/risk/portfolio/portfolio_baseline.py) measured in the same run. Figures go to
``benchmark.extra_info`` and stdout; accuracy and memory are asserted, times are not.
"""

import time
import tracemalloc

import numpy as np
import pytest

from services.risk.engine.portfolio import (
    BLOCK_SCENARIOS,
    Dependence,
    Fund,
    Portfolio,
    sector_loadings,
    simulate_portfolio,
)
from services.risk.engine.portfolio import montecarlo as mc
from tests.risk.portfolio.portfolio_baseline import empirical_var_es, numpy_fund_losses

pytestmark = pytest.mark.bench


def _one_factor(n, seed=0):
    rng = np.random.default_rng(seed)
    return Portfolio.from_arrays(
        exposure_cents=rng.integers(1_000_000, 50_000_000, n),
        probability_of_default=rng.uniform(0.002, 0.03, n), loss_given_default=0.45,
        factor_loadings=np.full((n, 1), np.sqrt(0.2)))


def _ten_factor(n, seed=0):
    rng = np.random.default_rng(seed)
    f = 10
    sigma = 0.3 * np.ones((f, f)) + 0.7 * np.eye(f)
    sector = rng.integers(0, f, n)
    p = Portfolio.from_arrays(
        exposure_cents=rng.integers(1_000_000, 50_000_000, n),
        probability_of_default=rng.choice([0.002, 0.005, 0.01, 0.02], n),
        loss_given_default=0.45, factor_loadings=sector_loadings(sector, 0.5, f), sector=sector,
        sector_names=tuple(f"s{k}" for k in range(f)))
    return p, Dependence(sigma)


def _numpy_rate(p: Portfolio, sigma, scenarios=4000):
    """Guarantee-scenarios per second of the numpy baseline, and its losses."""
    t = time.perf_counter()
    loss = numpy_fund_losses(p.exposure_cents, p.probability_of_default, p.loss_given_default,
                             p.factor_loadings, sigma, scenarios=scenarios, seed=1)
    return p.size * scenarios / (time.perf_counter() - t), loss


def _report(benchmark, **figures):
    benchmark.extra_info.update(figures)
    print("\n" + "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in figures.items()))


def test_bench_one_factor_10k_var_es_999(benchmark):
    """One factor, 10,000 guarantees: VaR/ES 99.9 % (auto → semi-analytic) within 0.5 % of a
    high-precision reference (the same law with 4x the nodes and a 4x finer lattice)."""
    from services.risk.engine.portfolio import analytic

    p = _one_factor(10_000)
    fund = Fund(capital_cents=0)
    result = benchmark.pedantic(lambda: simulate_portfolio(
        p, fund, Dependence.one_factor(), seed=0, levels=(0.999,)), rounds=3, iterations=1)
    payout = 0.45 * p.exposure_cents
    ref = analytic.one_factor_loss_distribution(
        payout, p.probability_of_default, p.factor_loadings[:, 0], levels=(0.999,),
        quadrature_nodes=96, lattice_points_per_var=8000, estimate_errors=False)
    ref_var, ref_es = ref.value_at_risk(0.999).value, ref.expected_shortfall(0.999).value
    got = result.at(0.999)
    rate, loss = _numpy_rate(p, np.ones((1, 1)))
    # numpy MC needs ~N scenarios for a 0.5 % ES SE at 99.9 %: scale its SE from this run.
    _, es_np = empirical_var_es(loss, 0.999)
    tail = np.sort(loss)[-max(1, loss.size // 1000):]
    rel_se = np.std(tail) / es_np / np.sqrt(tail.size)
    needed = loss.size * (rel_se / 0.005) ** 2
    numpy_seconds = needed * p.size / rate
    seconds = benchmark.stats.stats.mean
    _report(benchmark, method=result.method, seconds=seconds,
            var_rel_err=abs(got.value_at_risk_cents.value / ref_var - 1),
            es_rel_err=abs(got.expected_shortfall_cents.value / ref_es - 1),
            numpy_mc_seconds_for_0_5pct=numpy_seconds, speedup_vs_numpy=numpy_seconds / seconds)
    assert abs(got.value_at_risk_cents.value / ref_var - 1) < 0.005
    assert abs(got.expected_shortfall_cents.value / ref_es - 1) < 0.005


def test_bench_ten_factor_importance_sampling(benchmark):
    """Ten factors, 10,000 guarantees, 99.9 %: CPU time for equal SE, plain MC / IS
    (work-normalised variance SE² x seconds)."""
    p, dep = _ten_factor(10_000)
    fund = Fund(capital_cents=0)

    def run(method, scenarios):
        t = time.perf_counter()
        r = simulate_portfolio(p, fund, dep, seed=5, method=method, scenarios=scenarios,
                               levels=(0.999,))
        return r, time.perf_counter() - t

    simulate_portfolio(p, fund, dep, seed=5, method="monte_carlo", scenarios=1)  # warm-up
    plain, t_plain = run("monte_carlo", 64 * BLOCK_SCENARIOS)
    shifted, t_is = benchmark.pedantic(lambda: run("importance_sampling", 8 * BLOCK_SCENARIOS),
                                       rounds=1, iterations=1)
    figures = {}
    for name in ("value_at_risk_cents", "expected_shortfall_cents"):
        a, b = getattr(plain.at(0.999), name), getattr(shifted.at(0.999), name)
        figures[f"{name}_cpu_ratio"] = (a.standard_error**2 * t_plain) / (b.standard_error**2 * t_is)
        assert abs(a.value - b.value) <= 4 * np.hypot(a.standard_error, b.standard_error)
    rate, _ = _numpy_rate(p, dep.factor_correlation, 2000)
    engine_rate = p.size * plain.scenarios / t_plain
    _report(benchmark, plain_seconds=t_plain, is_seconds=t_is,
            numpy_gs_per_s=rate, plain_over_numpy=engine_rate / rate,
            is_over_numpy_same_se=figures["expected_shortfall_cents_cpu_ratio"] * engine_rate / rate,
            **figures)


def test_bench_plain_mc_throughput(benchmark):
    """Guarantee-scenarios per second: compiled thinning kernel vs numpy baseline (10,000
    guarantees, one factor, heterogeneous PDs)."""
    p = _one_factor(10_000)
    plan = mc.SimulationPlan(p, Fund(capital_cents=0), Dependence.one_factor(), seed=1)
    mc.simulate_blocks(plan, 0, 1)  # compile / load cache
    blocks = 64
    benchmark.pedantic(lambda: mc.simulate_blocks(plan, 0, blocks), rounds=3, iterations=1)
    engine = p.size * blocks * BLOCK_SCENARIOS / benchmark.stats.stats.min
    rate, _ = _numpy_rate(p, np.ones((1, 1)))
    _report(benchmark, engine_gs_per_s=engine, numpy_gs_per_s=rate, ratio=engine / rate)


def test_bench_million_guarantees_memory_and_linear_time(benchmark):
    """250k, 500k, 1M guarantees (ten factors): peak traced memory and time per guarantee."""
    rows = []

    def run_all():
        for n in (250_000, 500_000, 1_000_000):
            p, dep = _ten_factor(n, seed=n)
            tracemalloc.start()
            t = time.perf_counter()
            r = simulate_portfolio(p, Fund(capital_cents=0), dep, seed=1, method="monte_carlo",
                                   scenarios=4 * BLOCK_SCENARIOS, levels=(0.99,))
            seconds = time.perf_counter() - t
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            rows.append((n, seconds, peak, r.expected_loss_cents.value))
    benchmark.pedantic(run_all, rounds=1, iterations=1)
    rate, _ = _numpy_rate(_ten_factor(10_000)[0], _ten_factor(10)[1].factor_correlation, 1000)
    per = {f"us_per_guarantee_{n}": s / n * 1e6 for n, s, _, _ in rows}
    _report(benchmark, **per, **{f"peak_MiB_{n}": m / 2**20 for n, _, m, _ in rows},
            time_ratio_1M_over_250k=rows[2][1] / rows[0][1],
            million_gs_per_s_over_numpy=1_000_000 * 4 * BLOCK_SCENARIOS / rows[2][1] / rate)
    assert all(m < 4 * 2**30 for _, _, m, _ in rows)
