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
from dataclasses import dataclass

import numpy as np

from . import marginals as mg
from .plan import ALWAYS, BLOCK_SCENARIOS, ON_SUCCESS, Plan

# Sensitivities are rank correlations over the first blocks only (a fixed, seed-
# determined subsample): ranking every input over millions of scenarios would cost
# more than the simulation and would not fit the chunk memory bound.
SENSITIVITY_BLOCKS = 4
# Early stopping is considered only after this many blocks, so that the running
# standard error it tests is itself a stable estimate (a rare, large risk event has had
# a chance to show up: with 2 blocks a 1-in-2000 event was missed in 1 run in 60 and the
# run stopped on a standard error of 0, biasing the mean low).
MIN_BLOCKS_BEFORE_STOP = 8
# ... and never while the standard error is 0 or below this fraction of |mean|: every
# scenario so far cost the same, which says nothing about the events not yet drawn.
MIN_RELATIVE_STANDARD_ERROR = 1e-9
# Default chunk: about this many float64 working values (~64 MB).
CHUNK_VALUE_BUDGET = 8_000_000


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
        """Draw and transform whole blocks [first_block, first_block + blocks)."""
        start = first_block * BLOCK_SCENARIOS
        n = min(blocks * BLOCK_SCENARIOS, scenarios - start)
        z = np.empty((self.n_corr, n))
        u = np.empty((self.n_uniform, n))
        g = np.empty((self.n_gauss, n))
        impact = np.zeros((self.n_risk, n))
        delay = np.zeros((self.n_risk, n))
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
        return values, impact, delay, failure


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


def simulate(plan: Plan, *, scenarios: int, seed: int, chunk_scenarios: int | None,
             target_standard_error_cents: float | None) -> ScenarioSet:
    """Run the model; see the module docstring for the reproducibility contract.

    ``sensitivity_inputs`` rows: the sampled value of every cost item, activity
    duration (before risk delays) and risk event cost impact (0 when it did not
    occur), then the same again with each risk event's realised delay in place of
    its impact; columns: the first SENSITIVITY_BLOCKS blocks."""
    sampler = _Sampler(plan)
    n_blocks = math.ceil(scenarios / BLOCK_SCENARIOS)
    rows = sampler.n_inputs + 3 * sampler.n_risk + 2 * sampler.n_act + 4
    if chunk_scenarios is None:
        per_chunk = max(1, CHUNK_VALUE_BUDGET // (rows * BLOCK_SCENARIOS))
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
    # running (count, mean, M2) of total cost per block, merged in block order (Chan)
    count, mean, m2 = 0, 0.0, 0.0
    end = scenarios
    stopped = False
    for first in range(0, n_blocks, per_chunk):
        blocks = min(per_chunk, n_blocks - first)
        values, impact, delay, fail = sampler.chunk(seed, first, blocks, scenarios)
        start = first * BLOCK_SCENARIOS
        n = values.shape[1]
        cost = np.add.reduce(values[always], axis=0) if len(always) else np.zeros(n)
        if len(conditional):
            reached = np.where(fail < 0, n_phases, fail.astype(np.int64) + 1)
            for i in conditional:
                code = incurrence[i]
                spent = (fail < 0) if code == ON_SUCCESS else (code < reached)
                cost = cost + np.where(spent, values[i], 0.0)
        if n_risk:
            cost = cost + np.add.reduce(impact, axis=0)
        total[start:start + n] = cost
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
        if target_standard_error_cents is not None:
            for b in range(blocks):
                x = cost[b * BLOCK_SCENARIOS:(b + 1) * BLOCK_SCENARIOS]
                nb, mb = len(x), float(x.mean())
                m2b = float(((x - mb) ** 2).sum())
                delta = mb - mean
                new = count + nb
                mean += delta * nb / new
                m2 += m2b + delta * delta * count * nb / new
                count = new
                if first + b + 1 < MIN_BLOCKS_BEFORE_STOP or count < 2:
                    continue
                se = math.sqrt(m2 / (count - 1) / count)
                if MIN_RELATIVE_STANDARD_ERROR * abs(mean) < se <= target_standard_error_cents:
                    stopped = count < scenarios
                    end = count
                    break
            if end < scenarios or stopped:
                break
    done_blocks = math.ceil(end / BLOCK_SCENARIOS)
    return ScenarioSet(
        total_cost_cents=total[:end], duration_days=duration[:end],
        failure_phase=failure[:end],
        critical_counts=critical_by_block[:done_blocks].sum(axis=0),
        sensitivity_inputs=sens[:, :min(end, n_sens)], scenarios=end, stopped_early=stopped)
