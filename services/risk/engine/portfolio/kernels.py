"""Compiled scenario kernel: given the systematic factors, sample only the defaulters.

Guarantees are grouped by identical loading vector and sorted inside each group by default
threshold, highest first. Given the factors, the conditional PDs inside a group are then
non-increasing, so defaults can be drawn by geometric skipping with a falling bound
(thinning): a candidate is found with one uniform and a log, accepted with p_j / q, and
the bound drops to p_j. The cost per scenario is the number of candidates (≈ number of
defaults), not the number of guarantees.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_INV_SQRT2 = 0.7071067811865476


@numba.njit(cache=True, nogil=True, inline="always")
def _conditional_pd(threshold: float, mean: float, sd: float) -> float:
    if sd > 0.0:
        return 0.5 * math.erfc((mean - threshold) / sd * _INV_SQRT2)
    return 1.0 if threshold > mean else 0.0


@numba.njit(cache=True, nogil=True, inline="always")
def _twisted_pd(p: float, x: float) -> float:
    """p·eˣ / (1 − p + p·eˣ), the default probability tilted by eˣ."""
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    return 1.0 / (1.0 + (1.0 - p) / p * math.exp(-x))


@numba.njit(cache=True, nogil=True, inline="always")
def _tilted_pd(p: float, lam1: float) -> float:
    """λp/(1 − p + λp) with λ − 1 = ``lam1`` ≥ 0: the PD with its odds multiplied by λ."""
    return p * (1.0 + lam1) / (1.0 + lam1 * p)


# The odds tilt's θ is at most this (λ = e^θ ≈ 1.1e13): a target beyond reach (every name
# that can default defaulting) stops here; any θ that depends on the factors alone keeps the
# estimator unbiased, so the cap and the solver's tolerance only steer the sampler.
ODDS_TILT_MAX = 30.0


@numba.njit(cache=True, nogil=True)
def _odds_tilt(p, amount, mean, target):
    """θ ≥ 0 with Σ_r A_r p_r^θ = target, p^θ = p e^θ/(1 − p + p e^θ), given the untilted
    Σ_r A_r p_r = ``mean`` < target: safeguarded Newton in θ (the tilted mean rises in θ,
    its derivative Σ A_r p^θ(1 − p^θ)), from the θ that would be exact for one run holding
    the whole amount, to 1e-6 of the target or 30 steps."""
    total = 0.0
    for r in range(p.shape[0]):
        if p[r] > 0.0:
            total += amount[r]
    if not total > target:
        return ODDS_TILT_MAX if total > 0.0 and mean < total else 0.0
    x0, x1 = mean / total, target / total
    theta = math.log(x1 / (1.0 - x1)) - math.log(x0 / (1.0 - x0)) if x0 > 0.0 else 1.0
    theta = min(max(theta, 0.0), ODDS_TILT_MAX)
    lo, hi = 0.0, ODDS_TILT_MAX
    for _ in range(30):
        d1 = 0.0
        d2 = 0.0
        lam1 = math.expm1(theta)
        for r in range(p.shape[0]):
            if p[r] > 0.0:
                q = _tilted_pd(p[r], lam1)
                d1 += amount[r] * q
                d2 += amount[r] * q * (1.0 - q)
        f_val = d1 - target
        if abs(f_val) <= 1e-6 * target:
            break
        if f_val < 0.0:
            lo = theta
        else:
            hi = theta
        step = theta - f_val / d2 if d2 > 0.0 else hi
        theta = step if lo < step < hi else 0.5 * (lo + hi)
    return theta


@numba.njit(cache=True, nogil=True, inline="always")
def _hazard(q: float, lam1: float) -> float:
    """−log(1 − q') with q' the PD q tilted by λ = 1 + ``lam1``: a name's hazard on the
    exponential clock of geometric skipping (∞ at q = 1)."""
    if q >= 1.0:
        return math.inf
    return math.log1p(lam1 * q) - math.log1p(-q)


@numba.njit(cache=True, nogil=True)
def simulate_block(rng, xi, scale, group_start, group_loading, group_sd, threshold,
                   payout_fixed, lgd_alpha, lgd_beta, exposure, rate, cap, deductible,
                   loss_out, year_out, portfolio_cap, weight, es_floor, var_low, var_high,
                   label_a, label_b, guarantee_sums, label_sums, cell_start, group_cells,
                   cell_amount, cell_threshold, tilt_target, tilt_from, log_mix,
                   log_defensive):
    """Simulate the scenarios of one block.

    xi (S, F): independent factor draws (already IS-shifted); the systematic mean of group g
    is group_loading[g]·xi. scale (S,): t-copula threshold scale sqrt(W/ν) (1 for Gaussian).
    threshold (n, H): latent default thresholds by year, in sorted order. payout_fixed:
    fund payout per default for fixed LGD; rows with lgd_alpha > 0 draw LGD ~ Beta.
    Writes loss_out (S,) = uncapped total payout and year_out (S, H) = payout by default year.

    Contribution mode (guarantee_sums.shape[1] > 0): scenarios whose capped loss is
    > es_floor (strict ES tail), = es_floor (the atom at VaR, which the ES estimator takes
    in part) or in [var_low, var_high] (VaR band) add w·x, w²·x, w²·x² of each defaulter's
    pro-rata capped payout x to guarantee_sums rows 0-2 (> VaR), 6-8 (= VaR) and 3-5 (VaR
    band), and the same per label (label_a, label_b: e.g. sector and branch codes) to
    label_sums (both with 9 rows).

    Odds tilt (tilt_target > 0; ``_odds_tilt``). A group's guarantees are split into cells
    of neighbouring thresholds (cell_start (C + 1,) in sorted order, group_cells (G + 1,)
    the cells of each group, cell_amount the cell's summed payout A_c): runs of equal
    thresholds, or several runs merged. Given the factors, p_c is the conditional PD at
    cell_threshold (the run's, or one for the cell's mean PD), and one λ = e^θ ≥ 1 per
    scenario, a function of the factors only:
    θ = 0 when Σ_c A_c p_c reaches tilt_target, else the θ at which Σ_c A_c p'_c does,
    p' = λp/(1 − p + λp). Such a scenario walks each group cell by cell with the thinning
    envelope q of the skipping (q = the PD at the cell's top threshold at its start, lowered
    to p_j at a candidate
    j of lower threshold): candidates are drawn with the tilted envelope q' (scenarios
    s ≥ tilt_from; those before, the defensive share, with q itself) and accepted with
    p_j/q, untilted, so a default's year comes from v uniform on [0, p_j) as without the
    tilt. The likelihood ratio is that of the candidates (an exact one of an augmented
    draw: given the factors its mean is 1 and it leaves the law of the defaults and all
    else unchanged): a factor 1 − q + λq per name passed with envelope q and 1/λ per
    candidate, O(cells + candidates) per scenario. In a run of equal thresholds every
    candidate defaults: there it is the odds tilt of each name's PD, with the likelihood
    ratio of the defaults. The weight becomes the balance heuristic over the joint law,
    1/(a_0 + R(ξ)/LR) with log R(ξ) = log_mix[s] the shifted components' density over the
    model's (log a_0 = log_defensive), which the caller's weight was with LR = 1: at most
    1/a_0 whatever λ. Scenarios with θ = 0 skip over the whole group as without the tilt.
    """
    n_scen = xi.shape[0]
    n_fac = xi.shape[1]
    n_groups = group_loading.shape[0]
    n = threshold.shape[0]
    horizon = threshold.shape[1]
    last = horizon - 1
    contributions = guarantee_sums.shape[1] > 0
    mean = np.empty(n_groups)
    def_idx = np.empty(n if contributions else 1, np.int64)
    def_pay = np.empty(n if contributions else 1)
    label_buf = np.zeros(label_sums.shape[1])
    tilt = tilt_target > 0.0
    cell_p = np.empty(cell_amount.shape[0] if tilt else 0)
    for s in range(n_scen):
        for g in range(n_groups):
            acc = 0.0
            for f in range(n_fac):
                acc += group_loading[g, f] * xi[s, f]
            mean[g] = acc
        sc = scale[s]
        theta = 0.0
        if tilt:
            cm = 0.0
            for g in range(n_groups):
                for c in range(group_cells[g], group_cells[g + 1]):
                    pc = _conditional_pd(cell_threshold[c] * sc, mean[g], group_sd[g])
                    cell_p[c] = pc
                    cm += cell_amount[c] * pc
            if cm < tilt_target:
                theta = _odds_tilt(cell_p, cell_amount, cm, tilt_target)
        lam1 = math.expm1(theta)
        draw_lam1 = lam1 if s >= tilt_from else 0.0
        log_lr = 0.0
        for t in range(horizon):
            year_out[s, t] = 0.0
        total = 0.0
        n_def = 0
        for g in range(n_groups):
            mg = mean[g]
            sg = group_sd[g]
            if theta > 0.0:
                # cell by cell; e: the exponential clock of the next candidate, whose
                # hazard per name is h = −log(1 − q') (a geometric skip across cells)
                e = -1.0
                c_end = group_cells[g + 1]
                for c in range(group_cells[g], c_end):
                    i = cell_start[c]
                    hi = cell_start[c + 1]
                    q_thr = threshold[i, last]
                    q = cell_p[c] if q_thr == cell_threshold[c] else \
                        _conditional_pd(q_thr * sc, mg, sg)
                    if not q > 0.0:
                        break  # thresholds fall: so do the PDs of the cells after it
                    term = math.log1p(lam1 * q)  # log(1 − q + λq)
                    h = _hazard(q, draw_lam1)
                    while i < hi:
                        if e < 0.0:
                            e = -math.log1p(-rng.random())
                        if e >= (hi - i) * h:
                            e -= (hi - i) * h
                            log_lr += (hi - i) * term
                            break
                        j = min(i + int(e / h), hi - 1)
                        e = -1.0
                        log_lr += (j - i + 1) * term - theta
                        same = threshold[j, last] == q_thr
                        pj = q if same else _conditional_pd(threshold[j, last] * sc, mg, sg)
                        v = 0.0 if same and last == 0 else rng.random() * q
                        if v < pj:
                            # as in the skipping below (a helper for the two made the
                            # compiled kernel 1.7x slower)
                            year = last
                            for t in range(last):
                                if _conditional_pd(threshold[j, t] * sc, mg, sg) > v:
                                    year = t
                                    break
                            if lgd_alpha[j] > 0.0:
                                lgd = rng.beta(lgd_alpha[j], lgd_beta[j])
                                pay = rate[j] * max(exposure[j] * lgd - deductible[j], 0.0)
                                pay = min(pay, cap[j])
                            else:
                                pay = payout_fixed[j]
                            total += pay
                            year_out[s, year] += pay
                            if contributions:
                                def_idx[n_def] = j
                                def_pay[n_def] = pay
                                n_def += 1
                        if not same:
                            q = pj
                            q_thr = threshold[j, last]
                            if not q > 0.0:
                                break  # the rest of the group cannot default
                            term = math.log1p(lam1 * q)
                            h = _hazard(q, draw_lam1)
                        i = j + 1
                    if not q > 0.0:
                        break
                continue
            lo = group_start[g]
            hi = group_start[g + 1]
            q_thr = threshold[lo, last]
            q = _conditional_pd(q_thr * sc, mg, sg)
            log_miss = math.log1p(-q) if q < 1.0 else 0.0
            i = lo
            while i < hi and q > 0.0:
                j = i
                if q < 1.0:
                    skip = math.log1p(-rng.random()) / log_miss
                    if skip >= hi - i:
                        break
                    j = i + int(skip)
                # Equal thresholds (homogeneous runs) need no new erfc, log or acceptance draw.
                same = threshold[j, last] == q_thr
                pj = q if same else _conditional_pd(threshold[j, last] * sc, mg, sg)
                v = 0.0 if same and last == 0 else rng.random() * q
                if v < pj:
                    # v is uniform on [0, pj) given default: reuse it for the default year
                    year = last
                    for t in range(last):
                        if _conditional_pd(threshold[j, t] * sc, mg, sg) > v:
                            year = t
                            break
                    if lgd_alpha[j] > 0.0:
                        lgd = rng.beta(lgd_alpha[j], lgd_beta[j])
                        pay = rate[j] * max(exposure[j] * lgd - deductible[j], 0.0)
                        pay = min(pay, cap[j])
                    else:
                        pay = payout_fixed[j]
                    total += pay
                    year_out[s, year] += pay
                    if contributions:
                        def_idx[n_def] = j
                        def_pay[n_def] = pay
                        n_def += 1
                if not same:
                    q = pj
                    q_thr = threshold[j, last]
                    log_miss = math.log1p(-q) if q < 1.0 else 0.0
                i = j + 1
        if theta > 0.0:
            # weight 1/(a_0 + R(ξ)/LR)
            x = log_mix[s] - log_lr
            top = max(x, log_defensive)
            weight[s] = math.exp(-top - math.log(math.exp(x - top)
                                                 + math.exp(log_defensive - top)))
        loss_out[s] = total
        if contributions and total > 0.0:
            capped = min(total, portfolio_cap)
            in_es = capped > es_floor
            at_var = capped == es_floor
            in_var = var_low <= capped <= var_high
            if in_es or at_var or in_var:
                w = weight[s]
                factor = capped / total
                for k in range(n_def):
                    x = def_pay[k] * factor
                    j = def_idx[k]
                    label_buf[label_a[j]] += x
                    label_buf[label_b[j]] += x
                    if in_es:
                        guarantee_sums[0, j] += w * x
                        guarantee_sums[1, j] += w * w * x
                        guarantee_sums[2, j] += w * w * x * x
                    elif at_var:
                        guarantee_sums[6, j] += w * x
                        guarantee_sums[7, j] += w * w * x
                        guarantee_sums[8, j] += w * w * x * x
                    if in_var:
                        guarantee_sums[3, j] += w * x
                        guarantee_sums[4, j] += w * w * x
                        guarantee_sums[5, j] += w * w * x * x
                for k in range(n_def):
                    j = def_idx[k]
                    for lab in (label_a[j], label_b[j]):
                        x = label_buf[lab]
                        if x != 0.0:
                            if in_es:
                                label_sums[0, lab] += w * x
                                label_sums[1, lab] += w * w * x
                                label_sums[2, lab] += w * w * x * x
                            elif at_var:
                                label_sums[6, lab] += w * x
                                label_sums[7, lab] += w * w * x
                                label_sums[8, lab] += w * w * x * x
                            if in_var:
                                label_sums[3, lab] += w * x
                                label_sums[4, lab] += w * w * x
                                label_sums[5, lab] += w * w * x * x
                            label_buf[lab] = 0.0


@numba.njit(cache=True, nogil=True, inline="always")
def _log_mgf_term(p: float, x: float) -> float:
    """log(1 − p + p·eˣ) for x ≥ 0, without overflow."""
    if x < 30.0:
        return math.log1p(p * math.expm1(x))
    return x + math.log(p + (1.0 - p) * math.exp(-x))


@numba.njit(cache=True, nogil=True)
def simulate_block_twisted(rng, xi, scale, group_start, group_loading, group_sd, threshold,
                           payout_fixed, twist_amount, lgd_alpha, lgd_beta, exposure, rate, cap,
                           deductible, target, loss_out, year_out, log_ratio_out, theta_out):
    """Scenarios of one block with the Glasserman–Li exponential twist (Glasserman & Li
    2005, "Importance sampling for portfolio credit risk", Mgmt Sci 51(11), §3).

    Given the (already shifted) factors, the conditional default probabilities p_i are
    tilted to p_i^θ = p_i e^{θa_i}/(1 − p_i + p_i e^{θa_i}), a_i = ``twist_amount`` (the
    payout used in the tilt), with θ ≥ 0 solving ψ'(θ) = ``target`` when the conditional
    mean Σ a_i p_i is below it (else θ = 0), ψ(θ) = Σ log(1 − p_i + p_i e^{θa_i}). Every
    guarantee is drawn (O(n) per scenario: the price of the twist). Writes the loss and
    payout by year as ``simulate_block`` does, log_ratio_out (S,) = −θ Σ_defaulted a_i + ψ(θ)
    (the log likelihood ratio of the twist; the factor shift's is the caller's) and
    theta_out (S,) in units of 1/max(a)."""
    n_scen = xi.shape[0]
    n_fac = xi.shape[1]
    n_groups = group_loading.shape[0]
    n = threshold.shape[0]
    horizon = threshold.shape[1]
    last = horizon - 1
    a_max = 0.0
    for i in range(n):
        a_max = max(a_max, twist_amount[i])
    scale_a = 1.0 / a_max if a_max > 0.0 else 0.0
    x_target = target * scale_a
    p = np.empty(n)
    a = twist_amount * scale_a
    for s in range(n_scen):
        sc = scale[s]
        cm = 0.0
        for g in range(n_groups):
            acc = 0.0
            for f in range(n_fac):
                acc += group_loading[g, f] * xi[s, f]
            sg = group_sd[g]
            for i in range(group_start[g], group_start[g + 1]):
                p[i] = _conditional_pd(threshold[i, last] * sc, acc, sg)
                cm += a[i] * p[i]
        theta = 0.0
        if cm < x_target and scale_a > 0.0:
            lo, hi = 0.0, math.inf
            for _ in range(60):
                d1 = 0.0
                d2 = 0.0
                for i in range(n):
                    if p[i] > 0.0 and a[i] > 0.0:
                        q = _twisted_pd(p[i], theta * a[i])
                        d1 += a[i] * q
                        d2 += a[i] * a[i] * q * (1.0 - q)
                f_val = d1 - x_target
                if abs(f_val) <= 1e-9 * x_target:
                    break
                if f_val < 0.0:
                    lo = theta
                else:
                    hi = theta
                step = theta - f_val / d2 if d2 > 0.0 else math.inf
                if lo < step < hi:
                    theta = step
                elif hi < math.inf:
                    theta = 0.5 * (lo + hi)
                else:
                    theta = 2.0 * theta + 1.0
                if theta > 700.0:  # target beyond reach: any θ keeps the estimator unbiased
                    theta = 700.0
                    break
        psi = 0.0
        if theta > 0.0:
            for i in range(n):
                if p[i] > 0.0 and a[i] > 0.0:
                    psi += _log_mgf_term(p[i], theta * a[i])
        for t in range(horizon):
            year_out[s, t] = 0.0
        total = 0.0
        tilt = 0.0
        for g in range(n_groups):
            acc = 0.0
            for f in range(n_fac):
                acc += group_loading[g, f] * xi[s, f]
            sg = group_sd[g]
            for i in range(group_start[g], group_start[g + 1]):
                pi = p[i]
                if pi <= 0.0:
                    continue
                q = _twisted_pd(pi, theta * a[i]) if theta > 0.0 else pi
                u = rng.random()
                if u < q:
                    tilt += a[i]
                    v = u / q * pi  # uniform on [0, p_i) given default: the default year
                    year = last
                    for t in range(last):
                        if _conditional_pd(threshold[i, t] * sc, acc, sg) > v:
                            year = t
                            break
                    if lgd_alpha[i] > 0.0:
                        lgd = rng.beta(lgd_alpha[i], lgd_beta[i])
                        pay = rate[i] * max(exposure[i] * lgd - deductible[i], 0.0)
                        pay = min(pay, cap[i])
                    else:
                        pay = payout_fixed[i]
                    total += pay
                    year_out[s, year] += pay
        loss_out[s] = total
        log_ratio_out[s] = -theta * tilt + psi
        theta_out[s] = theta
