"""The Monte Carlo loop: blocks of scenarios drawn from their own seeded streams,
grouped into chunks for vectorised arithmetic.

Block b (BLOCK_SCENARIOS scenarios; the last may be shorter) draws only from
``default_rng(SeedSequence(entropy=seed, spawn_key=(b,)))`` and every per-scenario
figure is computed elementwise, so any chunking into whole blocks gives bit-identical
results. Memory: O(inputs × chunk) plus the per-scenario output vectors (≤ 17 bytes
per scenario, bounded by MAX_SCENARIOS).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from services.risk.engine.estimate import Estimate

from . import marginals as mg
from .plan import ALWAYS, BLOCK_SCENARIOS, ON_SUCCESS, Plan

# Sensitivities are rank correlations over the first blocks only (a fixed, seed-
# determined subsample): ranking every input over millions of scenarios would cost
# more than the simulation and would not fit the chunk memory bound.
SENSITIVITY_BLOCKS = 4
# Early stopping compares the target with √(V/n), V an estimate of Var(total cost) in
# which the risk events' and phase failures' parts come from the model, not from the
# draws (_StoppingRule).
# Stopping on the sample's own SE biased the mean low for rare, large events: the sample
# variance rises with the occurrences drawn, as the sample mean does, so runs that drew
# few looked precise and stopped on their low mean while runs that drew many went on
# and were diluted. Considered only from this many blocks on, so that the sampled part
# of V (the rest of the cost) is itself a stable estimate.
MIN_BLOCKS_BEFORE_STOP = 8
# ... and never while √(V/n) is 0 or below this fraction of |mean|: a cost that does not
# vary at all in the model (or not yet in the sample) says nothing about the scenarios
# to come.
MIN_RELATIVE_STANDARD_ERROR = 1e-9
# A lognormal cost item whose log-SD exceeds this is "heavy-tailed", and _StoppingRule
# takes its variance from the model: past it the lognormal's kurtosis, e^{4σ²} + 2e^{3σ²}
# + 3e^{2σ²} − 3, exceeds 9, the largest of any other marginal (the exponential's: the
# limit of a PERT with its mode at its minimum and of a normal truncated far in its tail;
# uniform 1.8, triangular 2.4). That is P90/P10 = e^{2·Z90·σ} ≈ 3.63; validation allows
# any P90/P10 > 1. Below it the sample variance is as reliable as for those marginals and
# stopping is unchanged.
HEAVY_TAIL_LOG_SD = 0.5030114868450799  # √s, e^{4s} + 2e^{3s} + 3e^{2s} − 3 = 9
# Default chunk, in blocks, when sampling may stop early (the chunk size never changes a
# result; this bounds the scenarios drawn beyond the stopping point).
EARLY_STOP_CHUNK_BLOCKS = 4
# Default chunk: about this many float64 working values (~64 MB).
CHUNK_VALUE_BUDGET = 8_000_000


#: ``on_chunk(scenarios_drawn, scenarios_asked)``, called before each chunk is drawn;
#: returning False stops the run (RunStopped). Its caller's way to stop a run it no
#: longer wants (a call cancelled, or past its deadline) between chunks; the chunk
#: itself is bounded by CHUNK_VALUE_BUDGET, so a stop takes effect within about a second.
ChunkCallback = Callable[[int, int], bool | None]


class RunStopped(Exception):
    """The run's chunk callback asked it to stop; no result."""


@dataclass
class ScenarioSet:
    """Per-scenario outputs of one run (cost in float cents, duration in days)."""

    total_cost_cents: np.ndarray
    duration_days: np.ndarray
    failure_phase: np.ndarray  # int8: index of the failing phase, −1 on success
    critical_counts: np.ndarray  # per activity: scenarios in which it was critical
    sensitivity_inputs: np.ndarray  # (2 × inputs, sensitivity scenarios); see below
    scenarios: int
    stopped_early: bool
    # √(V/n) of _StoppingRule over the scenarios kept: the mean total cost's standard
    # error with the risk events' and phase failures' parts from the model; never 0
    # while an event or failure the model holds has not been drawn (the sample's own SE
    # then is).
    model_standard_error_cents: float
    # With heavy-tailed cost items only (else None: the sample's own SD stands): the
    # total cost's SD √V from _StoppingRule.variance (their part exact) and its standard
    # error, from the sampled parts of V alone (_StoppingRule.standard_deviation).
    model_standard_deviation: Estimate | None = None


class _Sampler:
    """Row layout of one model's random inputs, and how each row is drawn: by
    uniforms (inverse CDF), by independent standard normals (PERT, lognormal: their
    inverse CDF is cheaper in normal scores), by correlated normals (the copula), or
    not at all (fixed)."""

    def __init__(self, plan: Plan):
        self.plan = plan
        inputs = plan.input_marginals
        self.n_inputs = len(inputs)
        self.n_cost, self.n_act = len(plan.cost_marginals), len(plan.activity_marginals)
        self.n_risk = len(plan.risk_occurrence)
        corr = set(plan.correlated_inputs)
        self.groups: list[tuple[str, str, list[int], list[mg.Marginal], list[int]]] = []
        counts = {"uniform": 0, "gauss": 0, "fixed": 0}
        by_kind: dict[tuple[str, str], list[int]] = {}
        for i, m in enumerate(inputs):
            if i in corr:
                continue
            source = {mg.FIXED: "fixed", mg.PERT: "gauss", mg.LOGNORMAL: "gauss"}.get(
                m.kind, "uniform")
            by_kind.setdefault((source, m.kind), []).append(i)
        for (source, kind), rows in by_kind.items():
            srcs = list(range(counts[source], counts[source] + len(rows)))
            counts[source] += len(rows)
            self.groups.append((source, kind, rows, [inputs[i] for i in rows], srcs))
        corr_kinds: dict[str, list[int]] = {}
        for zrow, i in enumerate(plan.correlated_inputs):
            corr_kinds.setdefault(inputs[i].kind, []).append(zrow)
        for kind, zrows in corr_kinds.items():
            rows = [plan.correlated_inputs[z] for z in zrows]
            self.groups.append(("copula", kind, rows, [inputs[i] for i in rows], zrows))
        self.n_uniform, self.n_gauss = counts["uniform"], counts["gauss"]
        self.n_corr = len(plan.correlated_inputs)
        first_risk = self.n_cost + self.n_act
        # where each risk event's occurrence comes from: ("uniform" | "copula", row)
        self.risk_source: list[tuple[str, int]] = [("", 0)] * self.n_risk
        for source, _kind, rows, _m, srcs in self.groups:
            for i, src in zip(rows, srcs, strict=True):
                if i >= first_risk:
                    self.risk_source[i - first_risk] = (source, src)
        self.factor = plan.copula_factor

    def chunk(self, seed: int, first_block: int, blocks: int, scenarios: int):
        """Draw and transform whole blocks [first_block, first_block + blocks): input
        values, risk impacts and delays (0 where the event did not occur), failure
        phases, and which risk events occurred (bool, events × scenarios)."""
        start = first_block * BLOCK_SCENARIOS
        n = min(blocks * BLOCK_SCENARIOS, scenarios - start)
        z = np.empty((self.n_corr, n))
        u = np.empty((self.n_uniform, n))
        g = np.empty((self.n_gauss, n))
        impact = np.zeros((self.n_risk, n))
        delay = np.zeros((self.n_risk, n))
        occurred = np.zeros((self.n_risk, n), dtype=bool)
        failure = np.full(n, -1, dtype=np.int8)
        plan = self.plan
        for b in range(first_block, first_block + blocks):
            lo = (b - first_block) * BLOCK_SCENARIOS
            nb = min(BLOCK_SCENARIOS, n - lo)
            sl = slice(lo, lo + nb)
            rng = np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(b,)))
            if self.n_corr:
                z[:, sl] = self.factor @ rng.standard_normal((self.n_corr, nb))
            if self.n_uniform:
                u[:, sl] = rng.random((self.n_uniform, nb))
            if self.n_gauss:
                g[:, sl] = rng.standard_normal((self.n_gauss, nb))
            for k, occ_marginal in enumerate(plan.risk_occurrence):
                source, row = self.risk_source[k]
                if source == "copula":
                    occ = mg.from_normal(mg.BERNOULLI, [occ_marginal], z[row:row + 1, sl])[0]
                else:
                    occ = u[row, sl] < occ_marginal.params[0]
                occ = occ.astype(bool)
                occurred[k, sl] = occ
                count = int(occ.sum())
                if count:
                    impact[k, sl][occ] = mg.draw(plan.risk_impacts[k], rng, count)
                    delay[k, sl][occ] = mg.draw(plan.risk_delays[k], rng, count)
            if plan.phase_names:
                failure[sl] = _phase_failures(rng, nb, plan.phase_suppliers,
                                              plan.phase_pass_probabilities)
        values = np.empty((self.n_inputs, n))
        for source, kind, rows, marg, srcs in self.groups:
            if source == "uniform":
                values[rows] = mg.from_uniform(kind, marg, u[srcs])
            elif source == "gauss":
                values[rows] = mg.from_normal(kind, marg, g[srcs])
            elif source == "copula":
                values[rows] = mg.from_normal(kind, marg, z[srcs])
            else:
                values[rows] = np.array([[m.params[0]] for m in marg])
        return values, impact, delay, failure, occurred


def failure_distribution(suppliers: list[int], pass_probabilities: list[float]
                         ) -> np.ndarray:
    """Exact P(F = k) of the failing phase k = 0 .. K−1 (as _phase_failures draws it),
    by the Markov chain over the suppliers entering each phase: phase k fails when
    none of its e entrants passes ((1 − p_k)^e); otherwise min(passed, n_{k+1}) enter
    phase k + 1. P(success) = 1 − the sum."""
    fail = np.zeros(len(pass_probabilities))
    entering = np.zeros(suppliers[0] + 1)  # probability of e suppliers entering, e ≥ 1
    entering[suppliers[0]] = 1.0
    for k, p in enumerate(pass_probabilities):
        # entering counts whose probability is below 1e-18 of the mass still in play are
        # left out (a change far below any figure's precision): with hundreds of
        # suppliers the [entering × passed] table would otherwise take seconds
        e = np.flatnonzero(entering > 1e-18 * entering.sum())
        j = np.arange(e[-1] + 1 if len(e) else 1)
        # reach[j] = P(reached phase k and j of its entrants passed)
        reach = entering[e] @ stats.binom.pmf(j[None, :], e[:, None], p)
        fail[k] = reach[0]
        if k + 1 < len(suppliers):
            cap = suppliers[k + 1]  # at most this many of those that passed go on
            entering = np.zeros(cap + 1)
            kept = min(len(reach), cap + 1)
            entering[:kept] = reach[:kept]
            entering[cap] += reach[cap + 1:].sum()
            entering[0] = 0.0  # failed here: enters no later phase
    return fail


def outcome_probabilities(plan: Plan) -> np.ndarray:
    """Exact P(F = f) of the failing phase, indexed f + 1 (f = −1: every phase passed)."""
    n_phases = len(plan.phase_names)
    probability = np.ones(n_phases + 1)
    if n_phases:
        fail = failure_distribution(plan.phase_suppliers, plan.phase_pass_probabilities)
        probability[1:] = fail
        probability[0] = max(1.0 - float(fail.sum()), 0.0)
    return probability


def spent_by_outcome(plan: Plan) -> np.ndarray:
    """Whether each cost item is spent when the procurement fails in phase f (bool,
    [f + 1, item]; f = −1: every phase passed): always; on success; or in phase c when c
    is reached (F = −1 or F ≥ c)."""
    code = np.array(plan.cost_incurrence)
    n_phases = len(plan.phase_names)
    spent = np.zeros((n_phases + 1, len(code)), dtype=bool)
    for f in range(-1, n_phases):
        spent[f + 1] = (code == ALWAYS) | ((code >= 0) & ((f < 0) | (code <= f)))
        if f < 0:
            spent[f + 1] |= code == ON_SUCCESS
    return spent


def cost_bounds_by_outcome(plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """The least and the most a scenario can cost when the procurement fails in phase f
    (indexed f + 1; f = −1: success), from the marginals' supports (inf where one is
    unbounded): what the model rules out, which no run of it can prove."""
    spent = spent_by_outcome(plan)
    support = np.array([mg.support(m) for m in plan.cost_marginals]).reshape(-1, 2)
    low = spent @ support[:, 0]
    high = np.array([float(support[row, 1].sum()) for row in spent])  # inf·0 is nan in @
    for occurrence, impact in zip(plan.risk_occurrence, plan.risk_impacts, strict=True):
        p = occurrence.params[0]
        lo, hi = mg.support(impact)
        if p > 0.0:
            high = high + max(hi, 0.0)
            low = low + (lo if p >= 1.0 else min(lo, 0.0))
    return low, high


def duration_bounds(plan: Plan) -> tuple[float, float]:
    """The shortest and the longest the project can take (inf: unbounded), from the
    supports of the activities' durations and of the delays of the events that may occur."""
    if plan.network is None:
        return 0.0, 0.0
    low = [mg.support(m)[0] for m in plan.activity_marginals]
    high = [mg.support(m)[1] for m in plan.activity_marginals]
    for occurrence, delay, targets in zip(plan.risk_occurrence, plan.risk_delays,
                                          plan.risk_targets, strict=True):
        p = occurrence.params[0]
        lo, hi = mg.support(delay)
        for j in targets:
            if p > 0.0:
                high[j] += hi
            if p >= 1.0:
                low[j] += lo
    return plan.network.longest_path(low), plan.network.longest_path(high)


class _StoppingRule:
    """The standard error that early stopping compares with the target: √(V/n), with

        V = s²(rest − g(F)) + Var(g(F)) + Var(events)
            + 2·Σ_k E[I_k]·p_k·(mean of rest − g(F) where k occurred − its mean)

    where rest = total cost − the risk events' impacts, F the failing phase (−1 on
    success), g(F) = E[rest | F] exactly from the model, s² the sample variance, and
    Var(events) = Σ_k p_k·Var(I_k) + p_k(1 − p_k)·E[I_k]² + Σ_{a≠b} E[I_a]E[I_b]·
    Cov(1_a, 1_b) exactly from the model (stated probabilities, impact moments, the
    copula's joint occurrences; the last sum is over pairs of events in the copula).
    The covariance terms are for events in the copula only: an event outside it draws
    from its own random numbers, independent of the rest.

    The failing phase: F is drawn from its own binomials (suppliers and pass
    probabilities per phase), independent of every cost value and risk event, and a cost
    item is spent as its incurrence code says (always; on success, F = −1; in phase c,
    when c is reached, F = −1 or F ≥ c). So g(f) = Σ_i E[X_i]·[item i spent when F = f]
    (E[X_i] from the marginal: the copula keeps marginals), P(F) comes from the
    supplier funnel's Markov chain (failure_distribution) and Var(g(F)) = Σ_f P(f)·(g(f)
    − E[g])². Var(rest) = Var(rest − g(F)) + Var(g(F)): the cross term is 0 because
    E[rest − g(F) | F] = 0. Risk events do not interact with failure: each event's
    occurrence, impact and delay count whatever phase is reached, and they are drawn
    independently of F, so Cov(g(F), events) = 0 and Cov(rest, events) = Cov(rest −
    g(F), events), estimated on rest − g(F) (free of the failure jumps).

    Why this removes the bias: the mean after a data-dependent n is unbiased for the
    part of the cost that n does not depend on (given n, its draws are still i.i.d.
    with mean p·E[I]). An event outside the copula enters V only through constants, so
    n does not depend on its draws and its share of the mean is exactly unbiased; the
    same holds for the failure jumps g(F), which enter V only through Var(g(F)) (the
    sample variance, rising with the rare failures drawn as the mean moves with them,
    did: a failure with P = 0.001 that drops 100 M€ of cost biased the stopped mean by
    +2.1 % of P × 100 M€, measure_early_stop_bias.py). An event in the copula enters
    through p_k and a conditional mean of rest − g(F), neither of which grows with the
    number of occurrences drawn; n then depends on it only through the rest it is
    correlated with, a second-order effect, as is the failures' effect through
    s²(rest − g(F)) (items not spent in a failed scenario do not vary there). What is
    still sampled is rest − g(F): its bias is of the order of its skewness × SE²/SD
    (Cov(mean, s²) = μ₃/n), negligible unless a cost item's own distribution holds a
    rare, large jump (a very heavy tail).

    Heavy-tailed cost items (lognormals with σ > HEAVY_TAIL_LOG_SD, P90/P10 > 3.63) are
    therefore split off: with D_H = Σ_{i heavy} [i spent](X_i − E[X_i]), D_HC its part in
    the copula and D_L = rest − g(F) − D_H, s²(rest − g(F)) above becomes

        s²(D_L) + 2·ĉov(D_L, D_HC) + Var(D_H),

    Var(D_H) = Σ_f P(f)·Σ_{i, j heavy, spent when F = f} Cov(X_i, X_j) from the model
    (Var(X_i) of the marginal; E[X_i]E[X_j](e^{ρσ_iσ_j} − 1) for two in the copula, ρ
    their normal-scale correlation; F is independent of the X_i) and the covariance of
    the heavy items in the copula with the light ones sampled (no closed form for mixed
    marginals). Their covariance with the events splits alike: the events' link terms
    above are taken on D_L alone, and Cov(D_H, events) = Σ_k E[I_k]·Σ_{i heavy in the
    copula} P(i spent)·E[X_i](Φ(ρσ_i − c_k) − p_k) is exact (event k occurs when its
    normal Z_k > c_k = Φ⁻¹(1 − p_k); under the measure tilted by e^{σ_i Z_i}, Z_k has
    mean ρσ_i); a heavy item outside the copula is independent of every event. So the
    heavy items' values enter V only through ĉov(D_L, D_HC). A heavy item's sample
    variance is mostly far below its variance and jumps with its rare large draws, as its
    mean does (a lognormal's kurtosis grows as e^{4σ²}: 400 at P90/P10 = 20, 4·10⁵ at
    100), so judged from the sample the runs that had not yet drawn the tail stopped on a
    low mean: −0.42 % ± 0.07 % at P90/P10 = 100 and a reported SE 0.88× the true one
    (median; 1,000 seeds, see the README). A heavy item outside the copula now enters V
    only through a constant, so its share of the mean is exactly unbiased; one in the
    copula through a sampled covariance with light items, a second-order effect as for
    the events in the copula. The total cost's SD is reported as √V for the same reason
    (standard_deviation). Models without such items take the same path as before, bit
    for bit."""

    def __init__(self, plan: Plan):
        n_risk = len(plan.risk_occurrence)
        p = np.array([m.params[0] for m in plan.risk_occurrence], dtype=np.float64)
        moments = np.array([mg.mean_and_variance(m) for m in plan.risk_impacts],
                           dtype=np.float64).reshape(n_risk, 2)
        mean_i, var_i = moments[:, 0], moments[:, 1]
        self.event_mean = float(p @ mean_i)
        variance = float(p @ var_i + (p * (1.0 - p)) @ (mean_i * mean_i))
        first_risk = len(plan.cost_marginals) + len(plan.activity_marginals)
        # row of each event in the copula (its occurrence's row in the report)
        rows = {i - first_risk: z for z, i in enumerate(plan.correlated_inputs)
                if i >= first_risk}
        if rows:
            # the report's realised rank correlation of two occurrences is their phi
            # coefficient, Cov(1_a, 1_b)/√(p_a(1 − p_a)p_b(1 − p_b))
            k = len(plan.correlated_inputs)
            phi = np.array(plan.correlation_report.rank_correlations).reshape(k, k)
            events = sorted(rows)
            for x, a in enumerate(events):
                for b in events[x + 1:]:
                    variance += 2.0 * mean_i[a] * mean_i[b] * phi[rows[a], rows[b]] * math.sqrt(
                        p[a] * (1.0 - p[a]) * p[b] * (1.0 - p[b]))
        self.event_variance = variance
        self.linked = [k for k in sorted(rows) if 0.0 < p[k] < 1.0 and mean_i[k] != 0.0]
        self.link_weight = np.array([2.0 * mean_i[k] * p[k] for k in self.linked])
        self.link_probability = p[self.linked]
        # g(F) = E[rest | F], indexed by F + 1 (F = −1: success), and its moments
        n_phases = len(plan.phase_names)
        item_mean = np.array([mg.mean_and_variance(m)[0] for m in plan.cost_marginals])
        code = np.array(plan.cost_incurrence)
        self.failure_probability = outcome_probabilities(plan)
        g = np.empty(n_phases + 1)
        spent_at = spent_by_outcome(plan)  # [F + 1, item]
        for f in range(-1, n_phases):
            g[f + 1] = float(item_mean[spent_at[f + 1]].sum())
        self.conditional_rest = g
        self.rest_mean = float(self.failure_probability @ g)
        self.failure_variance = float(self.failure_probability @ (g - self.rest_mean) ** 2)
        # Heavy-tailed items (HEAVY_TAIL_LOG_SD): D_H = Σ_{i heavy} [i spent](X_i − E[X_i])
        # has, as F is independent of the X_i and E[X_i − E[X_i]] = 0, the variance
        # Σ_f P(f)·Σ_{i, j heavy, spent when F = f} Cov(X_i, X_j), Cov from the model:
        # Var(X_i), and for two lognormals in the copula E[X_i]E[X_j](e^{ρσ_iσ_j} − 1)
        # (ρ their normal-scale correlation); 0 for any other pair (independent).
        corr_row = {i: z for z, i in enumerate(plan.correlated_inputs)}
        self.heavy = [i for i, m in enumerate(plan.cost_marginals)
                      if m.kind == mg.LOGNORMAL and m.params[1] > HEAVY_TAIL_LOG_SD]
        self.heavy_variance = 0.0
        if self.heavy:
            h = np.array(self.heavy)
            cov = np.diag([mg.mean_and_variance(plan.cost_marginals[i])[1] for i in h])
            linked_heavy = [x for x, i in enumerate(h) if i in corr_row]
            if linked_heavy:
                normal = plan.copula_factor @ plan.copula_factor.T
                for x in linked_heavy:
                    for y in linked_heavy:
                        if x != y:
                            a, b = h[x], h[y]
                            cov[x, y] = item_mean[a] * item_mean[b] * math.expm1(
                                normal[corr_row[a], corr_row[b]]
                                * plan.cost_marginals[a].params[1]
                                * plan.cost_marginals[b].params[1])
            spent_h = spent_at[:, h].astype(np.float64)
            self.heavy_variance = float(self.failure_probability @ np.einsum(
                "fi,ij,fj->f", spent_h, cov, spent_h))
            light = np.ones(len(code), dtype=bool)
            light[h] = False
            # E[light part | F] and E[heavy ones in the copula | F]; the sampled parts are
            # D_L = rest − D_H − g(F) and D_HC, the heavy ones' in the copula
            self.light_conditional = (spent_at & light) @ item_mean
            self.heavy_copula = np.array(linked_heavy, dtype=np.intp)
            self.heavy_copula_conditional = spent_at[:, h[self.heavy_copula]] @ item_mean[
                h[self.heavy_copula]]
            # + 2·Cov(D_H, events) for the linked events (in the copula), exact: see above
            if linked_heavy and self.linked:
                spent_p = self.failure_probability @ spent_at[:, h].astype(np.float64)
                for k, weight in zip(self.linked, self.link_weight, strict=True):
                    c = float(special.ndtri(1.0 - p[k]))
                    for x in linked_heavy:
                        i = h[x]
                        sigma = plan.cost_marginals[i].params[1]
                        rho = normal[corr_row[i], corr_row[first_risk + k]]
                        self.heavy_variance += weight / p[k] * spent_p[x] * item_mean[i] * (
                            float(special.ndtr(rho * sigma - c)) - p[k])
        self.count, self.mean, self.m2 = 0, 0.0, 0.0
        # mean of D_L and of D_HC, and their co-moment (heavy-tailed items only)
        self.light_mean, self.heavy_copula_mean, self.comoment = 0.0, 0.0, 0.0
        # The SD's standard error (heavy-tailed items only; standard_deviation): the
        # mean and co-moment matrix of y = (D_L, D_L², D_HC, D_L·D_HC, then 1_k and
        # 1_k·D_L for each linked event k), merged block by block
        self.moment_count = 0
        self.moment_mean = np.zeros(2 + 2 * bool(self.heavy and len(self.heavy_copula))
                                    + 2 * len(self.linked))
        self.moment_m2 = np.zeros((len(self.moment_mean), len(self.moment_mean)))
        self.occurrences = np.zeros(len(self.linked), dtype=np.int64)
        self.rest_where_occurred = np.zeros(len(self.linked))

    def add_block(self, rest: np.ndarray, occurred: np.ndarray, failure: np.ndarray,
                  light: np.ndarray | None = None, heavy: np.ndarray | None = None) -> None:
        """Merge one block (in block order, so the result is chunk-independent):
        the (count, mean, M2) of rest − g(F) by Chan et al.'s update; for each linked
        event, its occurrences and the sum of rest − g(F) where it occurred. With
        heavy-tailed items, ``light`` is the rest without them and ``heavy`` their
        spent values (heavy items × scenarios, 0 where not spent): the M2 and the linked
        events' sums are then those of D_L = light − E[light | F] alone, the co-moment of
        D_L and D_HC (the heavy items in the copula) is kept too, and the moments of y
        (see __init__) for the SD's standard error."""
        idx = failure.astype(np.intp) + 1
        rest = rest - self.conditional_rest[idx]
        nb, mb = len(rest), float(rest.mean())
        delta = mb - self.mean
        new = self.count + nb
        if self.heavy:
            d_light = light - self.light_conditional[idx]
            lb = float(d_light.mean())
            dl = d_light - lb
            m2b = float(dl @ dl)
            delta_l = lb - self.light_mean
            self.light_mean += delta_l * nb / new
            self.m2 += m2b + delta_l * delta_l * self.count * nb / new
            y = [d_light, d_light * d_light]
            if len(self.heavy_copula):
                d_hc = (np.add.reduce(heavy[self.heavy_copula], axis=0)
                        - self.heavy_copula_conditional[idx])
                hb = float(d_hc.mean())
                delta_h = hb - self.heavy_copula_mean
                self.heavy_copula_mean += delta_h * nb / new
                self.comoment += float(dl @ (d_hc - hb)) + delta_l * delta_h * self.count * nb / new
                y += [d_hc, d_light * d_hc]
            if self.linked:
                occ = occurred[self.linked].astype(np.float64)
                y += list(occ) + list(occ * d_light)
            self._add_moments(np.array(y))
            rest = d_light  # the linked events' sums below: on D_L
        else:
            m2b = float(((rest - mb) ** 2).sum())
            self.m2 += m2b + delta * delta * self.count * nb / new
        self.mean += delta * nb / new
        self.count = new
        if self.linked:
            occ = occurred[self.linked]
            self.occurrences += occ.sum(axis=1)
            self.rest_where_occurred += np.where(occ, rest, 0.0).sum(axis=1)

    def _add_moments(self, y: np.ndarray) -> None:
        """Chan et al.'s merge of one block's rows y (quantities × scenarios) into the
        running mean and co-moment matrix."""
        nb = y.shape[1]
        mb = y.mean(axis=1)
        d = y - mb[:, None]
        delta = mb - self.moment_mean
        new = self.moment_count + nb
        self.moment_m2 += d @ d.T + np.outer(delta, delta) * (self.moment_count * nb / new)
        self.moment_mean += delta * (nb / new)
        self.moment_count = new

    def variance(self) -> float:
        """V, this rule's estimate of Var(total cost) (see the class docstring)."""
        n = self.count
        variance = ((self.m2 / (n - 1) if n > 1 else 0.0) + self.failure_variance
                    + self.event_variance)
        if self.heavy:
            variance += self.heavy_variance + (2.0 * self.comoment / (n - 1) if n > 1 else 0.0)
        seen = self.occurrences > 0
        if seen.any():
            centre = self.light_mean if self.heavy else self.mean
            shift = self.rest_where_occurred[seen] / self.occurrences[seen] - centre
            variance += float(self.link_weight[seen] @ shift)
        return variance

    def standard_error(self) -> float:
        return math.sqrt(max(self.variance(), 0.0) / self.count)

    def standard_deviation(self) -> Estimate | None:
        """The total cost's SD as √V, with its standard error; None without heavy-tailed
        items (the sample's own SD stands).

        With them the sample SD cannot hold: a lognormal's kurtosis is 4·10⁵ at P90/P10 =
        100, and at 20,000 scenarios the sample SD was below 0.88σ in half the runs, its
        mean 0.94σ, and far above σ in a few. In V the heavy items' variance, their
        covariances with each other and with the events, the phase failures' and the
        events' are exact; only s²(D_L), 2·ĉov(D_L, D_HC) and the linked events' terms
        w_k(mean of D_L where k occurred − mean of D_L) are sampled. V̂ is a smooth
        function of the means of y (__init__), so by the delta method V̂ − V ≈ the mean
        of its influence ψ = (D_L − μ_L)² + 2(D_L − μ_L)(D_HC − μ_HC) + Σ_k 2E[I_k]·
        (1_k(D_L − m_k) − p_k(D_L − μ_L)) (m_k the mean of D_L where k occurred), linear
        in y: Var(V̂) ≈ cᵀ Cov(y) c / n, and SE(√V̂) = SE(V̂)/(2√V̂). A lone heavy item
        (or heavy items with only exact parts) gives SE 0: the SD is then exact."""
        n = self.count
        if not self.heavy or n < 2:
            return None
        variance = max(self.variance(), 0.0)
        sd = math.sqrt(variance)
        if sd == 0.0:
            return Estimate(0.0, 0.0)
        mu_l = self.moment_mean[0]
        coef = np.zeros(len(self.moment_mean))
        coef[0], coef[1] = -2.0 * mu_l, 1.0
        at = 2
        if len(self.heavy_copula):
            coef[0] -= 2.0 * self.moment_mean[2]
            coef[2], coef[3] = -2.0 * mu_l, 2.0
            at = 4
        seen = self.occurrences > 0
        for j in np.flatnonzero(seen):
            impact = self.link_weight[j] / (2.0 * self.link_probability[j])  # E[I_k]
            m_k = self.rest_where_occurred[j] / self.occurrences[j]
            coef[0] -= 2.0 * impact * self.link_probability[j]
            coef[at + j] = -2.0 * impact * m_k
            coef[at + len(self.linked) + j] = 2.0 * impact
        var_v = max(float(coef @ self.moment_m2 @ coef) / (n - 1), 0.0) / n
        return Estimate(sd, math.sqrt(var_v) / (2.0 * sd))

    def may_stop(self, target: float) -> bool:
        if self.count < 2:
            return False
        se = self.standard_error()
        mean = self.rest_mean + self.mean + self.event_mean
        return MIN_RELATIVE_STANDARD_ERROR * abs(mean) < se <= target


def _phase_failures(rng: np.random.Generator, n: int, suppliers: list[int],
                    pass_probabilities: list[float]) -> np.ndarray:
    """Index of the phase in which each scenario fails (−1: all phases passed)."""
    failure = np.full(n, -1, dtype=np.int8)
    entering = np.full(n, suppliers[0], dtype=np.int64)
    for k, p in enumerate(pass_probabilities):
        passed = rng.binomial(entering, p)
        failure[(passed == 0) & (failure < 0)] = k
        if k + 1 < len(suppliers):
            entering = np.minimum(passed, suppliers[k + 1])
    return failure


def _spent_value(value: np.ndarray, code: int, failure: np.ndarray, reached: np.ndarray
                 ) -> np.ndarray:
    """A conditional cost item's spend: its value where its incurrence holds, else 0."""
    spent = (failure < 0) if code == ON_SUCCESS else (code < reached)
    return np.where(spent, value, 0.0)


OutcomeCosts = Callable[[int, np.ndarray], None]


def _outcome_costs(values: np.ndarray, events: np.ndarray, always_cost: np.ndarray,
                   by_phase: list[np.ndarray], on_success: np.ndarray) -> np.ndarray:
    """Each scenario's total cost had the procurement failed in phase f (row f + 1) or
    passed every phase (row 0), from its own draws: the failing phase is drawn
    independently of them. Elementwise sums, so chunk-independent."""
    n = values.shape[1]
    out = np.empty((len(by_phase) + 1, n))
    reached = always_cost + events
    for c, items in enumerate(by_phase):
        if len(items):
            reached = reached + np.add.reduce(values[items], axis=0)
        out[c + 1] = reached
    out[0] = reached + np.add.reduce(values[on_success], axis=0) if len(on_success) else reached
    return out


def simulate(plan: Plan, *, scenarios: int, seed: int, chunk_scenarios: int | None,
             target_standard_error_cents: float | None,
             outcome_costs: OutcomeCosts | None = None,
             on_chunk: ChunkCallback | None = None) -> ScenarioSet:
    """Run the model; see the module docstring for the reproducibility contract.

    ``on_chunk`` may stop it between chunks (RunStopped).

    ``sensitivity_inputs`` rows: the sampled value of every cost item, activity
    duration (before risk delays) and risk event cost impact (0 when it did not
    occur), then the same again with each risk event's realised delay in place of
    its impact; columns: the first SENSITIVITY_BLOCKS blocks.

    ``outcome_costs(start, costs)``, if given, is called for each chunk with the index of
    its first scenario and the (phases + 1, scenarios) total cost of each of its scenarios
    under every outcome (row 0: every phase passed; row f + 1: failed in phase f; see
    _outcome_costs): what conditioning on the failing phase, whose law the model knows
    exactly, needs."""
    sampler = _Sampler(plan)
    n_blocks = math.ceil(scenarios / BLOCK_SCENARIOS)
    rows = sampler.n_inputs + 3 * sampler.n_risk + 2 * sampler.n_act + 4
    n_outcomes = len(plan.phase_names) + 1
    if outcome_costs is not None:
        rows += 2 * n_outcomes  # the matrix and what its caller makes of it
    if chunk_scenarios is None:
        per_chunk = max(1, CHUNK_VALUE_BUDGET // (rows * BLOCK_SCENARIOS))
        if target_standard_error_cents is not None:
            # A chunk is drawn whole before its blocks are tested: a small model's
            # default chunk (~200 blocks) would draw far past the stopping point.
            per_chunk = min(per_chunk, EARLY_STOP_CHUNK_BLOCKS)
    else:
        per_chunk = max(1, round(chunk_scenarios / BLOCK_SCENARIOS))
    total = np.empty(scenarios)
    duration = np.zeros(scenarios)
    failure = np.empty(scenarios, dtype=np.int8)
    n_act, n_cost, n_risk = sampler.n_act, sampler.n_cost, sampler.n_risk
    critical_by_block = np.zeros((n_blocks, n_act), dtype=np.int64)
    n_sens = min(scenarios, SENSITIVITY_BLOCKS * BLOCK_SCENARIOS)
    sens = np.empty((2 * (n_cost + n_act + n_risk), n_sens))
    incurrence = np.array(plan.cost_incurrence)
    always = np.flatnonzero(incurrence == ALWAYS)
    conditional = np.flatnonzero(incurrence != ALWAYS)
    n_phases = len(plan.phase_names)
    delayed_by = [[k for k in range(n_risk) if j in plan.risk_targets[k]]
                  for j in range(n_act)]
    rule = _StoppingRule(plan)  # also the reported SE's floor, so run with or without target
    light_always = np.setdiff1d(always, rule.heavy)
    by_phase = [np.flatnonzero(incurrence == c) for c in range(n_phases)]
    on_success = np.flatnonzero(incurrence == ON_SUCCESS)
    light_conditional = np.setdiff1d(conditional, rule.heavy)
    end = scenarios
    stopped = False
    for first in range(0, n_blocks, per_chunk):
        if on_chunk is not None and on_chunk(first * BLOCK_SCENARIOS, scenarios) is False:
            raise RunStopped(f"stopped after {first * BLOCK_SCENARIOS:,} of {scenarios:,} "
                             "scenarios")
        blocks = min(per_chunk, n_blocks - first)
        values, impact, delay, fail, occurred = sampler.chunk(seed, first, blocks, scenarios)
        start = first * BLOCK_SCENARIOS
        n = values.shape[1]
        cost = np.add.reduce(values[always], axis=0) if len(always) else np.zeros(n)
        always_cost = cost
        reached = np.where(fail < 0, n_phases, fail.astype(np.int64) + 1)
        spent = {i: _spent_value(values[i], incurrence[i], fail, reached) for i in conditional}
        for i in conditional:
            cost = cost + spent[i]
        rest = cost
        light = heavy = None
        if rule.heavy:
            # the stopping rule's sampled part leaves the heavy-tailed items out
            light = (np.add.reduce(values[light_always], axis=0) if len(light_always)
                     else np.zeros(n))
            for i in light_conditional:
                light = light + spent[i]
            heavy = np.array([spent.get(i, values[i]) for i in rule.heavy]).reshape(
                len(rule.heavy), n)
        events = np.add.reduce(impact, axis=0) if n_risk else np.zeros(n)
        if n_risk:
            cost = cost + events
        total[start:start + n] = cost
        if outcome_costs is not None:
            outcome_costs(start, _outcome_costs(values, events, always_cost, by_phase,
                                                on_success))
        failure[start:start + n] = fail
        if n_act:
            act = values[n_cost:n_cost + n_act].copy()
            for j, events in enumerate(delayed_by):
                for k in events:
                    act[j] += delay[k]
            project, critical = plan.network.evaluate(act)
            duration[start:start + n] = project
            for b in range(blocks):
                critical_by_block[first + b] = critical[
                    :, b * BLOCK_SCENARIOS:(b + 1) * BLOCK_SCENARIOS].sum(axis=1)
        if start < n_sens:
            m = min(n, n_sens - start)
            cols = slice(start, start + m)
            half = n_cost + n_act + n_risk
            sens[:n_cost + n_act, cols] = values[:n_cost + n_act, :m]
            sens[n_cost + n_act:half, cols] = impact[:, :m]
            sens[half:half + n_cost + n_act, cols] = values[:n_cost + n_act, :m]
            sens[half + n_cost + n_act:, cols] = delay[:, :m]
        for b in range(blocks):
            block = slice(b * BLOCK_SCENARIOS, (b + 1) * BLOCK_SCENARIOS)
            rule.add_block(rest[block], occurred[:, block], fail[block],
                           None if light is None else light[block],
                           None if heavy is None else heavy[:, block])
            if (target_standard_error_cents is not None
                    and first + b + 1 >= MIN_BLOCKS_BEFORE_STOP
                    and rule.may_stop(target_standard_error_cents)):
                end = rule.count
                stopped = end < scenarios
                break
        if stopped:
            break
    done_blocks = math.ceil(end / BLOCK_SCENARIOS)
    return ScenarioSet(
        total_cost_cents=total[:end], duration_days=duration[:end],
        failure_phase=failure[:end],
        critical_counts=critical_by_block[:done_blocks].sum(axis=0),
        sensitivity_inputs=sens[:, :min(end, n_sens)], scenarios=end, stopped_early=stopped,
        model_standard_error_cents=rule.standard_error(),
        model_standard_deviation=rule.standard_deviation())
