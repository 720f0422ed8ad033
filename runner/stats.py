"""Small, exact statistics: a confidence interval for accuracy and McNemar's test for two runs."""

from __future__ import annotations

import math

Z_95 = 1.959963984540054


def wilson_interval(correct: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """95% Wilson score interval for a proportion; sound near 0 and 1, unlike the normal approximation."""
    if total == 0:
        return (0.0, 1.0)
    p = correct / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def mcnemar_p_value(only_a_right: int, only_b_right: int) -> float:
    """Exact two-sided McNemar test: the discordant pairs under H0 are Binomial(n, 1/2)."""
    n = only_a_right + only_b_right
    if n == 0:
        return 1.0
    k = min(only_a_right, only_b_right)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)
