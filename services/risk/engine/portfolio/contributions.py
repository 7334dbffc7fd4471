"""Which guarantees drive the risk: Euler contributions and the incremental risk of a candidate.

Euler allocation (Tasche 1999): the ES contribution of guarantee i is the Acerbi–Tasche
allocation consistent with the engine's ES estimator,
c_i = (Σ w x_i 1{L > VaR} + β Σ w x_i 1{L = VaR}) / ((1 - α) n),
β = ((1 - α) n - Σ w 1{L > VaR}) / Σ w 1{L = VaR}: the tail takes exactly the weight
(1 - α) n, the atom at VaR only in part, as ``montecarlo._Tail.risk`` does. So the ES
contributions add up to the reported ES (to rounding) also for lumpy losses with an atom at
VaR, where E[L | L ≥ VaR] would exceed ES (for a continuous law both are the same). The VaR
contribution is E[L_i | L = VaR], estimated on the scenarios in a narrow band of levels
around VaR. Under a portfolio cap each defaulter's payout is scaled pro rata to the capped
fund loss. Both are ratio estimators over the same (IS-weighted) scenarios, the ES one with
weights w·h, h = 1{L > VaR} + β 1{L = VaR}; their standard errors come from the linearised
ratio variance Σ (wh)²(x - c)² / (Σ wh)².

The scenarios are regenerated block by block from the seed (a second pass with the VaR of
the first), so memory stays O(guarantees + chunk), not O(scenarios x guarantees).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from services.risk.engine.estimate import Estimate, paired_change
from services.risk.engine.portfolio import montecarlo as mc
from services.risk.engine.portfolio.model import (
    BRANCHES,
    Dependence,
    Fund,
    Portfolio,
    ValidatedModel,
    annual_fee_income_cents,
    cumulative_pd,
    ensure_validated,
    expected_payouts,
    max_payouts,
    portfolio_cap_cents,
    two_sided_tail,
    validate_model,
    validated_model,
)
from services.shared.errors import FieldViolation, InvalidArgument, ResourceExhausted

# The VaR contribution averages over scenarios with level in [α - δ, α + δ], δ = 0.1 (1 - α).
VAR_BAND = 0.1
_STOP_CHECKS_PER_PASS = 100  # first-pass chunks asked to go on; the second pass asks per block
CANDIDATE_STREAM = 1  # spawn_key (block, 1): the candidate's own idiosyncratic draws


@dataclass(frozen=True)
class GroupContribution:
    """Contribution of one sector or administrative branch (cents)."""

    name: str
    expected_shortfall_cents: Estimate
    value_at_risk_cents: Estimate


@dataclass(frozen=True, eq=False)
class RiskContributions:
    """Euler contributions at ``level``. Per-guarantee arrays are in the portfolio's row
    order (index i is ``guarantees[i]``); the group tuples list sectors and branches.
    ``conditional_tail_loss_cents`` is what the ES contributions add up to: the tail mean
    with the atom at VaR taken in part (Acerbi–Tasche), i.e. the reported ES (to
    rounding); it equals E[L | L ≥ VaR] only when there is no atom at VaR."""

    level: float
    method: str
    seed: int
    scenarios: int
    value_at_risk_cents: Estimate
    expected_shortfall_cents: Estimate
    conditional_tail_loss_cents: float
    guarantee_es_cents: np.ndarray
    guarantee_es_standard_error: np.ndarray
    guarantee_var_cents: np.ndarray
    guarantee_var_standard_error: np.ndarray
    by_sector: tuple[GroupContribution, ...]
    by_branch: tuple[GroupContribution, ...]


@dataclass(frozen=True)
class ContributionThresholds:
    """What the second (contribution) pass needs from the first: the VaR at ``level`` (the
    ES tail is L > var plus part of the atom L = var) and the VaR band [var_low, var_high]
    (levels α ± 0.1(1 − α))."""

    level: float
    var: float
    var_low: float
    var_high: float


@dataclass(frozen=True, eq=False)
class ContributionShard:
    """Second-pass sums of blocks [block_start, block_stop): per guarantee (in the plan's
    sorted order) and per label, rows 0-2 = Σw·x, Σw²·x, Σw²·x² over the strict ES tail
    L > VaR, rows 3-5 the same over the VaR band, rows 6-8 over the atom L = VaR;
    denominators = Σw, Σw² over the strict tail, over the band and over the atom."""

    spec: mc.RunSpec
    thresholds: ContributionThresholds
    block_start: int
    block_stop: int
    guarantee_sums: np.ndarray
    label_sums: np.ndarray
    denominators: np.ndarray


def contribution_plan(portfolio: Portfolio | ValidatedModel, fund: Fund | None = None,
                      dependence: Dependence | None = None, *, seed: int,
                      level: float = 0.999, method: str | None = None) -> mc.SimulationPlan:
    """The plan both passes use (levels (0.99·level, level), no exponential twist); its
    first pass is ``mc.simulate_blocks`` / ``simulate_shard`` with the same arguments.
    ``method`` None: ``mc.default_method`` (importance_sampling for a one-sided tail
    under the Gaussian copula, else monte_carlo).
    The lower level is 0.99·level but not below 0.5 (the engine's smallest level), so any
    ``level`` in [0.5, 1) works; another is refused naming ``level``. The model is a
    Portfolio with ``fund`` and ``dependence`` (validated here) or a ValidatedModel alone."""
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0.5 <= level < 1.0:
        raise InvalidArgument(FieldViolation("level", "a confidence level in [0.5, 1)"))
    model = ensure_validated(portfolio, fund, dependence)
    if method is None:
        method = mc.default_method(model.two_sided_tail, model.dependence.copula)
    return mc.SimulationPlan(model, seed=seed, method=method,
                             levels=(max(level * 0.99, 0.5), level), exponential_twist=False)


def contribution_thresholds(first_pass: Sequence[mc.ShardResult], level: float
                            ) -> ContributionThresholds:
    """Thresholds from the merged first-pass shards (exact: ``mc.concat_shards``)."""
    shard = mc.concat_shards(first_pass)
    n_scen = (shard.block_stop - shard.block_start) * mc.BLOCK_SCENARIOS
    tail = mc._Tail(shard, n_scen)
    v = tail.risk(level).value_at_risk_cents.value
    delta = VAR_BAND * (1.0 - level)
    return ContributionThresholds(level, v, tail.var(level - delta),
                                  tail.var(min(level + delta, 1 - 0.5 / n_scen)))


def contribution_shard(plan: mc.SimulationPlan, thresholds: ContributionThresholds,
                       block_range: tuple[int, int],
                       keep_going: Callable[[int], bool] | None = None
                       ) -> ContributionShard | None:
    """The second pass over blocks ``block_range`` given the first pass's thresholds.
    ``keep_going(blocks done)`` is asked before each block; False stops the pass (None)."""
    start, stop = block_range
    if not 0 <= start <= stop:
        raise InvalidArgument(FieldViolation("block_range", "need 0 <= start <= stop"))
    p = plan.portfolio
    n_sectors = len(p.sector_names)
    label_a = p.sector[plan.order].astype(np.int32)
    label_b = (n_sectors + p.branch[plan.order]).astype(np.int32)
    g_sums = np.zeros((9, p.size))
    l_sums = np.zeros((9, n_sectors + len(BRANCHES)))
    den = np.zeros(6)
    t = thresholds
    for block in range(start, stop):
        if keep_going is not None and not keep_going(block - start):
            return None
        loss, _, w, _ = plan.run_block(block, (t.var, t.var_low, t.var_high, label_a, label_b,
                                               g_sums, l_sums))
        capped = np.minimum(loss, plan.portfolio_cap)
        tail_mask = capped > t.var
        atom = capped == t.var
        band = (capped >= t.var_low) & (capped <= t.var_high)
        den += [w[tail_mask].sum(), (w[tail_mask] ** 2).sum(), w[band].sum(),
                (w[band] ** 2).sum(), w[atom].sum(), (w[atom] ** 2).sum()]
    return ContributionShard(plan.spec, thresholds, start, stop, g_sums, l_sums, den)


def merge_contribution_shards(plan: mc.SimulationPlan, first_pass: Sequence[mc.ShardResult],
                              shards: Sequence[ContributionShard]) -> RiskContributions:
    """Euler contributions from the first-pass shards and the contribution shards of one run
    (both tiling the same blocks). The sums are added in block order: bit-identical for
    the same partition, and equal to any other partition's up to floating-point summation
    order (relative ~1e-15); the first-pass figures merge bit-identically."""
    first = mc.concat_shards(first_pass)
    if not shards:
        raise InvalidArgument(FieldViolation("shards", "need at least one shard"))
    shards = sorted(shards, key=lambda c: c.block_start)
    for i, c in enumerate(shards):
        if c.spec != first.spec or c.thresholds != shards[0].thresholds:
            raise InvalidArgument(FieldViolation(
                f"shards[{i}]", "comes from a different run or thresholds"))
        expected = shards[i - 1].block_stop if i else first.block_start
        if c.block_start != expected:
            raise InvalidArgument(FieldViolation(
                f"shards[{i}]", f"blocks must tile the first pass; gap or overlap at {expected}"))
    if shards[-1].block_stop != first.block_stop:
        raise InvalidArgument(FieldViolation("shards", "do not cover the first pass's blocks"))
    g_sums, l_sums, den = shards[0].guarantee_sums, shards[0].label_sums, shards[0].denominators
    for c in shards[1:]:
        g_sums, l_sums, den = g_sums + c.guarantee_sums, l_sums + c.label_sums, \
            den + c.denominators
    level = shards[0].thresholds.level
    result = mc._finalize(first)
    risk = result.at(level)
    portfolio = plan.portfolio
    n = portfolio.size
    n_sectors = len(portfolio.sector_names)

    def ratio(rows: np.ndarray, w_sum: float, w2_sum: float):
        if w_sum <= 0:
            return np.zeros(rows.shape[1]), np.zeros(rows.shape[1])
        value = rows[0] / w_sum
        var = rows[2] - 2 * value * rows[1] + value * value * w2_sum
        return value, np.sqrt(np.maximum(var, 0.0)) / w_sum

    # Acerbi–Tasche: the strict tail in full and the share β of the atom at VaR that brings
    # the tail weight to (1 - α) n, as the ES estimator (montecarlo._Tail.risk) takes it.
    target = (1.0 - level) * result.scenarios
    beta = min(max((target - den[0]) / den[4], 0.0), 1.0) if den[4] > 0 else 0.0
    h = np.array([beta, beta * beta, beta * beta])[:, None]

    def tail_rows(sums: np.ndarray) -> np.ndarray:
        return sums[:3] + h * sums[6:9]

    tail_w, tail_w2 = den[0] + beta * den[4], den[1] + beta * beta * den[5]
    es_c, es_se = ratio(tail_rows(g_sums), tail_w, tail_w2)
    var_c, var_se = ratio(g_sums[3:6], den[2], den[3])
    les, les_se = ratio(tail_rows(l_sums), tail_w, tail_w2)
    lvar, lvar_se = ratio(l_sums[3:6], den[2], den[3])
    unsort = np.empty_like(plan.order)
    unsort[plan.order] = np.arange(n)
    groups = [GroupContribution(name, Estimate(float(les[k]), float(les_se[k])),
                                Estimate(float(lvar[k]), float(lvar_se[k])))
              for k, name in enumerate((*portfolio.sector_names, *BRANCHES))]
    return RiskContributions(
        level=level, method=first.spec.method, seed=first.spec.seed, scenarios=result.scenarios,
        value_at_risk_cents=risk.value_at_risk_cents,
        expected_shortfall_cents=risk.expected_shortfall_cents,
        conditional_tail_loss_cents=float(es_c.sum()),
        guarantee_es_cents=es_c[unsort], guarantee_es_standard_error=es_se[unsort],
        guarantee_var_cents=var_c[unsort], guarantee_var_standard_error=var_se[unsort],
        by_sector=tuple(groups[:n_sectors]), by_branch=tuple(groups[n_sectors:]))


def risk_contributions(portfolio: Portfolio | ValidatedModel, fund: Fund | None = None,
                       dependence: Dependence | None = None, *, seed: int,
                       scenarios: int = 100_000, level: float = 0.999,
                       method: str | None = None,
                       on_block: Callable[[int, int], bool] | None = None
                       ) -> RiskContributions | None:
    """Euler ES and VaR contributions per guarantee, sector and branch at ``level``, from
    ``scenarios`` scenarios of ``method`` (monte_carlo or importance_sampling, weighted;
    None: importance_sampling unless the tail is two-sided, see ``contribution_plan``).
    Two passes over the same blocks; distributed, the same is ``contribution_plan`` →
    first-pass ``mc.simulate_blocks`` shards → ``contribution_thresholds`` →
    ``contribution_shard`` per block range → ``merge_contribution_shards``. The model as in
    ``contribution_plan``. ``on_block(blocks done, blocks in all)`` (all: both passes) is
    asked as the work goes; when it answers False the work stops and None is returned.
    The figures do not depend on it: the first pass's shards concatenate exactly, and the
    second pass is one shard either way."""
    plan = contribution_plan(portfolio, fund, dependence, seed=seed, level=level, method=method)
    _check_scenarios(scenarios)
    blocks = mc.blocks_for(scenarios)
    if on_block is None:
        def on_block(done: int, total: int) -> bool:
            return True
    step = max(1, blocks // _STOP_CHECKS_PER_PASS)
    first = []
    for start in range(0, blocks, step):
        if not on_block(start, 2 * blocks):
            return None
        first.append(mc.simulate_blocks(plan, start, min(start + step, blocks)))
    second = contribution_shard(plan, contribution_thresholds(first, level), (0, blocks),
                                keep_going=lambda done: on_block(blocks + done, 2 * blocks))
    return None if second is None else merge_contribution_shards(plan, first, [second])


@dataclass(frozen=True)
class IncrementalTailRisk:
    """VaR and ES (cents) without and with the candidate, and their paired difference."""

    level: float
    value_at_risk_before_cents: Estimate
    value_at_risk_after_cents: Estimate
    value_at_risk_change_cents: Estimate
    expected_shortfall_before_cents: Estimate
    expected_shortfall_after_cents: Estimate
    expected_shortfall_change_cents: Estimate


@dataclass(frozen=True)
class IncrementalRisk:
    """What adding the candidate guarantee(s) would do to the fund's risk, on common random
    numbers (the same scenarios with and without), so the change has a small SE."""

    method: str
    seed: int
    scenarios: int
    expected_loss_change_cents: Estimate
    tail_risk: tuple[IncrementalTailRisk, ...]
    exhaustion_probability_before_by_year: tuple[Estimate, ...]
    exhaustion_probability_after_by_year: tuple[Estimate, ...]
    exhaustion_probability_change_by_year: tuple[Estimate, ...]


class _Candidate:
    """The candidate rows, simulated on their own stream given the portfolio's factors;
    their latent thresholds and independent-factor loadings come from the plan's rules
    (copula, Cholesky factor of the factor correlation)."""

    def __init__(self, plan: mc.SimulationPlan, candidate: Portfolio):
        self.threshold = plan.latent_threshold(
            cumulative_pd(candidate, plan.fund.horizon_years))
        self.loading = plan.iid_loadings(candidate.factor_loadings)
        self.sd = np.sqrt(np.clip(1.0 - np.sum(self.loading ** 2, axis=1), 0.0, 1.0))
        c = candidate
        self.exposure = c.exposure_cents.astype(np.float64)
        self.rate, self.lgd, self.lgd_sd = c.guarantee_rate, c.loss_given_default, \
            c.loss_given_default_std
        self.cap = c.cap_cents.astype(np.float64)
        self.deductible = c.deductible_cents.astype(np.float64)

    def payouts_by_year(self, block: int, seed: int, xi: np.ndarray, scale: np.ndarray
                        ) -> np.ndarray:
        """(S, H) candidate payouts by default year in this block's scenarios."""
        rng = np.random.default_rng(np.random.SeedSequence(
            entropy=seed, spawn_key=(block, CANDIDATE_STREAM)))
        s_count, horizon = xi.shape[0], self.threshold.shape[1]
        out = np.zeros((s_count, horizon))
        for r in range(self.threshold.shape[0]):
            u = rng.random(s_count)
            mean = xi @ self.loading[r]
            arg = self.threshold[r][None, :] * scale[:, None] - mean[:, None]
            if self.sd[r] > 0:
                cond = special.ndtr(arg / self.sd[r])
            else:
                cond = (arg > 0).astype(np.float64)
            defaulted = u < cond[:, -1]
            year = np.argmax(u[:, None] < cond, axis=1)
            if self.lgd_sd[r] > 0:
                k = self.lgd[r] * (1 - self.lgd[r]) / self.lgd_sd[r] ** 2 - 1
                lgd = rng.beta(self.lgd[r] * k, (1 - self.lgd[r]) * k, s_count)
            else:
                lgd = np.full(s_count, self.lgd[r])
            pay = np.minimum(self.cap[r], self.rate[r] * np.maximum(
                self.exposure[r] * lgd - self.deductible[r], 0.0))
            rows = np.flatnonzero(defaulted)
            out[rows, year[rows]] += pay[rows]
        return out


def incremental_risk(portfolio: Portfolio, fund: Fund, dependence: Dependence,
                     candidate: Portfolio, *, seed: int, scenarios: int = 100_000,
                     levels: Sequence[float] = mc.DEFAULT_LEVELS,
                     method: str | None = None) -> IncrementalRisk:
    """Change of EL, VaR, ES and capital-exhaustion probability if ``candidate`` (one or more
    rows with the portfolio's factors) were added. The candidate's defaults come from their
    own random stream given the same factors, so both runs share every other draw.
    ``method`` None: ``mc.default_method``: importance_sampling unless portfolio and
    candidate together have a two-sided tail (``model.two_sided_tail``) or the copula is
    Student-t, then monte_carlo; importance_sampling asked for there is refused.

    SEs of changes: Δexhaustion from the paired influence function w[1' - 1], with the
    few-events floor (``estimate.paired_change``: a change no scenario showed reads
    0 ± √2/n, not 0 ± 0); ΔES from the
    paired influence function w[(L' - v')⁺ - (L - v)⁺]/(1 - α) and, in quadrature, the RMS
    of the change of the two runs' ES remainders Ĝ(VaR̂) − Ĝ(VaR), the part of each ES's
    error that its VaR's error adds on a lumpy law (``mc._Tail._es_var_error``), under their
    joint plug-in law (``mc.es_var_error_change``, with the correlation of the two runs' tail
    counts at their VaRs from the second pass). Without it, with α at an atom's edge and
    ES − VaR about an atom, ΔES was beyond 3 SEs of the exact change in 7–17 % of runs
    (``tests/risk/portfolio/measure_incremental_es_se.py``; the portfolio README).

    ΔVaR: the larger of the paired VaR influence function w[1{L' > v'}/f' - 1{L > v}/f]
    (densities f from the tail sample) and the RMS of (VaR̂' − v') − (VaR̂ − v) under the two
    runs' joint plug-in law (``mc.var_error_change``: each run's VaR̂ a step function of its
    tail count's standardised error, as ``mc._Tail._var_error`` reads one run's, the two
    correlated as for ΔES; floors where either VaR could be a neighbouring atom and the
    other would not follow). A density cannot describe a change of whole atoms: on lumpy
    laws (whole payouts) the influence function alone read RMS errors of up to 11.6 SEs,
    with up to 57 % of runs beyond 3 SEs; now 0.65–1.33 SEs and at most 0.5 %. Where both
    VaRs have a density the plug-in law says about what the influence function does (+5–9 %,
    median, on the 300-guarantee book of ``test_portfolio_contributions.py``); on payouts of
    5–60 whole units, a change of 2–4 atoms, it is 34–49 % above it, which had 3–20 % of
    runs beyond 3 SEs there, now 0–2 % (``test_portfolio_incremental_var_se.py``).
    """
    model = validated_model(portfolio, fund, dependence)
    try:
        validate_model(candidate, fund, dependence)
    except InvalidArgument as exc:
        raise InvalidArgument([FieldViolation(v.field.replace("guarantees", "candidate", 1),
                                              v.description) for v in exc.violations]) from None
    _check_scenarios(scenarios)
    # The shift must cover the tail with the candidate too (importance_sampling is refused,
    # and None picks monte_carlo, when portfolio and candidate together have a two-sided tail).
    two_sided = two_sided_tail(portfolio, dependence, candidate.factor_loadings)
    if method is None:
        method = mc.default_method(two_sided, dependence.copula)
    elif method == mc.IMPORTANCE_SAMPLING:
        mc.refuse_two_sided_tail(two_sided, method)
        if violations := mc.t_copula_violations(dependence.copula, method):
            raise InvalidArgument(violations)
    plan = mc.SimulationPlan(model, seed=seed, method=method, levels=levels,
                             exponential_twist=False)
    cand = _Candidate(plan, candidate)
    spec_after = _spec_after(plan, portfolio, candidate, fund)
    cap_after = math.inf if spec_after.portfolio_cap_cents is None else float(
        spec_after.portfolio_cap_cents)
    years = np.arange(1, fund.horizon_years + 1)
    resources_after = spec_after.capital_cents + spec_after.annual_fee_income_cents * years
    blocks = mc.blocks_for(scenarios)
    n = blocks * mc.BLOCK_SCENARIOS

    def both(block):
        loss, year, w, (xi, scale, _) = plan.run_block(block)
        before, exh_before = plan.fund_losses(loss, year)
        extra = cand.payouts_by_year(block, seed, xi, scale)
        loss_after = loss + extra.sum(axis=1)
        after = np.minimum(loss_after, cap_after)
        cum = np.minimum(np.cumsum(year + extra, axis=1), cap_after)
        exh_after = np.maximum.accumulate(cum > resources_after[None, :], axis=1)
        return (loss, before, exh_before), (loss_after, after, exh_after), w

    rec_b = mc.BlockRecords(plan.spec, 0, blocks, plan.keep_weight)
    rec_a = mc.BlockRecords(spec_after, 0, blocks, plan.keep_weight)
    for block in range(blocks):
        without, with_candidate, w = both(block)
        rec_b.add(*without, w)
        rec_a.add(*with_candidate, w)
    shard_b, shard_a = rec_b.shard(), rec_a.shard()
    res_b, res_a = mc._finalize(shard_b), mc._finalize(shard_a)
    tail_b, tail_a = mc._Tail(shard_b, n), mc._Tail(shard_a, n)
    lv = plan.spec.levels
    v_b = np.array([res_b.at(q).value_at_risk_cents.value for q in lv])
    v_a = np.array([res_a.at(q).value_at_risk_cents.value for q in lv])
    f_b = np.array([_density(tail_b, q, n) for q in lv])
    f_a = np.array([_density(tail_a, q, n) for q in lv])
    # the count that carries each run's ES remainder (and, as well, its VaR's error:
    # ``mc.var_error_change``): P̂(L > VaR) (True) or P̂(L ≥ VaR)
    edge_b = [tail_b._es_var_edge(q, v) for q, v in zip(lv, v_b, strict=True)]
    edge_a = [tail_a._es_var_edge(q, v) for q, v in zip(lv, v_a, strict=True)]
    # Second pass: paired influence-function sums (first and second moments), and the
    # moments of those two counts' weighted indicators (their correlation).
    s1 = np.zeros((4, len(lv)))
    s2 = np.zeros((4, len(lv)))
    counts = np.zeros((5, len(lv)))  # Σ w·1_b, Σ w·1_a, Σ (w·1_b)², Σ (w·1_a)², Σ w²·1_b·1_a
    horizon = fund.horizon_years
    e1, e2, e_abs = np.zeros(horizon), np.zeros(horizon), np.zeros(horizon)
    l1 = l2 = x1 = x2 = x_abs = lx = 0.0  # the fund loss's change and its part above the caps
    for block in range(blocks):
        (loss, before, exh_b), (loss_after, after, exh_a), w = both(block)
        d_loss = w * (after - before)
        d_excess = w * ((loss_after - after) - (loss - before))
        l1 += d_loss.sum()
        l2 += (d_loss ** 2).sum()
        x1 += d_excess.sum()
        x2 += (d_excess ** 2).sum()
        x_abs += np.abs(d_excess).sum()
        lx += (d_loss * d_excess).sum()
        d_exh = w[:, None] * (exh_a.astype(np.float64) - exh_b)
        e1 += d_exh.sum(axis=0)
        e2 += (d_exh ** 2).sum(axis=0)
        e_abs += np.abs(d_exh).sum(axis=0)
        for k, q in enumerate(lv):
            es_d = w * (np.maximum(after - v_a[k], 0) - np.maximum(before - v_b[k], 0)) / (1 - q)
            var_d = w * ((after > v_a[k]) / f_a[k] - (before > v_b[k]) / f_b[k])
            s1[0, k] += es_d.sum()
            s2[0, k] += (es_d ** 2).sum()
            s1[1, k] += var_d.sum()
            s2[1, k] += (var_d ** 2).sum()
            in_b = w * (before > v_b[k] if edge_b[k] else before >= v_b[k])
            in_a = w * (after > v_a[k] if edge_a[k] else after >= v_a[k])
            counts[:, k] += [in_b.sum(), in_a.sum(), (in_b * in_b).sum(), (in_a * in_a).sum(),
                             (in_b * in_a).sum()]

    def se(m1, m2):
        return math.sqrt(max(m2 / n - (m1 / n) ** 2, 0.0) / n)

    def correlation(sums):
        p_b, p_a = sums[0] / n, sums[1] / n
        var_b, var_a = sums[2] / n - p_b * p_b, sums[3] / n - p_a * p_a
        return (sums[4] / n - p_b * p_a) / math.sqrt(var_b * var_a) if min(
            var_b, var_a) > 0 else 1.0

    tails = []
    for k, q in enumerate(lv):
        rb, ra = res_b.at(q), res_a.at(q)
        # ΔES's error: the paired influence function's, and the two ES remainders' change
        rho = correlation(counts[:, k])
        remainder = mc.es_var_error_change(tail_b, tail_a, q, v_b[k], v_a[k], rho)
        # ΔVaR's error: the larger of the paired influence function's and the RMS under the
        # two VaRs' joint plug-in law (whole atoms on a lumpy law)
        var_change = mc.var_error_change(tail_b, tail_a, q, v_b[k], v_a[k], rho)
        tails.append(IncrementalTailRisk(
            q, rb.value_at_risk_cents, ra.value_at_risk_cents,
            Estimate(ra.value_at_risk_cents.value - rb.value_at_risk_cents.value,
                     max(se(s1[1, k], s2[1, k]), var_change)),
            rb.expected_shortfall_cents, ra.expected_shortfall_cents,
            Estimate(ra.expected_shortfall_cents.value - rb.expected_shortfall_cents.value,
                     math.hypot(se(s1[0, k], s2[0, k]), remainder))))
    return IncrementalRisk(
        method=method, seed=seed, scenarios=n,
        # control: the candidate's own loss, whose mean is exact (as for a run's EL)
        expected_loss_change_cents=mc.control_variate_mean(
            l1, l2, x1, x2, lx, n=n, control_mean=spec_after.expected_uncapped_loss_cents
            - plan.spec.expected_uncapped_loss_cents, excess_abs_sum=x_abs,
            unseen_excess=mc.largest_excess_change(plan.spec, spec_after)),
        tail_risk=tuple(tails),
        exhaustion_probability_before_by_year=res_b.exhaustion_probability_by_year,
        exhaustion_probability_after_by_year=res_a.exhaustion_probability_by_year,
        exhaustion_probability_change_by_year=tuple(
            paired_change(float(e1[t]), float(e2[t]), float(e_abs[t]), n)
            for t in range(horizon)))


def _density(tail: mc._Tail, level: float, n: int) -> float:
    """Loss density at VaR_level from the tail sample: 2h / (VaR(α+h) - VaR(α-h)), with h
    wide enough to span several sampled losses."""
    h = max(0.05 * (1 - level), 5.0 / n)
    width = tail.var(min(level + h, 1 - 0.5 / n)) - tail.var(level - h)
    return 2 * h / width if width > 0 else math.inf


def _spec_after(plan: mc.SimulationPlan, portfolio: Portfolio, candidate: Portfolio,
                fund: Fund) -> mc.RunSpec:
    cap = portfolio_cap_cents(portfolio, fund)
    if cap is not None:
        volume = int(np.sum(np.round(portfolio.guarantee_rate * portfolio.exposure_cents))
                     + np.sum(np.round(candidate.guarantee_rate * candidate.exposure_cents)))
        cap = int(np.floor(fund.portfolio_cap_rate * volume))
    fees = annual_fee_income_cents(portfolio, fund)
    if fund.annual_fee_income_cents is None:
        fees += int(np.sum(np.round(candidate.fee_rate * candidate.exposure_cents)))
    from dataclasses import replace
    uncapped = plan.spec.expected_uncapped_loss_cents + float(
        cumulative_pd(candidate, fund.horizon_years)[:, -1] @ expected_payouts(candidate))
    return replace(plan.spec, portfolio_cap_cents=cap, annual_fee_income_cents=fees,
                   input_digest=plan.spec.input_digest + "+candidate",
                   expected_uncapped_loss_cents=uncapped,
                   max_uncapped_loss_cents=plan.spec.max_uncapped_loss_cents
                   + float(np.sum(max_payouts(candidate))))


def _check_scenarios(scenarios) -> None:
    if isinstance(scenarios, bool) or not isinstance(scenarios, int) or scenarios < 1:
        raise InvalidArgument(FieldViolation("scenarios", "a positive integer"))
    if scenarios > mc.MAX_SCENARIOS:
        raise ResourceExhausted(f"{scenarios} scenarios; the bound is {mc.MAX_SCENARIOS}")
