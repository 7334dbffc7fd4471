"""CreditRisk+ (Credit Suisse First Boston, "CreditRisk+: A Credit Risk Management
Framework", technical document, 1997): the Poisson–Gamma sector model, exact on a
loss lattice.

Obligor i defaults N_i ~ Poisson(p_i (w_i0 + Σ_k w_ik S_k)) times given the sector
variables S_k (mean 1, variance σ_k²), and costs ν_i loss units per default
(its exposure band). w_i0 = 1 − Σ_k w_ik is the idiosyncratic share.

Correlated sectors follow the compound-gamma extension of Giese (2003, "Enhancing
CreditRisk+", Risk 16(4)): given a common background variable T ~ Gamma(mean 1,
variance σ_T²), S_k | T ~ Gamma(shape T/σ_k², scale σ_k²). Then E S_k = 1,
Var S_k = σ_k² + σ_T², Cov(S_k, S_l) = σ_T² (k ≠ l), and the probability generating
function stays closed-form:

    P_k(z) = Σ_i p_i w_ik (z^{ν_i} − 1),   Q(z) = −Σ_k log(1 − σ_k² P_k(z)) / σ_k²,
    G(z)   = exp(P_0(z)) · (1 − σ_T² Q(z))^{−1/σ_T²}      (σ_T² = 0: exp(P_0 + Q)),

the CSFB formula when σ_T² = 0. The law is read off G at the roots of unity by one
inverse FFT (stable, unlike the plain Panjer recursion; cf. Haaf, Reiß &
Schoenmakers 2004), on a lattice long enough that the Chernoff bound
P(L ≥ size) ≤ G(R)/R^size is below ``tail_tolerance``; that bound is the error
floor of every figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import fft as sp_fft

from services.risk.engine.estimate import Estimate
from services.risk.engine.portfolio.analytic import (
    DEFAULT_LEVELS,
    LossDistribution,
    _check_level,
    _check_scalar,
    _flag_each,
    _vector,
)
from services.shared.errors import Collector, ResourceExhausted

__all__ = [
    "band_exposures",
    "creditriskplus_loss_distribution",
    "creditriskplus_moments",
]


def _inputs(probability_of_default, exposure_bands, sector_weights, sector_variances,
            background_variance, field_prefix: str):
    c = Collector()
    # A Poisson intensity, not a probability: band_exposures' intensity, which keeps the
    # expected loss of an amount banded down, exceeds the PD (up to 2x), and a PD near 1
    # banded down was refused as "probability_of_default must be in [0, 1]"
    pd = _vector(c, probability_of_default, field_prefix, "probability_of_default", None,
                 low=0.0, high=math.inf)
    n = None if pd is None else pd.size
    bands = _vector(c, exposure_bands, field_prefix, "exposure_band", n, low=0.0,
                    high=float(2**40))
    if bands is not None and np.all(np.isfinite(bands)):
        _flag_each(c, bands != np.round(bands), lambda i: f"{field_prefix}[{i}].exposure_band",
                   "must be a whole number of loss units")
    variances = _vector(c, sector_variances, "", "sector_variances", None, low=0.0,
                        high=1e6)
    k = None if variances is None else variances.size
    try:
        weights = np.asarray(sector_weights, dtype=np.float64)
    except (TypeError, ValueError):
        c.add("sector_weights", "must be a matrix of numbers")
        weights = None
    if weights is not None and n is not None and k is not None:
        if weights.shape != (n, k):
            c.add("sector_weights", f"must have shape ({n}, {k}) (obligors × sectors), "
                                    f"got {weights.shape}")
        else:
            bad = ~np.isfinite(weights) | (weights < 0.0) | (weights > 1.0)
            rows, cols = np.nonzero(bad)
            for i, j in list(zip(rows, cols, strict=True))[:20]:
                c.add(f"{field_prefix}[{i}].sector_weights[{j}]",
                      "must be finite and in [0, 1]")
            with np.errstate(invalid="ignore"):
                over = np.where(bad.any(axis=1), False, weights.sum(axis=1) > 1.0 + 1e-12)
            _flag_each(c, over, lambda i: f"{field_prefix}[{i}].sector_weights",
                       "must sum to at most 1 (the remainder is idiosyncratic)")
    background = _check_scalar(c, background_variance, "background_variance", 0.0, 1e6)
    c.raise_if_any()
    return pd, bands.astype(np.int64), weights, variances, background


def _log_pgf(z: np.ndarray, intensity_by_band: np.ndarray, variances: np.ndarray,
             background: float, transform=None) -> np.ndarray:
    """log G at the points ``z`` (or, with ``transform``, at the FFT grid: then
    ``intensity_by_band`` sums are taken by ``transform``)."""
    sums = intensity_by_band.sum(axis=1)
    if transform is None:
        # only the bands that carry intensity: z^ν of an empty band beyond the radius
        # limit (see _radius_limit) could overflow
        live = np.flatnonzero(intensity_by_band.any(axis=0))
        poly = intensity_by_band[:, live] @ (z[None, :] ** live[:, None])  # (K+1, len(z))
    else:
        poly = transform(intensity_by_band)
    p_k = poly - sums[:, None]  # P_k(z) = Σ_ν A_k[ν] (z^ν − 1)
    log_g = p_k[0].astype(complex)
    q = np.zeros_like(log_g)
    for k, var in enumerate(variances, start=1):
        q += p_k[k] if var == 0.0 else -np.log(1.0 - var * p_k[k]) / var
    if background == 0.0:
        return log_g + q
    return log_g - np.log(1.0 - background * q) / background


def creditriskplus_moments(probability_of_default, exposure_bands, sector_weights,
                           sector_variances, *, background_variance: float = 0.0,
                           loss_unit: float = 1.0, field_prefix: str = "obligors"
                           ) -> tuple[float, float]:
    """Closed-form mean and variance of the CreditRisk+ loss, in loss-amount units.

    E L = u Σ_i p_i ν_i; Var L = u² [Σ_i p_i ν_i² + Σ_k σ_k² μ_k² + σ_T² (Σ_k μ_k)²],
    μ_k = Σ_i w_ik p_i ν_i (CSFB 1997, §A7 for σ_T² = 0; the last term is the common
    background's covariance σ_T² between sectors).
    """
    pd, bands, weights, variances, background = _inputs(
        probability_of_default, exposure_bands, sector_weights, sector_variances,
        background_variance, field_prefix)
    expected = pd * bands
    mu = weights.T @ expected
    mean = float(expected.sum())
    variance = float(pd @ (bands.astype(float) ** 2) + variances @ (mu * mu)
                     + background * mu.sum() ** 2)
    return mean * loss_unit, variance * loss_unit * loss_unit


BAND_ROUNDINGS = ("nearest", "down", "up")


def band_exposures(loss_amounts, probability_of_default, loss_unit: float,
                   *, rounding: str = "nearest", keep_expected_loss=True,
                   field_prefix: str = "obligors") -> tuple[np.ndarray, np.ndarray]:
    """CSFB banding: ν_i = max(1, round(a_i / u)), with the default intensity scaled to
    p_i a_i / (u ν_i) so that each obligor's expected loss is kept exactly.
    Returns (bands, adjusted intensities).

    The variants that size what banding moves (see ``simulate.creditriskplus_result``):
    ``rounding`` "down" bands a_i / u to max(1, ⌊·⌋), "up" to max(2, ⌈·⌉) (an amount
    under one unit, one band in the nearest banding, is two here); amounts within 1e-9
    relative of a whole number of units are that number in all three. Where
    ``keep_expected_loss`` (a bool or one per obligor) is False the intensity stays p_i:
    the atoms move and the default counts keep their law, so amounts ≥ 1 unit banded
    down and up bound the unbanded loss from below and above, scenario by scenario."""
    c = Collector()
    amounts = _vector(c, loss_amounts, field_prefix, "loss_given_default_amount", None,
                      low=0.0, high=math.inf)
    pd = _vector(c, probability_of_default, field_prefix, "probability_of_default",
                 None if amounts is None else amounts.size, low=0.0, high=1.0)
    unit = _check_scalar(c, loss_unit, "loss_unit", 0.0, math.inf, low_open=True)
    if rounding not in BAND_ROUNDINGS:
        c.add("rounding", f"must be one of {', '.join(BAND_ROUNDINGS)}")
    c.raise_if_any()
    x = amounts / unit
    nearest = np.round(x)
    if rounding == "nearest":
        bands = np.maximum(1, nearest)
    else:
        tolerance = 1e-9 * max(float(x.max(initial=0.0)), 1e3)
        on_lattice = np.abs(x - nearest) <= tolerance
        bands = np.where(on_lattice, np.maximum(1, nearest),
                         np.maximum(1, np.floor(x)) if rounding == "down"
                         else np.maximum(2, np.ceil(x)))
    bands = bands.astype(np.int64)
    keep = np.broadcast_to(np.asarray(keep_expected_loss, dtype=bool), bands.shape)
    return bands, np.where(keep, pd * amounts / (unit * bands), pd)


def creditriskplus_loss_distribution(
    probability_of_default,
    exposure_bands,
    sector_weights,
    sector_variances,
    *,
    background_variance: float = 0.0,
    loss_unit: float = 1.0,
    levels: Sequence[float] = DEFAULT_LEVELS,
    tail_tolerance: float = 1e-12,
    max_lattice_size: int = 1 << 22,
    field_prefix: str = "obligors",
) -> LossDistribution:
    """The CreditRisk+ loss law on the lattice ``loss_unit · j``.

    ``probability_of_default`` (n,) default intensities (PDs, or those of
    ``band_exposures``, which may exceed 1), ``exposure_bands`` (n,) whole loss units,
    ``sector_weights`` (n, K) with rows summing to ≤ 1, ``sector_variances`` (K,) σ_k²
    and ``background_variance`` σ_T² (0: independent sectors, plain CSFB model).
    Figures are exact up to floating-point rounding and the truncated mass
    P(L ≥ lattice end), bounded by ``tail_tolerance`` (reported as the error floor).
    """
    pd, bands, weights, variances, background = _inputs(
        probability_of_default, exposure_bands, sector_weights, sector_variances,
        background_variance, field_prefix)
    c = Collector()
    unit = _check_scalar(c, loss_unit, "loss_unit", 0.0, math.inf, low_open=True)
    level_list = tuple(_check_level(c, q, f"levels[{i}]") for i, q in enumerate(levels))
    _check_scalar(c, tail_tolerance, "tail_tolerance", 0.0, 1e-3, low_open=True)
    c.raise_if_any()

    k = variances.size
    max_band = int(bands.max(initial=0))
    share = np.column_stack([1.0 - weights.sum(axis=1).clip(max=1.0), weights])  # (n, K+1)
    intensity = share * pd[:, None]  # (n, K+1)
    by_band = np.zeros((k + 1, max_band + 1))
    for s in range(k + 1):
        by_band[s] = np.bincount(bands, weights=intensity[:, s], minlength=max_band + 1)

    size, tail_bound, tail_loss_bound = _lattice_size(by_band, variances, background,
                                                      tail_tolerance, max_lattice_size)
    padded = np.zeros((k + 1, size))
    padded[:, : max_band + 1] = by_band
    log_g = _log_pgf(None, padded, variances, background,
                     transform=lambda a: sp_fft.rfft(a, axis=1))
    pmf = sp_fft.irfft(np.exp(log_g), n=size)

    roundoff = 1e-15 * size
    mean, _ = creditriskplus_moments(pd, bands, weights, variances,
                                     background_variance=background, loss_unit=unit)
    return LossDistribution(
        support=np.arange(size) * unit, pmf=pmf, loss_unit=unit,
        expected_loss=Estimate(mean, 0.0), levels=level_list, variants=(),
        probability_error_floor=tail_bound + roundoff,
        amount_error_floor=(tail_loss_bound + roundoff * size) * unit,
        method="CreditRisk+ (Poisson–Gamma sectors"
               + (", compound-gamma background)" if background > 0.0 else ")")
               + ", FFT of the generating function",
        diagnostics={"lattice_size": size, "truncated_mass_bound": float(tail_bound)},
    )


def _lattice_size(by_band: np.ndarray, variances: np.ndarray, background: float,
                  tolerance: float, max_size: int) -> tuple[int, float, float]:
    """Smallest fast FFT length N with the Chernoff bound P(L ≥ N) ≤ G(R)/R^N ≤ tolerance
    for the best R > 1 inside the generating function's domain; returns N and the
    bounds on P(L ≥ N) and on E[L; L ≥ N]/u ≤ R G'(R)/R^N."""
    r_max = _radius_limit(by_band, variances, background)
    radii = 1.0 + (r_max - 1.0) * np.linspace(0.02, 0.98, 49)
    log_g = np.real(_log_pgf(radii.astype(complex), by_band, variances, background))
    need = (log_g - math.log(tolerance)) / np.log(radii)
    best = int(np.argmin(need))
    n_min = max(math.ceil(float(need[best])), by_band.shape[1]) + 1
    if n_min > max_size:
        raise ResourceExhausted(f"CreditRisk+ lattice would need {n_min} points "
                                f"(limit {max_size}); choose a larger loss_unit")
    size = sp_fft.next_fast_len(n_min, real=True)
    r = radii[best]
    h = 1e-30
    g = math.exp(log_g[best])
    dlog = float(np.imag(_log_pgf(np.array([r + 1j * h]), by_band, variances,
                                  background))[0]) / h
    tail = g / r**size
    return size, tail, r * g * dlog / r**size


def _radius_limit(by_band: np.ndarray, variances: np.ndarray, background: float) -> float:
    """A radius R_max > 1 where every gamma term of G is still finite (bisection).

    Radii where R^ν of a band that carries intensity would exceed e^700 count as
    outside: G is astronomically large there, and R^ν is never formed (a lone obligor of
    many units overflowed ``r ** bands`` at the bisection's trial radii)."""
    live = np.flatnonzero(by_band.any(axis=0))
    carried = by_band[:, live]
    top_band = int(live.max(initial=0))

    def finite(r: float) -> bool:
        if top_band * math.log(r) > _LOG_LIMIT:
            return False
        p_k = carried @ (r ** live - 1.0)
        if np.any(variances * p_k[1:] >= 1.0):
            return False
        q = sum(pk if v == 0.0 else -math.log(1.0 - v * pk) / v
                for pk, v in zip(p_k[1:], variances, strict=True))
        return background * q < 1.0 and math.isfinite(p_k[0]) and p_k[0] < _LOG_LIMIT

    lo, hi = 1.0, 2.0
    while finite(hi) and hi < 64.0:
        lo, hi = hi, 2.0 * hi
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if finite(mid) else (lo, mid)
    return lo if lo > 1.0 else 1.0 + 1e-9


_LOG_LIMIT = 700.0  # below log(float max) ≈ 709.8
