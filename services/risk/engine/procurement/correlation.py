"""Rank correlation by a Gaussian copula, and Higham's nearest correlation matrix.

A requested Spearman matrix S is realised exactly (in the limit) by normals with
Pearson matrix P = 2·sin(π·S/6) (Kruskal 1958; the Gaussian copula's Spearman is
(6/π)·arcsin(ρ/2)). Each input keeps its own marginal: x = F⁻¹(Φ(z)).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, special

# A matrix whose smallest eigenvalue is above this is accepted as it is.
PSD_TOLERANCE = -1e-12


def spearman_to_pearson(rank_correlation: np.ndarray) -> np.ndarray:
    """Normal-scale correlation that gives ``rank_correlation`` under a Gaussian copula."""
    return 2.0 * np.sin(np.pi * rank_correlation / 6.0)


def pearson_to_spearman(correlation: np.ndarray) -> np.ndarray:
    """Rank correlation of a Gaussian copula with normal-scale ``correlation``."""
    return 6.0 / np.pi * np.arcsin(correlation / 2.0)


def indicator_rank_correlation(correlation: float, p: float, q: float | None = None
                               ) -> float:
    """Rank correlation (Spearman with mid-ranks for ties) that a Gaussian copula with
    normal-scale ``correlation`` realises between an occurrence B = 1{Z₁ > Φ⁻¹(1 − p)}
    and a continuous input (``q`` None), or a second occurrence with probability ``q``.

    Mid-ranks of B are affine in B, so the rank correlation is the Pearson correlation
    of B with the other input's rank: with the continuous input's rank U = Φ(Z₂),
    (E[B·U] − p/2) / √(p(1 − p)/12), E[B·U] = ∫_c^∞ φ(z) Φ(ρz/√(2 − ρ²)) dz; at ρ = 1 it
    is √(3p(1 − p)), the most a Bernoulli can reach. With a second occurrence it is the
    phi coefficient (P(both) − pq) / √(p(1 − p)q(1 − q)). 0 when an occurrence is sure
    or impossible (no ranks to correlate)."""
    r = float(min(max(correlation, -1.0), 1.0))
    if not 0.0 < p < 1.0 or (q is not None and not 0.0 < q < 1.0):
        return 0.0
    c = float(special.ndtri(1.0 - p))
    if q is None:
        s = math.sqrt(2.0 - r * r)
        joint = integrate.quad(lambda z: math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
                               * special.ndtr(r * z / s), c, math.inf,
                               epsabs=1e-13, epsrel=1e-12)[0]
        return float((joint - 0.5 * p) / math.sqrt(p * (1.0 - p) / 12.0))
    d = float(special.ndtri(1.0 - q))
    if abs(r) < 1.0:
        s = math.sqrt(1.0 - r * r)
        joint = integrate.quad(lambda z: math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
                               * special.ndtr((r * z - d) / s), c, math.inf,
                               epsabs=1e-13, epsrel=1e-12)[0]
    elif r > 0:
        joint = min(p, q)
    else:
        joint = max(p + q - 1.0, 0.0)
    return float((joint - p * q) / math.sqrt(p * (1.0 - p) * q * (1.0 - q)))


def is_valid_correlation(matrix: np.ndarray) -> bool:
    """Symmetric with unit diagonal is assumed; checks positive semi-definiteness."""
    return bool(np.linalg.eigvalsh(matrix).min() >= PSD_TOLERANCE)


def nearest_correlation(matrix: np.ndarray, *, tolerance: float = 1e-12,
                        max_iterations: int = 10_000) -> np.ndarray:
    """The correlation matrix nearest in Frobenius norm to a symmetric ``matrix``:
    alternating projections with Dykstra's correction (Higham, "Computing the nearest
    correlation matrix", IMA J. Numer. Anal. 22 (2002) 329–343, Algorithm 3.3)."""
    y = matrix.astype(np.float64).copy()
    correction = np.zeros_like(y)
    for _ in range(max_iterations):
        r = y - correction
        w, v = np.linalg.eigh(r)
        x = (v * np.maximum(w, 0.0)) @ v.T  # projection onto the PSD cone
        x = 0.5 * (x + x.T)
        correction = x - r
        y_next = x.copy()
        np.fill_diagonal(y_next, 1.0)  # projection onto unit-diagonal matrices
        done = np.linalg.norm(y_next - y) <= tolerance * max(np.linalg.norm(y), 1.0)
        y = y_next
        if done:
            break
    return y


def copula_factor(correlation: np.ndarray) -> np.ndarray:
    """A with A·Aᵀ = ``correlation`` (PSD, unit diagonal), by eigendecomposition so that
    singular matrices (e.g. a rank correlation of 1) work; rows renormalised so each
    correlated normal keeps unit variance."""
    w, v = np.linalg.eigh(correlation)
    a = v * np.sqrt(np.maximum(w, 0.0))
    return a / np.linalg.norm(a, axis=1, keepdims=True)
