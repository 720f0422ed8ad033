"""Statistics: the exact McNemar test agrees with the binomial sum and stays fast on large eval sets."""

from __future__ import annotations

import math
import time

import pytest

from runner.scoring.stats import mcnemar_p_value


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
