"""Plain vectorised numpy Monte Carlo of the guarantee portfolio: the independent reference
the compiled engine is checked and benchmarked against. It draws every latent variable
(scenarios x guarantees), so it is simple, obviously right, and slow."""

from __future__ import annotations

import numpy as np
from scipy import special, stats


def numpy_fund_losses(exposure_cents, pd, lgd, loadings, factor_correlation, *, scenarios,
                      seed, rate=1.0, cap_cents=None, deductible_cents=0, portfolio_cap=np.inf,
                      degrees_of_freedom=None, chunk=None, lgd_std=None, cumulative_pd=None):
    """Capped fund loss per scenario (scenarios,) and, if ``cumulative_pd`` (n, H) is given,
    cumulative capped payouts by year (scenarios, H). Direct latent-variable simulation:
    X = w·Z + sqrt(1 - wᵀΣw) ε (divided by sqrt(W/ν) for the t copula), default by year t
    iff X < F⁻¹(P_t)."""
    rng = np.random.default_rng(seed)
    exposure = np.asarray(exposure_cents, dtype=np.float64)
    n = exposure.size
    w = np.asarray(loadings, dtype=np.float64).reshape(n, -1)
    chol = np.linalg.cholesky(np.asarray(factor_correlation, dtype=np.float64))
    idio = np.sqrt(1.0 - np.einsum("nf,fg,ng->n", w, chol @ chol.T, w))
    cum = (np.asarray(cumulative_pd, dtype=np.float64) if cumulative_pd is not None
           else np.broadcast_to(np.asarray(pd, dtype=np.float64), (n,))[:, None])
    inverse = ((lambda x: stats.t.ppf(x, degrees_of_freedom)) if degrees_of_freedom
               else special.ndtri)
    thr = inverse(cum)
    cap = exposure if cap_cents is None else np.asarray(cap_cents, dtype=np.float64)
    rate = np.broadcast_to(np.asarray(rate, dtype=np.float64), (n,))
    lgd = np.broadcast_to(np.asarray(lgd, dtype=np.float64), (n,))
    deductible = np.broadcast_to(np.asarray(deductible_cents, dtype=np.float64), (n,))
    # About 1e6 latent variables per chunk keeps the temporaries in cache-friendly sizes.
    chunk = chunk or max(1, (1 << 20) // n)
    losses, years = [], []
    for start in range(0, scenarios, chunk):
        s = min(chunk, scenarios - start)
        z = rng.standard_normal((s, chol.shape[0])) @ chol.T
        x = z @ w.T + idio * rng.standard_normal((s, n))
        if degrees_of_freedom:
            x /= np.sqrt(rng.chisquare(degrees_of_freedom, s) / degrees_of_freedom)[:, None]
        if lgd_std is not None:
            k = lgd * (1 - lgd) / np.asarray(lgd_std) ** 2 - 1
            draw = rng.beta(lgd * k, (1 - lgd) * k, (s, n))
        else:
            draw = lgd
        pay = np.minimum(cap, rate * np.maximum(exposure * draw - deductible, 0.0))
        by_year = np.stack([((x < thr[:, t]) * pay).sum(axis=1)
                            for t in range(thr.shape[1])], axis=1)
        losses.append(np.minimum(by_year[:, -1], portfolio_cap))
        years.append(np.minimum(by_year, portfolio_cap))
    loss = np.concatenate(losses)
    return (loss, np.concatenate(years)) if cumulative_pd is not None else loss


def empirical_var_es(loss: np.ndarray, level: float) -> tuple[float, float]:
    """Plain empirical VaR (order statistic) and ES (Acerbi–Tasche) of equally weighted losses."""
    srt = np.sort(loss)[::-1]
    n = srt.size
    target = (1 - level) * n
    k = int(np.floor(target))
    var = srt[k]
    es = (srt[:k].sum() + (target - k) * var) / target
    return float(var), float(es)
