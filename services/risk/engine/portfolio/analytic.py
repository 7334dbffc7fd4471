"""Semi-analytic portfolio credit risk in the one-factor Gaussian (Vasicek) model.

The fund's guarantee ``i`` costs the fund ``loss_given_default_amounts[i]`` if its
obligor defaults; obligor ``i`` defaults when its asset value
``β_i Z + √(1−β_i²) ε_i`` falls below ``Φ⁻¹(PD_i)``, with one systematic factor ``Z``
(low ``Z`` is a bad year) and ``β_i = √ρ_i`` the factor loading.

What lives here:

* closed forms of the large homogeneous pool (ASRF) limit: quantile, CDF and
  expected shortfall of the loss fraction (Vasicek 2002, "Loan portfolio value",
  Risk 15(12));
* the Basel II IRB capital formula (BCBS, "International Convergence of Capital
  Measurement and Capital Standards", June 2006, §272; explained in BCBS, "An
  Explanatory Note on the Basel II IRB Risk Weight Functions", July 2005);
* the first-order granularity adjustment (Gordy 2003; Emmer & Tasche 2005,
  "Calculating credit risk capital charges with the one-factor model");
* :func:`one_factor_loss_distribution`: the loss distribution of a finite,
  heterogeneous portfolio, exact on a loss lattice given ``Z`` (conditional
  independence, Fourier inversion of the product of Bernoulli generating
  functions) and integrated over ``Z`` by Gauss–Legendre panels placed around the
  ASRF quantiles. Every figure it reports carries a numerical error estimate.

Money enters as float amounts (currency units or cents as the caller chooses);
these are risk *estimates*, never booked amounts.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numba
import numpy as np
from scipy import fft as sp_fft
from scipy import special, stats

from services.risk.engine.estimate import Estimate
from services.shared.errors import Collector

__all__ = [
    "LossDistribution",
    "asrf_loss_quantile",
    "basel_irb_capital",
    "basel_irb_correlation",
    "basel_irb_risk_weight",
    "granularity_adjustment",
    "one_factor_loss_distribution",
    "vasicek_expected_shortfall",
    "vasicek_loss_cdf",
    "vasicek_loss_quantile",
]

DEFAULT_LEVELS: tuple[float, ...] = (0.99, 0.995, 0.999)
# a 10,000-row portfolio with one bad column must not list 10,000 violations
_MAX_LISTED_VIOLATIONS = 20


# --------------------------------------------------------------------------- validation


def _check_scalar(c: Collector, value: float, name: str, low: float, high: float,
                  *, low_open: bool = False, high_open: bool = False) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        c.add(name, "must be a number")
        return math.nan
    if not math.isfinite(x):
        c.add(name, "must be finite (NaN and infinity are not allowed)")
        return x
    too_low = x <= low if low_open else x < low
    too_high = x >= high if high_open else x > high
    if too_low or too_high:
        c.add(name, f"must be in {'(' if low_open else '['}{low:g}, {high:g}"
                    f"{')' if high_open else ']'}, got {x!r}")
    return x


def _check_level(c: Collector, level: float, name: str = "level") -> float:
    return _check_scalar(c, level, name, 0.0, 1.0, low_open=True, high_open=True)


def _flag_each(c: Collector, bad: np.ndarray, field_of: Callable[[int], str], description: str
               ) -> None:
    indexes = np.flatnonzero(bad)
    for i in indexes[:_MAX_LISTED_VIOLATIONS]:
        c.add(field_of(int(i)), description)
    if indexes.size > _MAX_LISTED_VIOLATIONS:
        c.add(field_of(int(indexes[_MAX_LISTED_VIOLATIONS])),
              f"{indexes.size - _MAX_LISTED_VIOLATIONS} more entries have the same problem")


def _vector(c: Collector, values, prefix: str, name: str, n: int | None, *,
            low: float, high: float, allow_scalar: bool = False) -> np.ndarray | None:
    """A 1-D float array ``values`` checked entry by entry; violations are named
    ``{prefix}[i].{name}``. A scalar is broadcast when ``allow_scalar`` (and then
    named ``name``)."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        c.add(f"{prefix}.{name}" if prefix else name, "must be an array of numbers")
        return None
    if arr.ndim == 0:
        if not allow_scalar:
            c.add(name, "must be an array with one entry per guarantee")
            return None
        x = _check_scalar(c, float(arr), name, low, high)
        if not math.isfinite(x) or x < low or x > high:
            return None
        return np.full(n if n is not None else 1, x)
    if arr.ndim != 1:
        c.add(name, f"must be one-dimensional, got shape {arr.shape}")
        return None
    if n is not None and arr.size != n:
        c.add(name, f"must have {n} entries (one per guarantee), got {arr.size}")
        return None

    def field_of(i: int) -> str:
        return f"{prefix}[{i}].{name}" if prefix else f"{name}[{i}]"

    finite = np.isfinite(arr)
    _flag_each(c, ~finite, field_of, "must be finite (NaN and infinity are not allowed)")
    with np.errstate(invalid="ignore"):
        out_of_range = finite & ((arr < low) | (arr > high))
    _flag_each(c, out_of_range, field_of, f"must be in [{low:g}, {high:g}]")
    return arr


# --------------------------------------------------------------------------- ASRF closed forms


def _conditional_pd(threshold: np.ndarray | float, loading: np.ndarray | float,
                    z: np.ndarray | float) -> np.ndarray:
    """P(default | Z = z) = Φ((Φ⁻¹(PD) − β z)/√(1−β²)); a step in z when β² = 1."""
    threshold = np.asarray(threshold, dtype=float)
    loading = np.asarray(loading, dtype=float)
    idio = np.sqrt(np.clip(1.0 - loading * loading, 0.0, 1.0))
    num = threshold - loading * z
    with np.errstate(divide="ignore", invalid="ignore"):
        smooth = special.ndtr(num / idio)
    return np.where(idio > 0.0, smooth, (num > 0.0).astype(float))


def vasicek_loss_quantile(probability_of_default: float, correlation: float, level: float
                          ) -> float:
    """Quantile at ``level`` of the loss *fraction* of a large homogeneous pool (ASRF limit).

    ``Φ((Φ⁻¹(p) + √ρ Φ⁻¹(q)) / √(1−ρ))`` (Vasicek 2002). Exact in the limit of
    infinitely many equal exposures; for a finite portfolio add
    :func:`granularity_adjustment` or use :func:`one_factor_loss_distribution`.
    """
    c = Collector()
    p = _check_scalar(c, probability_of_default, "probability_of_default", 0.0, 1.0)
    rho = _check_scalar(c, correlation, "correlation", 0.0, 1.0)
    q = _check_level(c, level)
    c.raise_if_any()
    if rho == 1.0:  # every obligor defaults together: loss fraction is Bernoulli(p)
        return 1.0 if q > 1.0 - p else 0.0
    return float(special.ndtr((special.ndtri(p) + math.sqrt(rho) * special.ndtri(q))
                              / math.sqrt(1.0 - rho)))


def vasicek_loss_cdf(loss_fraction: float, probability_of_default: float, correlation: float
                     ) -> float:
    """P(loss fraction ≤ x) in the large homogeneous pool (Vasicek 2002):
    ``Φ((√(1−ρ) Φ⁻¹(x) − Φ⁻¹(p)) / √ρ)`` for 0 < ρ < 1."""
    c = Collector()
    x = _check_scalar(c, loss_fraction, "loss_fraction", 0.0, 1.0)
    p = _check_scalar(c, probability_of_default, "probability_of_default", 0.0, 1.0)
    rho = _check_scalar(c, correlation, "correlation", 0.0, 1.0, low_open=True, high_open=True)
    c.raise_if_any()
    if x >= 1.0:
        return 1.0
    return float(special.ndtr((math.sqrt(1.0 - rho) * special.ndtri(x) - special.ndtri(p))
                              / math.sqrt(rho)))


def vasicek_expected_shortfall(probability_of_default: float, correlation: float, level: float
                               ) -> float:
    """Expected shortfall at ``level`` of the large-homogeneous-pool loss fraction.

    ES_q = E[L | Z ≤ −Φ⁻¹(q)] = Φ₂(Φ⁻¹(p), −Φ⁻¹(q); √ρ) / (1 − q): the pool loss given
    Z is P(A ≤ Φ⁻¹(p) | Z) for the asset value A = √ρ Z + √(1−ρ) ε, and A and Z are
    standard bivariate normal with correlation √ρ.
    """
    c = Collector()
    p = _check_scalar(c, probability_of_default, "probability_of_default", 0.0, 1.0)
    rho = _check_scalar(c, correlation, "correlation", 0.0, 1.0)
    q = _check_level(c, level)
    c.raise_if_any()
    if p in (0.0, 1.0):
        return p
    if rho == 1.0:
        return min(1.0, p / (1.0 - q))
    h, k, r = float(special.ndtri(p)), float(-special.ndtri(q)), math.sqrt(rho)
    joint = stats.multivariate_normal.cdf([h, k], mean=[0.0, 0.0], cov=[[1.0, r], [r, 1.0]],
                                          abseps=1e-14, releps=1e-12)
    return float(joint) / (1.0 - q)


# --------------------------------------------------------------------------- Basel II IRB


def basel_irb_correlation(probability_of_default: float) -> float:
    """Basel II corporate asset correlation ρ(PD) = 0.12·f + 0.24·(1 − f),
    f = (1 − e^{−50 PD}) / (1 − e^{−50}) (BCBS June 2006, §272)."""
    c = Collector()
    pd = _check_scalar(c, probability_of_default, "probability_of_default", 0.0, 1.0)
    c.raise_if_any()
    f = -math.expm1(-50.0 * pd) / -math.expm1(-50.0)
    return 0.12 * f + 0.24 * (1.0 - f)


def basel_irb_capital(probability_of_default: float, loss_given_default: float,
                      maturity_years: float = 2.5, correlation: float | None = None) -> float:
    """Basel II IRB capital requirement K per unit of EAD for a non-defaulted corporate
    exposure (BCBS June 2006, §272):

    K = LGD·[Φ((Φ⁻¹(PD) + √ρ Φ⁻¹(0.999))/√(1−ρ)) − PD]·(1 + (M − 2.5)b)/(1 − 1.5b),
    b = (0.11852 − 0.05478 ln PD)², ρ = :func:`basel_irb_correlation` unless given.

    The formula only; the framework's PD floor (0.03 %, §285), maturity bounds
    (1–5 years, §320) and the rule for defaulted exposures (PD = 1) are the caller's.
    """
    c = Collector()
    pd = _check_scalar(c, probability_of_default, "probability_of_default", 0.0, 1.0,
                       low_open=True, high_open=True)
    lgd = _check_scalar(c, loss_given_default, "loss_given_default", 0.0, 1.0)
    m = _check_scalar(c, maturity_years, "maturity_years", 0.0, 30.0)
    if correlation is not None:
        _check_scalar(c, correlation, "correlation", 0.0, 1.0, high_open=True)
    c.raise_if_any()
    rho = basel_irb_correlation(pd) if correlation is None else float(correlation)
    b = (0.11852 - 0.05478 * math.log(pd)) ** 2
    stressed_pd = special.ndtr((special.ndtri(pd) + math.sqrt(rho) * special.ndtri(0.999))
                               / math.sqrt(1.0 - rho))
    return float(lgd * (stressed_pd - pd) * (1.0 + (m - 2.5) * b) / (1.0 - 1.5 * b))


def basel_irb_risk_weight(probability_of_default: float, loss_given_default: float,
                          maturity_years: float = 2.5, *, scaling_factor: float = 1.06) -> float:
    """Risk weight RW = K · 12.5 · scaling_factor (RWA = RW · EAD). Basel II applies the
    1.06 scaling factor to IRB credit RWA (§44); the illustrative table of Annex 5 is
    computed without it (``scaling_factor=1.0``)."""
    c = Collector()
    _check_scalar(c, scaling_factor, "scaling_factor", 0.0, 10.0)
    c.raise_if_any()
    return basel_irb_capital(probability_of_default, loss_given_default, maturity_years) \
        * 12.5 * float(scaling_factor)


# --------------------------------------------------------------------------- granularity adjustment


def _portfolio_inputs(exposure_weights, probability_of_default, loss_given_default, correlation,
                      level) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    c = Collector()
    w = _vector(c, exposure_weights, "guarantees", "exposure_weight", None,
                low=0.0, high=math.inf)
    n = None if w is None else w.size
    pd = _vector(c, probability_of_default, "guarantees", "probability_of_default", n,
                 low=0.0, high=1.0)
    lgd = _vector(c, loss_given_default, "guarantees", "loss_given_default", n,
                  low=0.0, high=1.0, allow_scalar=True)
    rho = _vector(c, correlation, "guarantees", "correlation", n, low=0.0, high=1.0,
                  allow_scalar=True)
    q = _check_level(c, level)
    c.raise_if_any()
    return w * lgd, pd, np.sqrt(rho), q


def asrf_loss_quantile(exposure_weights, probability_of_default, loss_given_default, correlation,
                       level: float) -> float:
    """ASRF (infinitely granular) loss quantile Σ_i w_i LGD_i p_i(z_q), z_q = −Φ⁻¹(q):
    the conditional expected loss in the factor's ``level`` stress (Gordy 2003)."""
    amount, pd, loading, q = _portfolio_inputs(exposure_weights, probability_of_default,
                                               loss_given_default, correlation, level)
    z = -special.ndtri(q)
    return float(amount @ _conditional_pd(special.ndtri(pd), loading, z))


def granularity_adjustment(exposure_weights, probability_of_default, loss_given_default,
                           correlation, level: float) -> float:
    """First-order granularity adjustment of the loss quantile in the one-factor model.

    VaR_q(L) ≈ :func:`asrf_loss_quantile` + GA with, for X = −Z (high X = bad),
    μ(x) = E[L | X = x], σ²(x) = Var[L | X = x] and α = Φ⁻¹(q),

        GA = −1/(2 φ(α)) · d/dx [φ(x) σ²(x) / μ'(x)] at x = α
           = (σ²(α)(α + μ''(α)/μ'(α)) − σ²'(α)) / (2 μ'(α))

    (Gordy 2003, "A risk-factor model foundation for ratings-based bank capital
    rules", J. Fin. Intermediation 12; Emmer & Tasche 2005, J. of Risk 7(2) eq. 2.6).
    Loss given default is deterministic here, so σ²(x) = Σ a_i² p_i(x)(1 − p_i(x)).
    The result is in the units of ``exposure_weights``; it vanishes like 1/n for a
    homogeneous pool of n names. An asymptotic approximation: its own error is
    O(1/n²), not estimated here — :func:`one_factor_loss_distribution` is exact.
    """
    amount, pd, loading, q = _portfolio_inputs(exposure_weights, probability_of_default,
                                               loss_given_default, correlation, level)
    alpha = float(special.ndtri(q))
    threshold = special.ndtri(pd)
    active = (pd > 0.0) & (pd < 1.0) & (loading > 0.0) & (loading < 1.0) & (amount > 0.0)
    if not np.any(active):
        return 0.0
    a, t, b = amount[active], threshold[active], loading[active]
    s = np.sqrt(1.0 - b * b)
    g = (t + b * alpha) / s
    p = special.ndtr(g)
    dp = np.exp(-0.5 * g * g) / math.sqrt(2.0 * math.pi) * (b / s)
    d2p = -g * dp * (b / s)
    mu1, mu2 = a @ dp, a @ d2p
    var = (a * a) @ (p * (1.0 - p))
    var1 = (a * a) @ (dp * (1.0 - 2.0 * p))
    if mu1 <= 0.0:
        return 0.0
    return float((var * (alpha + mu2 / mu1) - var1) / (2.0 * mu1))


# --------------------------------------------------------------------------- loss distribution


def _quantile_index(tail_above: np.ndarray, level: float) -> int:
    """Smallest support index v with P(L > support[v]) ≤ 1 − level."""
    ok = tail_above <= (1.0 - level)
    return int(np.argmax(ok)) if ok.any() else tail_above.size - 1


def _tail_above(pmf: np.ndarray) -> np.ndarray:
    """P(L > support[v]) summed from the top, so tail figures do not inherit body rounding."""
    rev = np.cumsum(pmf[::-1])[::-1]
    return np.append(rev[1:], 0.0)


def _value_at_risk(support: np.ndarray, pmf: np.ndarray, level: float) -> float:
    return float(support[_quantile_index(_tail_above(pmf), level)])


def _expected_shortfall(support: np.ndarray, pmf: np.ndarray, level: float) -> float:
    # Acerbi & Tasche (2002) for a discrete law: (E[L; L > v] + v (P(L ≤ v) − q)) / (1 − q).
    tail = _tail_above(pmf)
    v = _quantile_index(tail, level)
    beyond = float(support[v + 1:] @ pmf[v + 1:])
    return (beyond + float(support[v]) * ((1.0 - tail[v]) - level)) / (1.0 - level)


def _mean(support: np.ndarray, pmf: np.ndarray) -> float:
    return float(support @ pmf)


def _tail_probability(support: np.ndarray, pmf: np.ndarray, amount: float) -> float:
    return float(pmf[support > amount].sum())


@dataclass(frozen=True)
class _RoundingModel:
    """What rounding the amounts to the lattice does to the tail, node by node of the
    factor rule (Gaussian approximation of the loss given Z = z_j: mean ``mean``, standard
    deviation ``sd``; all amounts in money).

    The lattice loss is L' = L + R with R = Σ_i D_i r_i, r_i the rounding residual of
    amount i. Two effects escape the half-node and doubled-unit variants, which round
    alike:

    * a shift: E[R | L, z] ≈ ``bias`` + ``covariance``/sd² · (L − mean) (the regression of
      R on L given z; ``bias`` = Σ p_i r_i, ``covariance`` = Σ p_i(1 − p_i) r_i a_i), so
      VaR moves by E[R | L = VaR] and ES by E[R | L ≥ VaR];
    * the staircase: with few distinct large amounts the exact law is a staircase of
      atoms (default counts of each amount) ``spacing`` apart on average (the largest atom
      over the local density: the product over distinct amounts of the largest
      probability of a default count, times √(2π)·sd). R spreads each atom over a few
      lattice points, so the lattice law is a smoothed staircase, and its quantile can
      sit anywhere within the step the exact quantile sits on: up to one spacing, and
      no further than R spreads an atom (2 sd of R given z); ``spacing`` is the smaller.
    """

    weight: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    bias: np.ndarray
    covariance: np.ndarray
    spacing: np.ndarray
    # A first-loss tranche's detachment (the portfolio cap): at and above it the fund's
    # loss is the cap itself, which rounding cannot move.
    detachment: float = math.inf

    def _at(self, v: float) -> tuple[np.ndarray, np.ndarray]:
        d = (v - self.mean) / self.sd
        return d, self.weight * np.exp(-0.5 * d * d) / (math.sqrt(2.0 * math.pi) * self.sd)

    def is_atom(self, v: float) -> bool:
        """No loss, or the cap: exact atoms that rounding cannot move."""
        return v <= 0.0 or v >= self.detachment

    def value_at_risk_error(self, v: float) -> float:
        if self.is_atom(v):
            return 0.0
        d, density = self._at(v)
        total = float(density.sum())
        if not total > 0.0:
            return 0.0
        shift = float(density @ (self.bias + self.covariance / self.sd * d)) / total
        return abs(shift) + float(density @ self.spacing) / total

    def expected_shortfall_error(self, v: float, level: float) -> float:
        if v >= self.detachment:
            return 0.0

        def tail_sum(x: float) -> np.ndarray:
            # E[R; L ≥ x | z] ≈ bias·P(L ≥ x | z) + covariance/sd · φ((x − mean)/sd)
            if math.isinf(x):
                return np.zeros_like(self.mean)
            d = (x - self.mean) / self.sd
            return (self.bias * special.ndtr(-d)
                    + self.covariance / self.sd * np.exp(-0.5 * d * d) / math.sqrt(2.0 * math.pi))
        # only losses in [v, detachment) move with rounding; the cap's atom does not
        return abs(float(self.weight @ (tail_sum(v) - tail_sum(self.detachment)))) / (1.0 - level)


@dataclass(frozen=True)
class LossDistribution:
    """A portfolio loss law on a finite support, with the variants that measure its error.

    ``pmf[j] = P(L = support[j])``; ``support`` is ascending (a lattice
    ``j · loss_unit`` unless a tranche moved an atom). Each figure is an
    :class:`Estimate` whose ``standard_error`` is the *numerical* error estimate:
    the sum over ``variants`` (the same law computed with half the quadrature nodes,
    with twice the grid step, …) of |figure − figure on variant|, plus a floor for
    floating-point rounding (``amount_error_floor`` for amounts,
    ``probability_error_floor`` for probabilities); for VaR and ES the lattice's part is
    also sized by ``rounding`` (see :meth:`value_at_risk_parts`). Nothing here is sampled.
    """

    support: np.ndarray
    pmf: np.ndarray
    loss_unit: float
    expected_loss: Estimate
    levels: tuple[float, ...] = DEFAULT_LEVELS
    variants: tuple[tuple[np.ndarray, np.ndarray], ...] = ()
    amount_error_floor: float = 0.0
    probability_error_floor: float = 0.0
    method: str = ""
    diagnostics: dict = field(default_factory=dict)
    rounding: _RoundingModel | None = None

    def _parts(self, figure: Callable[[np.ndarray, np.ndarray], float]
               ) -> tuple[float, list[float]]:
        """A figure of the law and its error parts: |figure − figure on variant|, one per
        variant (quadrature, lattice): what an estimate adds up and an adaptive caller
        refines."""
        value = figure(self.support, self.pmf)
        return value, [abs(value - figure(s, p)) for s, p in self.variants]

    def _estimate(self, figure: Callable[[np.ndarray, np.ndarray], float], floor: float
                  ) -> Estimate:
        value, parts = self._parts(figure)
        return Estimate(float(value), float(sum(parts) + floor))

    def mean_parts(self) -> tuple[float, list[float]]:
        return self._parts(_mean)

    def mean(self) -> Estimate:
        """E[L] from the pmf (for the untransformed portfolio, compare ``expected_loss``)."""
        return self._estimate(_mean, self.amount_error_floor)

    def tail_probability_parts(self, amount: float) -> tuple[float, list[float]]:
        return self._parts(lambda s, p: _tail_probability(s, p, amount))

    def value_at_risk_parts(self, level: float) -> tuple[float, list[float]]:
        """VaR and its error parts, one per variant (quadrature, lattice): what
        :meth:`value_at_risk` adds up and what an adaptive caller refines. The lattice
        part is the larger of the doubled-unit difference and the rounding model's
        estimate (both measure the lattice's error: not both)."""
        value, parts = self._parts(lambda s, p: _value_at_risk(s, p, level))
        if self.rounding is not None and len(parts) >= 2:
            parts[1] = max(parts[1], self.rounding.value_at_risk_error(value))
        return value, parts

    def expected_shortfall_parts(self, level: float) -> tuple[float, list[float]]:
        """ES and its error parts as :meth:`value_at_risk_parts`. The rounding's shift of
        the tail mean is common to both lattices (each rounds by error diffusion), so the
        doubled-unit difference need not show it: added to the lattice part."""
        value, parts = self._parts(lambda s, p: _expected_shortfall(s, p, level))
        if self.rounding is not None and len(parts) >= 2:
            parts[1] += self.rounding.expected_shortfall_error(
                _value_at_risk(self.support, self.pmf, level), level)
        return value, parts

    def _exact_atom(self, value: float) -> bool:
        """A VaR of no loss (or, under a cap the rounding model knows, the cap) is that
        atom exactly, not a lattice point's rounding of the quantile."""
        return value <= 0.0 if self.rounding is None else self.rounding.is_atom(value)

    def value_at_risk(self, level: float) -> Estimate:
        """VaR_level = min{x in support: P(L ≤ x) ≥ level}, in loss-amount units."""
        c = Collector()
        q = _check_level(c, level)
        c.raise_if_any()
        value, parts = self.value_at_risk_parts(q)
        error = sum(parts) + self.amount_error_floor
        if self.variants and not self._exact_atom(value):
            # VaR is a lattice point: even where the variants agree (they often land on
            # the same point) the quantile is only known to within the grid.
            error = max(error, 0.5 * self.loss_unit + self.amount_error_floor)
        return Estimate(float(value), float(error))

    def expected_shortfall(self, level: float) -> Estimate:
        """ES_level = (1/(1−q)) ∫_q^1 VaR_u du (Acerbi & Tasche 2002), in loss-amount units."""
        c = Collector()
        q = _check_level(c, level)
        c.raise_if_any()
        value, parts = self.expected_shortfall_parts(q)
        return Estimate(float(value), float(sum(parts) + self.amount_error_floor))

    def tail_probability(self, amount: float) -> Estimate:
        """P(L > amount)."""
        c = Collector()
        x = _check_scalar(c, amount, "amount", -math.inf, math.inf)
        c.raise_if_any()
        value, parts = self.tail_probability_parts(x)
        return Estimate(float(value), float(sum(parts) + self.probability_error_floor))

    def tranche(self, attachment: float, detachment: float) -> LossDistribution:
        """Law of the tranche loss min(max(L − attachment, 0), detachment − attachment).

        ``tranche(0, cap)`` is the fund's first-loss position under a portfolio cap,
        min(L, cap). Exact given the pmf: mass above the detachment point moves to
        one atom at the tranche width.
        """
        c = Collector()
        a = _check_scalar(c, attachment, "attachment", 0.0, math.inf)
        d = _check_scalar(c, detachment, "detachment", 0.0, math.inf)
        if not c.violations and d <= a:
            c.add("detachment", "must exceed attachment")
        c.raise_if_any()

        def transform(support: np.ndarray, pmf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            tranche_loss = np.clip(support - a, 0.0, d - a)
            values, inverse = np.unique(tranche_loss, return_inverse=True)
            return values, np.bincount(inverse, weights=pmf, minlength=values.size)

        support, pmf = transform(self.support, self.pmf)
        variants = tuple(transform(s, p) for s, p in self.variants)
        mean_value = float(support @ pmf)
        mean_error = (sum(abs(mean_value - float(s @ p)) for s, p in variants)
                      + self.amount_error_floor)
        return LossDistribution(support=support, pmf=pmf, loss_unit=self.loss_unit,
                                expected_loss=Estimate(mean_value, mean_error),
                                levels=self.levels, variants=variants,
                                amount_error_floor=self.amount_error_floor,
                                probability_error_floor=self.probability_error_floor,
                                method=f"{self.method} tranche [{a:g}, {d:g}]",
                                # below the detachment a first-loss tranche is L itself
                                rounding=(replace(self.rounding, detachment=d)
                                          if a == 0.0 and self.rounding is not None
                                          else None))


# ---- compiled kernels

# Φ on [−9, 9] by cubic Hermite interpolation of exact (Φ, φ) at step 1/512: the
# interpolation error is below h⁴·max|Φ''''|/384 ≈ 2e-14 absolute, far under every
# other error here, and a lookup costs a fraction of an erfc.
_PHI_STEP = 1.0 / 512.0
_PHI_LOW = -9.0
_PHI_X = _PHI_LOW + _PHI_STEP * np.arange(int(18.0 / _PHI_STEP) + 1)
_PHI_VALUE = special.ndtr(_PHI_X)
_PHI_SLOPE = np.exp(-0.5 * _PHI_X * _PHI_X) / math.sqrt(2.0 * math.pi) * _PHI_STEP


@numba.njit(cache=True, nogil=True)
def _conditional_pd_matrix(z: np.ndarray, threshold: np.ndarray, loading: np.ndarray,
                           phi_value: np.ndarray, phi_slope: np.ndarray) -> np.ndarray:
    out = np.empty((z.size, threshold.size))
    last = phi_value.size - 1
    inv_step = 1.0 / _PHI_STEP
    for j in range(z.size):
        zj = z[j]
        for i in range(threshold.size):
            b = loading[i]
            num = threshold[i] - b * zj
            idio2 = 1.0 - b * b
            if idio2 <= 0.0:
                out[j, i] = 1.0 if num > 0.0 else 0.0
                continue
            x = num / math.sqrt(idio2)
            t = (x - _PHI_LOW) * inv_step
            if t >= 0.0 and t < last:
                k = int(t)
                s = t - k
                s2 = s * s
                s3 = s2 * s
                out[j, i] = ((2.0 * s3 - 3.0 * s2 + 1.0) * phi_value[k]
                             + (s3 - 2.0 * s2 + s) * phi_slope[k]
                             + (3.0 * s2 - 2.0 * s3) * phi_value[k + 1]
                             + (s3 - s2) * phi_slope[k + 1])
            else:  # far tails (and ±inf thresholds for PD 0 or 1)
                out[j, i] = 0.5 * math.erfc(-x / math.sqrt(2.0))
    return out


@numba.njit(cache=True, nogil=True)
def _round_to_lattice(amount_in_units: np.ndarray, order: np.ndarray) -> np.ndarray:
    # Error diffusion along PD order: the running rounding residual stays in [−½, ½),
    # so for any z the conditional mean error |Σ p_i(z) r_i| ≤ loss_unit · max p(z)
    # when p_i(z) is monotone along the order (Abel summation).
    bands = np.empty(amount_in_units.size, dtype=np.int64)
    carry = 0.0
    for i in order:
        x = amount_in_units[i] + carry
        k = math.floor(x + 0.5)
        if k < 0:
            k = 0
        bands[i] = k
        carry = x - k
    return bands


# p this close to ½ puts a zero of 1 − p + p w^k next to the unit circle, where the log
# series below converges too slowly; those guarantees are convolved exactly instead.
_DIRECT_LOW, _DIRECT_HIGH = 0.45, 0.55
_SERIES_TOLERANCE = 1e-14  # truncation of each guarantee's log series


@numba.njit(cache=True, nogil=True)
def _log_pgf_coefficients(cond_pd: np.ndarray, bands: np.ndarray, size: int,
                          bands2: np.ndarray, size2: int, rows2: int):
    """Fourier-series coefficients of log E[w^K | Z = z_j] on the cyclic lattice Z_size.

    log(1 − p + p w^k) = log(1 − p) + Σ_m (−1)^{m+1} o^m w^{mk}/m with o = p/(1 − p) < 1,
    or, for p > ½, k log w + log p + Σ_m (−1)^{m+1} o'^m w^{−mk}/m with o' = (1 − p)/p.
    All terms land in one coefficient array, so a node costs O(n + size log size),
    not O(n · size). The first ``rows2`` nodes also fill the same series on a second
    lattice (``bands2``, ``size2``; the discretisation check) at the price of one more
    scatter per term. Returns both coefficient arrays, the constant (shared), the
    lattice shifts (the k log w terms) and whether the node has guarantees left to
    :func:`_direct_group_pmf`.
    """
    m_nodes, n = cond_pd.shape
    coef = np.zeros((m_nodes, size))
    coef2 = np.zeros((rows2, size2))
    const = np.zeros(m_nodes)
    shift = np.zeros(m_nodes, dtype=np.int64)
    shift2 = np.zeros(rows2, dtype=np.int64)
    has_direct = np.zeros(m_nodes, dtype=np.bool_)
    for j in range(m_nodes):
        second = j < rows2
        c_j = 0.0
        s_j = 0
        s2_j = 0
        for i in range(n):
            k = bands[i]
            k2 = bands2[i]
            p = cond_pd[j, i]
            if (k == 0 and (k2 == 0 or not second)) or p <= 0.0:
                continue
            if p >= 1.0:
                s_j += k
                s2_j += k2
                continue
            if p < _DIRECT_LOW:
                o = p / (1.0 - p)
                c_j += math.log1p(-p)
                step = k % size
                step2 = k2 % size2
            elif p > _DIRECT_HIGH:
                o = (1.0 - p) / p
                c_j += math.log(p)
                s_j += k
                s2_j += k2
                step = (size - k % size) % size
                step2 = (size2 - k2 % size2) % size2
            else:
                has_direct[j] = True
                continue
            t = o  # signed term (−1)^{m+1} o^m
            order = 1
            pos = step
            pos2 = step2
            limit = _SERIES_TOLERANCE * (1.0 - o)
            while True:
                term = t / order
                coef[j, pos] += term
                if second:
                    coef2[j, pos2] += term
                # remaining tail Σ_{m>order} o^m/m ≤ o^{order+1}/((order+1)(1−o))
                if abs(t) * o < limit * (order + 1):
                    break
                t *= -o
                order += 1
                pos += step
                if pos >= size:
                    pos -= size
                pos2 += step2
                if pos2 >= size2:
                    pos2 -= size2
        const[j] = c_j
        shift[j] = s_j % size
        if second:
            shift2[j] = s2_j % size2
    return coef, coef2, const, shift, shift2, has_direct


@numba.njit(cache=True, nogil=True)
def _direct_group_pmf(cond_pd: np.ndarray, bands: np.ndarray, size: int, rows: np.ndarray
                      ) -> np.ndarray:
    """Exact pmf of the lattice loss of the guarantees with p near ½, at each node in
    ``rows`` (the lattice covers the whole support, so nothing wraps)."""
    out = np.zeros((rows.size, size))
    for r in range(rows.size):
        j = rows[r]
        pmf = out[r]
        pmf[0] = 1.0
        top = 0  # highest occupied index
        for i in range(bands.size):
            k = bands[i]
            p = cond_pd[j, i]
            if k == 0 or p < _DIRECT_LOW or p > _DIRECT_HIGH:
                continue
            top += k
            for x in range(top, k - 1, -1):
                pmf[x] = (1.0 - p) * pmf[x] + p * pmf[x - k]
            for x in range(min(k, top + 1)):
                pmf[x] *= 1.0 - p
    return out


@numba.njit(cache=True, nogil=True)
def _exp_with_shift(log_cf: np.ndarray, const: np.ndarray, shift: np.ndarray, size: int
                    ) -> np.ndarray:
    out = np.empty_like(log_cf)
    for j in range(log_cf.shape[0]):
        s = shift[j]
        for f in range(log_cf.shape[1]):
            re = log_cf[j, f].real + const[j]
            if re < -700.0:  # negligible; and subnormals would slow every later step
                out[j, f] = 0.0
                continue
            im = log_cf[j, f].imag - 2.0 * math.pi * ((f * s) % size) / size
            mag = math.exp(re)
            out[j, f] = complex(mag * math.cos(im), mag * math.sin(im))
    return out


def _characteristic_from_series(cond_pd: np.ndarray, bands: np.ndarray, size: int,
                                 coef: np.ndarray, const: np.ndarray, shift: np.ndarray,
                                 has_direct: np.ndarray) -> np.ndarray:
    cf = _exp_with_shift(sp_fft.rfft(coef, axis=1), const, shift, size)
    rows = np.flatnonzero(has_direct)
    if rows.size:
        cf[rows] *= sp_fft.rfft(_direct_group_pmf(cond_pd, bands, size, rows), axis=1)
    return cf


def _conditional_characteristics(cond_pd: np.ndarray, bands: np.ndarray, size: int,
                                 bands2: np.ndarray, size2: int, rows2: int
                                 ) -> tuple[np.ndarray, np.ndarray]:
    """E[w_f^K | Z = z_j] at w_f = e^{−2πi f/size}, f = 0..size/2, one row per node;
    and the same on the second lattice for the first ``rows2`` nodes."""
    coef, coef2, const, shift, shift2, has_direct = _log_pgf_coefficients(
        cond_pd, bands, size, bands2, size2, rows2)
    cf = _characteristic_from_series(cond_pd, bands, size, coef, const, shift, has_direct)
    cf2 = _characteristic_from_series(cond_pd[:rows2], bands2, size2, coef2, const[:rows2],
                                      shift2, has_direct[:rows2])
    return cf, cf2


# ---- quadrature over the systematic factor


@dataclass(frozen=True)
class _Rule:
    z: np.ndarray              # factor values
    weight: np.ndarray         # probability weights of the rule, summing to 1
    coarse_weight: np.ndarray  # the embedded rule on every other node (zeros elsewhere)


@functools.lru_cache(maxsize=64)
def _legendre_panel(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on [−1, 1], plus the weights of the
    interpolatory rule on every other node (exact for degree < n/2): comparing the two
    is the n-versus-2n refinement check without evaluating any extra node."""
    x, w = np.polynomial.legendre.leggauss(n)
    sub = np.arange(0, n, 2)
    vandermonde = np.polynomial.legendre.legvander(x[sub], sub.size - 1).T
    moments = np.zeros(sub.size)
    moments[0] = 2.0
    coarse = np.zeros(n)
    coarse[sub] = np.linalg.solve(vandermonde, moments)
    return x, w, coarse


def _panel(n: int, a: float, b: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, w, coarse = _legendre_panel(n)
    half = 0.5 * (b - a)
    return half * x + 0.5 * (a + b), half * w, half * coarse


def _factor_rule(levels: Sequence[float], window_nodes: int, *, window_below: float,
                 window_above: float, outer_nodes: int | None = None) -> _Rule:
    """Nodes over Z ~ N(0,1) concentrated where the tail at ``levels`` is decided.

    Three panels: the stress window [z_lo, z_hi] around the ASRF quantiles
    z_q = −Φ⁻¹(q) (Gauss–Legendre in z, weight φ); beyond it, Gauss–Legendre in the
    probability u = Φ(z) on (0, Φ(z_lo)) and (Φ(z_hi), 1), where the integrand is
    smooth. Plain Gauss–Hermite fails here: at the 99.9 % level of a granular
    portfolio P(L > x | z) is nearly a step in z (docs: TOOLING numerical facts).
    """
    zq = -special.ndtri(np.asarray(levels, dtype=float))
    z_lo, z_hi = float(zq.min() - window_below), float(zq.max() + window_above)
    n_outer = (2 * max(2, window_nodes // 4) if outer_nodes is None
               else 2 * max(2, int(outer_nodes) // 2))
    zw, ww, cw = _panel(window_nodes, z_lo, z_hi)
    density = np.exp(-0.5 * zw * zw) / math.sqrt(2.0 * math.pi)
    mass = special.ndtr(z_hi) - special.ndtr(z_lo)
    ww = ww * density
    cw = cw * density
    ww *= mass / ww.sum()  # exact panel mass: the law sums to one
    cw *= mass / cw.sum()
    ud, wd, cd = _panel(n_outer, 0.0, float(special.ndtr(z_lo)))
    ub, wb, cb = _panel(n_outer, float(special.ndtr(z_hi)), 1.0)
    return _Rule(z=np.concatenate([special.ndtri(ud), zw, special.ndtri(ub)]),
                 weight=np.concatenate([wd, ww, wb]),
                 coarse_weight=np.concatenate([cd, cw, cb]))


def _window_nodes(amount: np.ndarray, threshold: np.ndarray, loading: np.ndarray,
                  levels: Sequence[float], requested: int, cap: int, margin: float) -> int:
    """Window nodes: at least ``requested``, more for very granular portfolios.

    Given z, a granular loss is concentrated within σ(z) of μ(z), so P(L > x | z) is a
    step of width σ/|μ'| in z; the rule must put nodes at about that spacing or VaR
    jumps from node to node (1e5 equal names at 99.9 %: width 0.015).
    """
    zq = -special.ndtri(np.asarray(levels, dtype=float))
    z = float(zq.min())
    p = _conditional_pd(threshold, loading, z)
    idio = np.sqrt(np.clip(1.0 - loading * loading, 1e-300, 1.0))
    slope = amount @ (np.exp(-0.5 * special.ndtri(np.clip(p, 1e-300, 1.0 - 1e-16)) ** 2)
                      / math.sqrt(2.0 * math.pi) * np.abs(loading) / idio)
    spread = math.sqrt(float((amount * amount) @ (p * (1.0 - p))))
    if slope <= 0.0 or spread <= 0.0:
        return 2 * max(2, requested // 2)
    length = float(zq.max() - zq.min()) + margin
    needed = math.ceil(length * slope / spread)  # node spacing ≈ the step width
    return 2 * max(2, min(max(requested, needed), cap) // 2)


# The loss unit is fitted to amounts that share a common quantum (equal or standard
# guarantee sizes): rounding them to a lattice that does not divide them would smear each
# atom k·q of the exact law into a cluster a few units wide, and at a high level VaR sits
# near the top of its atom's cluster (80 equal amounts of 11.47 units, PD 10 %, ρ 0.2:
# VaR 99.9 % 0.9 % high, which the doubled-unit check, smeared alike, did not see).
_QUANTUM_CANDIDATES = 32  # distinct amounts tried, largest expected loss first
_QUANTUM_COVERAGE = 0.9   # share of the expected loss of the amounts ≥ 1 unit it must hold


def _approximate_gcd(a: float, b: float, tolerance: float) -> float:
    """Greatest common divisor of two positive floats, remainders ≤ ``tolerance`` taken as
    zero (products such as 0.45 · exposure miss whole multiples by rounding)."""
    a, b = max(a, b), min(a, b)
    while b > tolerance:
        r = math.fmod(a, b)
        if b - r <= tolerance:
            r = 0.0
        a, b = b, r
    return a


def common_quantum(amount: np.ndarray, probability_of_default: np.ndarray, unit: float
                    ) -> float | None:
    """The largest q ≥ ``unit`` of which the amounts ≥ ``unit`` holding at least 90 % of
    those amounts' expected loss are whole multiples (greedy over the distinct amounts,
    largest expected loss first), or None. Amounts below one unit cannot form atoms the
    lattice resolves, so they do not count."""
    lumpy = amount >= unit
    if not lumpy.any():
        return None
    values, inverse = np.unique(amount[lumpy], return_inverse=True)
    weight = np.bincount(inverse, weights=(amount * probability_of_default)[lumpy],
                         minlength=values.size)
    if not weight.sum() > 0.0:
        return None
    tolerance = 1e-9 * float(values[-1])
    quantum, held = 0.0, 0.0
    for i in np.argsort(-weight, kind="stable")[:_QUANTUM_CANDIDATES]:
        g = (_approximate_gcd(quantum, float(values[i]), tolerance) if quantum
             else float(values[i]))
        if g >= unit:
            quantum, held = g, held + float(weight[i])
    return quantum if held >= _QUANTUM_COVERAGE * float(weight.sum()) else None


@numba.njit(cache=True, nogil=True)
def _rounding_sums(cond: np.ndarray, amount: np.ndarray, residual: np.ndarray,
                   group: np.ndarray, groups: int):
    """Per node: mean, variance, Σ p r, Σ p(1−p) r a, Σ p(1−p) r² and the log of the
    product over distinct amounts of the largest probability of a default count (a bound:
    log(1 − x) ≤ −x − x²/2)."""
    m = cond.shape[0]
    out = np.zeros((6, m))
    var_g = np.zeros(groups)
    none_g = np.zeros(groups)
    for j in range(m):
        var_g[:] = 0.0
        none_g[:] = 0.0
        log_mode = 0.0
        for i in range(cond.shape[1]):
            p = cond[j, i]
            v = p * (1.0 - p)
            a = amount[i]
            r = residual[i]
            out[0, j] += p * a
            out[1, j] += v * a * a
            out[2, j] += p * r
            out[3, j] += v * r * a
            out[4, j] += v * r * r
            g = group[i]
            if g < 0:  # a single name: max(p, 1 − p)
                x = min(p, 1.0 - p)
                log_mode -= x + 0.5 * x * x
            else:
                var_g[g] += v
                none_g[g] -= p + 0.5 * p * p
        for g in range(groups):
            # a group: the larger of P(none defaults) and the normal mode 1/√(2π σ²)
            # (the count law is log-concave), at most 1
            best = none_g[g]
            if var_g[g] > 0.0:
                best = max(best, -0.5 * math.log(2.0 * math.pi * var_g[g]))
            log_mode += min(best, 0.0)
        out[5, j] = log_mode
    return out


def _rounding_model(cond: np.ndarray, weight: np.ndarray, amount: np.ndarray,
                    residual: np.ndarray) -> _RoundingModel | None:
    """:class:`_RoundingModel` of the lattice (``residual`` = lattice amount − amount) at
    the factor nodes (``cond``: conditional PDs, one row per node)."""
    if not np.any(residual):
        return None
    _, inverse, counts = np.unique(amount, return_inverse=True, return_counts=True)
    shared = counts[inverse] > 1
    group = np.full(amount.size, -1, dtype=np.int64)
    groups = 0
    if shared.any():
        _, group[shared] = np.unique(inverse[shared], return_inverse=True)
        groups = int(group.max()) + 1
    mean, var, bias, covariance, spread2, log_mode = _rounding_sums(
        cond, amount, residual, group, groups)
    sd = np.sqrt(var)
    live = sd > 0.0
    if not live.any():
        return None
    spacing = np.exp(log_mode) * math.sqrt(2.0 * math.pi) * sd
    # R spreads an atom over about ±2 sd(R | z): the quantile moves at most that far
    spread = 2.0 * np.sqrt(spread2)
    return _RoundingModel(weight=weight[live], mean=mean[live], sd=sd[live],
                          bias=bias[live], covariance=covariance[live],
                          spacing=np.minimum(spacing, spread)[live])


def _mixture_pmf(cf: np.ndarray, weight: np.ndarray, size: int) -> np.ndarray:
    return sp_fft.irfft(weight @ cf, n=size)


def one_factor_loss_distribution(
    loss_given_default_amounts,
    probability_of_default,
    factor_loading,
    *,
    loss_unit: float | None = None,
    levels: Sequence[float] = DEFAULT_LEVELS,
    quadrature_nodes: int = 16,
    window_below: float = 0.8,
    window_above: float = 0.5,
    lattice_points_per_var: int = 1000,
    max_quadrature_nodes: int = 128,
    max_lattice_size: int = 1 << 21,
    estimate_errors: bool = True,
    field_prefix: str = "guarantees",
    outer_nodes: int | None = None,
) -> LossDistribution:
    """Loss distribution of a finite portfolio in the one-factor Gaussian model.

    Arguments are per guarantee: ``loss_given_default_amounts[i]`` (≥ 0, what the fund
    loses if obligor i defaults, in any currency unit as float), PD in [0, 1] and the
    factor loading β_i = √ρ_i in [−1, 1].

    Method: amounts are rounded to the lattice ``loss_unit · k`` by error diffusion
    along the PD order (the conditional mean is kept within one ``loss_unit``); given
    Z the lattice loss is a sum of independent two-point variables whose law is
    recovered exactly (up to 1e-14 series truncation and rounding) from its
    generating function at the roots of unity, the lattice covering the whole support
    so nothing wraps. The mixture over Z uses :func:`_factor_rule`, a Gauss–Legendre
    rule with ``quadrature_nodes`` nodes in the window around the ASRF quantiles of
    ``levels``; ``outer_nodes`` (even, ≥ 4; default a quarter of the window nodes, at
    least 4) per panel beyond the window, where the integrand is smooth.

    Error estimates (``estimate_errors``): the law is recomputed with half the nodes
    (quadrature error) and with twice the loss unit (discretisation error); each
    figure's ``standard_error`` is the sum of both differences (see
    :class:`LossDistribution`). Both lattices round the amounts alike, so when amounts
    lie off the lattice a rounding model (:class:`_RoundingModel`, from the residuals)
    also sizes the lattice's part of VaR and ES. ``expected_loss`` is the exact
    Σ PD_i·amount_i.

    ``loss_unit`` defaults to the ASRF VaR at max(levels) / ``lattice_points_per_var``
    (coarser if the whole support would exceed ``max_lattice_size`` points). When the
    amounts of one unit or more that hold 90 % of those amounts' expected loss are whole
    multiples of a quantum q ≥ that unit (equal or standard guarantee sizes), the unit is
    q/m instead, m the smallest even number with q/m ≤ the unit (so between ½ and 1 of
    it): those amounts then lie on the lattice, and on the doubled one, exactly. Rounded,
    they would smear each atom of the exact law into a cluster of lattice points and move
    VaR within it (``diagnostics["lattice_quantum"]``: q, or 0).
    """
    c = Collector()
    amount = _vector(c, loss_given_default_amounts, field_prefix, "loss_given_default_amount",
                     None, low=0.0, high=math.inf)
    n = None if amount is None else amount.size
    pd = _vector(c, probability_of_default, field_prefix, "probability_of_default", n,
                 low=0.0, high=1.0)
    loading = _vector(c, factor_loading, field_prefix, "factor_loading", n, low=-1.0, high=1.0)
    level_list = tuple(_check_level(c, q, f"levels[{i}]") for i, q in enumerate(levels))
    if not level_list:
        c.add("levels", "must name at least one level")
    if loss_unit is not None:
        _check_scalar(c, loss_unit, "loss_unit", 0.0, math.inf, low_open=True)
    _check_scalar(c, quadrature_nodes, "quadrature_nodes", 4, 512)
    _check_scalar(c, max_quadrature_nodes, "max_quadrature_nodes", 4, 512)
    c.raise_if_any()

    threshold = special.ndtri(pd)
    expected_loss = float(amount @ pd)
    total = float(amount.sum())
    q_max = max(level_list)
    if loss_unit is None:
        stress = float(amount @ _conditional_pd(threshold, loading, -special.ndtri(q_max)))
        scale = stress if stress > 0.0 else max(total, 1.0)
        loss_unit = scale / lattice_points_per_var
        quantum = common_quantum(amount, pd, loss_unit)
        if quantum is not None:
            loss_unit = quantum / (2 * math.ceil(quantum / (2.0 * loss_unit)))
    else:
        quantum = None
    loss_unit = max(float(loss_unit), total / (max_lattice_size - 1))
    if total == 0.0:
        loss_unit = 1.0 if loss_unit == 0.0 else loss_unit

    order = np.lexsort((pd, loading))

    def lattice(unit: float) -> tuple[np.ndarray, int]:
        bands = _round_to_lattice(amount / unit, order)
        return bands, sp_fft.next_fast_len(int(bands.sum()) + 1, real=True)

    window_nodes = _window_nodes(amount, threshold, loading, level_list, quadrature_nodes,
                                 max_quadrature_nodes, window_below + window_above)
    fine = _factor_rule(level_list, window_nodes, window_below=window_below,
                        window_above=window_above, outer_nodes=outer_nodes)
    bands, size = lattice(loss_unit)
    support = np.arange(size) * loss_unit
    variants: list[tuple[np.ndarray, np.ndarray]] = []
    if estimate_errors:
        bands2, size2 = lattice(2.0 * loss_unit)
        cond = _conditional_pd_matrix(fine.z, threshold, loading, _PHI_VALUE, _PHI_SLOPE)
        cf, cf2 = _conditional_characteristics(cond, bands, size, bands2, size2, fine.z.size)
        pmf = _mixture_pmf(cf, fine.weight, size)
        variants.append((support, _mixture_pmf(cf, fine.coarse_weight, size)))
        variants.append((np.arange(size2) * 2.0 * loss_unit,
                         _mixture_pmf(cf2, fine.weight, size2)))
    else:
        cond = _conditional_pd_matrix(fine.z, threshold, loading, _PHI_VALUE, _PHI_SLOPE)
        cf, _ = _conditional_characteristics(cond, bands, size, bands, size, 0)
        pmf = _mixture_pmf(cf, fine.weight, size)

    rounding = (_rounding_model(cond, fine.weight, amount, bands * loss_unit - amount)
                if estimate_errors else None)
    # FFT rounding leaves ~1e-16 noise per lattice point around a law of total mass 1.
    probability_floor = 1e-15 * size
    return LossDistribution(
        support=support, pmf=pmf, loss_unit=loss_unit,
        expected_loss=Estimate(expected_loss, 0.0), levels=level_list,
        variants=tuple(variants), probability_error_floor=probability_floor,
        amount_error_floor=probability_floor * max(total, loss_unit),
        method="one-factor Gaussian, lattice Fourier inversion, Gauss–Legendre over Z",
        diagnostics={"lattice_size": size, "factor_nodes": int(fine.z.size),
                     "window_nodes": window_nodes, "lattice_quantum": quantum or 0.0,
                     "lattice_mean": float(bands @ pd) * loss_unit},
        rounding=rounding,
    )
