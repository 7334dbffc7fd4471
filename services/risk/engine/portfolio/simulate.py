"""One entry point for portfolio risk: picks and runs a method, streams progress.

``simulate_portfolio`` returns a PortfolioResult; ``iter_portfolio_simulation`` yields
Progress after each chunk (the gRPC streaming call's shape) and stops when the caller
closes it. ``method="auto"`` runs the fastest method that meets the accuracy asked for:
the one-factor semi-analytic law when the model allows it, importance sampling for a
tail with systematic risk, plain Monte Carlo otherwise. CreditRisk+ runs only when asked.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from services.risk.engine.estimate import Estimate
from services.risk.engine.portfolio import montecarlo as mc
from services.risk.engine.portfolio.model import (
    Dependence,
    Fund,
    Portfolio,
    annual_fee_income_cents,
    cumulative_pd,
    portfolio_cap_cents,
    validate_model,
)
from services.shared.errors import FieldViolation, InvalidArgument

AUTO = "auto"
SEMI_ANALYTIC = "semi_analytic"
CREDITRISKPLUS = "creditriskplus"
METHODS = (AUTO, mc.MONTE_CARLO, mc.IMPORTANCE_SAMPLING, SEMI_ANALYTIC, CREDITRISKPLUS)
DEFAULT_SCENARIOS = 100_000


def choose_method(portfolio: Portfolio, fund: Fund, dependence: Dependence,
                  levels: Sequence[float] = mc.DEFAULT_LEVELS) -> str:
    """The method ``auto`` runs: semi-analytic for a one-factor Gaussian model with fixed
    LGD (and a fee-free path when the horizon exceeds a year, since exhaustion with fees
    is path-dependent); importance sampling when the tail (level ≥ 0.99) has systematic
    risk; plain Monte Carlo otherwise."""
    fees = annual_fee_income_cents(portfolio, fund)
    if (portfolio.factor_count == 1 and dependence.copula == "gaussian"
            and not np.any(portfolio.loss_given_default_std > 0)
            and (fund.horizon_years == 1 or fees == 0) and portfolio.size > 0):
        return SEMI_ANALYTIC
    if max(levels) >= 0.99 and np.any(portfolio.factor_loadings != 0):
        return mc.IMPORTANCE_SAMPLING
    return mc.MONTE_CARLO


def iter_portfolio_simulation(
        portfolio: Portfolio, fund: Fund, dependence: Dependence, *, seed: int,
        scenarios: int = DEFAULT_SCENARIOS, method: str = AUTO,
        levels: Sequence[float] = mc.DEFAULT_LEVELS, chunk_blocks: int | None = None,
        target_relative_error: float | None = None) -> Iterator[mc.Progress]:
    """Yield Progress after each chunk of whole blocks (``chunk_blocks`` x
    BLOCK_SCENARIOS scenarios); each carries the result so far and the last has
    ``final=True``. Closing the generator cancels between chunks. Analytic methods yield
    one final Progress. ``scenarios`` is rounded up to whole blocks; with
    ``target_relative_error`` a Monte Carlo run stops early once ES at the highest level
    is that precise."""
    if method not in METHODS:
        raise InvalidArgument(FieldViolation("method", f"one of {', '.join(METHODS)}"))
    validate_model(portfolio, fund, dependence)
    if target_relative_error is not None and not (
            isinstance(target_relative_error, int | float) and target_relative_error > 0):
        raise InvalidArgument(FieldViolation("target_relative_error", "a positive number"))
    if method == AUTO:
        method = choose_method(portfolio, fund, dependence, levels)
    if method == SEMI_ANALYTIC:
        result = semi_analytic_result(portfolio, fund, dependence, levels=levels, seed=seed)
        yield _final_progress(result)
        return
    if method == CREDITRISKPLUS:
        result = creditriskplus_result(portfolio, fund, dependence, levels=levels, seed=seed)
        yield _final_progress(result)
        return
    plan = mc.SimulationPlan(portfolio, fund, dependence, seed=seed, method=method,
                             levels=levels, validate=False)
    yield from mc.iter_monte_carlo(plan, scenarios=scenarios, chunk_blocks=chunk_blocks,
                                   target_relative_error=target_relative_error)


def simulate_portfolio(
        portfolio: Portfolio, fund: Fund, dependence: Dependence, *, seed: int,
        scenarios: int = DEFAULT_SCENARIOS, method: str = AUTO,
        levels: Sequence[float] = mc.DEFAULT_LEVELS, chunk_blocks: int | None = None,
        target_relative_error: float | None = None,
        on_progress: Callable[[mc.Progress], bool | None] | None = None) -> mc.PortfolioResult:
    """Run the simulation to the end and return its result. ``on_progress`` is called after
    each chunk; returning False stops the run between chunks, and the result so far comes
    back with ``cancelled=True``. See ``iter_portfolio_simulation`` for the arguments."""
    last = None
    runs = iter_portfolio_simulation(
        portfolio, fund, dependence, seed=seed, scenarios=scenarios, method=method,
        levels=levels, chunk_blocks=chunk_blocks, target_relative_error=target_relative_error)
    try:
        for progress in runs:
            last = progress
            if on_progress is not None and on_progress(progress) is False and not progress.final:
                return dataclasses.replace(progress.result, cancelled=True)
    finally:
        runs.close()
    return last.result


def semi_analytic_result(portfolio: Portfolio, fund: Fund, dependence: Dependence, *,
                         levels: Sequence[float] = mc.DEFAULT_LEVELS,
                         seed: int = 0) -> mc.PortfolioResult:
    """The one-factor Gaussian model's exact-on-a-lattice law (analytic.py), turned into a
    PortfolioResult; standard errors are its numerical error estimates, not sampling error."""
    from services.risk.engine.portfolio import analytic

    if not (portfolio.factor_count == 1 and dependence.copula == "gaussian"
            and not np.any(portfolio.loss_given_default_std > 0)):
        raise InvalidArgument(FieldViolation(
            "method", "semi_analytic needs one factor, the Gaussian copula and fixed LGD"))
    fees = annual_fee_income_cents(portfolio, fund)
    if fund.horizon_years > 1 and fees > 0:
        raise InvalidArgument(FieldViolation(
            "method", "semi_analytic exhaustion over several years needs zero fee income "
                      "(with fees exhaustion depends on the path); use monte_carlo"))
    levels = tuple(sorted({float(x) for x in levels}))
    payout = _fixed_payouts(portfolio)
    loading = portfolio.factor_loadings[:, 0] * math.sqrt(float(
        np.asarray(dependence.factor_correlation)[0, 0]))
    cum = cumulative_pd(portfolio, fund.horizon_years)
    cap = portfolio_cap_cents(portfolio, fund)

    def law(pd):
        dist = analytic.one_factor_loss_distribution(payout, pd, loading, levels=levels)
        if cap is not None and cap < float(np.sum(payout)):
            dist = dist.tranche(0.0, float(cap)) if cap > 0 else None
        return dist

    horizon_law = law(cum[:, -1])
    exhaustion = []
    for t in range(fund.horizon_years):
        dist = horizon_law if t == fund.horizon_years - 1 else law(cum[:, t])
        threshold = fund.capital_cents + fees * (t + 1)
        exhaustion.append(dist.tail_probability(float(threshold)) if dist is not None
                          else Estimate(0.0, 0.0))
    if horizon_law is None:  # a zero cap: the fund never pays
        zero = Estimate(0.0, 0.0)
        risks = tuple(mc.TailRisk(q, zero, zero) for q in levels)
        el, support, pmf = zero, np.zeros(1), np.ones(1)
    else:
        risks = tuple(mc.TailRisk(q, horizon_law.value_at_risk(q),
                                  horizon_law.expected_shortfall(q)) for q in levels)
        el = horizon_law.mean() if cap is not None else horizon_law.expected_loss
        support, pmf = horizon_law.support, horizon_law.pmf
    top = max(float(risks[-1].expected_shortfall_cents.value) * 2.0, 1.0)
    edges = np.linspace(0.0, top, mc.HISTOGRAM_BINS + 1)
    bins = np.clip(np.searchsorted(edges, support, side="right") - 1, 0, mc.HISTOGRAM_BINS - 1)
    hist = np.bincount(bins, weights=pmf, minlength=mc.HISTOGRAM_BINS)
    return mc.PortfolioResult(
        method=SEMI_ANALYTIC, seed=int(seed), scenarios=0, expected_loss_cents=el,
        tail_risk=risks, exhaustion_probability_by_year=tuple(exhaustion),
        loss_histogram_edges_cents=tuple(float(x) for x in edges),
        loss_histogram_probability=tuple(float(x) for x in hist),
        portfolio_cap_cents=cap, capital_cents=int(fund.capital_cents),
        annual_fee_income_cents=fees,
        notes=("standard errors are numerical error estimates of the quadrature and the "
               "loss lattice, not sampling errors",))


def creditriskplus_result(portfolio: Portfolio, fund: Fund, dependence: Dependence, *,
                          levels: Sequence[float] = mc.DEFAULT_LEVELS,
                          seed: int = 0) -> mc.PortfolioResult:
    """CreditRisk+ (Poisson–Gamma) law of the portfolio; see creditriskplus.py."""
    try:
        from services.risk.engine.portfolio import creditriskplus  # noqa: F401
    except ImportError:
        raise InvalidArgument(FieldViolation(
            "method", "creditriskplus is not available in this build")) from None
    return _creditriskplus(portfolio, fund, dependence, levels=levels, seed=seed)


def _creditriskplus(portfolio, fund, dependence, *, levels, seed) -> mc.PortfolioResult:
    raise InvalidArgument(FieldViolation(
        "method", "creditriskplus is not wired to the portfolio engine yet"))


def _fixed_payouts(portfolio: Portfolio) -> np.ndarray:
    """Fund payout per default with fixed LGD: min(cap, rate x max(exposure x LGD - deductible,
    0)), in cents (float)."""
    exposure = portfolio.exposure_cents.astype(np.float64)
    return np.minimum(portfolio.cap_cents.astype(np.float64), portfolio.guarantee_rate
                      * np.maximum(exposure * portfolio.loss_given_default
                                   - portfolio.deductible_cents, 0.0))


def _final_progress(result: mc.PortfolioResult) -> mc.Progress:
    top = result.tail_risk[-1]
    return mc.Progress(result.scenarios, result.scenarios, result.expected_loss_cents,
                       top.value_at_risk_cents, top.expected_shortfall_cents, result, True)
