"""A probability's standard error when few scenarios fall in the event, against the binomial
law it is drawn from."""

import math

import numpy as np
import pytest

from services.risk.engine.estimate import Estimate, paired_change, proportion

N = 10_000


def test_an_event_no_scenario_saw_reads_zero_with_about_the_rule_of_three():
    # k = 0 of n: the 95 % upper bound is 3/n ("rule of three"); the Wald SE would be 0.
    e = proportion(0.0, 0.0, N)
    assert e.value == 0.0
    assert e.standard_error == pytest.approx(math.sqrt(2.0 * (1 - 2 / N)) / N)
    assert 2.7 / N < 2 * e.standard_error < 3.0 / N


@pytest.mark.parametrize("k", [100, 1_000, 5_000])
def test_many_events_keep_the_binomial_error(k):
    e = proportion(float(k), float(k), N)
    wald = math.sqrt(k / N * (1 - k / N) / N)
    assert e.value == k / N
    assert wald <= e.standard_error <= wald * math.sqrt(1 + 2.0 / k)


def test_an_event_in_every_scenario_reads_one_with_about_the_rule_of_three():
    # n of n is no proof of certainty: a true 1 − 1/n is drawn n times of n in 37 % of runs
    e = proportion(float(N), float(N), N)
    assert e.value == 1.0
    assert e.standard_error == pytest.approx(math.sqrt(2.0 * (1 - 2 / N)) / N)


def test_only_what_the_model_makes_certain_or_impossible_reads_exactly():
    assert proportion(float(N), float(N), N, certain=True) == Estimate(1.0, 0.0)
    assert proportion(0.0, 0.0, N, impossible=True) == Estimate(0.0, 0.0)


@pytest.mark.parametrize("k", [0, 3, 40])
def test_the_floor_is_the_same_on_either_side(k):
    low, high = proportion(float(k), float(k), N), proportion(float(N - k), float(N - k), N)
    assert high.standard_error == pytest.approx(low.standard_error, rel=1e-9)


def test_weighted_events_add_pseudo_events_of_their_typical_weight():
    # ten events of importance weight 0.05: Σw = 0.5, Σw² = 0.025, typical weight 0.05; the
    # floor is the sample's variance with two more such events
    e = proportion(0.5, 0.025, N)
    p = 0.5 / N
    floor = ((0.025 + 2 * 0.05 * 0.05) / N - (p + 2 * 0.05 / N) ** 2) / N
    assert e.value == p
    assert e.standard_error == pytest.approx(math.sqrt(floor))
    assert e.standard_error > math.sqrt((0.025 / N - p * p) / N)


@pytest.mark.parametrize("q", [0.5, 0.2])
def test_an_importance_sampled_event_keeps_its_sampling_error(q):
    # P(A) = 1e-3 sampled with probability q, weight P(A)/q: the estimator's SE is
    # P(A)·√((1/q − 1)/n) exactly. Thousands of events leave nothing to the floor; it was
    # Σw²(1 − p)/n², which keeps the weights' own p·w̄ where the variance has p²: with
    # w̄ = 2P(A) (q = 1/2) it read √2 times the error.
    prob = 1e-3
    exact = prob * math.sqrt((1 / q - 1) / N)
    for k in np.random.default_rng(7).binomial(N, q, 20):
        w = prob / q
        e = proportion(k * w, k * w * w, N)
        assert e.standard_error == pytest.approx(exact, rel=0.04), (k, e.standard_error / exact)


@pytest.mark.parametrize("expected_events", [0.5, 3.0, 10.0])
def test_few_events_stay_within_three_standard_errors(expected_events):
    # Binomial(n, p) counts with n p = 0.5, 3, 10: the Wald SE misses the truth by more than
    # 3 SE whenever no event was drawn (|z| = ∞), e^{-np} of the time (5 % at np = 3); with
    # the floor, at most ~1 % of the draws do (a normal: 0.27 %).
    p = expected_events / N
    counts = np.random.default_rng(20261129).binomial(N, p, 20_000)
    se = np.array([proportion(float(k), float(k), N).standard_error for k in counts])
    wald = np.sqrt(counts / N * (1 - counts / N) / N)
    error = np.abs(counts / N - p)
    assert np.all(se > 0)
    assert np.mean(error > 3 * se) <= 0.012
    if expected_events <= 3:
        with np.errstate(divide="ignore", invalid="ignore"):
            assert np.mean(~(error <= 3 * wald)) >= 0.04


@pytest.mark.parametrize("expected_non_events", [0.5, 3.0, 10.0])
def test_near_certain_events_stay_within_three_standard_errors(expected_non_events):
    # The mirror image: P = 1 − 0.5/n, 1 − 3/n, 1 − 10/n. Without the floor on the high side
    # a run in which every scenario fell in the event read 1 ± 0 (e^{-n(1-p)} of the runs).
    p = 1.0 - expected_non_events / N
    counts = np.random.default_rng(20261130).binomial(N, p, 20_000)
    se = np.array([proportion(float(k), float(k), N).standard_error for k in counts])
    error = np.abs(counts / N - p)
    assert np.all(se > 0)
    assert np.mean(error > 3 * se) <= 0.012


def test_a_change_no_scenario_showed_reads_zero_with_about_the_rule_of_three():
    e = paired_change(0.0, 0.0, 0.0, N)
    assert (e.value, e.standard_error) == (0.0, pytest.approx(math.sqrt(2.0) / N))


def test_a_change_of_many_scenarios_keeps_its_paired_error():
    # 300 scenarios up, 100 down, weight 1: the paired SE, with two more that differ
    change = 200 / N
    e = paired_change(200.0, 400.0, 400.0, N)
    sample = math.sqrt((400 / N - change ** 2) / N)
    assert e.value == change
    assert e.standard_error == pytest.approx(math.sqrt((402 / N - change ** 2) / N))
    assert sample < e.standard_error < sample * 1.003
