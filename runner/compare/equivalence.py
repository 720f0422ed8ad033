"""Is a method as good as the best one, better or worse, by a difference that matters (the margin)?

The difference is a method's test score minus the best method's, averaged over the training seeds
both ran (paired by seed: the same seed's runs share data order and initialisation). Its 95% interval
comes from a hierarchical bootstrap (Bouthillier et al., "Accounting for variance in machine learning
benchmarks", 2021; Davison & Hinkley §3.8): each of 1000 draws resamples the test examples (the same
draw for every run, since every run answered the same examples) and, with two or more seeds, the seed
pairs; the draw's difference is the mean over its seed pairs of the metric's difference on its
examples. The percentile interval of the draws covers both sources of variation: which examples were
tested and which seed trained. With one seed it covers the examples only, and says so.

The interval is read against the margin m (the two one-sided tests' rule, read as CI inclusion, at
2.5% each side):

- **equivalent**: the whole interval lies within (-m, +m): any difference is smaller than what
  matters, even one the interval shows to be real;
- **better**: not equivalent, and the whole interval above 0;
- **worse**: not equivalent, and the whole interval below 0;
- **inconclusive**: the interval holds 0 and reaches past a margin: more seeds or test data needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from runner.tasks.stats import Statistic

RESAMPLES = 1000
EQUIVALENT, BETTER, WORSE, INCONCLUSIVE = "equivalent", "better", "worse", "inconclusive"


@dataclass(frozen=True)
class Difference:
    estimate: float  # mean over seed pairs of (method − best) on every test example
    low: float  # 95% interval
    high: float
    seeds: int  # seed pairs
    examples: int


def hierarchical_difference(
    pairs: Sequence[tuple[Statistic, Statistic]], n: int, resamples: int = RESAMPLES, seed: int = 0
) -> Difference:
    """The difference a − b, one (a, b) pair of statistics per shared seed, over `n` shared examples."""
    if not pairs or n == 0:
        raise ValueError("no seed pair or no shared example to compare")
    every, draws = np.arange(n), example_draws(n, resamples, seed)
    estimates = [a(every) - b(every) for a, b in pairs]
    per_pair = np.array([[a(draw) - b(draw) for draw in draws] for a, b in pairs])
    return combined(estimates, per_pair, n, seed)


def example_draws(n: int, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """The resamples of `n` test examples, resamples x n indices: one set for every run of a group."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def combined(estimates: Sequence[float], per_pair: np.ndarray, n: int, seed: int = 0) -> Difference:
    """The seed pairs' differences (`estimates` on every example; `per_pair`, pairs x resamples, on each
    draw of examples) combined: each draw resamples the seed pairs too."""
    k, resamples = per_pair.shape
    rng = np.random.default_rng([seed, 1])  # apart from the examples' generator
    chosen = rng.integers(0, k, size=(resamples, k)) if k > 1 else np.zeros((resamples, 1), int)
    draws = per_pair[chosen, np.arange(resamples)[:, None]].mean(axis=1)
    low, high = np.percentile(draws, [2.5, 97.5])
    return Difference(float(np.mean(estimates)), float(low), float(high), k, n)


def reading(difference: Difference, margin: float) -> str:
    """equivalent, better, worse or inconclusive, by the rule in the module's docstring."""
    if -margin < difference.low and difference.high < margin:
        return EQUIVALENT
    if difference.low > 0:
        return BETTER
    if difference.high < 0:
        return WORSE
    return INCONCLUSIVE
