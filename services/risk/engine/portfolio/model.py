"""The risk fund's portfolio as a struct of numpy arrays, the fund, and the dependence model.

A million guarantees must fit the hot path, so a portfolio is one array per field
(never a list of Python objects). Money enters as integer cents; the engine works in
float cents internally. Every check reports all bad fields at once with the request
path the API uses, e.g. ``guarantees[17].probability_of_default``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

from services.shared.errors import Collector, FieldViolation, InvalidArgument, ResourceExhausted
from services.shared.money import MAX_CENTS

MAX_GUARANTEES = 2_000_000
MAX_HORIZON_YEARS = 50
MAX_FACTORS = 64
#: The largest total exposure of a portfolio, in cents: the answer's sums (guaranteed
#: volume, fee income) are int64 cents. Rows of 2**63 - 1, or a fee rate of 1e14, made
#: them overflow (INTERNAL).
MAX_PORTFOLIO_CENTS = 10**18
# Past this many bad rows per field the rest are summarised: a million bad rows
# would otherwise make an error larger than the request.
MAX_VIOLATIONS_PER_FIELD = 100

BRANCHES = ("VNK", "UM", "OM", "SM", "PLM", "VM", "OKM", "MMM", "LVM", "TEM", "STM", "YM")
COUNTERPARTY_KINDS = ("public_unit", "company")
COPULAS = ("gaussian", "student_t")

_INT_FIELDS = ("exposure_cents", "cap_cents", "deductible_cents")
_FLOAT_FIELDS = ("probability_of_default", "loss_given_default", "loss_given_default_std",
                 "guarantee_rate", "fee_rate")


@dataclass(frozen=True, eq=False)
class Portfolio:
    """Guarantees as parallel arrays of length n (row i is ``guarantees[i]``).

    exposure_cents, cap_cents, deductible_cents: int64 cents. probability_of_default:
    annual PD. cumulative_default_probability: optional (n, horizon_years) curve, column t
    = P(default by end of year t+1); when given it replaces the annual PD. loss_given_default
    (mean) and loss_given_default_std (0 = fixed LGD, else Beta with that mean and std).
    guarantee_rate: share of the loss the fund covers. fee_rate: annual fee on exposure.
    sector: int codes into ``sector_names``; branch: codes into ``BRANCHES``;
    counterparty_kind: codes into ``COUNTERPARTY_KINDS``. factor_loadings: (n, F) weights w_i
    on the correlated systematic factors (latent X_i = w_i·Z + sqrt(1 - w_iᵀΣw_i) ε_i).
    """

    exposure_cents: np.ndarray
    probability_of_default: np.ndarray
    loss_given_default: np.ndarray
    loss_given_default_std: np.ndarray
    guarantee_rate: np.ndarray
    cap_cents: np.ndarray
    deductible_cents: np.ndarray
    fee_rate: np.ndarray
    sector: np.ndarray
    branch: np.ndarray
    counterparty_kind: np.ndarray
    factor_loadings: np.ndarray
    cumulative_default_probability: np.ndarray | None = None
    sector_names: tuple[str, ...] = ("default",)

    @property
    def size(self) -> int:
        """Number of guarantees."""
        return int(self.exposure_cents.shape[0])

    @property
    def factor_count(self) -> int:
        """Number of systematic factors F."""
        return int(self.factor_loadings.shape[1])

    @classmethod
    def from_arrays(cls, *, exposure_cents, probability_of_default, loss_given_default,
                    factor_loadings, loss_given_default_std=None, guarantee_rate=None,
                    cap_cents=None, deductible_cents=None, fee_rate=None, sector=None,
                    branch=None, counterparty_kind=None, cumulative_default_probability=None,
                    sector_names: Iterable[str] = ("default",)) -> Portfolio:
        """Build a portfolio from arrays (or scalars broadcast to n) without copying more
        than a dtype conversion. Defaults: fixed LGD, rate 1, cap = exposure (never binds),
        no deductible, no fee, sector 0, branch TEM, company. Values are checked by
        ``validate_model``; here only shapes and money dtypes are checked."""
        c = Collector()
        exposure = np.asarray(exposure_cents)
        if exposure.ndim != 1:
            raise InvalidArgument(FieldViolation("guarantees", "exposure_cents must be 1-D"))
        n = exposure.shape[0]
        if n > MAX_GUARANTEES:
            raise ResourceExhausted(
                f"portfolio has {n} guarantees; the bound is MAX_GUARANTEES={MAX_GUARANTEES}")

        def money(name, value, default):
            arr = np.asarray(default if value is None else value)
            if arr.dtype.kind not in "iu":
                c.add(f"guarantees.{name}", "money must be integer cents (an integer array)")
                return np.zeros(n, np.int64)
            return _broadcast(c, name, arr.astype(np.int64, copy=False), n)

        def real(name, value, default):
            arr = np.asarray(default if value is None else value, dtype=np.float64)
            return _broadcast(c, name, arr, n)

        def code(name, value, default):
            arr = np.asarray(default if value is None else value)
            if arr.dtype.kind not in "iu":
                c.add(f"guarantees.{name}", "must be integer codes")
                return np.zeros(n, np.int32)
            return _broadcast(c, name, arr.astype(np.int32, copy=False), n)

        loadings = np.asarray(factor_loadings, dtype=np.float64)
        if loadings.ndim == 1:
            loadings = loadings.reshape(-1, 1)
        if loadings.ndim != 2 or loadings.shape[0] not in (1, n):
            c.add("guarantees.factor_loadings", f"must have shape (n={n}, factors)")
            loadings = np.zeros((n, 1))
        elif loadings.shape[0] == 1:
            loadings = np.broadcast_to(loadings, (n, loadings.shape[1]))
        curve = None
        if cumulative_default_probability is not None:
            curve = np.asarray(cumulative_default_probability, dtype=np.float64)
            if curve.ndim != 2 or curve.shape[0] != n:
                c.add("guarantees.cumulative_default_probability",
                      f"must have shape (n={n}, horizon_years)")
                curve = None
        portfolio = cls(
            exposure_cents=money("exposure_cents", exposure, None),
            probability_of_default=real("probability_of_default", probability_of_default, None),
            loss_given_default=real("loss_given_default", loss_given_default, None),
            loss_given_default_std=real("loss_given_default_std", loss_given_default_std, 0.0),
            guarantee_rate=real("guarantee_rate", guarantee_rate, 1.0),
            # The default cap (the exposure) never binds; it inherits no error of the exposure.
            cap_cents=money("cap_cents", cap_cents, np.maximum(exposure, 0)
                            if exposure.dtype.kind in "iu" else np.zeros(n, np.int64)),
            deductible_cents=money("deductible_cents", deductible_cents, 0),
            fee_rate=real("fee_rate", fee_rate, 0.0),
            sector=code("sector", sector, 0),
            branch=code("branch", branch, BRANCHES.index("TEM")),
            counterparty_kind=code("counterparty_kind", counterparty_kind, 1),
            factor_loadings=loadings,
            cumulative_default_probability=curve,
            sector_names=tuple(sector_names),
        )
        c.raise_if_any()
        return portfolio

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> Portfolio:
        """Build a portfolio from row mappings as the API sends them (names, not codes):
        ``sector`` and ``branch`` are strings, ``counterparty_kind`` is ``public_unit`` or
        ``company``, ``factor_loadings`` a list of F floats. Meant for small requests; bulk
        callers should use ``from_arrays``."""
        rows = list(rows)
        if len(rows) > MAX_GUARANTEES:
            raise ResourceExhausted(
                f"portfolio has {len(rows)} guarantees; the bound is "
                f"MAX_GUARANTEES={MAX_GUARANTEES}")
        c = Collector()
        n = len(rows)
        sectors: dict[str, int] = {}
        cols: dict[str, list] = {k: [] for k in (*_INT_FIELDS, *_FLOAT_FIELDS, "sector", "branch",
                                                 "counterparty_kind", "factor_loadings",
                                                 "cumulative_default_probability")}
        defaults = {"loss_given_default_std": 0.0, "guarantee_rate": 1.0, "fee_rate": 0.0,
                    "deductible_cents": 0}
        factor_count = None
        for i, row in enumerate(rows):
            path = f"guarantees[{i}]"
            for name in _INT_FIELDS:
                value = row.get(name, defaults.get(name))
                if name == "cap_cents" and value is None:
                    value = row.get("exposure_cents")
                if isinstance(value, bool) or not isinstance(value, int | np.integer):
                    c.add(f"{path}.{name}", "required, integer cents")
                    value = 0
                cols[name].append(int(value))
            for name in _FLOAT_FIELDS:
                value = row.get(name, defaults.get(name))
                if name == "probability_of_default" and value is None \
                        and row.get("cumulative_default_probability") is not None:
                    value = 0.0  # the curve replaces the annual PD
                if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                    c.add(f"{path}.{name}", "required number")
                    value = 0.0
                cols[name].append(float(value))
            cols["sector"].append(sectors.setdefault(str(row.get("sector", "default")),
                                                     len(sectors)))
            branch = row.get("branch", "TEM")
            if branch not in BRANCHES:
                c.add(f"{path}.branch", f"must be one of {', '.join(BRANCHES)}")
                branch = "TEM"
            cols["branch"].append(BRANCHES.index(branch))
            kind = row.get("counterparty_kind", "company")
            if kind not in COUNTERPARTY_KINDS:
                c.add(f"{path}.counterparty_kind", "must be public_unit or company")
                kind = "company"
            cols["counterparty_kind"].append(COUNTERPARTY_KINDS.index(kind))
            loadings = list(row.get("factor_loadings", ()))
            if factor_count is None:
                factor_count = len(loadings)
            if not loadings or len(loadings) != factor_count:
                c.add(f"{path}.factor_loadings",
                      f"needs the same number of factors in every row ({factor_count})")
                loadings = [0.0] * (factor_count or 1)
            cols["factor_loadings"].append([float(x) for x in loadings])
            cols["cumulative_default_probability"].append(
                row.get("cumulative_default_probability"))
        c.raise_if_any()
        curves = cols["cumulative_default_probability"]
        curve = None
        if n and any(x is not None for x in curves):
            lengths = {len(x) for x in curves if x is not None}
            if None in curves or len(lengths) != 1:
                raise InvalidArgument(FieldViolation(
                    "guarantees.cumulative_default_probability",
                    "give a curve of the same length for every guarantee or for none"))
            curve = np.array(curves, dtype=np.float64)
        return cls.from_arrays(
            exposure_cents=np.array(cols["exposure_cents"], dtype=np.int64),
            probability_of_default=cols["probability_of_default"],
            loss_given_default=cols["loss_given_default"],
            loss_given_default_std=cols["loss_given_default_std"],
            guarantee_rate=cols["guarantee_rate"],
            cap_cents=np.array(cols["cap_cents"], dtype=np.int64),
            deductible_cents=np.array(cols["deductible_cents"], dtype=np.int64),
            fee_rate=cols["fee_rate"],
            sector=np.array(cols["sector"], dtype=np.int32),
            branch=np.array(cols["branch"], dtype=np.int32),
            counterparty_kind=np.array(cols["counterparty_kind"], dtype=np.int32),
            factor_loadings=np.array(cols["factor_loadings"], dtype=np.float64).reshape(
                n, factor_count or 1),
            cumulative_default_probability=curve,
            sector_names=tuple(sectors) or ("default",),
        )

    def validate(self) -> None:
        """Check every row-level field (not the cross checks against the fund and the
        dependence model, which ``validate_model`` adds); raise InvalidArgument listing all."""
        c = Collector()
        _check_rows(self, c)
        c.raise_if_any()


@dataclass(frozen=True)
class Fund:
    """The risk fund. capital_cents: capital at the start. horizon_years: simulated years.
    portfolio_cap_rate: the fund's total payout is capped at this share of the guaranteed
    volume Σ rate_i·exposure_i (None: no cap), i.e. fund loss = min(portfolio loss, cap).
    annual_fee_income_cents: fee income per year (None: Σ fee_rate_i·exposure_i)."""

    capital_cents: int
    horizon_years: int = 1
    portfolio_cap_rate: float | None = None
    annual_fee_income_cents: int | None = None


@dataclass(frozen=True, eq=False)
class Dependence:
    """The copula of the latent variables. factor_correlation: Σ (F x F) of the systematic
    factors Z; copula ``gaussian`` or ``student_t`` (X_i divided by sqrt(W/ν), W ~ χ²_ν,
    one W per scenario shared by all guarantees).

    Only for ``method="creditriskplus"`` (ignored by every other method):
    ``sector_variances`` (F,) gives the gamma sector variances σ_k² explicitly and
    ``background_variance`` σ_T² the common background of Giese's compound-gamma model
    (sector covariance); when None they are calibrated from the copula (simulate.py,
    ``creditriskplus_parameters``)."""

    factor_correlation: np.ndarray = field(default_factory=lambda: np.ones((1, 1)))
    copula: str = "gaussian"
    degrees_of_freedom: float | None = None
    sector_variances: np.ndarray | None = None
    background_variance: float | None = None

    @classmethod
    def one_factor(cls, copula: str = "gaussian",
                   degrees_of_freedom: float | None = None) -> Dependence:
        """The common single-factor model (loadings √ρ_i on the one factor)."""
        return cls(np.ones((1, 1)), copula, degrees_of_freedom)


def sector_loadings(sector: np.ndarray, loading: np.ndarray | float, factor_count: int
                    ) -> np.ndarray:
    """Loadings (n, F) for the usual sector model: guarantee i loads ``loading`` (√ρ) on
    its own sector's factor only."""
    sector = np.asarray(sector)
    out = np.zeros((sector.shape[0], factor_count))
    out[np.arange(sector.shape[0]), sector] = loading
    return out


def cumulative_pd(portfolio: Portfolio, horizon_years: int) -> np.ndarray:
    """(n, horizon_years) P(default by end of year t+1): the given curve, or from the annual
    PD p as 1 - (1 - p)^t (constant hazard)."""
    if portfolio.cumulative_default_probability is not None:
        return np.ascontiguousarray(portfolio.cumulative_default_probability[:, :horizon_years])
    years = np.arange(1, horizon_years + 1)
    with np.errstate(divide="ignore"):  # a PD of 1: log1p(-1) = -inf, and 1 by year 1
        return -np.expm1(np.log1p(-portfolio.probability_of_default)[:, None]
                         * years[None, :])


def fixed_payout_cents(portfolio: Portfolio) -> np.ndarray:
    """Fund payout per default at the mean LGD: min(cap, rate x max(exposure x LGD -
    deductible, 0)), in cents (float)."""
    exposure = portfolio.exposure_cents.astype(np.float64)
    return np.minimum(portfolio.cap_cents.astype(np.float64), portfolio.guarantee_rate
                      * np.maximum(exposure * portfolio.loss_given_default
                                   - portfolio.deductible_cents, 0.0))


def max_payouts(portfolio: Portfolio) -> np.ndarray:
    """The most each guarantee can pay, in cents (float): the fixed payout, or under a Beta
    LGD (which reaches 1) min(cap, rate x max(exposure - deductible, 0))."""
    exposure = portfolio.exposure_cents.astype(np.float64)
    whole = np.minimum(portfolio.cap_cents.astype(np.float64), portfolio.guarantee_rate
                       * np.maximum(exposure - portfolio.deductible_cents, 0.0))
    return np.where(portfolio.loss_given_default_std > 0, whole, fixed_payout_cents(portfolio))


def expected_payouts(portfolio: Portfolio) -> np.ndarray:
    """E[min(cap, rate·max(exposure·LGD − deductible, 0))] per guarantee, in cents: the
    fixed payout, or for Beta LGD X the closed form rE(E[(X − d)⁺] − E[(X − h)⁺]) with
    d = D/E, h = (cap/r + D)/E and E[(X − k)⁺] = m(1 − I_k(α+1, β)) − k(1 − I_k(α, β))."""
    out = fixed_payout_cents(portfolio)
    sd = portfolio.loss_given_default_std
    beta = np.flatnonzero(sd > 0)
    if beta.size:
        m, s = portfolio.loss_given_default[beta], sd[beta]
        k = m * (1 - m) / (s * s) - 1
        a, b = m * k, (1 - m) * k
        e = portfolio.exposure_cents[beta].astype(np.float64)
        r = portfolio.guarantee_rate[beta]
        ded = portfolio.deductible_cents[beta].astype(np.float64)
        cap = portfolio.cap_cents[beta].astype(np.float64)
        safe_e = np.where(e > 0, e, 1.0)
        safe_r = np.where(r > 0, r, 1.0)

        def call(x):  # E[(X − x)⁺]
            x = np.clip(x, 0.0, 1.0)
            return m * special.betaincc(a + 1, b, x) - x * special.betaincc(a, b, x)

        d = ded / safe_e
        h = (cap / safe_r + ded) / safe_e
        out[beta] = np.where((e > 0) & (r > 0), r * e * (call(d) - call(h)), 0.0)
    return out


def portfolio_cap_cents(portfolio: Portfolio, fund: Fund) -> int | None:
    """The fund's total payout cap in cents (None: uncapped): cap rate x guaranteed volume."""
    if fund.portfolio_cap_rate is None:
        return None
    volume = int(np.sum(np.round(portfolio.guarantee_rate * portfolio.exposure_cents)))
    return int(np.floor(fund.portfolio_cap_rate * volume))


def annual_fee_income_cents(portfolio: Portfolio, fund: Fund) -> int:
    """Fee income per year in cents: the fund's figure, else Σ fee_rate_i x exposure_i."""
    if fund.annual_fee_income_cents is not None:
        return int(fund.annual_fee_income_cents)
    return int(np.sum(np.round(portfolio.fee_rate * portfolio.exposure_cents)))


def validate_model(portfolio: Portfolio, fund: Fund, dependence: Dependence) -> None:
    """Check the whole request (rows, fund, dependence, and their cross checks: R² ≤ 1 per
    guarantee, curve length = horizon); raise InvalidArgument naming every bad field."""
    if portfolio.size > MAX_GUARANTEES:
        raise ResourceExhausted(f"portfolio has {portfolio.size} guarantees; the bound is "
                                f"MAX_GUARANTEES={MAX_GUARANTEES}")
    c = Collector()
    _check_rows(portfolio, c)
    _check_fund(fund, c)
    sigma_ok = _check_dependence(dependence, portfolio.factor_count, c)
    if portfolio.cumulative_default_probability is not None and _is_int(fund.horizon_years):
        cols = portfolio.cumulative_default_probability.shape[1]
        c.check(cols >= fund.horizon_years, "guarantees.cumulative_default_probability",
                f"curve covers {cols} years; the horizon is {fund.horizon_years}")
    if not c.violations and fund.portfolio_cap_rate is not None \
            and np.any(portfolio.exposure_cents > 0) and portfolio_cap_cents(portfolio, fund) == 0:
        c.add("fund.portfolio_cap_rate",
              f"{fund.portfolio_cap_rate:.6g} of the guaranteed volume is less than a cent: "
              "the fund could pay nothing; leave it out for no portfolio cap")
    if sigma_ok:
        w = portfolio.factor_loadings
        r2 = np.einsum("nf,fg,ng->n", w, dependence.factor_correlation, w)
        flag_rows(c, ~(r2 <= 1.0 + 1e-12), "factor_loadings",
                  lambda i: f"systematic share R² = wᵀΣw = {r2[i]:.6g} exceeds 1")
    c.raise_if_any()


_VALIDATED = object()  # only validated_model builds a ValidatedModel


@dataclass(frozen=True, eq=False)
class ValidatedModel:
    """A portfolio, fund and dependence model that passed ``validate_model``, as
    ``validated_model`` returns it. Every engine entry point that takes (portfolio, fund,
    dependence) also takes one of these in their place (``simulate_portfolio(model,
    seed=...)``) and then checks nothing again; given a plain Portfolio it validates it
    itself. So a caller that must refuse a bad request before starting work (the service,
    when it starts an operation) validates once, early, and hands the model on. It holds
    the caller's arrays, not copies: they must not be changed after validation."""

    portfolio: Portfolio
    fund: Fund
    dependence: Dependence
    _token: object = field(default=None, repr=False)

    def __post_init__(self):
        if self._token is not _VALIDATED:
            raise TypeError("a ValidatedModel comes from validated_model(portfolio, fund, "
                            "dependence)")

    @functools.cached_property
    def two_sided_tail(self) -> str | None:
        """``two_sided_tail(portfolio, dependence)``, computed once (an O(n·F) pass that
        the method choice and the method checks of one run would otherwise repeat)."""
        return two_sided_tail(self.portfolio, self.dependence)


def validated_model(portfolio: Portfolio, fund: Fund, dependence: Dependence
                    ) -> ValidatedModel:
    """``validate_model`` (InvalidArgument naming every bad field), then the three as one
    ValidatedModel that the engine trusts."""
    validate_model(portfolio, fund, dependence)
    return ValidatedModel(portfolio, fund, dependence, _VALIDATED)


def ensure_validated(portfolio: Portfolio | ValidatedModel, fund: Fund | None = None,
                     dependence: Dependence | None = None) -> ValidatedModel:
    """The engine entry points' one check: a ValidatedModel as it is (given alone), else
    ``validated_model(portfolio, fund, dependence)``."""
    if isinstance(portfolio, ValidatedModel):
        if fund is not None or dependence is not None:
            raise TypeError("pass a ValidatedModel alone: it already holds the fund and "
                            "the dependence model")
        return portfolio
    return validated_model(portfolio, fund, dependence)


def two_sided_tail(portfolio: Portfolio, dependence: Dependence,
                   extra_loadings: np.ndarray | None = None) -> str | None:
    """Why the loss tail may lie on more than one side of the factor space, or None.

    Importance sampling shifts the factors one way, and the semi-analytic law refines one
    end of the factor; both need every guarantee's loss to rise in the same factor
    direction. That holds when each factor's loadings share one sign (factor f then
    hurts in direction s_f) and no two factors in use are negatively correlated in those
    directions (s_f s_g Σ_fg ≥ 0). A factor loaded with both signs, or such a negative
    correlation, gives a tail with two sides: one shift or one window misses half of it.
    ``extra_loadings`` (rows of loadings, e.g. an incremental candidate) count too."""
    lam = np.asarray(portfolio.factor_loadings, dtype=np.float64)
    if extra_loadings is not None:
        lam = np.concatenate([lam, np.asarray(extra_loadings, dtype=np.float64)])
    pos, neg = np.any(lam > 0, axis=0), np.any(lam < 0, axis=0)
    mixed = np.flatnonzero(pos & neg)
    if mixed.size:
        return (f"factor {int(mixed[0])} has loadings of both signs, so losses come from both "
                "ends of it (a two-sided tail)")
    sign = np.where(neg, -1.0, 1.0)
    used = pos | neg
    sigma = np.asarray(dependence.factor_correlation, dtype=np.float64)
    bad = used[:, None] & used[None, :] & (sigma * np.outer(sign, sign) < 0)
    if bad.any():
        f, g = (int(x) for x in np.argwhere(bad)[0])
        return (f"factors {f} and {g} are negatively correlated given the signs of their "
                "loadings, so losses come from more than one direction (a two-sided tail)")
    return None


def _check_rows(p: Portfolio, c: Collector) -> None:
    n = p.size
    for name in ("probability_of_default", "loss_given_default", "loss_given_default_std",
                 "guarantee_rate", "fee_rate"):
        arr = getattr(p, name)
        flag_rows(c, ~np.isfinite(arr), name, lambda i: "must be a finite number")
    pd = p.probability_of_default
    flag_rows(c, np.isfinite(pd) & ((pd < 0) | (pd > 1)), "probability_of_default",
              lambda i: f"{pd[i]:.6g} is outside [0, 1]")
    lgd = p.loss_given_default
    flag_rows(c, np.isfinite(lgd) & ((lgd < 0) | (lgd > 1)), "loss_given_default",
              lambda i: f"{lgd[i]:.6g} is outside [0, 1]")
    rate = p.guarantee_rate
    flag_rows(c, np.isfinite(rate) & ((rate <= 0) | (rate > 1)), "guarantee_rate",
              lambda i: f"{rate[i]:.6g} is outside (0, 1]: the share of the loss the fund "
                        "covers (a guarantee that covers nothing is no guarantee)")
    m, sd = p.loss_given_default, p.loss_given_default_std
    with np.errstate(invalid="ignore", over="ignore", divide="ignore", under="ignore"):
        # The Beta's shape parameters are mean·k and (1 - mean)·k, k = mean·(1 - mean)/std²
        # - 1: a std so small that std² underflows (5e-324) or k overflows (below about
        # 1e-154) passed "std² < mean·(1 - mean)" and turned every figure into NaN.
        variance = sd * sd
        beta_ok = (variance > 0) & (variance < m * (1 - m)) \
            & np.isfinite(m * (1 - m) / np.where(variance > 0, variance, 1.0))
        bad_sd = np.isfinite(sd) & ((sd < 0) | ((sd > 0) & ~beta_ok))
    flag_rows(c, bad_sd, "loss_given_default_std",
              lambda i: "must be 0 (fixed LGD) or satisfy 0 < std² < mean·(1 - mean) for a Beta "
                        "LGD, with std² not so small that mean·(1 - mean)/std² overflows "
                        "(a std below about 1e-154: send 0 for a fixed LGD)")
    flag_rows(c, ~(p.fee_rate >= 0) & np.isfinite(p.fee_rate), "fee_rate",
              lambda i: "must not be negative")
    flag_rows(c, np.isfinite(p.fee_rate) & (p.fee_rate > 1), "fee_rate",
              lambda i: "an annual share of the exposure, at most 1")
    for name in _INT_FIELDS:
        arr = getattr(p, name)
        flag_rows(c, arr < 0, name, lambda i: "must not be negative")
        flag_rows(c, arr > MAX_CENTS, name, lambda i: f"at most {MAX_CENTS:,} cents")
    total = float(np.sum(p.exposure_cents, dtype=np.float64))
    c.check(total <= MAX_PORTFOLIO_CENTS, "guarantees",
            f"total exposure {total:.4g} cents is above the bound of {MAX_PORTFOLIO_CENTS:.0e}")
    flag_rows(c, (p.branch < 0) | (p.branch >= len(BRANCHES)), "branch",
              lambda i: f"must be one of {', '.join(BRANCHES)}")
    flag_rows(c, (p.counterparty_kind < 0)
              | (p.counterparty_kind >= len(COUNTERPARTY_KINDS)),
              "counterparty_kind", lambda i: "must be public_unit or company")
    flag_rows(c, (p.sector < 0) | (p.sector >= len(p.sector_names)), "sector",
              lambda i: f"unknown sector code {p.sector[i]}")
    w = p.factor_loadings
    if w.shape[1] > MAX_FACTORS:
        c.add("dependence.factor_correlation", f"at most {MAX_FACTORS} factors")
    flag_rows(c, ~np.isfinite(w).all(axis=1), "factor_loadings",
              lambda i: "must be finite numbers")
    curve = p.cumulative_default_probability
    if curve is not None and n:
        finite = np.isfinite(curve).all(axis=1)
        inside = ((curve >= 0) & (curve <= 1)).all(axis=1)
        rising = (np.diff(curve, axis=1) >= 0).all(axis=1)
        flag_rows(c, ~(finite & inside), "cumulative_default_probability",
                  lambda i: "every point must be a probability in [0, 1]")
        flag_rows(c, finite & inside & ~rising, "cumulative_default_probability",
                  lambda i: "a cumulative default curve must not decrease")


def _check_fund(f: Fund, c: Collector) -> None:
    c.check(_is_int(f.capital_cents) and f.capital_cents >= 0, "fund.capital_cents",
            "required, non-negative integer cents")
    c.check(_is_int(f.horizon_years) and 1 <= f.horizon_years <= MAX_HORIZON_YEARS,
            "fund.horizon_years", f"integer years in [1, {MAX_HORIZON_YEARS}]")
    if f.portfolio_cap_rate is not None:
        r = f.portfolio_cap_rate
        # 0 would cap the fund's payouts at nothing, a riskless fund, and the result's
        # cap of 0 reads "no cap": no cap is an absent rate, never 0.
        c.check(isinstance(r, int | float) and not isinstance(r, bool) and np.isfinite(r)
                and 0 < r <= 1, "fund.portfolio_cap_rate",
                "a share in (0, 1]; leave it out for no portfolio cap (0 would cap the "
                "fund's payouts at nothing)")
    if f.annual_fee_income_cents is not None:
        c.check(_is_int(f.annual_fee_income_cents) and f.annual_fee_income_cents >= 0,
                "fund.annual_fee_income_cents", "non-negative integer cents")


#: A CreditRisk+ gamma variance: 0 (no such factor) or within these. The law takes its
#: reciprocal: a subnormal variance (1e-310) made it overflow and the run crash (NaN to
#: integer: INTERNAL); past the upper one the law's own bound refused it, naming its
#: internal parameters, only once the run had started.
MIN_GAMMA_VARIANCE = 1e-300
MAX_GAMMA_VARIANCE = 1e6


def _variance_ok(v: np.ndarray) -> np.ndarray:
    return np.isfinite(v) & ((v == 0) | ((v >= MIN_GAMMA_VARIANCE)
                                         & (v <= MAX_GAMMA_VARIANCE)))


def _check_dependence(d: Dependence, factor_count: int, c: Collector) -> bool:
    ok = True
    if d.copula not in COPULAS:
        c.add("dependence.copula", f"must be one of {', '.join(COPULAS)}")
    if d.copula == "student_t":
        nu = d.degrees_of_freedom
        c.check(isinstance(nu, int | float) and np.isfinite(nu) and nu > 0,
                "dependence.degrees_of_freedom", "the Student-t copula needs ν > 0")
    if d.sector_variances is not None:
        v = np.asarray(d.sector_variances, dtype=np.float64)
        c.check(v.shape == (factor_count,) and bool(np.all(_variance_ok(v))),
                "dependence.sector_variances",
                f"{factor_count} CreditRisk+ sector variances (one per factor), each 0 or "
                f"in [{MIN_GAMMA_VARIANCE:g}, {MAX_GAMMA_VARIANCE:g}]")
    if d.background_variance is not None:
        b = d.background_variance
        c.check(isinstance(b, int | float) and not isinstance(b, bool)
                and bool(_variance_ok(np.float64(b))), "dependence.background_variance",
                f"0 or a number in [{MIN_GAMMA_VARIANCE:g}, {MAX_GAMMA_VARIANCE:g}]")
    sigma = np.asarray(d.factor_correlation, dtype=np.float64)
    if sigma.shape != (factor_count, factor_count):
        c.add("dependence.factor_correlation",
              f"must be {factor_count}x{factor_count} (one row per factor of the loadings)")
        return False
    if not np.isfinite(sigma).all():
        c.add("dependence.factor_correlation", "must be finite")
        return False
    if not np.allclose(sigma, sigma.T, atol=1e-12, rtol=0):
        c.add("dependence.factor_correlation", "must be symmetric")
        ok = False
    if not np.allclose(np.diag(sigma), 1.0, atol=1e-12, rtol=0):
        c.add("dependence.factor_correlation", "must have ones on the diagonal")
        ok = False
    if ok:
        try:
            np.linalg.cholesky(sigma)
        except np.linalg.LinAlgError:
            c.add("dependence.factor_correlation", "must be positive definite")
            ok = False
    return ok


def flag_rows(c: Collector, bad: np.ndarray, name: str, describe) -> None:
    """A violation on ``guarantees[i].name`` for each row where ``bad`` (``describe(i)``
    says why), the first MAX_VIOLATIONS_PER_FIELD of them and a count of the rest."""
    idx = np.flatnonzero(bad)
    for i in idx[:MAX_VIOLATIONS_PER_FIELD]:
        c.add(f"guarantees[{i}].{name}", describe(int(i)))
    if idx.size > MAX_VIOLATIONS_PER_FIELD:
        c.add(f"guarantees.{name}",
              f"{idx.size - MAX_VIOLATIONS_PER_FIELD} more rows fail the same check")


def _broadcast(c: Collector, name: str, arr: np.ndarray, n: int) -> np.ndarray:
    if arr.ndim == 0:
        return np.full(n, arr, dtype=arr.dtype)
    if arr.shape != (n,):
        c.add(f"guarantees.{name}", f"must have length {n}")
        return np.zeros(n, dtype=arr.dtype)
    return arr


def _is_int(x) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool)
