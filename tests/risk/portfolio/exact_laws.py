"""Exact tail figures of a loss law on a lattice, the reference the engine is tested
against (not the engine's own code)."""

from __future__ import annotations

import numpy as np


def var_es_of_lattice(pmf: np.ndarray, level: float, unit: float) -> tuple[float, float]:
    """Exact VaR and (Acerbi–Tasche) ES at ``level`` of the loss ``k · unit`` whose
    probabilities are ``pmf[k]``."""
    support = np.arange(pmf.size) * float(unit)
    cdf = np.cumsum(pmf)
    i = int(np.argmax(cdf >= level - 1e-15))
    es = (support[i + 1:] @ pmf[i + 1:] + support[i] * (cdf[i] - level)) / (1 - level)
    return float(support[i]), float(es)


def one_factor_lattice_pmf(bands, probability_of_default, loading, *, panels: int = 48,
                           nodes_per_panel: int = 20) -> np.ndarray:
    """Exact law of the loss Σ_i bands[i]·1{default_i} (integer ``bands``, in units) in the
    one-factor Gaussian model: default iff √ρ_i Z + √(1 − ρ_i) ε_i < Φ⁻¹(PD_i), with
    ``loading`` = √ρ_i. Given Z the defaults are independent, so the conditional law is the
    direct convolution of the two-point laws; it is mixed over Z ~ N(0, 1) with
    Gauss–Legendre panels on [−9, 9] (the integrand is analytic in Z; beyond ±9 lies
    < 1e-18 of the mass). ``pmf[k]`` = P(loss = k units). No lattice, no rounding and no
    Fourier inversion: independent of the engine's method."""
    from scipy import special

    bands = np.asarray(bands, dtype=np.int64)
    threshold = special.ndtri(np.asarray(probability_of_default, dtype=np.float64))
    loading = np.broadcast_to(np.asarray(loading, dtype=np.float64), bands.shape)
    x, w = np.polynomial.legendre.leggauss(nodes_per_panel)
    edges = np.linspace(-9.0, 9.0, panels + 1)
    half = 0.5 * np.diff(edges)[:, None]
    z = (half * x + 0.5 * (edges[:-1] + edges[1:])[:, None]).ravel()
    weight = (half * w).ravel() * np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)
    pmf = np.zeros((z.size, int(bands.sum()) + 1))
    pmf[:, 0] = 1.0
    top = 0
    for k, c, b in zip(bands, np.broadcast_to(threshold, bands.shape), loading, strict=True):
        if k == 0:
            continue
        p = special.ndtr((c - b * z) / np.sqrt(1.0 - b * b))[:, None]
        shifted = p * pmf[:, :top + 1]
        pmf[:, :top + 1] *= 1.0 - p
        pmf[:, k:top + k + 1] += shifted
        top += k
    law = weight @ pmf
    return law / law.sum()


def independent_sectors_lattice_pmf(sectors, **quadrature) -> np.ndarray:
    """Exact law of the loss of sectors driven by independent factors: ``sectors`` is a
    sequence of (bands, probability_of_default, loading), each sector's guarantees loading
    on its own factor only. Given all factors the defaults are independent, so the law is
    the quadrature over the factors of the product of the conditional laws; the factors
    being independent, that integral factorises into the convolution of the sectors' own
    one-factor laws (``one_factor_lattice_pmf``)."""
    law = np.ones(1)
    for bands, pd, loading in sectors:
        law = np.convolve(law, one_factor_lattice_pmf(bands, pd, loading, **quadrature))
    return law / law.sum()


def tail_probability_of_lattice(pmf: np.ndarray, threshold_units: float) -> float:
    """Exact P(L > threshold) of the loss ``k`` units whose probabilities are ``pmf[k]``."""
    k = np.arange(pmf.size)
    return float(pmf[k > threshold_units + 1e-9].sum())
