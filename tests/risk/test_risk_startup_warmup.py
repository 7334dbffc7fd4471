"""The risk service's start-up warm-up compiles every numba kernel that a first real
portfolio request runs, so that request does not pay for it; checked in a fresh
interpreter, since kernels compiled by other tests would hide a gap."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import json
import numpy as np
from numba.core.registry import CPUDispatcher
from services.risk.engine.portfolio import analytic, kernels
from services.risk.engine import portfolio as pf
from services.risk.server import _compile_kernels

dispatchers = {f"{m.__name__}.{k}": v for m in (analytic, kernels)
               for k, v in vars(m).items() if isinstance(v, CPUDispatcher)}
_compile_kernels()
warm = {k: set(v.signatures) for k, v in dispatchers.items()}
rng = np.random.default_rng(0)
n = 2000
common = dict(exposure_cents=rng.integers(1_000_000, 50_000_000, n),
              probability_of_default=rng.uniform(0.002, 0.05, n), loss_given_default=0.45)
fixed = pf.Portfolio.from_arrays(factor_loadings=np.full(n, 0.45), **common)
beta = pf.Portfolio.from_arrays(factor_loadings=np.full(n, 0.45), loss_given_default_std=0.2,
                                **common)
one, fund = pf.Dependence.one_factor(), pf.Fund(capital_cents=10**9, horizon_years=2)
pf.simulate_portfolio(fixed, pf.Fund(capital_cents=10**9), one, seed=1)  # semi-analytic
for method in ("monte_carlo", "importance_sampling"):
    pf.simulate_portfolio(beta, fund, one, seed=1, scenarios=4096, method=method)
pf.simulate_portfolio(beta, fund, pf.Dependence.one_factor("student_t", 5.0), seed=1,
                      scenarios=4096)
pf.risk_contributions(beta, fund, one, seed=1, scenarios=4096)
pf.incremental_risk(beta, fund, one, beta, seed=1, scenarios=4096)
print(json.dumps({k: len(set(v.signatures) - warm[k]) for k, v in dispatchers.items()
                  if set(v.signatures) - warm[k]}))
"""


def test_startup_warms_every_kernel_a_first_portfolio_request_runs():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=240, check=True, cwd=Path(__file__).resolve().parents[2])
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {}
