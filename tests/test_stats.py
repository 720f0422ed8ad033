"""Statistics: the exact McNemar test agrees with the binomial sum and stays fast on large eval sets; the
paired bootstrap agrees with the normal approximation where that is known to hold."""

from __future__ import annotations

import math
import time
from statistics import NormalDist

import numpy as np
import pytest

from runner.tasks.stats import (
    Z_95,
    bootstrap_interval,
    mcnemar_p_value,
    paired_bootstrap,
    resample_indices,
    wilson_interval,
)


def exact_by_sum(a: int, b: int) -> float:
    n, k = a + b, min(a, b)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)


@pytest.mark.parametrize("a, b", [(0, 0), (1, 0), (5, 5), (3, 12), (40, 61), (200, 150)])
def test_mcnemar_equals_the_exact_binomial_sum(a, b):
    assert mcnemar_p_value(a, b) == pytest.approx(exact_by_sum(a, b), rel=1e-9, abs=1e-300)


def test_mcnemar_on_twenty_thousand_discordant_pairs_takes_well_under_a_second():
    started = time.perf_counter()
    p = mcnemar_p_value(9_900, 10_100)
    assert time.perf_counter() - started < 1.0 and 0.1 < p < 0.2


# --- the bootstrap ---------------------------------------------------------------------------------


def paired_correctness(only_a: int, only_b: int, both: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-example correctness of two systems on the same examples, with these discordant counts."""
    a = np.array([1] * only_a + [0] * only_b + [1] * both + [0] * neither, dtype=float)
    b = np.array([0] * only_a + [1] * only_b + [1] * both + [0] * neither, dtype=float)
    return a, b


def accuracy_of(correct: np.ndarray):
    return lambda indices: float(correct[indices].mean())


def test_the_paired_bootstrap_agrees_with_the_normal_approximation_of_the_paired_difference():
    # n = 2000, a right alone on 110, b on 90: d = 0.01. The per-example differences are +1, -1 or 0,
    # so sd² = 200/2000 - d² and z = d / (sd/√n) = 1.415. The shift method's p counts |d* - d| >= |d|
    # inclusively, and d* moves in steps of 1/n: the matching normal p takes the continuity correction
    # (|d| - 1/2n), giving 0.168 (McNemar's exact p is 0.179, the uncorrected normal 0.157).
    a, b = paired_correctness(only_a=110, only_b=90, both=1500, neither=300)
    n, d = len(a), 0.01
    se = math.sqrt((200 / n - d * d) / n)
    expected_p = 2 * NormalDist().cdf(-(d - 0.5 / n) / se)
    result = paired_bootstrap(accuracy_of(a), accuracy_of(b), n, resamples=10_000)
    assert result["difference"] == pytest.approx(d)
    # With 10,000 resamples the Monte Carlo error of p is sqrt(p(1-p)/B) = 0.0037: 0.012 is 3 of them.
    assert result["p_value"] == pytest.approx(expected_p, abs=0.012)
    # The percentile interval's ends: Monte Carlo error ~0.0002 at 10,000 resamples, and the
    # difference lives on a grid of 1/n = 0.0005, so two grid steps of tolerance.
    low, high = result["ci95"]
    assert low == pytest.approx(d - Z_95 * se, abs=0.001) and high == pytest.approx(d + Z_95 * se, abs=0.001)


def test_the_paired_bootstrap_of_identical_systems_is_a_zero_difference_with_p_1():
    a, _ = paired_correctness(only_a=0, only_b=0, both=700, neither=300)
    result = paired_bootstrap(accuracy_of(a), accuracy_of(a.copy()), len(a))
    assert result == {"difference": 0.0, "ci95": [0.0, 0.0], "p_value": 1.0}


def test_the_paired_bootstrap_finds_clearly_different_systems_significant():
    a, b = paired_correctness(only_a=200, only_b=50, both=1450, neither=300)
    result = paired_bootstrap(accuracy_of(a), accuracy_of(b), len(a))
    assert result["p_value"] < 0.01 and result["ci95"][0] > 0
    flipped = paired_bootstrap(accuracy_of(b), accuracy_of(a), len(a))
    assert flipped["difference"] == pytest.approx(-result["difference"]) and flipped["ci95"][1] < 0


def test_a_bootstrap_interval_of_accuracy_agrees_with_wilson_on_two_thousand_examples():
    correct = np.array([1.0] * 1600 + [0.0] * 400)
    low, high = bootstrap_interval(accuracy_of(correct), len(correct))
    wilson_low, wilson_high = wilson_interval(1600, 2000)
    # Both are ±1.96·0.0089 around 0.8 here; 1000 resamples put the ends within ~0.001 of the truth.
    assert low == pytest.approx(wilson_low, abs=0.002) and high == pytest.approx(wilson_high, abs=0.002)


def test_the_same_seed_draws_the_same_resamples_and_another_seed_others():
    def draws(seed: int) -> np.ndarray:
        return np.array(list(resample_indices(50, 20, seed=seed)))

    assert draws(3).shape == (20, 50) and (draws(3) == draws(3)).all() and (draws(3) != draws(4)).any()
    statistic = accuracy_of(np.arange(50) % 3 == 0)
    assert bootstrap_interval(statistic, 50, seed=1) == bootstrap_interval(statistic, 50, seed=1)
