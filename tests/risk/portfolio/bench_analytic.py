"""Benchmarks of the semi-analytic portfolio engines (run: make bench, or
``.venv/bin/pytest tests/risk/portfolio/bench_analytic.py --benchmark-only -s``).

10,000 guarantees, PD log-uniform in [0.1 %, 5 %], lognormal amounts (median €100k,
σ = 1), ρ = 0.15. Each run prints the relative error of VaR/ES 99.9 % against a
high-precision reference (128 window nodes, 8× finer lattice); goal: within 0.5 %
in under 50 ms. No timing is asserted.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.risk.engine.portfolio.analytic import one_factor_loss_distribution
from services.risk.engine.portfolio.creditriskplus import creditriskplus_loss_distribution

pytestmark = pytest.mark.bench

SETTINGS = {
    "default": {},
    "fast": {"quadrature_nodes": 16, "max_quadrature_nodes": 16, "lattice_points_per_var": 500},
    "fast_no_error_estimate": {"quadrature_nodes": 16, "max_quadrature_nodes": 16,
                               "lattice_points_per_var": 500, "estimate_errors": False},
}


@pytest.fixture(scope="module")
def portfolio():
    rng = np.random.default_rng(1)
    n = 10_000
    pd = np.exp(rng.uniform(math.log(0.001), math.log(0.05), n))
    amount = rng.lognormal(math.log(100_000.0), 1.0, n)
    return amount, pd, np.full(n, math.sqrt(0.15))


@pytest.fixture(scope="module")
def reference(portfolio):
    dist = one_factor_loss_distribution(*portfolio, quadrature_nodes=128,
                                        max_quadrature_nodes=128,
                                        lattice_points_per_var=8000, estimate_errors=False)
    return dist.value_at_risk(0.999).value, dist.expected_shortfall(0.999).value


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_bench_one_factor_var_es_999(benchmark, portfolio, reference, setting):
    def run():
        dist = one_factor_loss_distribution(*portfolio, levels=(0.99, 0.995, 0.999),
                                            **SETTINGS[setting])
        return dist, dist.value_at_risk(0.999), dist.expected_shortfall(0.999)

    run()  # compile the kernels outside the timing
    dist, var, es = benchmark.pedantic(run, rounds=15, iterations=1, warmup_rounds=2)
    var_ref, es_ref = reference
    print(f"\n[{setting}] nodes={dist.diagnostics['factor_nodes']} "
          f"lattice={dist.diagnostics['lattice_size']} "
          f"VaR99.9={var.value:.6g} (±{var.standard_error:.3g}) rel.err "
          f"{var.value / var_ref - 1:+.4%}; ES99.9={es.value:.6g} (±{es.standard_error:.3g}) "
          f"rel.err {es.value / es_ref - 1:+.4%}")
    benchmark.extra_info.update(var_relative_error=var.value / var_ref - 1,
                                es_relative_error=es.value / es_ref - 1)


def test_bench_creditriskplus_10000_obligors_5_sectors(benchmark):
    rng = np.random.default_rng(2)
    n = 10_000
    pd = np.exp(rng.uniform(math.log(0.001), math.log(0.05), n))
    bands = np.maximum(1, np.round(rng.lognormal(math.log(10.0), 1.0, n))).astype(int)
    weights = rng.dirichlet(np.ones(6), n)[:, :5]
    variances = np.array([0.5, 1.0, 1.5, 0.3, 2.0])

    def run():
        dist = creditriskplus_loss_distribution(pd, bands, weights, variances,
                                                background_variance=0.2)
        return dist, dist.value_at_risk(0.999), dist.expected_shortfall(0.999)

    dist, var, es = benchmark.pedantic(run, rounds=10, iterations=1, warmup_rounds=1)
    print(f"\n[CreditRisk+] lattice={dist.diagnostics['lattice_size']} VaR99.9={var.value} "
          f"ES99.9={es.value:.6g} truncated mass ≤ {dist.diagnostics['truncated_mass_bound']:.1e}")
