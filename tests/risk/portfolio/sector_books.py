"""Books of independent homogeneous-loading sectors (finite pools, fixed integer payouts)
whose loss law is known exactly (``exact_laws.independent_sectors_lattice_pmf``): the
reference of the importance sampler's mixture of shifts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.risk.engine.portfolio import (
    BLOCK_SCENARIOS,
    Dependence,
    Fund,
    Portfolio,
    sector_loadings,
    simulate_portfolio,
)
from tests.risk.portfolio.exact_laws import (
    independent_sectors_lattice_pmf,
    tail_probability_of_lattice,
    var_es_of_lattice,
)

UNIT = 1_000_000  # cents per payout unit


@dataclass(frozen=True)
class SectorBook:
    portfolio: Portfolio
    dependence: Dependence
    law: np.ndarray  # P(L = k units)
    sector_laws: tuple[np.ndarray, ...]  # P(L_s = k units), sector by sector

    def exact(self, level: float) -> tuple[float, float, float]:
        """Exact VaR and ES (cents) at ``level`` and P(L > VaR)."""
        var, es = var_es_of_lattice(self.law, level, 1.0)
        return var * UNIT, es * UNIT, tail_probability_of_lattice(self.law, var)

    def errors_over_seeds(self, figure: str, method: str, blocks: int, seeds, levels
                          ) -> dict[float, tuple[np.ndarray, np.ndarray]]:
        """{level: (errors, reported SEs)} in cents of ``figure`` (``value_at_risk`` or
        ``expected_shortfall``) against the exact law, one run per seed."""
        column = ("value_at_risk", "expected_shortfall").index(figure)
        out = {level: ([], []) for level in levels}
        for seed in seeds:
            result = simulate_portfolio(self.portfolio, Fund(capital_cents=0),
                                        self.dependence, seed=seed, method=method,
                                        scenarios=blocks * BLOCK_SCENARIOS, levels=levels)
            for level in levels:
                estimate = getattr(result.at(level), f"{figure}_cents")
                out[level][0].append(estimate.value - self.exact(level)[column])
                out[level][1].append(estimate.standard_error)
        return {level: (np.array(e), np.array(s)) for level, (e, s) in out.items()}

    def sector_es_contribution(self, sector: int, level: float) -> float:
        """Exact Euler ES contribution (cents) of ``sector`` at ``level`` (Acerbi–Tasche: the
        losses above VaR and the share (F(VaR) − α)/P(L = VaR) of the atom at VaR) from
        E[L_s; L = x] = Σ_a a P(L_s = a) P(L − L_s = x − a), the sectors being independent."""
        own = self.sector_laws[sector]
        rest = np.ones(1)
        for k, other in enumerate(self.sector_laws):
            if k != sector:
                rest = np.convolve(rest, other)
        joint = np.convolve(np.arange(own.size) * own, rest)  # E[L_s; L = x] in units
        var = round(self.exact(level)[0] / UNIT)
        cdf = np.cumsum(self.law)
        atom = (cdf[var] - level) / self.law[var]
        return float(joint[var + 1:].sum() + atom * joint[var]) / (1 - level) * UNIT

    def with_candidate(self, sector: int, units: int) -> tuple[Portfolio, SectorBook]:
        """A candidate guarantee of ``units`` whole payouts in ``sector`` (its PD and its
        loading), and the book with it added. Given the factors the candidate defaults
        independently of the rest with the sector's conditional PD, so the book with it is
        again a book of independent sectors and its law is exact: ``sector``'s own law with
        one more band, convolved with the other sectors' (``incremental_risk`` draws the
        candidate on its own stream given the same factors, the same model)."""
        p = self.portfolio
        rows = np.flatnonzero(p.sector == sector)
        pd, loading = float(p.probability_of_default[rows[0]]), p.factor_loadings[rows[0]]
        candidate = Portfolio.from_arrays(
            exposure_cents=np.array([units * UNIT], np.int64), probability_of_default=pd,
            loss_given_default=1.0, factor_loadings=loading[None, :],
            sector=np.array([sector]), sector_names=p.sector_names)
        bands = np.r_[p.exposure_cents[rows] // UNIT, units]
        laws = list(self.sector_laws)
        laws[sector] = independent_sectors_lattice_pmf(
            [(bands, pd, float(loading[sector]))], panels=16, nodes_per_panel=12)
        law = np.ones(1)
        for one in laws:
            law = np.convolve(law, one)
        after = Portfolio.from_arrays(
            exposure_cents=np.r_[p.exposure_cents, units * UNIT],
            probability_of_default=np.r_[p.probability_of_default, pd],
            loss_given_default=1.0, factor_loadings=np.vstack([p.factor_loadings, loading]),
            sector=np.r_[p.sector, sector], sector_names=p.sector_names)
        return candidate, SectorBook(after, self.dependence, law / law.sum(), tuple(laws))


def sector_book(sizes=(120, 120), pds=(0.01, 0.01), loadings=(0.5, 0.5), seed=0,
                units=(5, 60)) -> SectorBook:
    """Sectors k of ``sizes[k]`` guarantees with PD ``pds[k]``, each loading ``loadings[k]``
    on its own independent factor; payouts of units[0]..units[1] units (seeded), so that
    the law's atoms are fine against the figures' standard errors."""
    rng = np.random.default_rng(seed)
    bands = [rng.integers(units[0], units[1] + 1, n) for n in sizes]
    sector = np.concatenate([np.full(n, k) for k, n in enumerate(sizes)])
    f = len(sizes)
    portfolio = Portfolio.from_arrays(
        exposure_cents=np.concatenate(bands).astype(np.int64) * UNIT,
        probability_of_default=np.concatenate([np.full(n, p) for n, p in zip(sizes, pds,
                                                                            strict=True)]),
        loss_given_default=1.0,
        factor_loadings=sector_loadings(sector, np.asarray(loadings)[sector], f),
        sector=sector, sector_names=tuple(f"s{k}" for k in range(f)))
    # 192 quadrature nodes: the law's CDF agrees with 960 nodes' to 2e-15
    laws = tuple(independent_sectors_lattice_pmf([(b, p, w)], panels=16, nodes_per_panel=12)
                 for b, p, w in zip(bands, pds, loadings, strict=True))
    law = np.ones(1)
    for one in laws:
        law = np.convolve(law, one)
    return SectorBook(portfolio, Dependence(np.eye(f)), law / law.sum(), laws)
