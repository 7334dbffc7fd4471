"""Portfolio Monte Carlo: plain and importance-sampled, block-seeded, shardable.

Randomness comes in fixed blocks of ``BLOCK_SCENARIOS`` scenarios; block b draws from
``default_rng(SeedSequence(entropy=seed, spawn_key=(b,)))``. A block is reduced at once to a
small record (weighted sums, a loss histogram, and its tail sample: the largest losses up to
a safety multiple of the tail weight). Results are a deterministic function of the records
in block order, so chunk size, shard count and partition cannot change a single bit.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import special, stats

from services.risk.engine.estimate import PSEUDO_EVENTS, Estimate, proportion
from services.risk.engine.portfolio import kernels
from services.risk.engine.portfolio.model import (
    Dependence,
    Fund,
    Portfolio,
    ValidatedModel,
    annual_fee_income_cents,
    cumulative_pd,
    ensure_validated,
    expected_payouts,
    fixed_payout_cents,
    max_payouts,
    portfolio_cap_cents,
)
from services.shared.errors import FieldViolation, InvalidArgument, ResourceExhausted

BLOCK_SCENARIOS = 1024
MAX_SCENARIOS = 1 << 31
DEFAULT_LEVELS = (0.99, 0.995, 0.999)
# Each block keeps its largest losses until their weight reaches KEEP_SAFETY times the
# expected tail weight at the lowest level: a block holding 8x its share of the tail is
# astronomically rare for plain MC; the result reports whether the merged tail was complete.
KEEP_SAFETY = 8.0
KEEP_MIN = 32
HISTOGRAM_BINS = 256

# Glasserman–Li exponential twist of the conditional PDs on top of the factor shift: off by
# default, by measurement (docs/PERFORMANCE.md, "Portfolio engine": on the ten-factor
# 10,000-guarantee portfolio at 99.9 % it lowers the variance per scenario a little but
# costs an O(n) pass per scenario, so the variance per CPU-second is worse).
DEFAULT_EXPONENTIAL_TWIST = False

# Importance sampling's odds tilt (``kernels._odds_tilt``): on top of the factor shift, the
# conditional PDs of every guarantee are tilted by one odds factor λ(ξ) ≥ 1 per scenario
# so that the conditional expected loss reaches the tail level (``twist_target``). It costs
# O(cells + defaults) per scenario (``odds_tilt_cells``): a factor group's runs of equal
# thresholds, merged into ODDS_TILT_GROUP_CELLS cells when it has more (every guarantee its
# own PD), at most ODDS_TILT_MAX_CELLS in all (off beyond: more groups than that). By
# measurement (docs/PERFORMANCE.md, "odds tilt on books of all-different PDs"): with every
# name a run of its own, 1,000 runs as cells cost 7.5x the shift alone's CPU and 1 to 16
# cells 1.15-1.4x with the same variance per scenario; on a 20-grade book 16 cells gave
# 1.4-1.7x the variance per CPU-second of 1 at 99 % (fewer rejections across the grades).
DEFAULT_ODDS_TILT = True
ODDS_TILT_GROUP_CELLS = 16
ODDS_TILT_MAX_CELLS = 1024

# Importance sampling's defensive share: scenarios of each block drawn unshifted.
DEFENSIVE_SCENARIOS = 64
DEFENSIVE_SHARE = DEFENSIVE_SCENARIOS / BLOCK_SCENARIOS
# The mixture of shifts (``importance_mixture``): a candidate shift is kept when its point
# on the iso-loss surface is at most MIXTURE_LIKELIHOOD_RATIO times less likely than the
# nearest one (exp(−|μ_k|²/2) against exp(−|μ_0|²/2)), at least MIXTURE_MIN_DISTANCE factor
# standard deviations from every shift kept before it, and among the first
# MIXTURE_MAX_COMPONENTS (enough for a region per sector of a book of up to ~30: at 8, a
# ten-sector book left two sectors' tails to the defensive share and its ES SE doubled).
# The ratio is 64, not 8: at 8 a region 45x less likely than the leader (loadings 0.5/0.3,
# PDs 1 %/2 %, 99.9 %) was left to the defensive share's rare weights of up to 16, which one
# run's SE cannot see (P(L > VaR) RMS error 1.57 SEs, 9 % of seeds beyond 3 SEs at 32
# blocks; at 64: 0.97, 0 %). The correlated ten-factor bench book then mixes in each sector
# alone (about 20x less likely at 99.9 %) and the variance per scenario falls (VaR -30 %,
# ES -30 %, P(L > VaR) -25 %; 32 seeds x 16 blocks, same CPU).
MIXTURE_LIKELIHOOD_RATIO = 64.0
MIXTURE_MIN_DISTANCE = 1.0
MIXTURE_MAX_COMPONENTS = 32

MONTE_CARLO = "monte_carlo"
IMPORTANCE_SAMPLING = "importance_sampling"
MC_METHODS = (MONTE_CARLO, IMPORTANCE_SAMPLING)


@dataclass(frozen=True)
class RunSpec:
    """What fixes a run's random stream and its reduction; equal specs may be merged."""

    seed: int
    method: str
    levels: tuple[float, ...]
    horizon_years: int
    capital_cents: int
    annual_fee_income_cents: int
    portfolio_cap_cents: int | None
    importance_shift: tuple[float, ...]
    histogram_edges_cents: tuple[float, ...]
    max_loss_cents: float
    input_digest: str
    exponential_twist: bool = False
    twist_target_cents: float = 0.0
    # the odds tilt's loss level (0: no tilt; ``DEFAULT_ODDS_TILT``)
    odds_tilt_target_cents: float = 0.0
    # E[L] before the portfolio cap, exact: Σ P(default by the horizon) · E[payout]
    expected_uncapped_loss_cents: float = 0.0
    # the largest loss before the portfolio cap: every guarantee paying its most
    max_uncapped_loss_cents: float = 0.0
    # importance sampling's mixture: (scenarios per block, shift) per shifted component,
    # the first being ``importance_shift``; the rest of a block is the defensive share
    importance_mixture: tuple[tuple[int, tuple[float, ...]], ...] = ()


@dataclass(frozen=True, eq=False)
class ShardResult:
    """Per-block records of blocks [block_start, block_stop). Arrays have one row per block;
    the tail sample is concatenated with ``tail_offsets`` (length blocks + 1)."""

    spec: RunSpec
    block_start: int
    block_stop: int
    weight_sum: np.ndarray
    weight_sq_sum: np.ndarray
    # Σ w·m, Σ (w·m)², Σ w·e, Σ (w·e)², Σ (w·m)(w·e): m = min(L, cap) the fund's loss,
    # e = (L − cap)⁺ the loss above the portfolio cap (the expected loss's control variate)
    capped_sum: np.ndarray
    capped_sq_sum: np.ndarray
    excess_sum: np.ndarray
    excess_sq_sum: np.ndarray
    cross_sum: np.ndarray
    exhaustion_sum: np.ndarray
    exhaustion_sq_sum: np.ndarray
    histogram: np.ndarray
    # each block's largest fund losses (``SimulationPlan.keep_weight``), their weights and
    # their losses before the portfolio cap
    tail_loss: np.ndarray
    tail_weight: np.ndarray
    tail_uncapped_loss: np.ndarray
    tail_offsets: np.ndarray
    tail_floor: np.ndarray


@dataclass(frozen=True)
class TailRisk:
    """VaR and ES of the fund loss (cents) at one confidence level."""

    level: float
    value_at_risk_cents: Estimate
    expected_shortfall_cents: Estimate


@dataclass(frozen=True)
class PortfolioResult:
    """The risk of the fund over the horizon. Money in cents (floats: these are estimates).

    The loss (expected_loss_cents, tail_risk, the histogram) is the fund's over the whole
    horizon of ``horizon_years``: the payouts of the guarantees that default by its end,
    added up (cumulative, undiscounted, not per year), after the portfolio cap, and
    before fee income (fees are not netted; exhaustion compares payouts with capital
    plus the fees accumulated).
    exhaustion_probability_by_year[t]: P(cumulative fund payouts exceed capital + fee income
    accumulated, at the end of some year ≤ t+1). loss_histogram_probability[k]: probability
    of a fund loss in [edges[k], edges[k+1]) (the last bin is open above).
    """

    method: str
    seed: int
    scenarios: int
    expected_loss_cents: Estimate
    tail_risk: tuple[TailRisk, ...]
    exhaustion_probability_by_year: tuple[Estimate, ...]
    loss_histogram_edges_cents: tuple[float, ...]
    loss_histogram_probability: tuple[float, ...]
    portfolio_cap_cents: int | None
    capital_cents: int
    annual_fee_income_cents: int
    importance_shift: tuple[float, ...] = ()
    # (share of the scenarios, shift) of each component of importance sampling's mixture,
    # the defensive (unshifted) one first; () for other methods
    importance_mixture: tuple[tuple[float, tuple[float, ...]], ...] = ()
    effective_sample_size: float = 0.0
    tail_sample_complete: bool = True
    cancelled: bool = False
    notes: tuple[str, ...] = field(default=())
    horizon_years: int = 1  # the years the loss covers (the fund's horizon)

    def at(self, level: float) -> TailRisk:
        """The TailRisk at ``level`` (must be one of the requested levels)."""
        for t in self.tail_risk:
            if math.isclose(t.level, level, rel_tol=0, abs_tol=1e-12):
                return t
        raise KeyError(level)


@dataclass(frozen=True)
class Progress:
    """Emitted after each chunk: the scenarios done, the headline estimates at the highest
    level, and ``result``, the full result so far (final when ``final``), so a stopped run
    still has its figures."""

    scenarios_done: int
    scenarios_total: int
    expected_loss_cents: Estimate
    value_at_risk_cents: Estimate
    expected_shortfall_cents: Estimate
    result: PortfolioResult
    final: bool = False


class SimulationPlan:
    """The portfolio preprocessed for the kernel: guarantees grouped by loading vector,
    sorted by default threshold, payouts precomputed. Deterministic in its inputs, so every
    shard worker that builds it from the same request gets the same random stream.
    ``portfolio`` is a Portfolio (validated here, with ``fund`` and ``dependence``) or a
    ValidatedModel (given alone; trusted)."""

    def __init__(self, portfolio: Portfolio | ValidatedModel, fund: Fund | None = None,
                 dependence: Dependence | None = None, *, seed: int,
                 method: str = MONTE_CARLO, levels: Sequence[float] = DEFAULT_LEVELS,
                 exponential_twist: bool | None = None, odds_tilt: bool | None = None):
        model = ensure_validated(portfolio, fund, dependence)
        _check_run_args(seed, method, levels)
        portfolio, fund, dependence = model.portfolio, model.fund, model.dependence
        self.model = model
        self.portfolio, self.fund, self.dependence = portfolio, fund, dependence
        levels = tuple(sorted({float(x) for x in levels}))
        horizon = fund.horizon_years
        cum = cumulative_pd(portfolio, horizon)
        self.student_t = dependence.copula == "student_t"
        self.nu = float(dependence.degrees_of_freedom or 0.0)
        thr = self.latent_threshold(cum)
        # b_i = Aᵀw_i with Σ = AAᵀ, so w_i·Z = b_i·ξ for independent factors ξ
        self.factor_cholesky = np.linalg.cholesky(
            np.asarray(dependence.factor_correlation, dtype=np.float64))
        iid_loading = self.iid_loadings(portfolio.factor_loadings)
        uniq, group_of = group_rows(iid_loading)
        order = np.lexsort((-thr[:, -1], group_of))
        self.order = order
        counts = np.bincount(group_of, minlength=uniq.shape[0])
        self.group_start = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
        self.group_loading = np.ascontiguousarray(uniq)
        self.group_sd = np.sqrt(np.clip(1.0 - np.sum(uniq * uniq, axis=1), 0.0, 1.0))
        self.group_of_sorted = group_of[order]
        self.threshold = np.ascontiguousarray(thr[order])
        p = portfolio
        self.exposure = p.exposure_cents[order].astype(np.float64)
        self.rate = p.guarantee_rate[order]
        self.cap = p.cap_cents[order].astype(np.float64)
        self.deductible = p.deductible_cents[order].astype(np.float64)
        lgd = p.loss_given_default[order]
        sd = p.loss_given_default_std[order]
        beta = sd > 0
        k = np.where(beta, lgd * (1 - lgd) / np.where(beta, sd * sd, 1.0) - 1.0, 0.0)
        self.lgd_alpha = np.where(beta, lgd * k, 0.0)
        self.lgd_beta = np.where(beta, (1 - lgd) * k, 0.0)
        self.payout_fixed = fixed_payout_cents(p)[order]
        max_payout = max_payouts(p)[order]
        cap_cents = portfolio_cap_cents(portfolio, fund)
        self.portfolio_cap = math.inf if cap_cents is None else float(cap_cents)
        self.horizon_pd = cum[order, -1]
        self.mean_payout = self.payout_fixed  # the payout at the mean LGD
        rough_el = float(np.dot(self.horizon_pd, self.mean_payout))
        max_loss = min(float(np.sum(max_payout)), self.portfolio_cap)
        top = min(max_loss, 64.0 * rough_el) if rough_el > 0 else max(max_loss, 1.0)
        edges = np.linspace(0.0, max(top, 1.0), HISTOGRAM_BINS + 1)
        if method == IMPORTANCE_SAMPLING:
            refuse_two_sided_tail(model.two_sided_tail, IMPORTANCE_SAMPLING)
        if method == IMPORTANCE_SAMPLING:
            shifts, counts = importance_mixture(self, levels)
        else:
            shifts = np.zeros((1, self.group_loading.shape[1]))
            counts = np.array([BLOCK_SCENARIOS - DEFENSIVE_SCENARIOS])
        # component k draws the scenarios [bounds[k], bounds[k+1]) of every block
        self.shifts, self.component_counts = shifts, counts
        self.component_bounds = DEFENSIVE_SCENARIOS + np.concatenate(([0], np.cumsum(counts)))
        shift = shifts[0]
        self.shift = shift
        twist = DEFAULT_EXPONENTIAL_TWIST if exponential_twist is None else exponential_twist
        self.twist = bool(twist) and method == IMPORTANCE_SAMPLING
        # The twist aims the conditional mean loss at the large-pool tail level: E[L | ξ = μ].
        self.twist_target = twist_target(self) if self.twist else 0.0
        tilt = DEFAULT_ODDS_TILT if odds_tilt is None else odds_tilt
        self.odds_tilt = (bool(tilt) and method == IMPORTANCE_SAMPLING and not self.twist
                          and bool(shift.any()))
        first = (odds_tilt_cells(self.threshold[:, -1], self.group_of_sorted,
                                 self.group_loading.shape[0], ODDS_TILT_GROUP_CELLS,
                                 ODDS_TILT_MAX_CELLS)
                 if self.odds_tilt else None)
        if first is None:
            self.odds_tilt, first = False, np.zeros(0, np.int64)
        self.cell_start = np.r_[first, self.threshold.shape[0]].astype(np.int64)
        self.group_cells = np.searchsorted(first, self.group_start).astype(np.int64)
        amount = self.mean_payout * (self.horizon_pd > 0)
        self.cell_amount = np.add.reduceat(amount, first) if first.size else np.zeros(0)
        # θ is solved on each cell's PD at its mean (its run's threshold for one run)
        top, bottom = self.threshold[first, -1], self.threshold[self.cell_start[1:] - 1, -1]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_pd = np.add.reduceat(amount * self.horizon_pd, first) / self.cell_amount \
                if first.size else np.zeros(0)
        self.cell_threshold = np.where((top == bottom) | ~(self.cell_amount > 0), top,
                                       self.latent_threshold(np.nan_to_num(mean_pd)))
        self.odds_tilt_target = (large_pool_loss(self, importance_shift(self, levels[0]))
                                 if self.odds_tilt else 0.0)
        if not self.odds_tilt_target > 0:
            self.odds_tilt, self.odds_tilt_target = False, 0.0
        self.keep_weight = max(KEEP_SAFETY * (1.0 - levels[0]) * BLOCK_SCENARIOS, 1.0)
        self.spec = RunSpec(
            seed=int(seed), method=method, levels=levels, horizon_years=horizon,
            capital_cents=int(fund.capital_cents),
            annual_fee_income_cents=annual_fee_income_cents(portfolio, fund),
            portfolio_cap_cents=cap_cents, importance_shift=tuple(float(x) for x in shift),
            histogram_edges_cents=tuple(float(x) for x in edges), max_loss_cents=max_loss,
            input_digest=_digest(portfolio, fund, dependence), exponential_twist=self.twist,
            twist_target_cents=float(self.twist_target),
            odds_tilt_target_cents=float(self.odds_tilt_target),
            expected_uncapped_loss_cents=float(cum[:, -1] @ expected_payouts(portfolio)),
            max_uncapped_loss_cents=float(np.sum(max_payout)),
            importance_mixture=tuple((int(c), tuple(float(x) for x in m))
                                     for c, m in zip(counts, shifts, strict=True))
            if shift.any() else ())
        self._empty2 = np.zeros((0, 0))
        self._empty_label = np.zeros(1, np.int32)
        self._empty1 = np.zeros(1)

    @functools.cached_property
    def shift_runs(self) -> tuple[np.ndarray, ...]:
        """``importance_shift``'s terms summed over the runs of equal thresholds of a factor
        group (exactly: they share z), so that its iterations cost O(runs), not
        O(guarantees x factors) (2.1 of the 3.7 s of planning a million ten-sector
        guarantees of four PDs): (group, s, c, log(w/s)) per run."""
        weight = self.mean_payout * (self.horizon_pd > 0) * (self.horizon_pd < 1)
        pd, group_of = self.horizon_pd, self.group_of_sorted
        new = np.ones(pd.size, dtype=bool)
        new[1:] = (pd[1:] != pd[:-1]) | (group_of[1:] != group_of[:-1])
        first = np.flatnonzero(new)
        w = np.add.reduceat(weight, first) if first.size else np.zeros(0)
        group = group_of[first]
        s = np.maximum(self.group_sd[group], 1e-6)
        c = np.where(w > 0, special.ndtri(pd[first]), 0.0)
        with np.errstate(divide="ignore"):
            return group, s, c, np.log(w) - np.log(s)

    def latent_threshold(self, cumulative_default_probability: np.ndarray) -> np.ndarray:
        """Default thresholds of the latent variables for cumulative PDs P: Gaussian
        Φ⁻¹(P); t copula t_ν⁻¹(P) (the latent variable is scaled per scenario)."""
        if self.student_t:
            return stats.t.ppf(cumulative_default_probability, self.nu)
        return special.ndtri(cumulative_default_probability)

    def iid_loadings(self, factor_loadings: np.ndarray) -> np.ndarray:
        """Loadings (n, F) on the correlated factors as loadings on the independent ones."""
        return factor_loadings @ self.factor_cholesky

    def draw_block(self, block: int):
        """Factor draws of one block: (rng positioned after them, ξ, scale, weight, ε)."""
        rng = np.random.default_rng(np.random.SeedSequence(entropy=self.spec.seed,
                                                           spawn_key=(block,)))
        eps = rng.standard_normal((BLOCK_SCENARIOS, self.group_loading.shape[1]))
        scale = (np.sqrt(rng.chisquare(self.nu, BLOCK_SCENARIOS) / self.nu)
                 if self.student_t else np.ones(BLOCK_SCENARIOS))
        mu = self.shift
        if mu.any() and self.shifts.shape[0] > 1:
            # A mixture of shifts (Glasserman, Kang & Shahabuddin 2008; see
            # ``importance_mixture``) with the defensive share: scenario j of every block
            # comes from component k when bounds[k] ≤ j < bounds[k+1] (the first
            # DEFENSIVE_SCENARIOS from the model's own law), whatever the chunk or shard.
            # Weight: the balance heuristic over all components (Owen & Zhou 2000),
            # φ(ξ)/(a_0 φ(ξ) + Σ_k a_k φ(ξ − μ_k)) with a_k the share of the block; the
            # defensive term bounds it by 1/a_0 = 16.
            xi = eps.copy()
            bounds = self.component_bounds
            for k, m in enumerate(self.shifts):
                xi[bounds[k]:bounds[k + 1]] += m
            log_terms = np.empty((BLOCK_SCENARIOS, self.shifts.shape[0] + 1))
            log_terms[:, 0] = math.log(DEFENSIVE_SHARE)
            log_terms[:, 1:] = (xi @ self.shifts.T
                                - 0.5 * np.sum(self.shifts * self.shifts, axis=1)
                                + np.log(self.component_counts / BLOCK_SCENARIOS))
            weight = np.exp(-special.logsumexp(log_terms, axis=1))
        elif mu.any():
            # One shift: a defensive mixture (Hesterberg 1995), allocated deterministically:
            # the first DEFENSIVE_SCENARIOS of each block keep the model's own factor law,
            # the rest are shifted. Each scenario's weight is the balance heuristic
            # φ(ξ)/(a φ(ξ) + (1 − a) φ(ξ − μ)) (Owen & Zhou 2000), unbiased and at most 1/a:
            # scenarios away from the tail (a binding portfolio cap) do not rest on a few
            # huge weights and their SEs stay honest.
            xi = eps.copy()
            xi[DEFENSIVE_SCENARIOS:] += mu
            log_shifted = xi @ mu - 0.5 * float(mu @ mu)  # log φ(ξ − μ)/φ(ξ)
            weight = np.exp(-np.logaddexp(math.log(DEFENSIVE_SHARE),
                                          math.log1p(-DEFENSIVE_SHARE) + log_shifted))
        else:
            xi = eps
            weight = np.ones(BLOCK_SCENARIOS)
        return rng, xi, scale, weight, eps

    def mixture_log_ratio(self, xi: np.ndarray) -> np.ndarray:
        """log R(ξ) = log Σ_k a_k φ(ξ − μ_k)/φ(ξ) over the shifted components (a_k their
        shares of the block): the weight of ``draw_block`` is 1/(a_0 + R(ξ))."""
        if self.shifts.shape[0] > 1:
            return special.logsumexp(
                xi @ self.shifts.T - 0.5 * np.sum(self.shifts * self.shifts, axis=1)
                + np.log(self.component_counts / BLOCK_SCENARIOS), axis=1)
        mu = self.shift
        return math.log1p(-DEFENSIVE_SHARE) + (xi @ mu - 0.5 * float(mu @ mu))

    def run_block(self, block: int, contributions=None):
        """Simulate one block: (uncapped loss (S,), payout by year (S, H), weight (S,), draws).
        ``contributions`` = (es_floor, var_low, var_high, label_a, label_b, g_sums, l_sums)
        switches on the Euler accumulation."""
        rng, xi, scale, weight, eps = self.draw_block(block)
        loss = np.empty(BLOCK_SCENARIOS)
        year = np.empty((BLOCK_SCENARIOS, self.spec.horizon_years))
        if self.twist:
            if contributions is not None:
                raise InvalidArgument(FieldViolation(
                    "exponential_twist", "contributions run on the untwisted sampler"))
            log_ratio = np.empty(BLOCK_SCENARIOS)
            theta = np.empty(BLOCK_SCENARIOS)
            kernels.simulate_block_twisted(
                rng, xi, scale, self.group_start, self.group_loading, self.group_sd,
                self.threshold, self.payout_fixed, self.mean_payout, self.lgd_alpha,
                self.lgd_beta, self.exposure, self.rate, self.cap, self.deductible,
                self.twist_target, loss, year, log_ratio, theta)
            return loss, year, weight * np.exp(log_ratio), (xi, scale, eps)
        if contributions is None:
            contributions = (math.inf, math.inf, -math.inf, self._empty_label,
                             self._empty_label, self._empty2, np.zeros((9, 1)))
        es_floor, var_low, var_high, label_a, label_b, g_sums, l_sums = contributions
        log_mix = self.mixture_log_ratio(xi) if self.odds_tilt else self._empty1
        kernels.simulate_block(
            rng, xi, scale, self.group_start, self.group_loading, self.group_sd,
            self.threshold, self.payout_fixed, self.lgd_alpha, self.lgd_beta, self.exposure,
            self.rate, self.cap, self.deductible, loss, year, self.portfolio_cap, weight,
            es_floor, var_low, var_high, label_a, label_b, g_sums, l_sums, self.cell_start,
            self.group_cells, self.cell_amount, self.cell_threshold, self.odds_tilt_target,
            DEFENSIVE_SCENARIOS, log_mix, math.log(DEFENSIVE_SHARE))
        return loss, year, weight, (xi, scale, eps)

    def fund_losses(self, loss: np.ndarray, year: np.ndarray):
        """Capped fund loss per scenario and exhaustion-by-year indicators (S, H)."""
        capped = np.minimum(loss, self.portfolio_cap)
        cum = np.minimum(np.cumsum(year, axis=1), self.portfolio_cap)
        years = np.arange(1, self.spec.horizon_years + 1)
        resources = self.spec.capital_cents + self.spec.annual_fee_income_cents * years
        exhausted = np.maximum.accumulate(cum > resources[None, :], axis=1)
        return capped, exhausted


# Why importance sampling is refused on the Student-t copula (measured, docs/PERFORMANCE.md
# "Importance sampling on Student-t copula books"): the factor shift moves the Gaussian
# factors, not the copula's common scale W (χ²_ν/ν) from which a t book's tail mostly
# comes, so tail scenarios arrive rarely, with heavy weights one run's SE does not see
# (200 seeds x 16 blocks, three books: EL beyond 3 SEs in 34-41 % of runs, P(L > c) at
# c ≈ VaR 99.9 % in 7.5-20 %, VaR/ES 99.9 % in 1.5-9.5 %), and plain Monte Carlo is
# 2.7-43x more efficient (squared error x CPU) on every figure measured.
T_COPULA_IMPORTANCE_SAMPLING = (
    "its factor shift does not reach the t copula's common scale, from which the tail "
    "mostly comes, so its standard errors understate the error (measured: EL, tail "
    "probabilities, VaR and ES 99.9 % beyond 3 SEs in 1.5-41 % of runs) and plain Monte "
    "Carlo is more efficient there")


def t_copula_violations(copula: str, method: str, field: str = "method"
                        ) -> list[FieldViolation]:
    """Importance sampling on the Student-t copula: a violation on ``field`` (the method)
    and one on ``dependence.copula``; none for another method or the Gaussian copula."""
    if method != IMPORTANCE_SAMPLING or copula == "gaussian":
        return []
    return [FieldViolation(field, f"{IMPORTANCE_SAMPLING} cannot run the Student-t copula: "
                                  f"{T_COPULA_IMPORTANCE_SAMPLING}; use {MONTE_CARLO} or auto"),
            FieldViolation("dependence.copula", f"{IMPORTANCE_SAMPLING} needs the Gaussian "
                                                f"copula (its standard errors are not honest "
                                                f"on the Student-t copula); use {MONTE_CARLO} "
                                                f"or auto")]


def default_method(two_sided_reason: str | None, copula: str) -> str:
    """What a run that was given no method uses: importance sampling where its shift
    covers the tail (one-sided, ``model.two_sided_tail``) and its SEs are honest (the
    Gaussian copula), plain Monte Carlo otherwise."""
    return (IMPORTANCE_SAMPLING if two_sided_reason is None and copula == "gaussian"
            else MONTE_CARLO)


def refuse_two_sided_tail(reason: str | None, method: str, field: str = "method") -> None:
    """Refuse ``method`` (importance_sampling, semi_analytic) with InvalidArgument on
    ``field`` when ``reason`` (from ``model.two_sided_tail``) says the tail is two-sided:
    it would return figures that miss part of the tail with a standard error that does
    not show it."""
    if reason is not None:
        raise InvalidArgument(FieldViolation(
            field, f"{method} cannot be used for this portfolio: {reason}; its figures "
                   f"would miss part of the tail. Use {MONTE_CARLO} (or auto)"))


def group_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows in lexicographic order and each row's index among them: what
    ``np.unique(rows, axis=0, return_inverse=True)`` gives, ~15x faster, and without
    holding the GIL (a void-dtype sort holds it: 0.6 s per 100k ten-factor rows, during
    which the risk service's event loop answered nothing, health checks included)."""
    order = np.lexsort(rows.T[::-1])
    ordered = rows[order]
    first = np.empty(rows.shape[0], dtype=bool)
    first[:1] = True
    np.any(ordered[1:] != ordered[:-1], axis=1, out=first[1:])
    group_of = np.empty(rows.shape[0], dtype=np.int64)
    group_of[order] = np.cumsum(first) - 1
    return ordered[first], group_of


def odds_tilt_cells(threshold: np.ndarray, group_of: np.ndarray, groups: int,
                    per_group: int, max_cells: int) -> np.ndarray | None:
    """First guarantee of each cell of the odds tilt (``kernels.simulate_block``) in the
    sorted order (``threshold`` the horizon thresholds, falling within each group): a
    group's runs of equal thresholds when it has at most ``per_group`` of them, else its
    runs merged into ``per_group`` cells cut at the widest gaps between them (where a
    candidate past the gap would most often be rejected); fewer per group when the groups
    would hold more than ``max_cells``, and None when not even one each fits."""
    per_group = min(per_group, max_cells // groups)
    if per_group < 1:
        return None
    new = np.ones(threshold.size, dtype=bool)
    new[1:] = (threshold[1:] != threshold[:-1]) | (group_of[1:] != group_of[:-1])
    first = np.flatnonzero(new)
    run_group = group_of[first]
    runs = np.bincount(run_group, minlength=groups)
    if runs.max() <= per_group:
        return first
    gap = np.full(first.size, np.inf)
    run_threshold = threshold[first]
    gap[1:] = np.where(run_group[1:] == run_group[:-1],
                       run_threshold[:-1] - run_threshold[1:], np.inf)
    order = np.lexsort((-gap, run_group))  # each group's runs, widest gap first
    rank = np.empty(first.size, dtype=np.int64)
    rank[order] = np.arange(first.size) - np.repeat(np.cumsum(runs) - runs, runs)
    return first[rank < per_group]


def importance_shift(plan: SimulationPlan, level: float, iterations: int = 8) -> np.ndarray:
    """Mean shift μ of the independent factors for the tail at ``level`` (Glasserman–Li):
    the direction in which the conditional expected loss rises fastest, at distance
    Φ⁻¹(level), i.e. where the large-pool loss reaches its ``level`` quantile. Re-evaluating
    the gradient at the shifted point a few times follows the curved iso-loss surface."""
    group, s, c, log_weight = plan.shift_runs
    loading = plan.group_loading
    radius = float(special.ndtri(level))
    mu = np.zeros(loading.shape[1])
    for _ in range(iterations):
        z = (c - (loading @ mu)[group]) / s
        # Only the direction counts: scaled by the largest term so that near-perfect
        # correlation (z in the tens, exp(−z²/2) = 0 in floating point) keeps its shift.
        log_term = log_weight - 0.5 * z * z
        top = float(np.max(log_term)) if log_term.size else -math.inf
        if not math.isfinite(top):
            return np.zeros(loading.shape[1])
        grad = -(np.bincount(group, np.exp(log_term - top), loading.shape[0]) @ loading)
        norm = float(np.linalg.norm(grad))
        if not norm > 0:
            return np.zeros(loading.shape[1])
        mu = radius * grad / norm
    return mu


def importance_mixture(plan: SimulationPlan,
                       levels: float | Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The shifts of importance sampling's mixture and the scenarios each draws per block:
    (shifts (K, F), counts (K,)), counts summing to BLOCK_SCENARIOS − DEFENSIVE_SCENARIOS,
    for the tails at every one of ``levels`` (``_level_mixture`` for one level).

    Several levels: a tail's dominating points move with the level, and a region that
    carries a lower level's tail may be rejected at the highest (on a two-sector book with
    loadings 0.5/0.3 the second sector alone is 45× less likely than the first at 99.9 %,
    not at 99 %): aimed at the highest level only (when the cutoff was 8×), the 99 % tail
    of that sector was left to the
    defensive share, whose rare heavy weights the run's own SE could not see (ES 99 % beyond
    3 SE of the exact value in 34 % of seeds at 8 blocks). So each level's mixture gets an
    equal part of the shifted scenarios, shared among its points as for one level; a
    lower level's point within MIXTURE_MIN_DISTANCE of the segment from the origin to a
    point kept before it (the highest level's first) is that point's region, nearer the
    mode, and gives it its share. A book with one tail direction (one factor) keeps one
    shift, the highest level's Glasserman–Li shift, and its bit-identical stream."""
    levels = sorted({float(x) for x in np.atleast_1d(np.asarray(levels, dtype=np.float64))})
    shifted = BLOCK_SCENARIOS - DEFENSIVE_SCENARIOS
    points: list[np.ndarray] = []
    share: list[float] = []
    cells = functools.cache(lambda: _loss_cells(plan))  # one pass over the book, all levels
    for level in reversed(levels):
        found = [(point, w) for point, w in _level_mixture(plan, level, cells)
                 if point.any()]
        if not found:
            continue
        part = np.array([w for _, w in found])
        if len(levels) > 1:
            part = part / part.sum() / len(levels)
        higher = len(points)  # a level's own points are already apart (``_level_mixture``)
        for (point, _), a in zip(found, part, strict=True):
            gaps = [_segment_distance(point, q) for q in points[:higher]]
            if gaps and min(gaps) < MIXTURE_MIN_DISTANCE:
                share[int(np.argmin(gaps))] += a
            elif len(points) < MIXTURE_MAX_COMPONENTS:
                points.append(point)
                share.append(a)
            else:  # no room: its region stays with the defensive share and the others
                share[0] += a
    if not points:
        return np.zeros((1, plan.group_loading.shape[1])), np.array([shifted])
    if len(points) == 1:
        return points[0][None, :], np.array([shifted])
    exact = shifted * np.array(share) / sum(share)
    counts = np.floor(exact).astype(np.int64)
    remainder = np.argsort(-(exact - counts), kind="stable")[:shifted - int(counts.sum())]
    counts[remainder] += 1
    keep = counts > 0
    return np.array(points)[keep], counts[keep]


def _segment_distance(point: np.ndarray, end: np.ndarray) -> float:
    """Distance of ``point`` from the segment from the origin to ``end``."""
    norm2 = float(end @ end)
    t = min(max(float(point @ end) / norm2, 0.0), 1.0) if norm2 > 0 else 0.0
    return float(np.linalg.norm(point - t * end))


def _level_mixture(plan: SimulationPlan, level: float,
                   cells: Callable[[], tuple[np.ndarray, ...]]
                   ) -> list[tuple[np.ndarray, float]]:
    """The mixture's points for the tail at one ``level`` and their relative shares:
    [(shift, share)], the Glasserman–Li shift (or the leading candidate) first.

    One shift (Glasserman & Li 2005) points at one part of the tail. When the tail is a
    union of regions (sectors on independent factors, each able to reach it alone), each
    region has its own dominating point, the nearest point of the factor space where the
    large-pool loss reaches the tail level, and an efficient sampler is a mixture of shifts,
    one per dominating point (Glasserman, Kang & Shahabuddin 2008, "Fast simulation of
    multifactor portfolio credit risk", Operations Research 56(5)). The rule, deterministic
    in the plan:

    1. Candidate directions: the Glasserman–Li shift (``importance_shift``), the gradient
       of the conditional expected loss at the origin (the joint direction, which the
       iteration leaves when it is a saddle between sectors), and each factor in use on its
       own (row f of the Cholesky factor: the factor at its ``level`` quantile, the others
       at their conditional means, signed to raise the loss).
    2. The loss level x = the largest conditional expected loss E[L | ξ] over the
       candidates at radius Φ⁻¹(level); each candidate is moved along its direction to the
       radius t_k where E[L | ξ] = x (its point on the iso-loss surface; the leader stays
       at Φ⁻¹(level), so a book with one direction keeps the Glasserman–Li shift exactly).
    3. A candidate is kept when exp(−(t_k² − t_0²)/2) ≥ 1/MIXTURE_LIKELIHOOD_RATIO (its
       point is at most 64× less likely than the leader's), it lies at least
       MIXTURE_MIN_DISTANCE from every shift kept before it (nearer ones sample the same
       region), in order of t_k, up to MIXTURE_MAX_COMPONENTS.
    4. The shifted scenarios are shared in proportion to exp(−t_k²/2) (largest remainder).

    A one-factor book keeps the one shift and its bit-identical stream; a book whose
    factors rise together (the ten-factor bench book, where each factor alone needs
    t² − t_0² ≈ 6, 20× less likely) keeps the Glasserman–Li shift with most of the
    scenarios and each factor alone with a few. Weights are the balance heuristic over the
    defensive share and every component (Owen & Zhou 2000), at most 1/DEFENSIVE_SHARE."""
    joint = importance_shift(plan, level)
    if not joint.any():
        return [(joint, 1.0)]
    radius = float(special.ndtri(level))
    b, s, c, weight = cells()  # ``_loss_cells``

    def conditional_loss(point: np.ndarray) -> float:
        return float(weight @ special.ndtr((c - b @ point) / s))

    loadings = plan.portfolio.factor_loadings
    directions = [joint / np.linalg.norm(joint)]
    first = importance_shift(plan, level, iterations=1)
    if first.any():
        directions.append(first / np.linalg.norm(first))
    for f in range(loadings.shape[1]):
        if not np.any(loadings[:, f] != 0):
            continue
        sign = -1.0 if np.any(loadings[:, f] > 0) else 1.0
        directions.append(sign * plan.factor_cholesky[f])
    at_radius = [conditional_loss(radius * d) for d in directions]
    # the Glasserman–Li shift leads unless a candidate reaches a larger loss at its radius
    lead = int(np.argmax(at_radius)) if max(at_radius) > at_radius[0] else 0
    target = at_radius[lead]
    far = math.sqrt(radius * radius + 2.0 * math.log(MIXTURE_LIKELIHOOD_RATIO))
    kept = [(radius, lead, joint if lead == 0 else radius * directions[lead])]
    found = []
    for k, d in enumerate(directions):
        if k == lead or conditional_loss(far * d) < target:
            continue
        lo, hi = radius, far  # E[L | t d] rises along d: bisect for E = target
        for _ in range(20):
            mid = 0.5 * (lo + hi)
            if conditional_loss(mid * d) < target:
                lo = mid
            else:
                hi = mid
        found.append((hi, k, hi * d))
    for t, k, point in sorted(found, key=lambda x: (x[0], x[1])):
        if len(kept) == MIXTURE_MAX_COMPONENTS:
            break
        if all(np.linalg.norm(point - q) >= MIXTURE_MIN_DISTANCE for _, _, q in kept):
            kept.append((t, k, point))
    return [(point, math.exp(-0.5 * (t * t - radius * radius))) for t, _, point in kept]


def _loss_cells(plan: SimulationPlan) -> tuple[np.ndarray, ...]:
    """The large-pool loss E[L | ξ] = Σ w · Φ((c − b·ξ)/s) summed over cells of guarantees
    with one factor group and one default threshold c (to 1e-3) instead of over
    guarantees: (b, s, c, w) per cell. The mixture's search evaluates it a few hundred
    times; per guarantee that took 20 s on a million ten-sector guarantees. The shifts only
    steer the sampler (every weight stays exact), so a threshold to 1e-3 is plenty."""
    weight = plan.mean_payout * (plan.horizon_pd > 0) * (plan.horizon_pd < 1)
    c = np.where(weight > 0, special.ndtri(plan.horizon_pd), 0.0)
    span = 20_001  # thresholds −10.000 … 10.000 (|Φ⁻¹(p)| < 8.3 for p ≥ 1e-16)
    key = (plan.group_of_sorted.astype(np.int64) * span
           + np.rint(np.clip(c, -10.0, 10.0) * 1000.0).astype(np.int64) + span // 2)
    cells, cell_of = np.unique(key, return_inverse=True)
    group = cells // span
    return (plan.group_loading[group], np.maximum(plan.group_sd[group], 1e-6),
            (cells % span - span // 2) / 1000.0,
            np.bincount(cell_of.reshape(-1), weights=weight, minlength=cells.size))


def twist_target(plan: SimulationPlan) -> float:
    """Loss level the exponential twist aims at: the conditional expected loss at the
    factor shift, Σ_i a_i P(default_i | ξ = μ) (the large-pool loss at the tail level)."""
    return large_pool_loss(plan, plan.shift)


def large_pool_loss(plan: SimulationPlan, point: np.ndarray) -> float:
    """The conditional expected loss Σ_i a_i P(default_i | ξ = point), a_i the payout at
    the mean LGD."""
    sd = plan.group_sd[plan.group_of_sorted]
    arg = plan.threshold[:, -1] - (plan.group_loading @ point)[plan.group_of_sorted]
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(sd > 0, special.ndtr(arg / np.where(sd > 0, sd, 1.0)),
                     (arg > 0).astype(np.float64))
    return float(plan.mean_payout @ p)


def simulate_blocks(plan: SimulationPlan, block_start: int, block_stop: int) -> ShardResult:
    """Simulate blocks [block_start, block_stop) of ``plan`` into one ShardResult."""
    if not 0 <= block_start <= block_stop:
        raise InvalidArgument(FieldViolation("block_range", "need 0 <= start <= stop"))
    records = BlockRecords(plan.spec, block_start, block_stop, plan.keep_weight)
    for block in range(block_start, block_stop):
        loss, year, w, _ = plan.run_block(block)
        capped, exhausted = plan.fund_losses(loss, year)
        records.add(loss, capped, exhausted, w)
    return records.shard()


class BlockRecords:
    """Reduces each simulated block, in block order, to its record (see ShardResult)."""

    def __init__(self, spec: RunSpec, block_start: int, block_stop: int, keep_weight: float):
        nb = block_stop - block_start
        self.spec, self.start, self.stop, self.keep_weight = spec, block_start, block_stop, \
            keep_weight
        self.edges = np.asarray(spec.histogram_edges_cents)
        self.sums = {k: np.zeros(nb) for k in (
            "weight_sum", "weight_sq_sum", "capped_sum", "capped_sq_sum", "excess_sum",
            "excess_sq_sum", "cross_sum")}
        self.exh = np.zeros((nb, spec.horizon_years))
        self.exh_sq = np.zeros((nb, spec.horizon_years))
        self.hist = np.zeros((nb, HISTOGRAM_BINS))
        self.tails_l: list[np.ndarray] = []
        self.tails_w: list[np.ndarray] = []
        self.tails_u: list[np.ndarray] = []
        self.offsets = np.zeros(nb + 1, np.int64)
        self.floors = np.full(nb, -math.inf)
        self.k = 0

    def add(self, loss: np.ndarray, capped: np.ndarray, exhausted: np.ndarray,
            w: np.ndarray) -> None:
        """Add the next block: loss and capped fund loss (S,), exhaustion indicators (S, H),
        weights."""
        k = self.k
        wm, we = w * capped, w * (loss - capped)
        self.sums["weight_sum"][k] = w.sum()
        self.sums["weight_sq_sum"][k] = (w * w).sum()
        self.sums["capped_sum"][k] = wm.sum()
        self.sums["capped_sq_sum"][k] = (wm * wm).sum()
        self.sums["excess_sum"][k] = we.sum()
        self.sums["excess_sq_sum"][k] = (we * we).sum()
        self.sums["cross_sum"][k] = (wm * we).sum()
        self.exh[k] = w @ exhausted
        self.exh_sq[k] = (w * w) @ exhausted
        bins = np.clip(np.searchsorted(self.edges, capped, side="right") - 1, 0,
                       HISTOGRAM_BINS - 1)
        self.hist[k] = np.bincount(bins, weights=w, minlength=HISTOGRAM_BINS)
        order = np.argsort(-capped, kind="stable")
        cw = np.cumsum(w[order])
        size = capped.shape[0]
        keep = max(int(np.searchsorted(cw, self.keep_weight, side="right")) + 1, KEEP_MIN)
        if keep < size:
            floor = capped[order[keep - 1]]
            keep = int(np.count_nonzero(capped >= floor))  # keep ties with the floor
            self.floors[k] = floor if keep < size else -math.inf
        keep = min(keep, size)
        self.tails_l.append(capped[order[:keep]])
        self.tails_w.append(w[order[:keep]])
        self.tails_u.append(loss[order[:keep]])
        self.offsets[k + 1] = self.offsets[k] + keep
        self.k += 1

    def shard(self) -> ShardResult:
        """The ShardResult of the blocks added so far (all of the range)."""
        return ShardResult(
            spec=self.spec, block_start=self.start, block_stop=self.stop, **self.sums,
            exhaustion_sum=self.exh, exhaustion_sq_sum=self.exh_sq, histogram=self.hist,
            tail_loss=np.concatenate(self.tails_l) if self.tails_l else np.zeros(0),
            tail_weight=np.concatenate(self.tails_w) if self.tails_w else np.zeros(0),
            tail_uncapped_loss=np.concatenate(self.tails_u) if self.tails_u else np.zeros(0),
            tail_offsets=self.offsets, tail_floor=self.floors)


def simulate_shard(portfolio: Portfolio | ValidatedModel, fund: Fund | None = None,
                   dependence: Dependence | None = None, *, seed: int,
                   block_range: tuple[int, int], method: str = MONTE_CARLO,
                   levels: Sequence[float] = DEFAULT_LEVELS,
                   exponential_twist: bool | None = None,
                   odds_tilt: bool | None = None) -> ShardResult:
    """Simulate the blocks ``block_range = (start, stop)`` of the run with ``seed``
    (scenarios [start·BLOCK_SCENARIOS, stop·BLOCK_SCENARIOS)). ``method`` is ``monte_carlo``
    or ``importance_sampling`` (``exponential_twist``, ``odds_tilt`` as in SimulationPlan).
    Merge shards with ``merge_shards``. The model as in SimulationPlan."""
    plan = SimulationPlan(portfolio, fund, dependence, seed=seed, method=method, levels=levels,
                          exponential_twist=exponential_twist, odds_tilt=odds_tilt)
    return simulate_blocks(plan, *block_range)


def merge_shards(shards: Sequence[ShardResult]) -> PortfolioResult:
    """Merge shards covering consecutive blocks (any partition, any order) into the result
    of one run: bit-identical to simulating all their blocks at once."""
    return _finalize(concat_shards(shards))


def concat_shards(shards: Sequence[ShardResult]) -> ShardResult:
    """Join shards of one run (same spec, blocks that tile one range) into one ShardResult."""
    if not shards:
        raise InvalidArgument(FieldViolation("shards", "need at least one shard"))
    shards = sorted(shards, key=lambda s: s.block_start)
    spec = shards[0].spec
    for i, s in enumerate(shards):
        if s.spec != spec:
            raise InvalidArgument(FieldViolation(
                f"shards[{i}]", "comes from a different run (seed, method or inputs differ)"))
        if i and s.block_start != shards[i - 1].block_stop:
            raise InvalidArgument(FieldViolation(
                f"shards[{i}]", f"blocks must tile one range; gap or overlap at block "
                                f"{shards[i - 1].block_stop}"))
    if len(shards) == 1:
        return shards[0]
    tail_offsets = [shards[0].tail_offsets]
    for s in shards[1:]:
        tail_offsets.append(s.tail_offsets[1:] + tail_offsets[-1][-1])
    cat = {k: np.concatenate([getattr(s, k) for s in shards]) for k in (
        "weight_sum", "weight_sq_sum", "capped_sum", "capped_sq_sum", "excess_sum",
        "excess_sq_sum", "cross_sum", "exhaustion_sum", "exhaustion_sq_sum", "histogram",
        "tail_loss", "tail_weight", "tail_uncapped_loss", "tail_floor")}
    return ShardResult(spec=spec, block_start=shards[0].block_start,
                       block_stop=shards[-1].block_stop, tail_offsets=np.concatenate(
                           tail_offsets), **cat)


class _Tail:
    """The merged weighted tail sample, sorted by loss descending."""

    def __init__(self, shard: ShardResult, n: int):
        order = np.argsort(-shard.tail_loss, kind="stable")
        self.loss = shard.tail_loss[order]
        self.weight = shard.tail_weight[order]
        self.uncapped = shard.tail_uncapped_loss
        self.uncapped_weight = shard.tail_weight
        self.cw = np.cumsum(self.weight)
        self.cwl = np.cumsum(self.weight * self.loss)
        self.cw2 = np.cumsum(self.weight * self.weight)
        self.n = n
        self.floor = float(np.max(shard.tail_floor)) if shard.tail_floor.size else -math.inf
        self.complete = True
        # The sample's distinct losses x_j (descending), P̂(L > x_j) and its standard error
        # s_j (the weighted indicator's, as for the exhaustion probabilities).
        if self.loss.size:
            first = np.flatnonzero(np.r_[True, self.loss[1:] != self.loss[:-1]])
        else:
            first = np.zeros(0, np.int64)
        self.distinct = self.loss[first]
        above_w = np.where(first > 0, self.cw[np.maximum(first - 1, 0)], 0.0)
        above_w2 = np.where(first > 0, self.cw2[np.maximum(first - 1, 0)], 0.0)
        self.exceed = above_w / n
        self.exceed_se = np.sqrt(np.maximum(above_w2 / n - self.exceed ** 2, 0.0) / n)
        # tail risks whose VaR sits on an atom of a lumpy law: level -> (gap, P(neighbour))
        self.lumpy: dict[float, tuple[float, float]] = {}
        self._laws: dict[float, np.ndarray] = {}  # level -> ``_var_law``

    def unseen_excess(self, cap: float, largest: float) -> float:
        """The weighted size of a loss above the portfolio cap that the run may not have
        seen (``control_variate_mean``'s few-events floor), where fewer than
        MIN_STOP_TAIL_SCENARIOS scenarios (their effective number) passed the cap: the root
        mean square distance beyond u of the losses (before the cap) beyond u, u the loss
        where that number is reached, times their typical weight Σw²/Σw. A scale, not a
        bound: where the excess's law above the cap is wider than the tail's at u, a few
        runs still fall beyond 3 SE. 0 where as many passed the cap (their own spread
        tells), and at most ``largest``, the most the book can lose above it (0: the cap
        cannot bind)."""
        if largest <= 0.0 or self.uncapped.size == 0:
            return 0.0
        order = np.argsort(-self.uncapped, kind="stable")
        loss, w = self.uncapped[order], self.uncapped_weight[order]
        cw, cw2 = np.cumsum(w), np.cumsum(w * w)
        reached = cw * cw >= MIN_STOP_TAIL_SCENARIOS * cw2
        i = int(np.argmax(reached)) if reached.any() else loss.size - 1
        if loss[i] >= cap:
            return 0.0
        beyond = loss[:i + 1] - loss[i]
        spread = math.sqrt(float(np.dot(w[:i + 1], beyond * beyond)) / cw[i])
        return cw2[i] / cw[i] * min(spread, largest)

    def _index(self, level: float) -> int:
        k = int(np.searchsorted(self.cw, (1.0 - level) * self.n, side="right"))
        if k >= self.loss.size:
            self.complete = False
            return self.loss.size - 1
        return k

    def var(self, level: float) -> float:
        level = min(max(level, 0.0), 1.0 - 1e-300)
        value = float(self.loss[self._index(level)])
        if value < self.floor:
            self.complete = False
        return value

    def _var_error(self, level: float, v: float) -> float:
        """The VaR estimate's standard error: the root mean square of its error under its
        own sampling law, with floors from the order-statistic interval.

        The estimate is the smallest sampled x with P̂(L > x) ≤ 1 − α, so it is ≤ x_j
        exactly when P̂(L > x_j) ≤ 1 − α: its law is P(VaR̂ ≤ x_j) ≈ Φ((1 − α − p_j)/s_j),
        s_j the standard error of P̂(L > x_j) (the CLT of the estimated tail probability
        at each x_j, which makes the quantile's: binomial order statistics for plain MC,
        Serfling 1980 §2.3–2.6; under importance sampling Glynn 1996, Chu & Nakayama 2012),
        read with the run's own p̂_j, ŝ_j: the plug-in (exact bootstrap) law of the
        quantile (Maritz & Jarrett 1978; Hutson & Ernst 2000) in its normal form. Its RMS
        about the estimate is σ_p/f on a smooth law (the ±σ_p band's figure, integrated
        over the band instead of read at its two ends) and, on a lumpy law, weighs each
        neighbouring atom by how likely the estimate is to land there. (The band read at
        ±σ_p alone rounded to whole atoms: with σ_p about one atom's mass it said half an
        atom while errors reached two or three.)

        Floors, from the test-inversion (order-statistic) interval of the quantile
        (Serfling §2.6.1; Chu & Nakayama 2012 under IS): a neighbouring atom that a true
        VaR could be at 3 s_j keeps the SE at ≥ a third of its gap, so that the true VaR is
        within 3 SE of the estimate whenever the 99.7 % interval holds it; at 2 s_j, ≥ half
        of it (a near-tie: the estimate lands on either about as often). An atom held
        firmly (the no-loss atom, the cap) keeps the law's figure."""
        x = self.distinct
        if x.size < 2:
            return 0.0
        j0 = int(np.searchsorted(-x, -v, side="left"))
        below = special.ndtr(self._var_law(level))  # P(VaR̂ ≤ x_j)
        mass = below - np.r_[below[1:], 0.0]
        mse = float(mass @ ((x - v) ** 2))
        neighbours = self._var_neighbours(level, v)
        gaps3 = [abs(gap) for gap, _, at3, _ in neighbours if at3]
        gaps2 = [abs(gap) for gap, _, _, at2 in neighbours if at2]
        floor = max(max(gaps3, default=0.0) / 3.0, 0.5 * min(gaps2, default=0.0))
        if gaps3 and mass[j0] >= 0.5:
            # the estimate sits on an atom it shares with a neighbour within 3 s_j
            near = min(gaps3)
            side = [j for j in (j0 - 1, j0 + 1) if 0 <= j < x.size and abs(x[j] - v) == near]
            self.lumpy[level] = (near, float(mass[side[0]]))
        return max(math.sqrt(mse), floor)

    def _var_neighbours(self, level: float, v: float
                        ) -> list[tuple[float, float, bool, bool]]:
        """The neighbouring atoms a true VaR could be at (``_var_error``'s floors): for the
        sampled loss above v and the one below (not below the kept tail's floor), (x − v,
        the threshold in Z past which the estimate moves there (``_var_steps``), whether
        within 3 s_j, within 2 s_j). Above, a true VaR there needs P(L > v) > 1 − α; below,
        P(L ≥ v) ≤ 1 − α."""
        x, p, s = self.distinct, self.exceed, self.exceed_se
        a = 1.0 - level
        j0 = int(np.searchsorted(-x, -v, side="left"))
        law = self._var_law(level)
        out = []
        if j0 > 0:
            out.append((float(x[j0 - 1] - v), float(law[j0]),
                        bool(p[j0] + 3 * s[j0] > a), bool(p[j0] + 2 * s[j0] > a)))
        if j0 + 1 < x.size and x[j0 + 1] >= self.floor:
            out.append((float(x[j0 + 1] - v), float(law[j0 + 1]),
                        bool(p[j0 + 1] - 3 * s[j0 + 1] <= a),
                        bool(p[j0 + 1] - 2 * s[j0 + 1] <= a)))
        return out

    def _var_law(self, level: float) -> np.ndarray:
        """The VaR estimate's plug-in law (``_var_error``) as thresholds D_j in one standard
        normal Z: VaR̂ ≤ x_j exactly when Z ≤ D_j, for the sample's distinct losses x_j
        (descending). P̂(L > x_j) = p̂_j + ŝ_j Z ≤ 1 − α when Z ≤ d_j = (1 − α − p̂_j)/ŝ_j,
        and VaR̂ ≤ x_j needs it at x_j and every larger x_k: D_j = min_{k ≤ j} d_k, so that
        P(VaR̂ ≤ x_j) = Φ(D_j) is non-increasing as x_j falls. Below the floor of the kept
        tail p̂_j misses unkept scenarios: its D_j is too large, which spreads the law (a
        conservative SE; the result says the tail sample was incomplete), where dropping it
        said 0."""
        if level not in self._laws:
            a, p, s = 1.0 - level, self.exceed, self.exceed_se
            with np.errstate(divide="ignore", invalid="ignore"):
                z = np.where(s > 0, (a - p) / s, np.where(a >= p, np.inf, -np.inf))
            self._laws[level] = np.minimum.accumulate(z)
        return self._laws[level]

    def _var_steps(self, level: float, v: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The error VaR̂ − v under the plug-in law of ``_var_law`` as a step function of its
        Z: Σ c_j 1{Z > t_j} − Σ c'_j 1{Z ≤ t'_j}, c_j the gaps above v (the estimate passes
        x_{j+1} upwards when Z > D_{j+1}) and c'_j those below (it falls to x_j or lower when
        Z ≤ D_j). Returns (c, t, −c', t') as ``_step_mean_square`` takes them. Steps beyond
        ±9 (Φ(−9) ≈ 1e-19) are left out, so that a long tail sample costs nothing."""
        x = self.distinct
        if x.size < 2:
            return (np.zeros(0),) * 4
        j0 = int(np.searchsorted(-x, -v, side="left"))
        law = self._var_law(level)
        gap = x[:-1] - x[1:]  # gap[j] spans x_{j+1} to x_j
        up_c, up_t = gap[:j0], law[1:j0 + 1]
        down_c, down_t = gap[j0:], law[j0 + 1:]
        up, down = (up_c > 0) & (up_t < 9.0), (down_c > 0) & (down_t > -9.0)
        return up_c[up], up_t[up], -down_c[down], down_t[down]

    def _es_var_error(self, level: float, v: float) -> float:
        """The RMS of the part of the ES estimate's error that comes from its VaR's error.

        The estimate is the minimum over x of Ĝ(x) = x + Σ w (L − x)⁺/(n(1 − α)) (Rockafellar
        & Uryasev 2002), taken at x = VaR̂. Its error is Ĝ(VaR) − ES, whose SE is the influence
        function's (Manistre & Hancock 2005; Sun & Hong 2010 under IS), plus the remainder
        Ĝ(VaR̂) − Ĝ(VaR) = −∫ between VaR and VaR̂ of |F̂(t) − α| dt/(1 − α) ≤ 0, which those
        asymptotics drop. On a law with a density at VaR it is of order f·(VaR̂ − VaR)²/(1 − α)
        and negligible; on a lumpy one the estimate lands on a neighbouring atom as often as the
        VaR's SE says, and the remainder is a whole gap times |F̂ − α|/(1 − α): as large as the
        influence function's term where ES − VaR is about an atom and α sits near an atom's edge
        (50 one-unit payouts: RMS error 1.07–1.26 SEs under importance sampling without it,
        0.92–1.06 with it; docs/PERFORMANCE.md).

        Its mean square under the VaR's plug-in law (``_var_error``): P̂(L > x_j) = p̂_j + ŝ_j Z
        with one Z for every x_j (the tail count near VaR moves as one), so the remainder is
        −h(Z)/(1 − α) with h the hinges of ``_es_var_hinges``. At an exact tie the law's margin
        is the sample's, not 0, and it says about two thirds of the remainder's RMS."""
        return math.sqrt(_hinge_mean_square(*self._es_var_hinges(level, v))) / (1.0 - level)

    def _es_var_hinges(self, level: float, v: float
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The remainder Ĝ(VaR̂) − Ĝ(v) under the plug-in law of ``_es_var_error`` as
        −h(Z)/(1 − α), h(Z) = Σ c_j (Z − d_j)⁺ + Σ c'_j (−Z − d'_j)⁺: c_j = gap_j ŝ_j over the
        gaps above v, d_j = (1 − α − p̂_j)/ŝ_j (the estimate moves up a gap when P̂(L > x_j)
        exceeds 1 − α), and the same in −Z over the gaps below, d'_j = (p̂_j − (1 − α))/ŝ_j.
        Returns (c, d, c', −d'): the hinges (Z − d)⁺ and (−d' − Z)⁺ as ``_hinge_mean_square``
        takes them. Terms with d ≥ 9 are below rounding (φ(9) ≈ 1e-18), and are left out so
        that a long tail sample costs nothing."""
        x, p, s = self.distinct, self.exceed, self.exceed_se
        if x.size < 2:
            return (np.zeros(0),) * 4
        a = 1.0 - level
        j0 = int(np.searchsorted(-x, -v, side="left"))
        gap = x[:-1] - x[1:]  # gap[j - 1] spans x_j to x_{j-1}, where P̂(L > t) = p̂_j
        above, below = slice(1, j0 + 1), slice(j0 + 1, x.size)
        with np.errstate(divide="ignore", invalid="ignore"):
            up_c, up_d = gap[:j0] * s[above], (a - p[above]) / s[above]
            down_c, down_d = gap[j0:] * s[below], (p[below] - a) / s[below]
        up, down = (up_c > 0) & (up_d < 9.0), (down_c > 0) & (down_d < 9.0)
        return up_c[up], up_d[up], down_c[down], -down_d[down]

    def _es_var_edge(self, level: float, v: float) -> bool:
        """Which count carries most of the remainder's mean square (``_es_var_hinges``):
        P̂(L > v), that of the gaps above v (True), or P̂(L ≥ v), below (False)."""
        up_c, up_d, down_c, down_t = self._es_var_hinges(level, v)
        none = np.zeros(0)
        return bool(_hinge_mean_square(up_c, up_d, none, none)
                    >= _hinge_mean_square(none, none, down_c, down_t))

    def risk(self, level: float) -> TailRisk:
        n, target = self.n, (1.0 - level) * self.n
        k = self._index(level)
        v = float(self.loss[k])
        before_w = self.cw[k - 1] if k else 0.0
        before_wl = self.cwl[k - 1] if k else 0.0
        es = (before_wl + (target - before_w) * v) / target
        at = int(np.searchsorted(-self.loss, -v, side="right"))
        p = self.cw[at - 1] / n
        sp = math.sqrt(max(self.cw2[at - 1] / n - p * p, 0.0) / n)
        self.var(level - sp)  # a ±σ_p band reaching below the kept tail: incomplete
        var_se = self._var_error(level, v)
        # ES = VaR + E[w (L - VaR)+]/(1 - α): its influence function is w (L - VaR)+/(1 - α);
        # the VaR's own error adds a remainder that counts on lumpy laws (``_es_var_error``).
        above = int(np.searchsorted(-self.loss, -v, side="left"))  # losses above VaR
        excess = self.loss[:above] - v
        m1 = float(np.dot(self.weight[:above], excess)) / n
        m2 = float(np.dot(self.weight[:above] ** 2, excess * excess)) / n
        es_se = math.hypot(math.sqrt(max(m2 - m1 * m1, 0.0) / n) / (1.0 - level),
                           self._es_var_error(level, v))
        if v < self.floor:
            self.complete = False
        return TailRisk(level, Estimate(v, max(var_se, 0.0)), Estimate(float(es), es_se))


def _finalize(shard: ShardResult, cancelled: bool = False) -> PortfolioResult:
    spec = shard.spec
    blocks = shard.block_stop - shard.block_start
    n = blocks * BLOCK_SCENARIOS
    if n == 0:
        raise InvalidArgument(FieldViolation("scenarios", "no block was simulated"))
    tail = _Tail(shard, n)
    el = control_variate_mean(
        *(float(np.sum(getattr(shard, k))) for k in (
            "capped_sum", "capped_sq_sum", "excess_sum", "excess_sq_sum", "cross_sum")),
        n=n, control_mean=spec.expected_uncapped_loss_cents,
        excess_abs_sum=float(np.sum(shard.excess_sum)),
        unseen_excess=tail.unseen_excess(spec.portfolio_cap_cents or 0.0,
                                          largest_excess(spec)))
    exh = [proportion(float(np.sum(shard.exhaustion_sum[:, t])),
                      float(np.sum(shard.exhaustion_sq_sum[:, t])), n)
           for t in range(spec.horizon_years)]
    risks = tuple(tail.risk(level) for level in spec.levels)
    lumpy = tuple(lumpy_note(level, *tail.lumpy[level]) for level in spec.levels
                  if level in tail.lumpy)
    few = tuple(few_tail_note(level, size) for level, risk in zip(spec.levels, risks,
                                                                   strict=True)
                if (size := tail_sample_size(shard, risk.value_at_risk_cents.value))
                < MIN_STOP_TAIL_SCENARIOS)
    sw, sw2 = float(np.sum(shard.weight_sum)), float(np.sum(shard.weight_sq_sum))
    return PortfolioResult(
        method=spec.method, seed=spec.seed, scenarios=n,
        expected_loss_cents=el, tail_risk=risks,
        exhaustion_probability_by_year=tuple(exh),
        loss_histogram_edges_cents=spec.histogram_edges_cents,
        loss_histogram_probability=tuple(float(x) for x in np.sum(shard.histogram, axis=0) / n),
        portfolio_cap_cents=spec.portfolio_cap_cents, capital_cents=spec.capital_cents,
        annual_fee_income_cents=spec.annual_fee_income_cents,
        horizon_years=spec.horizon_years, importance_shift=spec.importance_shift,
        importance_mixture=mixture_shares(spec),
        effective_sample_size=sw * sw / sw2 if sw2 > 0 else 0.0,
        tail_sample_complete=tail.complete, cancelled=cancelled,
        notes=("expected loss: the fund's sampled loss with the exact Σ P(default by the "
               "horizon) · E[payout] as control variate (exact when the portfolio cap "
               "cannot bind; where few scenarios pass it, its error counts two more)",)
        + few + ((mixture_note(spec),) if spec.importance_mixture else ())
        + lumpy)


_KINK_LIMIT = 40.0  # Φ(−40) underflows: the normal's mass ends here


def _normal_mass(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """P(lo < Z < hi) for a standard normal Z (lo ≤ hi), from whichever tail keeps its
    digits."""
    with np.errstate(invalid="ignore"):
        upper = (lo + np.minimum(hi, abs(lo) + 1.0)) > 0
    return np.where(upper, special.ndtr(-lo) - special.ndtr(-hi),
                    special.ndtr(hi) - special.ndtr(lo))


def _as_rows(up_c, up_t, down_c, down_t, rows: int = 1) -> tuple[int, tuple[np.ndarray, ...]]:
    """The terms of ``_step_mean_square`` / ``_hinge_mean_square`` as 2-D float arrays, one
    row per function (at least ``rows``), coefficients broadcast to their thresholds."""
    up_c, up_t, down_c, down_t = (np.atleast_2d(np.asarray(x, dtype=np.float64))
                                  for x in (up_c, up_t, down_c, down_t))
    rows = max(up_c.shape[0], up_t.shape[0], down_c.shape[0], down_t.shape[0], rows)
    up_c, up_t = (np.broadcast_to(x, (rows, up_t.shape[1])) for x in (up_c, up_t))
    down_c, down_t = (np.broadcast_to(x, (rows, down_t.shape[1])) for x in (down_c, down_t))
    return rows, (up_c, up_t, down_c, down_t)


def _step_mean_square(up_c: np.ndarray, up_t: np.ndarray, down_c: np.ndarray,
                      down_t: np.ndarray) -> float | np.ndarray:
    """E[f(Z)²] for a standard normal Z and the step function f(z) = Σ up_c 1{z > up_t} +
    Σ down_c 1{z ≤ down_t} (coefficients of any sign, thresholds may be ±∞), in closed form:
    f is constant between consecutive sorted thresholds. Along the last axis, as
    ``_hinge_mean_square``: with 2-D arrays one mean square per row."""
    rows, (up_c, up_t, down_c, down_t) = _as_rows(up_c, up_t, down_c, down_t)
    if not up_c.shape[1] + down_c.shape[1]:
        return 0.0 if rows == 1 else np.zeros(rows)
    # from below every threshold (f = Σ down_c) each threshold passed adds up_c or − down_c
    kink = np.clip(np.concatenate([up_t, down_t], axis=1), -_KINK_LIMIT, _KINK_LIMIT)
    order = np.argsort(kink, axis=1, kind="stable")
    lo = np.take_along_axis(kink, order, axis=1)
    jump = np.take_along_axis(np.concatenate([up_c, -down_c], axis=1), order, axis=1)
    first = down_c.sum(axis=1)
    value = first[:, None] + np.cumsum(jump, axis=1)  # f above each threshold
    hi = np.concatenate([lo[:, 1:], np.full((rows, 1), np.inf)], axis=1)
    out = first * first * special.ndtr(lo[:, 0]) + np.sum(value * value * _normal_mass(lo, hi),
                                                          axis=1)
    return float(out[0]) if rows == 1 else out


def _hinge_mean_square(up_c: np.ndarray, up_t: np.ndarray, down_c: np.ndarray,
                       down_t: np.ndarray, constant: float | np.ndarray = 0.0
                       ) -> float | np.ndarray:
    """E[f(Z)²] for a standard normal Z and f(z) = constant + Σ up_c (z − up_t)⁺ +
    Σ down_c (down_t − z)⁺ (coefficients of any sign), in closed form: f is linear between
    consecutive sorted kinks, f(lo) + slope·(z − lo) there, and its mean square there is a
    sum of truncated normal moments of z − lo. Along the last axis: with 2-D arrays (one row
    per function, the same number of terms each; ``constant`` one per row) it returns one
    mean square per row."""
    rows, (up_c, up_t, down_c, down_t) = _as_rows(up_c, up_t, down_c, down_t,
                                                  np.size(constant))
    constant = np.broadcast_to(np.asarray(constant, dtype=np.float64), (rows,))
    if not up_c.shape[1] + down_c.shape[1]:
        out = constant * constant
        return float(out[0]) if out.size == 1 else out
    # No normal mass lies beyond ±40: a kink out there is a constant or nothing on the rest,
    # so it moves to ±40. Left in place (es_var_error_change's (d − τU)/ρ at ρ ~ 1e-8), f is
    # huge at it and the moments below cancel to noise (13 % off at ρ = 1e-8, 0 at 1e-9).
    constant = (constant + np.sum(up_c * np.maximum(-_KINK_LIMIT - up_t, 0.0), axis=1)
                + np.sum(down_c * np.maximum(down_t - _KINK_LIMIT, 0.0), axis=1))
    up_c = np.where(up_t > _KINK_LIMIT, 0.0, up_c)
    down_c = np.where(down_t < -_KINK_LIMIT, 0.0, down_c)
    up_t, down_t = (np.clip(x, -_KINK_LIMIT, _KINK_LIMIT) for x in (up_t, down_t))
    # each kink raises the slope by its coefficient: (z − t)⁺ from 0 to c, (t − z)⁺ from −c
    kink = np.concatenate([up_t, down_t], axis=1)
    order = np.argsort(kink, axis=1, kind="stable")
    lo = np.take_along_axis(kink, order, axis=1)
    slope = (np.take_along_axis(np.concatenate([up_c, down_c], axis=1), order, axis=1)
             .cumsum(axis=1) - down_c.sum(axis=1, keepdims=True))
    left_slope = -down_c.sum(axis=1)
    first = lo[:, 0]
    value = np.empty_like(lo)  # f at each kink
    value[:, 0] = constant + np.sum(down_c * (down_t - first[:, None]), axis=1)
    np.cumsum(slope[:, :-1] * np.diff(lo, axis=1), axis=1, out=value[:, 1:])
    value[:, 1:] += value[:, :1]
    # E[u^m; lo < z < hi] for u = z − lo, m = 0, 1, 2, hi the next kink (the last: ∞); the
    # normal's mass from whichever tail keeps its digits
    hi = np.concatenate([lo[:, 1:], np.full((rows, 1), np.inf)], axis=1)
    m0 = _normal_mass(lo, hi)
    phi = np.exp(-0.5 * lo * lo) / math.sqrt(2.0 * math.pi)
    phi_hi = np.concatenate([phi[:, 1:], np.zeros((rows, 1))], axis=1)
    hi_phi_hi = np.concatenate([lo[:, 1:] * phi[:, 1:], np.zeros((rows, 1))], axis=1)
    m1 = phi - phi_hi - lo * m0
    m2 = (1.0 + lo * lo) * m0 - lo * phi - hi_phi_hi + 2.0 * lo * phi_hi
    inside = np.sum(slope * slope * m2 + 2.0 * slope * value * m1 + value * value * m0, axis=1)
    # below the first kink: u = z − lo ≤ 0
    f0, cdf, phi0 = value[:, 0], special.ndtr(first), phi[:, 0]
    below = (left_slope * left_slope * ((1.0 + first * first) * cdf + first * phi0)
             + 2.0 * left_slope * f0 * (-phi0 - first * cdf) + f0 * f0 * cdf)
    out = np.maximum(inside + below, 0.0)
    return float(out[0]) if out.size == 1 else out


# The quadrature of ``es_var_error_change`` over the after run's own part of its count:
# Gauss–Legendre, 4 nodes on each of 32 panels of [−8, 8] (beyond lies 1e-15 of the mass).
_PAIR_PANELS = np.linspace(-8.0, 8.0, 33)
_PAIR_X, _PAIR_W = np.polynomial.legendre.leggauss(4)
_PAIR_NODES = (0.5 * np.diff(_PAIR_PANELS)[:, None] * _PAIR_X
               + 0.5 * (_PAIR_PANELS[:-1] + _PAIR_PANELS[1:])[:, None]).ravel()
_PAIR_WEIGHTS = ((0.5 * np.diff(_PAIR_PANELS)[:, None] * _PAIR_W).ravel()
                 * np.exp(-0.5 * _PAIR_NODES ** 2) / math.sqrt(2.0 * math.pi))


# The cross term of ``_step_change_mean_square`` below ρ = 1/√2: 8 Gauss–Legendre nodes on each
# panel of ``_PAIR_PANELS``, the Legendre polynomials at them (the interpolant's coefficients
# by discrete orthogonality), and A's steps taken this many at a time.
_CROSS_X, _CROSS_W = np.polynomial.legendre.leggauss(8)
_CROSS_V = np.polynomial.legendre.legvander(_CROSS_X, _CROSS_X.size - 1)
_CROSS_CHUNK = 4096


def _pair_correlation(correlation: float) -> float:
    """The correlation ρ of two runs' counts on common random numbers as the joint plug-in
    laws take it: ≥ 0, both counts being non-decreasing in every default (Harris 1960), so
    an estimate below 0 is taken as 0, and a missing one as 1."""
    return min(max(correlation, 0.0), 1.0) if math.isfinite(correlation) else 1.0


def _pair_quadrature(correlation: float):
    """The joint plug-in law of two runs' counts on common random numbers, Z_after = ρ Z_before
    + τ U (τ = √(1 − ρ²), ρ by ``_pair_correlation``), as quadrature over U: (ρ, τU as a
    column of nodes, their weights, and ``stack(after_part, before_part, rows)``, which
    joins per-node after terms (computed for those ``rows`` of nodes) and shared before terms
    into one row per node)."""
    rho = _pair_correlation(correlation)
    tau = math.sqrt(max(1.0 - rho * rho, 0.0))
    u = tau * _PAIR_NODES[:, None] if tau > 0 else np.zeros((1, 1))
    weights = _PAIR_WEIGHTS if tau > 0 else np.ones(1)

    def stack(after_part: np.ndarray, before_part: np.ndarray, rows: int) -> np.ndarray:
        return np.concatenate([np.broadcast_to(after_part, (rows, after_part.shape[-1])),
                               np.broadcast_to(before_part, (rows, before_part.size))], axis=1)

    return rho, u, weights, stack


# Rows of ``_pair_quadrature`` a mean square takes at once: each row is its own, and all
# 128 rows × the kinks of a long tail (10⁴ steps a run at 1M importance-sampled scenarios)
# times the sort's temporaries came to hundreds of MB.
_PAIR_CELLS = 1 << 18


def _by_rows(u: np.ndarray, width: int,
             mean_square_at: Callable[[np.ndarray], float | np.ndarray]) -> np.ndarray:
    """``mean_square_at(nodes)``, one mean square per row of nodes (rows of ``stack``,
    ``width`` terms each), over the nodes ``u`` a block at a time: the same figures (rows
    never mix) in a bounded space."""
    step = max(1, _PAIR_CELLS // max(1, width))
    return np.concatenate([np.atleast_1d(mean_square_at(u[lo:lo + step]))
                           for lo in range(0, u.shape[0], step)])


def var_error_change(before: _Tail, after: _Tail, level: float, v_before: float,
                     v_after: float, correlation: float) -> float:
    """The standard error of a change of VaR between two runs on common random numbers (the
    same scenarios without and with a candidate) under their joint plug-in law: the RMS of
    (VaR̂_after − v_after) − (VaR̂_before − v_before), each run's error read as
    ``_Tail._var_error`` reads it, with floors like its own.

    Under each run's plug-in law its VaR̂ is a step function of one standard normal Z, the
    standardised error of its tail count (``_Tail._var_steps``). On common random numbers
    the two counts move together: their Z's are taken jointly normal with ``correlation`` ρ
    (≥ 0, ``_pair_correlation``), that of the paired indicators of the counts at the two
    VaRs, as ``es_var_error_change`` takes it (the count of each run's side that carries
    most of its ES remainder, ``_Tail._es_var_edge``: the side of its VaR's nearer move;
    the side carrying most of the VaR error's own mean square gave the same figures on
    every measured book); the mean square of the difference is
    ``_step_change_mean_square``'s. On a law with a density at both VaRs it is about the
    paired influence function's σ (the counts' covariance over the densities); on a lumpy
    law it counts the whole atoms by which either estimate may be off, and how often the
    other moves with it. ρ = 1 with the same steps (a candidate that adds nothing) gives 0.

    Floors, as ``_Tail._var_error``'s: where one run's true VaR could be at a neighbouring
    atom (its count within 3 or 2 SEs of 1 − α, ``_Tail._var_neighbours``), the change's
    error if it were: that run's estimate one step over, less the other's mean error given
    this run's Z at that step (N(ρz, 1 − ρ²); a candidate that adds nothing moves both
    alike). The SE is at least a third of the largest such error within 3 SEs and half the
    smallest within 2, so that a change whose one VaR sits at an atom's edge while the
    other is firm is not read as exact."""
    rho = _pair_correlation(correlation)
    tau = math.sqrt(max(1.0 - rho * rho, 0.0))

    def error_at(steps, m: float, sd: float, up: bool) -> float:
        """E[a run's VaR̂ − v] given that its Z ~ N(m, sd²); at sd = 0 on the side of a
        step up (Z just past m) or down (Z at m)."""
        c_up, t_up, c_down, t_down = steps
        if sd > 0:
            return float(c_up @ special.ndtr((m - t_up) / sd)
                         + c_down @ special.ndtr((t_down - m) / sd))
        return float(c_up @ ((m >= t_up) if up else (m > t_up))
                     + c_down @ ((m < t_down) if up else (m <= t_down)))

    steps_b, steps_a = before._var_steps(level, v_before), after._var_steps(level, v_after)
    gaps3, gaps2 = [], []
    for run, v, own, other in ((before, v_before, steps_b, steps_a),
                               (after, v_after, steps_a, steps_b)):
        for gap, z, at3, at2 in run._var_neighbours(level, v):
            change = abs(error_at(own, z, 0.0, gap > 0) - error_at(other, rho * z, tau, gap > 0))
            if at3:
                gaps3.append(change)
            if at2:
                gaps2.append(change)
    floor = max(max(gaps3, default=0.0) / 3.0, 0.5 * min(gaps2, default=0.0))
    return max(math.sqrt(_step_change_mean_square(steps_b, steps_a, rho)), floor)


def _step_change_mean_square(before: tuple[np.ndarray, ...], after: tuple[np.ndarray, ...],
                             rho: float) -> float:
    """E[(A(Z_a) − B(Z_b))²] for step functions A (``after``) and B (``before``) as
    ``_Tail._var_steps`` gives them, (Z_b, Z_a) standard normal with correlation ρ ∈ [0, 1].

    One variable by quadrature, the other's conditional law in closed form
    (``_step_mean_square``), whichever way keeps the integrand smooth on the quadrature's
    scale: for ρ ≥ 1/√2 over the after run's own part U (Z_a = ρ Z_b + τ U, τ = √(1 − ρ²),
    ``_pair_quadrature``; given U the difference is a step function of Z_b, and its mean
    square moves with U on the scale ρ/τ ≥ 1); below, as E[A²] + E[B²] − 2 E[A B], the
    cross term over Z_b with A's conditional mean given Z_b = z (Z_a | z ~ N(ρz, τ²): smooth
    in z on the scale τ/ρ > 1) integrated in closed form up to each of B's steps. Against
    the exact sum of bivariate normal orthant probabilities (Owen's T) the RMS agrees to 1e-3
    above 1/√2 (the mean square has kinks in U where A's and B's steps cross) and 1e-10
    below. Over U alone a small ρ turned A's steps into steps in U: 4 % off at ρ = 0."""
    bu_c, bu_t, bd_c, bd_t = before
    au_c, au_t, ad_c, ad_t = after
    if rho * rho >= 0.5:
        rho, u, weights, stack = _pair_quadrature(rho)

        def given(nodes: np.ndarray) -> float | np.ndarray:
            k = nodes.shape[0]
            return _step_mean_square(stack(au_c, -bu_c, k), stack((au_t - nodes) / rho, bu_t, k),
                                     stack(ad_c, -bd_c, k), stack((ad_t - nodes) / rho, bd_t, k))

        mean_square = _by_rows(u, 2 * (au_c.size + bu_c.size + ad_c.size + bd_c.size), given)
        return max(float(np.dot(weights, np.atleast_1d(mean_square))), 0.0)
    # E[A²] + E[B²] − 2 E[A(Z_a) B(Z_b)], the first two closed-form; the cross term over B's
    # steps: E[1{Z_b > s} A(Z_a)] = F(8) − F(s), E[1{Z_b ≤ s} A(Z_a)] = F(s), with F(s) the
    # integral from −8 to s of m(z) φ(z), m(z) = E[A(Z_a) | Z_b = z] (smooth on the scale
    # τ/ρ > 1): m φ on each panel of ``_PAIR_PANELS`` as its Legendre interpolant at 8 Gauss
    # nodes, integrated in closed form up to each step. Work and memory grow with the number
    # of nodes times A's steps plus B's steps; quadrature over panels split at B's steps, with
    # A's conditional law at each node, grew with their product (a candidate that moves the
    # tail: 6 GB at 65K importance-sampled scenarios, a MemoryError at 262K).
    tau = math.sqrt(1.0 - rho * rho)
    half = 0.5 * np.diff(_PAIR_PANELS)
    mid = 0.5 * (_PAIR_PANELS[:-1] + _PAIR_PANELS[1:])
    z = (half[:, None] * _CROSS_X + mid[:, None]).ravel()
    m = np.zeros(z.size)
    for lo in range(0, max(au_c.size, ad_c.size), _CROSS_CHUNK):
        part = slice(lo, lo + _CROSS_CHUNK)
        m += special.ndtr((rho * z[:, None] - au_t[part]) / tau) @ au_c[part]
        m += special.ndtr((ad_t[part] - rho * z[:, None]) / tau) @ ad_c[part]
    g = (m * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)).reshape(half.size, _CROSS_X.size)
    coef = (g * _CROSS_W) @ _CROSS_V * (np.arange(_CROSS_X.size) + 0.5)
    anti = np.polynomial.legendre.legint(coef, lbnd=-1.0, axis=1) * half[:, None]
    start = np.r_[0.0, np.cumsum(np.polynomial.legendre.legval(1.0, anti.T))]

    def integral(s: np.ndarray) -> np.ndarray:  # F(s)
        s = np.clip(s, _PAIR_PANELS[0], _PAIR_PANELS[-1])
        k = np.clip(np.searchsorted(_PAIR_PANELS, s, side="right") - 1, 0, half.size - 1)
        x = (s - mid[k]) / half[k]
        return start[k] + np.sum(np.polynomial.legendre.legvander(x, anti.shape[1] - 1)
                                 * anti[k], axis=1)

    cross = float(bu_c @ (start[-1] - integral(bu_t)) + bd_c @ integral(bd_t))
    return max(_step_mean_square(*after) + _step_mean_square(*before) - 2.0 * cross, 0.0)


def es_var_error_change(before: _Tail, after: _Tail, level: float, v_before: float,
                        v_after: float, correlation: float) -> float:
    """The RMS of R_after − R_before: the part of the error of a change of ES between two
    runs on common random numbers (the same scenarios without and with a candidate) that
    comes from their VaRs' errors, each run's remainder Ĝ(VaR̂) − Ĝ(VaR) of
    ``_Tail._es_var_error``.

    Under each run's plug-in law its remainder is −h(Z)/(1 − α) (``_Tail._es_var_hinges``),
    Z the standardised error of its tail count near VaR. On common random numbers the two
    counts move together: their Z's are taken jointly normal with ``correlation`` ρ, that of
    the paired indicators of the count carrying each run's remainder (``_Tail._es_var_edge``).
    Both counts are non-decreasing in every default, so ρ ≥ 0 (Harris 1960); an estimate
    below 0 is taken as 0. With Z_after = ρ Z_before + √(1 − ρ²) U, given U the difference
    h_after − h_before is a sum of hinges in Z_before, whose mean square is closed-form
    (``_hinge_mean_square``); U is integrated by quadrature. Both remainders are ≤ 0, so
    the result never exceeds hypot of the two runs' ``_es_var_error`` (ρ = 0 gives
    E R_a² + E R_b² − 2 E R_a E R_b); with ρ = 1 they move as one and a remainder both runs
    share cancels: a small candidate whose VaRs sit on the same atom changes the remainder
    by a gap times its own share of the count, not by the whole remainder twice."""
    a = 1.0 - level
    bu_c, bu_t, bd_c, bd_t = before._es_var_hinges(level, v_before)
    au_c, au_d, ad_c, ad_t = after._es_var_hinges(level, v_after)
    if not (bu_c.size + bd_c.size) or not (au_c.size + ad_c.size):
        return math.hypot(before._es_var_error(level, v_before),
                          after._es_var_error(level, v_after))
    rho, u, weights, stack = _pair_quadrature(correlation)
    if rho > 1e-9:
        # c (Z_a − d)⁺ = cρ (Z_b − (d − τU)/ρ)⁺ and c (t − Z_a)⁺ = cρ ((t − τU)/ρ − Z_b)⁺
        def given(nodes: np.ndarray) -> float | np.ndarray:
            k = nodes.shape[0]
            return _hinge_mean_square(
                stack(rho * au_c, -bu_c, k), stack((au_d - nodes) / rho, bu_t, k),
                stack(rho * ad_c, -bd_c, k), stack((ad_t - nodes) / rho, bd_t, k))

        mean_square = _by_rows(u, 2 * (au_c.size + bu_c.size + ad_c.size + bd_c.size), given)
    else:  # independent counts: the after run's remainder is a constant given U
        constant = (np.maximum(u - au_d, 0.0) @ au_c + np.maximum(ad_t - u, 0.0) @ ad_c)
        mean_square = _hinge_mean_square(-bu_c, bu_t, -bd_c, bd_t, constant)
    return math.sqrt(max(float(np.dot(weights, np.atleast_1d(mean_square))), 0.0)) / a


def few_tail_note(level: float, size: float) -> str:
    """What an ES resting on few tail scenarios means, in words (a result note): with fewer
    than MIN_STOP_TAIL_SCENARIOS its SE falls with the estimate and understates its error
    (plain MC at 99.9 % on 16 blocks: 2.7–3.4 % of runs beyond 3 SE, against 0.3 %)."""
    return (f"ES {level:.4g}: rests on only {size:.0f} scenarios at or beyond its VaR (fewer "
            f"than {MIN_STOP_TAIL_SCENARIOS}): its standard error may understate its error; "
            "run more scenarios, or importance sampling")


def lumpy_note(level: float, gap_cents: float, neighbour: float) -> str:
    """What a VaR on an atom of a lumpy loss law means, in words (a result note)."""
    return (f"VaR {level:.4g}: the loss law is lumpy here (atoms {gap_cents / 100:,.2f} apart); "
            f"the estimate is one atom and the exact VaR may be its neighbour (the run's own "
            f"figures give that about {max(neighbour, 0.001):.1%}); the standard error "
            f"includes it")


def mixture_shares(spec: RunSpec) -> tuple[tuple[float, tuple[float, ...]], ...]:
    """(share of the scenarios, factor shift) of each component of importance sampling's
    mixture, the defensive (unshifted) one first; () without a shift."""
    if not spec.importance_mixture:
        return ()
    zero = tuple(0.0 for _ in spec.importance_shift)
    return ((DEFENSIVE_SHARE, zero),
            *((count / BLOCK_SCENARIOS, shift) for count, shift in spec.importance_mixture))


def mixture_note(spec: RunSpec) -> str:
    """What the importance sampler drew, in words (a result note)."""
    parts = ", ".join(f"{count} shifted by ({', '.join(f'{x:.3g}' for x in shift)})"
                      for count, shift in spec.importance_mixture)
    kind = ("one factor mean shift" if len(spec.importance_mixture) == 1 else
            f"a mixture of {len(spec.importance_mixture)} factor mean shifts, one per "
            f"dominating tail direction")
    tilt = (f"; given the factors, the shifted scenarios' default odds are tilted by one "
            f"factor λ ≥ 1 per scenario (odds tilt) raising the conditional expected loss "
            f"to {spec.odds_tilt_target_cents / 100:,.2f}, the large-pool loss at the "
            f"lowest level" if spec.odds_tilt_target_cents > 0 else "")
    return (f"importance sampling: {kind}{tilt}; of each {BLOCK_SCENARIOS} scenarios "
            f"{DEFENSIVE_SCENARIOS} keep the model's law (defensive), {parts}; weights by "
            f"the balance heuristic over all components"
            f"{' and the tilt' if tilt else ''}, at most {1 / DEFENSIVE_SHARE:g}")


def largest_excess(spec: RunSpec) -> float:
    """The largest loss above the portfolio cap the book can produce (0: the cap cannot
    bind, or there is none)."""
    if spec.portfolio_cap_cents is None:
        return 0.0
    return max(spec.max_uncapped_loss_cents - spec.portfolio_cap_cents, 0.0)


def largest_excess_change(before: RunSpec, after: RunSpec) -> float:
    """The largest change a candidate can make to the loss above the portfolio cap: (x)⁺
    moves no more than x, so by at most the larger of its own most (the change of the
    uncapped maximum) and the cap's change; and by no more than either run's excess."""
    most = max(largest_excess(before), largest_excess(after))
    if most == 0.0:
        return 0.0
    return min(most, max(after.max_uncapped_loss_cents - before.max_uncapped_loss_cents,
                         abs(after.portfolio_cap_cents - before.portfolio_cap_cents)))


def control_variate_mean(y_sum: float, y_sq_sum: float, e_sum: float, e_sq_sum: float,
                         ye_sum: float, *, n: int, control_mean: float, excess_abs_sum: float,
                         unseen_excess: float) -> Estimate:
    """Mean of Y (the weighted fund loss w·min(L, cap)) from n scenarios, with the control
    X = Y + E (E = w·(L − cap)⁺, so X = w·L) whose mean, E[L], is known exactly:
    Ȳ − β(X̄ − E[L]) with β = Ĉov(Y, X)/V̂ar(X), SE √((V̂ar Y − Ĉov²/V̂ar X)/n).

    β = 1 is E[L] − Ē, all but the part above the cap exact: without a cap (E = 0, Y = X)
    the mean is E[L] itself. β = 0 is the plain mean Ȳ, which rests on every scenario's
    weight, and importance sampling makes those uneven away from its tail (ESS 3 of 51,200
    on the example fund: EL a third off, seed to seed). The fitted β does at least as well
    as either, wherever the cap sits (near the median, E varies like L and β → 0).

    Where the cap binds in few scenarios, the part above it rests on them: none read ± 0,
    a handful too little (a cap passed with P 8e-5, plain MC, 8 blocks: 48 % of runs beyond
    3 SE). Its variance gets the few-events floor of ``estimate.proportion``: PSEUDO_EVENTS
    more scenarios with E of its typical size ΣE²/Σ|E|, or of ``unseen_excess`` if larger
    (the size a run with few such scenarios may have missed), entering the estimate with
    weight β. A cap that cannot bind (``unseen_excess`` 0, none seen) keeps the exact E[L]
    with SE 0."""
    y, e = y_sum / n, e_sum / n
    typical = max(e_sq_sum / excess_abs_sum if excess_abs_sum > 0 else 0.0, unseen_excess)
    few = PSEUDO_EVENTS * typical * typical / n / n
    var_y = max(y_sq_sum / n - y * y, 0.0)
    var_e = max(e_sq_sum / n - e * e, 0.0)
    cov_ye = ye_sum / n - y * e
    var_x, cov_yx = var_y + var_e + 2.0 * cov_ye, var_y + cov_ye
    if e_sq_sum == 0.0 or var_x <= 0.0:
        # no loss above the cap (Y = X: β = 1 exactly), or X did not vary: the exact part
        return Estimate(control_mean - e, math.sqrt(few))
    beta = cov_yx / var_x
    value = y - beta * (y + e - control_mean)
    # the part above the cap enters with weight β: none where the cap sits in the body
    return Estimate(value, math.sqrt(max(var_y - cov_yx * cov_yx / var_x, 0.0) / n
                                     + beta * beta * few))


def blocks_for(scenarios: int) -> int:
    """Whole blocks needed for ``scenarios`` (runs are whole blocks, rounded up)."""
    return max(1, -(-int(scenarios) // BLOCK_SCENARIOS))


# Early stopping (target_relative_error) is decided only after block counts that are
# multiples of STOP_STRIDE_BLOCKS, and never before MIN_STOP_BLOCKS, each evaluated on
# exactly that prefix of blocks: where a run stops is then a function of the seed and the
# inputs, not of the chunk size, and a lucky first block cannot end it.
STOP_STRIDE_BLOCKS = 16
MIN_STOP_BLOCKS = 16
# Nor before ES at the highest level rests on MIN_STOP_TAIL_SCENARIOS scenarios at or
# beyond its VaR (their effective number, ``tail_sample_size``; under plain MC that is
# about n(1 − α), so the minimum is a scenario count, not a draw-dependent test). ES and
# its SE rest on those scenarios, and a stopping rule on an estimated SE holds only
# asymptotically, from a minimum sample on (Chow & Robbins 1965, Ann. Math. Statist. 36;
# Nádas 1969, ibid. 40, for a relative width). With ~17 of them (plain MC, 99.9 %, 16
# blocks) the SE falls with the estimate and the rule stopped on low ES with a small SE
# (exact laws, 1,000 seeds, target 0.05, smooth / lumpy book: ES −1.07 / −0.95 % ± 0.15 %,
# 3.4 / 2.5 % of runs beyond 3 SE); with 64, −0.18 / −0.12 % and 1.0 / 0.8 %, as
# fixed-size runs of as many (tests/risk/portfolio/measure_early_stop.py). Importance
# sampling puts thousands there by block 16 and still stops there.
MIN_STOP_TAIL_SCENARIOS = 64


def tail_sample_size(shard: ShardResult, value_at_risk: float) -> float:
    """The effective number (Σw)²/Σw² (Kish 1965) of the kept tail scenarios at or beyond
    ``value_at_risk``: their count under plain Monte Carlo, fewer when a few weights carry
    them under importance sampling. A function of the merged prefix, in block order."""
    w = shard.tail_weight[shard.tail_loss >= value_at_risk]
    square = float(np.sum(w * w))
    return float(np.sum(w)) ** 2 / square if square > 0 else 0.0


def stop_reached(shard: ShardResult, result: PortfolioResult, target: float) -> bool:
    """Whether a run may stop on the prefix of blocks ``shard`` (finalized as ``result``)
    with ``target_relative_error`` = ``target``: ES at the highest level rests on at least
    MIN_STOP_TAIL_SCENARIOS tail scenarios and has that relative standard error."""
    top = result.tail_risk[-1]
    es = top.expected_shortfall_cents
    return (es.standard_error <= target * abs(es.value) and tail_sample_size(
        shard, top.value_at_risk_cents.value) >= MIN_STOP_TAIL_SCENARIOS)


def iter_monte_carlo(plan: SimulationPlan, *, scenarios: int, chunk_blocks: int | None = None,
                     target_relative_error: float | None = None,
                     min_scenarios: int = 0) -> Iterator[Progress]:
    """Run ``plan`` chunk by chunk, yielding Progress after each chunk; each Progress
    carries the result so far. Stop early by closing the generator (the caller's cancellation or
    deadline). With ``target_relative_error`` it stops at the first block count that is a
    multiple of STOP_STRIDE_BLOCKS, at least MIN_STOP_BLOCKS (and ``min_scenarios``), where
    ES at the highest level has that relative standard error and rests on at least
    MIN_STOP_TAIL_SCENARIOS scenarios at or beyond its VaR (``stop_reached``; checked in
    block order whatever the chunking, so the stopping point and the result do not depend
    on ``chunk_blocks``)."""
    if not isinstance(scenarios, int) or scenarios < 1:
        raise InvalidArgument(FieldViolation("scenarios", "a positive integer"))
    if scenarios > MAX_SCENARIOS:
        raise ResourceExhausted(f"{scenarios} scenarios; the bound is {MAX_SCENARIOS}")
    total_blocks = blocks_for(scenarios)
    # Each progress step re-reduces the tail sample, so keep to about 50 steps by default.
    chunk_blocks = max(1, int(chunk_blocks or max(16, total_blocks // 50)))
    min_blocks = max(MIN_STOP_BLOCKS, -(-int(min_scenarios) // BLOCK_SCENARIOS))

    parts: list[ShardResult] = []
    done = 0
    while done < total_blocks:
        stop = min(done + chunk_blocks, total_blocks)
        stopped = False
        if target_relative_error is not None:
            # the check points inside this chunk, each on exactly its prefix of blocks
            check = (done // STOP_STRIDE_BLOCKS + 1) * STOP_STRIDE_BLOCKS
            while check <= stop and not stopped:
                if check >= min_blocks:
                    parts = [concat_shards([*parts, simulate_blocks(plan, done, check)])]
                    done = check
                    stopped = check < total_blocks and stop_reached(
                        parts[0], _finalize(parts[0]), target_relative_error)
                check += STOP_STRIDE_BLOCKS
        if not stopped and done < stop:
            parts = [concat_shards([*parts, simulate_blocks(plan, done, stop)])]
            done = stop
        result = _finalize(parts[0])
        final = done == total_blocks or stopped
        top = result.tail_risk[-1]
        yield Progress(done * BLOCK_SCENARIOS, total_blocks * BLOCK_SCENARIOS,
                       result.expected_loss_cents, top.value_at_risk_cents,
                       top.expected_shortfall_cents, result, final)
        if final:
            return


def _check_run_args(seed, method, levels) -> None:
    bad = []
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        bad.append(FieldViolation("seed", "a non-negative integer"))
    if method not in MC_METHODS:
        bad.append(FieldViolation("method", f"Monte Carlo plans are one of {MC_METHODS}"))
    levels = list(levels)
    if not levels:
        bad.append(FieldViolation("levels", "at least one confidence level"))
    for i, x in enumerate(levels):
        if not (isinstance(x, int | float) and 0.5 <= x < 1.0):
            bad.append(FieldViolation(f"levels[{i}]", "a confidence level in [0.5, 1)"))
    if bad:
        raise InvalidArgument(bad)


def _digest(portfolio: Portfolio, fund: Fund, dependence: Dependence) -> str:
    h = hashlib.sha256()
    for name in ("exposure_cents", "probability_of_default", "loss_given_default",
                 "loss_given_default_std", "guarantee_rate", "cap_cents", "deductible_cents",
                 "fee_rate", "factor_loadings"):
        h.update(np.ascontiguousarray(getattr(portfolio, name)).tobytes())
    if portfolio.cumulative_default_probability is not None:
        h.update(np.ascontiguousarray(portfolio.cumulative_default_probability).tobytes())
    h.update(repr((fund, dependence.copula, dependence.degrees_of_freedom)).encode())
    h.update(np.ascontiguousarray(dependence.factor_correlation, dtype=np.float64).tobytes())
    return h.hexdigest()
