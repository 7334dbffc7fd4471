"""One entry point for portfolio risk: picks and runs a method, streams progress.

``simulate_portfolio`` returns a PortfolioResult; ``iter_portfolio_simulation`` yields
Progress after each chunk (the gRPC streaming call's shape) and stops when the caller
closes it. ``method="auto"`` runs the fastest method that meets the accuracy asked for:
the one-factor semi-analytic law when the model allows it, importance sampling for a
Gaussian-copula tail with systematic risk, plain Monte Carlo otherwise. CreditRisk+ runs
only when asked: it is a different model (Poisson–Gamma), not a faster way to the same
figures.
"""

from __future__ import annotations

import dataclasses
import math
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from services.risk.engine.estimate import Estimate
from services.risk.engine.portfolio import montecarlo as mc
from services.risk.engine.portfolio.model import (
    MAX_GAMMA_VARIANCE,
    MIN_GAMMA_VARIANCE,
    Dependence,
    Fund,
    Portfolio,
    ValidatedModel,
    annual_fee_income_cents,
    cumulative_pd,
    ensure_validated,
    expected_payouts,
    fixed_payout_cents,
    flag_rows,
    portfolio_cap_cents,
    two_sided_tail,
)
from services.shared.errors import Collector, FieldViolation, InvalidArgument, ResourceExhausted

AUTO = "auto"
SEMI_ANALYTIC = "semi_analytic"
CREDITRISKPLUS = "creditriskplus"
METHODS = (AUTO, mc.MONTE_CARLO, mc.IMPORTANCE_SAMPLING, SEMI_ANALYTIC, CREDITRISKPLUS)
DEFAULT_SCENARIOS = 100_000


def choose_method(portfolio: Portfolio | ValidatedModel, fund: Fund | None = None,
                  dependence: Dependence | None = None,
                  levels: Sequence[float] = mc.DEFAULT_LEVELS) -> str:
    """The method ``auto`` runs: semi-analytic for a one-factor Gaussian model with fixed
    LGD (and a fee-free path when the horizon exceeds a year, since exhaustion with fees
    is path-dependent) whose loadings share one sign (all ≤ 0 is mirrored, exact by the
    symmetry of the factor); importance sampling when the copula is Gaussian, the tail
    (level ≥ 0.99) has systematic risk and every loading and every correlation of the
    factors in use is ≥ 0; plain Monte Carlo otherwise: a negative loading or factor
    correlation can give a tail on two sides of the factor space, which one mean shift
    would half miss, and on the Student-t copula importance sampling's SEs are not honest
    (``mc.T_COPULA_IMPORTANCE_SAMPLING``). A ValidatedModel is given alone."""
    return _choose_method(ensure_validated(portfolio, fund, dependence), levels)


def _choose_method(model: ValidatedModel, levels: Sequence[float]) -> str:
    """``choose_method`` for a validated model (its one-sided-tail test, computed once and
    only when asked)."""
    portfolio, fund = model.portfolio, model.fund
    fees = annual_fee_income_cents(portfolio, fund)
    if (portfolio.factor_count == 1 and model.dependence.copula == "gaussian"
            and not np.any(portfolio.loss_given_default_std > 0)
            and (fund.horizon_years == 1 or fees == 0) and portfolio.size > 0
            and model.two_sided_tail is None):
        return SEMI_ANALYTIC
    if (max(levels) >= 0.99 and np.any(portfolio.factor_loadings != 0)
            and not np.any(portfolio.factor_loadings < 0)):
        return mc.default_method(model.two_sided_tail, model.dependence.copula)
    return mc.MONTE_CARLO


def check_method(portfolio: Portfolio, dependence: Dependence, method: str,
                 field: str = "method") -> None:
    """Refuse (InvalidArgument on ``field``) an explicit importance_sampling or
    semi_analytic request for a portfolio whose loss tail has two sides (a factor loaded
    with both signs, or a negative factor correlation between the factors in use): one
    factor shift, or one refined end of the factor, would miss part of the tail and report
    a small error for a wrong figure. ``auto`` and monte_carlo are always accepted."""
    if method in (mc.IMPORTANCE_SAMPLING, SEMI_ANALYTIC):
        mc.refuse_two_sided_tail(two_sided_tail(portfolio, dependence), method, field)


def check_model_method(model: ValidatedModel, method: str, field: str = "method") -> None:
    """Refuse a method this model cannot run, before anything runs: InvalidArgument with
    a violation on ``field`` (the method) saying why and what to use instead, and one on
    each field of the model in the method's way, named as the engine names them
    (``dependence.copula``, ``guarantees[3].loss_given_default_std``, ``fund.horizon_years``).
    The one statement of each method's requirements: the service calls it when a request
    arrives (so a long-running operation is refused at its start, not ended by the
    refusal), and the methods call it again when run alone. ``auto`` picks a method the
    model allows, and monte_carlo runs every model: both are always accepted.

    - importance_sampling and semi_analytic: a loss tail on one side of the factors
      (the two-sided-tail test, computed once per model);
    - importance_sampling: the Gaussian copula (``mc.T_COPULA_IMPORTANCE_SAMPLING``);
    - semi_analytic: one factor, the Gaussian copula, fixed LGDs (the one-factor law of
      analytic.py);
    - semi_analytic and creditriskplus over several years: no fee income (with fees,
      exhaustion depends on the path, which a law of the loss at each year-end lacks);
    - creditriskplus: no certain default by the horizon (a Poisson default with
      intensity 1 misses it e^-1 ≈ 37 % of the time)."""
    c = Collector()
    if method in (mc.IMPORTANCE_SAMPLING, SEMI_ANALYTIC):
        try:
            mc.refuse_two_sided_tail(model.two_sided_tail, method, field)
        except InvalidArgument as exc:
            c.violations.extend(exc.violations)
    c.violations.extend(mc.t_copula_violations(model.dependence.copula, method, field))
    if method in (SEMI_ANALYTIC, CREDITRISKPLUS):
        in_the_way = Collector()
        _law_requirements(in_the_way, model, method)
        if in_the_way.violations:
            c.add(field, f"{method} cannot run this model ({len(in_the_way.violations)} "
                         f"field{'s' if len(in_the_way.violations) > 1 else ''} in its way, "
                         f"named in the other violations); use {mc.MONTE_CARLO}, or auto")
            c.violations.extend(in_the_way.violations)
    c.raise_if_any()


def _law_requirements(c: Collector, model: ValidatedModel, method: str) -> None:
    """The fields of ``model`` in the way of a law (``check_model_method``)."""
    portfolio, fund, dependence = model.portfolio, model.fund, model.dependence
    instead = f"use {mc.MONTE_CARLO} or {mc.IMPORTANCE_SAMPLING}"
    if method == SEMI_ANALYTIC:
        c.check(portfolio.factor_count == 1, "dependence.factor_correlation",
                f"semi_analytic needs one factor, this model has {portfolio.factor_count}; "
                f"{instead}")
        c.check(dependence.copula == "gaussian", "dependence.copula",
                f"semi_analytic needs the Gaussian copula; {instead}")
        flag_rows(c, portfolio.loss_given_default_std > 0, "loss_given_default_std",
                  lambda i: f"semi_analytic needs a fixed LGD (std 0); {instead}")
    if fund.horizon_years > 1 and annual_fee_income_cents(portfolio, fund) > 0:
        why = (f"{method} over {fund.horizon_years} years needs zero fee income: with fees, "
               "capital exhaustion depends on the path of the losses")
        c.add("fund.horizon_years", f"{why}; a 1-year horizon, zero fees or "
                                    f"{mc.MONTE_CARLO}")
        if fund.annual_fee_income_cents is not None:
            c.add("fund.annual_fee_income_cents", f"{why}; set it to 0, or use "
                                                  f"{mc.MONTE_CARLO}")
        else:  # the fees are the guarantees' fee rates: the first row with one is named
            c.add("guarantees.fee_rate", f"{why}; set fund.annual_fee_income_cents to 0 "
                                         f"(or the fee rates), or use {mc.MONTE_CARLO}")
    if method == CREDITRISKPLUS:
        curve = portfolio.cumulative_default_probability is not None
        certain = cumulative_pd(portfolio, fund.horizon_years)[:, -1] >= 1.0
        flag_rows(c, certain, "cumulative_default_probability" if curve
                  else "probability_of_default",
                  lambda i: "creditriskplus draws defaults as Poisson events and would miss "
                            "a certain default (PD 1 by the horizon) about 37 % of the time; "
                            "use monte_carlo or semi_analytic, or take a guarantee already "
                            "in default out of the portfolio (its loss is known)")
        params = _model_creditriskplus_parameters(model)
        if params.calibrated:  # given variances are the model's own check
            top = float(max(params.sector_variances.max(initial=0.0),
                            params.background_variance))
            c.check(top <= MAX_GAMMA_VARIANCE, "dependence.sector_variances",
                    f"calibrated to the copula, a CreditRisk+ gamma variance would be "
                    f"{top:.3g}, above {MAX_GAMMA_VARIANCE:g} (default probabilities this "
                    "small with loadings this large); give the sector variances (and the "
                    "background variance), or use monte_carlo")


def check_method_accuracy(c: Collector, method: str, target_relative_error: float,
                          field: str = "target_relative_error") -> None:
    """The analytic methods take ``target_relative_error`` as the accuracy to meet, below
    1 (0: the default): checked before a run, not first once it has started
    (``_accuracy`` checks it again in the run). A negative one is the caller's check."""
    c.check(method not in (SEMI_ANALYTIC, CREDITRISKPLUS) or target_relative_error < 1,
            field, f"{method}: an accuracy below 1 (0: the default "
                   f"{DEFAULT_ANALYTIC_ACCURACY:g})")


def iter_portfolio_simulation(
        portfolio: Portfolio | ValidatedModel, fund: Fund | None = None,
        dependence: Dependence | None = None, *, seed: int,
        scenarios: int = DEFAULT_SCENARIOS, method: str = AUTO,
        levels: Sequence[float] = mc.DEFAULT_LEVELS, chunk_blocks: int | None = None,
        target_relative_error: float | None = None,
        exponential_twist: bool | None = None,
        odds_tilt: bool | None = None) -> Iterator[mc.Progress]:
    """Yield Progress after each chunk of whole blocks (``chunk_blocks`` x
    BLOCK_SCENARIOS scenarios); each carries the result so far and the last has
    ``final=True``. Closing the generator cancels between chunks. Analytic methods yield
    one final Progress. ``scenarios`` is rounded up to whole blocks; with
    ``target_relative_error`` a Monte Carlo run stops early once ES at the highest level
    is that precise and rests on enough tail scenarios (``montecarlo.stop_reached``). For
    ``semi_analytic`` and ``creditriskplus`` ``target_relative_error`` is the accuracy
    their numerical error estimates must meet
    (default ``DEFAULT_ANALYTIC_ACCURACY`` = 0.005; they refine until it does).
    ``exponential_twist`` (importance sampling only; None = the measured default
    ``montecarlo.DEFAULT_EXPONENTIAL_TWIST``) adds the Glasserman–Li twist of the
    conditional default probabilities to the factor mean shift. ``odds_tilt``
    (importance sampling only; None = ``montecarlo.DEFAULT_ODDS_TILT``) tilts them by one
    odds factor per scenario (``kernels._odds_tilt``; off with the twist).

    The model is a Portfolio with ``fund`` and ``dependence`` (validated here) or a
    ValidatedModel given alone (``model.validated_model``; not checked again)."""
    if method not in METHODS:
        raise InvalidArgument(FieldViolation("method", f"one of {', '.join(METHODS)}"))
    model = ensure_validated(portfolio, fund, dependence)
    portfolio, fund, dependence = model.portfolio, model.fund, model.dependence
    if target_relative_error is not None and not (
            isinstance(target_relative_error, int | float) and target_relative_error > 0):
        raise InvalidArgument(FieldViolation("target_relative_error", "a positive number"))
    if method == AUTO:
        method = _choose_method(model, levels)
    check_model_method(model, method)
    if method in (SEMI_ANALYTIC, CREDITRISKPLUS):
        run = semi_analytic_result if method == SEMI_ANALYTIC else creditriskplus_result
        result = run(model, levels=levels, seed=seed, accuracy=target_relative_error)
        yield _final_progress(result)
        return
    plan = mc.SimulationPlan(model, seed=seed, method=method, levels=levels,
                             exponential_twist=exponential_twist, odds_tilt=odds_tilt)
    yield from mc.iter_monte_carlo(plan, scenarios=scenarios, chunk_blocks=chunk_blocks,
                                   target_relative_error=target_relative_error)


def simulate_portfolio(
        portfolio: Portfolio | ValidatedModel, fund: Fund | None = None,
        dependence: Dependence | None = None, *, seed: int,
        scenarios: int = DEFAULT_SCENARIOS, method: str = AUTO,
        levels: Sequence[float] = mc.DEFAULT_LEVELS, chunk_blocks: int | None = None,
        target_relative_error: float | None = None,
        exponential_twist: bool | None = None, odds_tilt: bool | None = None,
        on_progress: Callable[[mc.Progress], bool | None] | None = None) -> mc.PortfolioResult:
    """Run the simulation to the end and return its result. ``on_progress`` is called after
    each chunk; returning False stops the run between chunks, and the result so far comes
    back with ``cancelled=True``. See ``iter_portfolio_simulation`` for the arguments."""
    last = None
    runs = iter_portfolio_simulation(
        portfolio, fund, dependence, seed=seed, scenarios=scenarios, method=method,
        levels=levels, chunk_blocks=chunk_blocks, target_relative_error=target_relative_error,
        exponential_twist=exponential_twist, odds_tilt=odds_tilt)
    try:
        for progress in runs:
            last = progress
            if on_progress is not None and on_progress(progress) is False and not progress.final:
                return dataclasses.replace(progress.result, cancelled=True)
    finally:
        runs.close()
    return last.result


DEFAULT_ANALYTIC_ACCURACY = 0.005
# First pass of the semi-analytic law: window nodes per unit of the factor window (a
# single 99.9 % level gives a window 1.3 wide: 32 nodes), 16 nodes per outer panel, 500
# lattice points per VaR. 4 outer nodes missed whole losses on small lumpy books (20
# guarantees: VaR 99 % 7.0e6 against the exact 8.0e6, error estimate ~0); with 16, about
# 38 ms on 10,000 guarantees at 99.9 % (pass 1, error estimate 0.3 %); each escalation
# doubles what is short.
_WINDOW_NODES_PER_UNIT = 24.0
_OUTER_NODES = 16
_LATTICE_POINTS_PER_VAR = 500
_MAX_NODE_SCALE, _MAX_LATTICE_SCALE = 4, 8


def semi_analytic_result(portfolio: Portfolio | ValidatedModel, fund: Fund | None = None,
                         dependence: Dependence | None = None, *,
                         levels: Sequence[float] = mc.DEFAULT_LEVELS, seed: int = 0,
                         accuracy: float | None = None) -> mc.PortfolioResult:
    """The one-factor Gaussian model's exact-on-a-lattice law (analytic.py), turned into a
    PortfolioResult; standard errors are its numerical error estimates, not sampling error.

    Mixed-sign loadings are refused (``check_method``); all loadings ≤ 0 are mirrored.
    Adaptive: a fast first pass (about 32 window nodes per 1.3 of factor window, 16 outer
    nodes per side, 500 lattice points per VaR) with its error estimates (the embedded
    every-other-node rule and the doubled loss unit, both nearly free); while the estimate
    of any VaR or ES (or of the exhaustion probability, or under a cap of EL: see
    ``_relative_error_parts``) exceeds ``accuracy`` (relative, default 0.005) the short part is
    doubled (nodes if the quadrature term is above accuracy/2, lattice if the
    discretisation term is) up to 4x nodes and 8x lattice. The result's notes say which
    pass was accepted, and whether the estimate still exceeds ``accuracy``. The model as
    in ``iter_portfolio_simulation``."""
    from services.risk.engine.portfolio import analytic

    model = ensure_validated(portfolio, fund, dependence)
    portfolio, fund, dependence = model.portfolio, model.fund, model.dependence
    check_model_method(model, SEMI_ANALYTIC)
    fees = annual_fee_income_cents(portfolio, fund)
    accuracy = _accuracy(accuracy)
    levels = tuple(sorted({float(x) for x in levels}))
    payout = fixed_payout_cents(portfolio)
    loading = portfolio.factor_loadings[:, 0] * math.sqrt(float(
        np.asarray(dependence.factor_correlation)[0, 0]))
    if np.any(loading < 0):  # all ≤ 0 (check_method): Z and -Z have one law, so flip
        loading = -loading
    cum = cumulative_pd(portfolio, fund.horizon_years)
    cap = portfolio_cap_cents(portfolio, fund)
    zq = -special.ndtri(np.asarray(levels))
    window_length = float(zq.max() - zq.min()) + 1.3  # analytic's default window margins

    def law(pd, node_scale, lattice_scale):
        window = 2 * math.ceil(_WINDOW_NODES_PER_UNIT * window_length * node_scale / 2)
        dist = analytic.one_factor_loss_distribution(
            payout, pd, loading, levels=levels, quadrature_nodes=window,
            max_quadrature_nodes=window, outer_nodes=_OUTER_NODES * node_scale,
            lattice_points_per_var=_LATTICE_POINTS_PER_VAR * lattice_scale)
        return _capped(dist, cap, float(np.sum(payout)))

    # Exhaustion at the horizon: the capital (fees only enter a one-year horizon here).
    # A fund with no resources is exhausted by any loss: P(L > 0) is no tail figure worth
    # refining for (its error estimate is still reported).
    resources = fund.capital_cents + fees * fund.horizon_years
    thresholds = (resources,) if resources > 0 else ()
    node_scale = lattice_scale = 1
    passes = 0
    while True:
        passes += 1
        horizon_law = law(cum[:, -1], node_scale, lattice_scale)
        quad, lattice = _relative_error_parts(horizon_law, levels, thresholds,
                                              law_mean=cap is not None)
        short_nodes = quad > 0.5 * accuracy and node_scale < _MAX_NODE_SCALE
        short_lattice = lattice > 0.5 * accuracy and lattice_scale < _MAX_LATTICE_SCALE
        if quad + lattice <= accuracy or not (short_nodes or short_lattice):
            break
        node_scale *= 2 if short_nodes else 1
        lattice_scale *= 2 if short_lattice else 1
    laws = [law(cum[:, t], node_scale, lattice_scale) for t in range(fund.horizon_years - 1)]
    notes = ["standard errors are numerical error estimates of the quadrature and the "
             "loss lattice, not sampling errors",
             f"pass {passes}: {node_scale}x nodes, {lattice_scale}x lattice; estimated "
             f"relative error {quad + lattice:.2g} (quadrature {quad:.2g}, lattice "
             f"{lattice:.2g}) against accuracy {accuracy:g}"]
    if quad + lattice > accuracy:
        notes.append("the error estimate exceeds the requested accuracy at the finest "
                     "setting; use importance_sampling for a sampled check")
    return _law_result(SEMI_ANALYTIC, horizon_law, [*laws, horizon_law], portfolio, fund,
                       fees, cap, levels, seed, tuple(notes))


def _accuracy(accuracy) -> float:
    if accuracy is None:
        return DEFAULT_ANALYTIC_ACCURACY
    if isinstance(accuracy, bool) or not isinstance(accuracy, int | float) or not (
            0 < accuracy < 1):
        raise InvalidArgument(FieldViolation("target_relative_error",
                                             "a relative accuracy in (0, 1)"))
    return float(accuracy)


def _capped(dist, cap: int | None, total: float):
    """min(L, cap) as a tranche (None: a zero cap, the fund never pays)."""
    if cap is not None and cap < total:
        return dist.tranche(0.0, float(cap)) if cap > 0 else None
    return dist


def _relative_error_parts(dist, levels, thresholds: Sequence[float] = (),
                          law_mean: bool = False) -> tuple[float, float]:
    """Largest relative error estimate over ``levels`` from the first variant (quadrature
    / banding) and from the second (lattice), if present: of VaR and ES, relative to
    themselves; with the first variant also of P(L > t) at each exhaustion threshold t,
    relative to max(P, 1 − highest level), and (``law_mean``: the reported EL is the law's
    mean, as under a portfolio cap) of the mean."""
    if dist is None:
        return 0.0, 0.0
    parts = [0.0, 0.0]
    figures, floor = _tail_figures(dist, levels)
    for value, figure_parts in figures:
        scale = max(abs(value), 1.0)
        for k, part in enumerate(figure_parts[:2]):
            parts[k] = max(parts[k], part / scale)
    if dist.variants:
        if law_mean:
            mean, mean_parts = dist.mean_parts()
            parts[0] = max(parts[0], mean_parts[0] / max(abs(mean), 1.0))
        for t in thresholds:
            tail, tail_parts = dist.tail_probability_parts(float(t))
            parts[0] = max(parts[0], tail_parts[0] / max(tail, 1.0 - max(levels)))
    return parts[0] + floor, parts[1]


def _tail_figures(dist, levels) -> tuple[list[tuple[float, list[float]]], float]:
    """VaR and ES with their error parts at each level, and the floating-point floor
    relative to the smallest positive of them (a VaR of 0, no loss at that level, is
    exact: no scale for rounding); 0 when all are 0."""
    figures = [f for q in levels
               for f in (dist.value_at_risk_parts(q), dist.expected_shortfall_parts(q))]
    positive = [value for value, _ in figures if value > 0.0]
    return figures, (dist.amount_error_floor / max(min(positive), 1.0) if positive else 0.0)


def _law_result(method, horizon_law, laws, portfolio, fund, fees, cap, levels, seed, notes
                ) -> mc.PortfolioResult:
    """A PortfolioResult from the fund-loss law at the horizon and the law by year."""
    exhaustion = []
    for t, dist in enumerate(laws):
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
        method=method, seed=int(seed), scenarios=0, expected_loss_cents=el,
        tail_risk=risks, exhaustion_probability_by_year=tuple(exhaustion),
        loss_histogram_edges_cents=tuple(edges.tolist()),
        loss_histogram_probability=tuple(hist.tolist()),
        portfolio_cap_cents=cap, capital_cents=int(fund.capital_cents),
        annual_fee_income_cents=fees, notes=notes, horizon_years=int(fund.horizon_years))


# ------------------------------------------------------------------------ CreditRisk+

CREDITRISKPLUS_POINTS = 2000  # loss units up to EL + 8 sd of the loss (first pass)
CREDITRISKPLUS_HALVINGS = 5  # of the loss unit at most, while the banding error is too large
CREDITRISKPLUS_COARSENINGS = 4  # doublings of the unit at most, while the lattice is too long
CREDITRISKPLUS_LUMPY_SHARE = 0.02  # of the expected loss held by one payout size


@dataclass(frozen=True, eq=False)
class CreditRiskPlusParameters:
    """Our model mapped to CreditRisk+ (see ``creditriskplus_parameters``).

    payout_cents (n,): E[fund payout | default] per guarantee (exact for Beta LGD too);
    intensity (n, H): Poisson default intensity by year = the cumulative PD, so that
    EL = Σ PD·E[payout] holds exactly; sector_weights (n, F); sector_variances (F,) σ_k²;
    background_variance σ_T²; calibrated: whether the variances came from the copula."""

    payout_cents: np.ndarray
    intensity: np.ndarray
    sector_weights: np.ndarray
    sector_variances: np.ndarray
    background_variance: float
    calibrated: bool

    def loss_moments(self, year: int = -1) -> tuple[float, float]:
        """Closed-form mean and variance of the (unbanded) CreditRisk+ loss in cents."""
        p, a = self.intensity[:, year], self.payout_cents
        mu = self.sector_weights.T @ (p * a)
        return (float(p @ a), float(p @ (a * a) + self.sector_variances @ (mu * mu)
                                    + self.background_variance * mu.sum() ** 2))


def _bivariate_normal_cdf(a: np.ndarray, b: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Φ₂(a, b; r) = Φ(a)Φ(b) + ∫₀^r φ₂(a, b; t) dt (Plackett), 64-point Gauss–Legendre in t
    (accurate to ~1e-12 for |r| ≤ 0.95; the calibration only needs a few digits)."""
    x, w = np.polynomial.legendre.leggauss(64)
    a, b, r = (np.asarray(v, dtype=np.float64)[..., None] for v in (a, b, r))
    t = 0.5 * r * (x + 1.0)
    one = 1.0 - t * t
    dens = np.exp(-(a * a - 2 * t * a * b + b * b) / (2 * one)) / (2 * math.pi * np.sqrt(one))
    return (special.ndtr(a[..., 0]) * special.ndtr(b[..., 0])
            + 0.5 * r[..., 0] * (dens @ w))


_PARAMETERS_OF: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _model_creditriskplus_parameters(model: ValidatedModel) -> CreditRiskPlusParameters:
    """``creditriskplus_parameters`` of a validated model, computed once for its method
    check and its run (an O(n·F²) pass)."""
    params = _PARAMETERS_OF.get(model)
    if params is None:
        params = _PARAMETERS_OF[model] = creditriskplus_parameters(
            model.portfolio, model.fund, model.dependence)
    return params


def creditriskplus_parameters(portfolio: Portfolio, fund: Fund, dependence: Dependence
                              ) -> CreditRiskPlusParameters:
    """Map the guarantee portfolio to CreditRisk+ (CSFB 1997; Giese 2003 for σ_T²).

    * Severity: the expected fund payout per default (CreditRisk+ has fixed severities; a
      Beta LGD enters through its mean payout only). Intensity: the cumulative PD to each
      year-end (Poisson, so a name may "default" twice with probability ~PD²/2; EL stays
      exact).
    * Sectors = the F factors. Weight w_ik = R²_i·λ_ik²/Σ_f λ_if² with λ_i the loadings and
      R²_i = λ_iᵀΣλ_i the systematic share; the rest 1 − R²_i is idiosyncratic.
    * Variances (unless ``dependence.sector_variances`` is given): for sector k take the
      representative guarantee of its members (weights ω_i = w_ik·PD_i·payout_i): PD p̄_k,
      weight w̄_k, loading vector λ̄_k. CreditRisk+ gives two such names the default
      covariance p̄_k p̄_l w̄_k w̄_l Cov(S_k, S_l); the Gaussian copula gives
      Φ₂(Φ⁻¹p̄_k, Φ⁻¹p̄_l; λ̄_kᵀΣλ̄_l) − p̄_k p̄_l. Matching gives v_kl; the compound-gamma
      model has one covariance for every pair of sectors, so σ_T² = the EL-weighted mean of
      v_kl over k ≠ l (≥ 0) and σ_k² = max(v_kk − σ_T², 0) (``background_variance`` given
      explicitly overrides σ_T²).
    Limits: pairwise default correlations match at the representative PDs only (the
    Gaussian copula's default correlation grows with PD, CreditRisk+'s scales as
    √(p_i p_j)); the gamma tail is not the Gaussian copula's tail, so VaR/ES differ from
    monte_carlo by model, not by error; one common cross-sector covariance; the Student-t
    copula is calibrated as if Gaussian. It is a different model: ``auto`` never picks it.
    """
    horizon = fund.horizon_years
    intensity = cumulative_pd(portfolio, horizon)
    payout = expected_payouts(portfolio)
    lam = portfolio.factor_loadings
    sigma = np.asarray(dependence.factor_correlation, dtype=np.float64)
    r2 = np.clip(np.einsum("nf,fg,ng->n", lam, sigma, lam), 0.0, 1.0)
    sq = lam * lam
    total = sq.sum(axis=1)
    weights = np.where(total[:, None] > 0, sq / np.where(total > 0, total, 1.0)[:, None],
                       0.0) * r2[:, None]
    f = lam.shape[1]
    given = dependence.sector_variances is not None
    if given:
        variances = np.asarray(dependence.sector_variances, dtype=np.float64).copy()
        background = float(dependence.background_variance or 0.0)
    else:
        p = intensity[:, -1]
        omega = weights * (p * payout)[:, None]  # (n, F)
        mass = omega.sum(axis=0)
        live = mass > 0
        safe = np.where(live, mass, 1.0)
        p_bar = np.where(live, (omega.T @ p) / safe, 0.0)
        w_bar = np.where(live, np.einsum("nk,nk->k", omega, weights) / safe, 0.0)
        lam_bar = (omega.T @ lam) / safe[:, None]  # (F, F): row k = representative loadings
        corr = lam_bar @ sigma @ lam_bar.T
        ok = live & (p_bar > 0) & (p_bar < 1) & (w_bar > 0)
        v = np.zeros((f, f))
        idx = np.flatnonzero(ok)
        if idx.size:
            kk, ll = np.meshgrid(idx, idx, indexing="ij")
            pk, pl = p_bar[kk], p_bar[ll]
            joint = _bivariate_normal_cdf(special.ndtri(pk), special.ndtri(pl),
                                          np.clip(corr[kk, ll], -0.999, 0.999))
            v[kk, ll] = np.maximum(joint - pk * pl, 0.0) / (pk * pl * w_bar[kk] * w_bar[ll])
        off = ~np.eye(f, dtype=bool) & ok[:, None] & ok[None, :]
        pair_mass = np.outer(mass, mass)
        if dependence.background_variance is not None:
            background = float(dependence.background_variance)
        elif off.any() and pair_mass[off].sum() > 0:
            background = float((v[off] * pair_mass[off]).sum() / pair_mass[off].sum())
        else:
            background = 0.0
        variances = np.maximum(np.diag(v) - background, 0.0)
        # A gamma this close to its mean of 1 is the constant 1, and the law divides by
        # its variance: one below the model's floor (a subnormal overflowed) counts as 0
        variances[variances < MIN_GAMMA_VARIANCE] = 0.0
        background = background if background >= MIN_GAMMA_VARIANCE else 0.0
    return CreditRiskPlusParameters(payout, intensity, weights, variances, background,
                                    not given)


def _creditriskplus_lattice(payout: np.ndarray, intensity: np.ndarray, target: float
                            ) -> tuple[float, float | None, int]:
    """The loss unit for a target unit: as the semi-analytic path
    (``analytic.common_quantum``), when the payouts of one target unit or more that hold
    90 % of those payouts' expected loss are whole multiples of a quantum q ≥ it (equal or
    standard guarantee sizes), the unit is q/m, m the smallest even number with q/m ≤ the
    target: those payouts are then whole bands and the law's atoms k·q lie on the
    lattice exactly. Returns (unit, q or None, m)."""
    from services.risk.engine.portfolio.analytic import common_quantum

    quantum = common_quantum(payout, intensity, target)
    if quantum is None:
        return target, None, 1
    m = 2 * math.ceil(quantum / (2.0 * target))
    return quantum / m, quantum, m


def _creditriskplus_error(dist, levels: Sequence[float], thresholds: Sequence[float],
                          law_mean: bool) -> float:
    """Largest relative error estimate (both banding variants and the floors) over VaR
    and ES at ``levels``, P(L > t) at the exhaustion thresholds (relative to
    max(P, 1 − highest level)) and, under a cap (``law_mean``), the mean."""
    if dist is None:
        return 0.0
    figures, floor = _tail_figures(dist, levels)
    worst = floor + max((sum(parts) / max(abs(value), 1.0) for value, parts in figures),
                        default=0.0)
    for t in thresholds:
        tail, parts = dist.tail_probability_parts(float(t))
        worst = max(worst, (sum(parts) + dist.probability_error_floor)
                    / max(tail, 1.0 - max(levels)))
    if law_mean:
        mean, parts = dist.mean_parts()
        worst = max(worst, (sum(parts) + dist.amount_error_floor) / max(abs(mean), 1.0))
    return worst


def creditriskplus_result(portfolio: Portfolio | ValidatedModel, fund: Fund | None = None,
                          dependence: Dependence | None = None, *,
                          levels: Sequence[float] = mc.DEFAULT_LEVELS, seed: int = 0,
                          accuracy: float | None = None) -> mc.PortfolioResult:
    """CreditRisk+ (Poisson–Gamma) law of the fund loss; see ``creditriskplus_parameters``
    for the mapping and creditriskplus.py for the law. Exact on its loss lattice.

    Loss unit: (EL + 8 sd) / ``CREDITRISKPLUS_POINTS``, fitted to a common payout quantum
    (``_creditriskplus_lattice``), so equal or standard payouts are whole bands and their
    law is exact. Payouts off the lattice are banded to the nearest unit with the
    intensity rescaled to keep EL (CSFB); each of their atoms moves by up to half a unit
    per default. The standard errors are the lattice truncation bound plus |figure −
    figure with every off-lattice payout banded down| + |… banded up| (EL kept in both,
    except for a payout size several guarantees share, whose PDs stay unscaled so that its
    two bandings bound the loss):
    the unbanded atoms lie between those of the two variants, so their spread sizes what
    banding moved (the law with twice the unit, rounded alike, did not: a payout of
    153.83 units is 154 and 2·77 on both). While the largest relative estimate (VaR/ES,
    exhaustion at the horizon, EL under a cap) exceeds ``accuracy`` the target unit is
    halved, up to CREDITRISKPLUS_HALVINGS times. Portfolio cap: the tranche min(L, cap).
    Exhaustion by year from the law of the cumulative loss to each year-end, so several
    years need zero fees.
    The model as in ``iter_portfolio_simulation``."""
    from services.risk.engine.portfolio import creditriskplus as crp
    from services.risk.engine.portfolio.analytic import LossDistribution

    model = ensure_validated(portfolio, fund, dependence)
    portfolio, fund, dependence = model.portfolio, model.fund, model.dependence
    check_model_method(model, CREDITRISKPLUS)
    fees = annual_fee_income_cents(portfolio, fund)
    accuracy = _accuracy(accuracy)
    levels = tuple(sorted({float(x) for x in levels}))
    params = _model_creditriskplus_parameters(model)
    cap = portfolio_cap_cents(portfolio, fund)
    mean, var = params.loss_moments()
    scale = mean + 8.0 * math.sqrt(var)
    total = float(np.sum(params.payout_cents))
    payout = params.payout_cents
    # Lumpy: a payout size several guarantees share that holds a share of the expected
    # loss; its default counts make a staircase of atoms k·payout, on which a quantile
    # jumps a whole step if banding perturbs the count law (rescaled intensities)
    _, size_class = np.unique(payout, return_inverse=True)
    held = np.bincount(size_class, weights=payout * params.intensity[:, -1])
    names = np.bincount(size_class)
    lumpy = ((names > 1) & (held >= CREDITRISKPLUS_LUMPY_SHARE * held.sum()))[size_class]

    def law(year: int, lattice: tuple[float, float | None, int]):
        unit, quantum, m = lattice

        def grid(size: int) -> np.ndarray:
            # j·q/m: the atoms k·q (j = k·m) come out exactly, so a capital sitting on
            # one is compared with the atom itself, not with a rounding of it
            j = np.arange(size, dtype=np.float64)
            return j * quantum / m if quantum is not None else j * unit

        def banded(rounding: str):
            return crp.band_exposures(
                payout, params.intensity[:, year], unit, rounding=rounding,
                keep_expected_loss=rounding == "nearest" or ~(lumpy & (payout >= unit)))

        def solve(banding):
            bands, intensity = banding
            return crp.creditriskplus_loss_distribution(
                intensity, bands, params.sector_weights, params.sector_variances,
                background_variance=params.background_variance, loss_unit=unit,
                levels=levels, field_prefix="guarantees")

        banding = banded("nearest")
        fine = solve(banding)
        variants = []
        for rounding in ("down", "up"):
            other = banded(rounding)
            # every payout on the lattice: nothing banded, no second law to solve
            same = all(np.array_equal(x, y) for x, y in zip(other, banding, strict=True))
            variants.append(fine if same else solve(other))
        dist = LossDistribution(
            support=grid(fine.pmf.size), pmf=fine.pmf, loss_unit=unit,
            expected_loss=fine.expected_loss, levels=levels,
            variants=tuple((grid(v.pmf.size), v.pmf) for v in variants),
            probability_error_floor=sum(d.probability_error_floor
                                        for d in (fine, *variants)),
            amount_error_floor=sum(d.amount_error_floor for d in (fine, *variants)),
            method=fine.method,
            diagnostics={**fine.diagnostics, "lattice_quantum": quantum or 0.0})
        return _capped(dist, cap, total)

    resources = fund.capital_cents + fees * fund.horizon_years
    thresholds = (resources,) if resources > 0 else ()
    target = max(scale / CREDITRISKPLUS_POINTS, 1.0) if scale > 0 else 1.0
    for coarsened in range(CREDITRISKPLUS_COARSENINGS + 1):
        lattice = _creditriskplus_lattice(payout, params.intensity[:, -1], target)
        try:
            horizon_law = law(-1, lattice)
            break
        except ResourceExhausted:
            # A gamma variance near the model's bound gives a tail far beyond EL + 8 sd:
            # a coarser unit holds it (the banding error, in the SEs, says what it cost)
            if coarsened == CREDITRISKPLUS_COARSENINGS:
                raise ResourceExhausted(
                    "the CreditRisk+ loss law's tail is too long for its lattice even with "
                    f"a loss unit {2**coarsened}x the first one: its gamma variances "
                    "(dependence.creditriskplus_sector_variances and "
                    "creditriskplus_background_variance, given or calibrated) are too "
                    "large; give smaller ones, or use monte_carlo") from None
            target *= 2.0
    error = _creditriskplus_error(horizon_law, levels, thresholds, cap is not None)
    for _ in range(CREDITRISKPLUS_HALVINGS):
        if error <= accuracy:
            break
        target /= 2.0
        finer = _creditriskplus_lattice(payout, params.intensity[:, -1], target)
        try:
            finer_law = law(-1, finer)
        except ResourceExhausted:  # the finer lattice would be too long: keep this one
            break
        lattice, horizon_law = finer, finer_law
        error = _creditriskplus_error(horizon_law, levels, thresholds, cap is not None)
    laws = [law(t, lattice) for t in range(fund.horizon_years - 1)]
    unit, quantum, _ = lattice
    notes = ["CreditRisk+ (Poisson–Gamma) is a different model from the Gaussian/t copula: "
             "its figures differ from monte_carlo by model, not by error",
             f"sector variances {'calibrated to the copula' if params.calibrated else 'given'}"
             f": {', '.join(f'{x:.3g}' for x in params.sector_variances)}; background "
             f"{params.background_variance:.3g}",
             "standard errors: lattice truncation bound plus banding error (payouts off "
             "the lattice banded down and up); loss unit "
             f"{unit:.6g} cents"
             + (f" (payout quantum {quantum:.6g} cents)" if quantum is not None else "")
             + f", estimated relative error {error:.2g}"]
    if error > accuracy:
        notes.append("the banding error estimate exceeds the requested accuracy at the "
                     "finest loss unit tried")
    if dependence.copula != "gaussian":
        notes.append("the Student-t copula was calibrated as if Gaussian (no tail dependence)")
    if np.any(portfolio.loss_given_default_std > 0):
        notes.append("Beta LGDs enter through their expected payout only")
    return _law_result(CREDITRISKPLUS, horizon_law, [*laws, horizon_law], portfolio, fund,
                       fees, cap, levels, seed, tuple(notes))


def _final_progress(result: mc.PortfolioResult) -> mc.Progress:
    top = result.tail_risk[-1]
    return mc.Progress(result.scenarios, result.scenarios, result.expected_loss_cents,
                       top.value_at_risk_cents, top.expected_shortfall_cents, result, True)
