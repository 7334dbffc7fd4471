"""The correlation report gives the rank correlation a risk event's occurrence realises,
not the requested one: a Bernoulli reaches at most √(3p(1 − p)) against a continuous input."""

import math

import numpy as np
import pytest
from scipy import special, stats

from services.risk.engine.procurement import (
    CorrelationBlock,
    CostDistribution,
    CostItem,
    DistributionKind,
    NoveltyLevel,
    ProcurementKind,
    ProcurementModel,
    RiskEvent,
)
from services.risk.engine.procurement.correlation import (
    indicator_rank_correlation,
    spearman_to_pearson,
)
from services.risk.engine.procurement.plan import compile_model
from services.risk.engine.procurement.simulation import _Sampler

K = DistributionKind


@pytest.mark.parametrize("p", [0.5, 0.1, 0.02, 0.9])
def test_closed_form_ceiling_and_zero(p):
    assert indicator_rank_correlation(1.0, p) == pytest.approx(math.sqrt(3 * p * (1 - p)),
                                                               rel=1e-9)
    assert indicator_rank_correlation(-1.0, p) == pytest.approx(-math.sqrt(3 * p * (1 - p)),
                                                                rel=1e-9)
    assert indicator_rank_correlation(0.0, p) == pytest.approx(0.0, abs=1e-12)
    assert indicator_rank_correlation(1.0, p, p) == pytest.approx(1.0, rel=1e-12)
    assert indicator_rank_correlation(0.5, 0.0) == 0.0


def test_closed_form_matches_sampled_spearman():
    rng = np.random.default_rng(0)
    n = 400_000
    for r, p, q in [(0.8, 0.1, None), (0.5, 0.3, None), (-0.6, 0.05, None),
                    (0.7, 0.2, 0.4), (-0.4, 0.1, 0.5)]:
        z1 = rng.standard_normal(n)
        z2 = r * z1 + math.sqrt(1 - r * r) * rng.standard_normal(n)
        b = z1 > special.ndtri(1 - p)
        other = z2 if q is None else (z2 > special.ndtri(1 - q))
        sampled = stats.spearmanr(b, other).statistic
        assert indicator_rank_correlation(r, p, q) == pytest.approx(sampled, abs=0.006)


def _model(p, rho=0.8):
    items = (CostItem("c", CostDistribution(K.UNIFORM, minimum_cents=0, maximum_cents=1000)),
             CostItem("d", CostDistribution(K.UNIFORM, minimum_cents=0, maximum_cents=1000)))
    ev = (RiskEvent("e", p, CostDistribution(K.FIXED, mode_cents=100)),)
    corr = (CorrelationBlock(("c", "d", "e"), (1, 0.5, rho, 0.5, 1, 0.0, rho, 0.0, 1)),)
    return ProcurementModel(ProcurementKind.NEW_PRODUCT_OR_SERVICE, NoveltyLevel.NEW_TO_SECTOR,
                            items, 1, risk_events=ev, correlations=corr)


@pytest.mark.parametrize("p", [0.5, 0.1, 0.02])
def test_report_gives_the_realised_rank_correlation_of_an_occurrence(p):
    plan = compile_model(_model(p))
    rep = plan.correlation_report
    m = np.array(rep.rank_correlations).reshape(3, 3)
    expected = indicator_rank_correlation(float(spearman_to_pearson(np.array(0.8))), p)
    assert m[0, 2] == m[2, 0] == pytest.approx(expected, rel=1e-12)
    assert m[0, 2] < 0.8 and m[0, 2] <= math.sqrt(3 * p * (1 - p))  # below the request
    assert m[0, 1] == pytest.approx(0.5, abs=1e-12)  # continuous pair: as requested
    assert not rep.repaired and rep.max_abs_change == 0.0
    # ... and it is what the sampler realises
    values, impact, _, _, _ = _Sampler(plan).chunk(1, 0, 50, 50 * 4096)
    sampled = stats.spearmanr(values[0], impact[0] > 0).statistic
    assert m[0, 2] == pytest.approx(sampled, abs=0.01)
