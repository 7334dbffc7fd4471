"""VaR's standard error on coarse books, whose losses sit on a grid of whole payouts (atoms
one unit apart, each holding 5–25 % of the tail at 99.9 %), against their exact law
(tests/risk/portfolio/sector_books.py: quadrature over each sector's factor, convolved over
the independent sectors), not against the engine.

The SE read from the ±σ_p level band alone rounds to whole atoms: with σ_p about one atom's
mass it said half an atom while the estimate was two atoms off (|z| = 4), and under
importance sampling it said 0 for a VaR one atom off (``measure_lattice_var_se``). Over 16
seeds the errors' RMS must be about the mean reported SE and |z| > 3 must be rare; a smooth
book (payouts of 5–60 units) keeps its calibration.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from services.risk.engine.portfolio import BLOCK_SCENARIOS, Fund, simulate_portfolio
from tests.risk.portfolio.sector_books import UNIT, sector_book

LEVELS = (0.99, 0.999)
SEEDS = range(16)
BOOKS = {
    # three sectors, payouts of 1-3 units
    "three": dict(sizes=(100, 100, 100), pds=(0.005, 0.01, 0.02), loadings=(0.5, 0.4, 0.3),
                  units=(1, 3)),
    # equal payouts of one unit
    "three equal": dict(sizes=(80, 80, 80), pds=(0.01,) * 3, loadings=(0.5,) * 3,
                        units=(1, 1)),
    "two equal": dict(sizes=(150, 150), pds=(0.01, 0.02), loadings=(0.5, 0.3), units=(1, 1)),
    "smooth": dict(sizes=(120, 120), pds=(0.01, 0.01), loadings=(0.5, 0.5)),
}


@functools.cache
def _book(name):
    return sector_book(**BOOKS[name])


def _errors(name, method, blocks):
    """{level: (errors, reported SEs)} of VaR in cents over SEEDS."""
    return _book(name).errors_over_seeds("value_at_risk", method, blocks, SEEDS, LEVELS)


def _z(err, se):
    return np.where(se > 0, np.abs(err) / np.where(se > 0, se, 1.0),
                    np.where(err != 0, np.inf, 0.0))


def _check(runs, low, high):
    """|z| > 3 at most once over all runs, and RMS error / mean SE in [low, high] for every
    book and level whose errors are not all 0 (an atom held firmly)."""
    big, ratios = [], []
    for key, by_level in runs.items():
        for level, (err, se) in by_level.items():
            z = _z(err, se)
            big += [(key, level, seed, err[i] / UNIT, se[i] / UNIT)
                    for i, seed in enumerate(SEEDS) if z[i] > 3]
            if np.any(err != 0):
                ratios.append((key, level, math.sqrt(np.mean(err ** 2)) / se.mean()))
    assert len(big) <= 1, f"|z| > 3 (book, level, seed, error, SE in atoms): {big}"
    off = [r for r in ratios if not low <= r[2] <= high]
    assert not off, f"RMS error / mean SE out of [{low}, {high}]: {off}"
    return ratios


@pytest.mark.parametrize("method, configs", [
    ("monte_carlo", (("three", 4), ("three equal", 8))),
    ("importance_sampling", (("three", 4), ("two equal", 16))),
])
def test_var_se_on_a_coarse_book_is_honest(method, configs):
    # Before: plain MC 4 of 64 runs at |z| = 4 (two atoms off, SE half an atom); IS a VaR
    # one atom off with SE 0, and RMS error / SE 1.68 at 99.9 % on the three-sector book.
    runs = {(name, blocks): _errors(name, method, blocks) for name, blocks in configs}
    _check(runs, 0.4, 1.6)


@pytest.mark.parametrize("method", ["monte_carlo", "importance_sampling"])
def test_var_se_on_a_smooth_book_is_unchanged(method):
    # payouts of 5–60 units: many atoms within a standard error, the SE is σ_p/f
    ratios = _check({("smooth", 8): _errors("smooth", method, 8)}, 0.65, 1.35)
    assert len(ratios) == len(LEVELS)


def test_a_var_on_a_shared_atom_is_said_in_the_notes():
    # one sector of 300 one-unit payouts: P(L <= 56 units) = 0.999001, a tie at 99.9 %
    book = sector_book(sizes=(300,), pds=(0.01,), loadings=(0.5,), units=(1, 1))
    r = simulate_portfolio(book.portfolio, Fund(capital_cents=0), book.dependence, seed=3,
                           method="importance_sampling", scenarios=16 * BLOCK_SCENARIOS,
                           levels=LEVELS)
    notes = [x for x in r.notes if x.startswith("VaR 0.999: the loss law is lumpy")]
    assert len(notes) == 1 and "10,000.00 apart" in notes[0], r.notes
    assert r.at(0.999).value_at_risk_cents.standard_error >= UNIT / 3
    smooth = simulate_portfolio(_book("smooth").portfolio, Fund(capital_cents=0),
                                _book("smooth").dependence, seed=3,
                                method="importance_sampling",
                                scenarios=8 * BLOCK_SCENARIOS, levels=LEVELS)
    assert not any("lumpy" in x for x in smooth.notes)


def test_a_var_at_the_edge_of_the_kept_tail_keeps_its_error(monkeypatch):
    # The leading shift alone (a poor sampler for two sectors, seed 14): the VaR lands on
    # the kept tail's floor, 138 atoms above the exact one, next to a defensive scenario of
    # weight ~16 below it. Reading the estimate's law only above the floor said SE 0.
    from services.risk.engine.portfolio import montecarlo as mc

    original = mc.importance_mixture

    def leading(plan, level):
        shifts, _ = original(plan, level)
        return shifts[:1], np.array([BLOCK_SCENARIOS - mc.DEFENSIVE_SCENARIOS])

    monkeypatch.setattr(mc, "importance_mixture", leading)
    book = sector_book()
    # (without the odds tilt, which the sampler of this case did not have: with it the
    # VaR of seed 14 no longer lands on the floor)
    r = simulate_portfolio(book.portfolio, Fund(capital_cents=0), book.dependence, seed=14,
                           method="importance_sampling", scenarios=8 * BLOCK_SCENARIOS,
                           levels=(0.999,), odds_tilt=False)
    assert not r.tail_sample_complete
    assert r.at(0.999).value_at_risk_cents.standard_error >= UNIT / 3
