"""Calibration arithmetic: temperatures fitted by negative log-likelihood, expected calibration error,
the Brier score and a reliability diagram's bins. Pure functions on numpy arrays, called by the tasks
that calibrate (`Task.fit_temperatures`, `Task.calibration_scores`); numpy and scipy load inside them.

Temperature scaling (Guo et al., 2017) divides the logits by one positive number fitted on held-out
examples: it changes how sure the probabilities are, never which label is most probable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# Temperatures searched, on a log scale: from 100 times sharper to 100 times flatter.
LOG_T_BOUNDS = (-4.6, 4.6)


def _fitted(nll: Any) -> float:
    """The temperature whose log minimises `nll(T)` within the bounds (bounded Brent search)."""
    import math

    from scipy.optimize import minimize_scalar

    found = minimize_scalar(lambda log_t: nll(math.exp(log_t)), bounds=LOG_T_BOUNDS, method="bounded")
    return float(math.exp(found.x))


def softmax_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """One temperature for all classes: the mean cross-entropy of softmax(logits / T) at its minimum."""
    import numpy as np

    z = np.asarray(logits, dtype=np.float64)
    rows = np.arange(len(z))

    def nll(t: float) -> float:
        scaled = z / t
        top = scaled.max(axis=1, keepdims=True)
        log_norm = top[:, 0] + np.log(np.exp(scaled - top).sum(axis=1))
        return float(np.mean(log_norm - scaled[rows, labels]))

    return _fitted(nll)


def sigmoid_temperatures(logits: np.ndarray, flags: np.ndarray) -> list[float]:
    """One temperature per label: each label's sigmoid is its own binary classifier, with its own
    base rate and its own over- or under-confidence, so one shared number would flatten a well
    calibrated label to sharpen a poor one. A label whose examples are all one way (nothing to
    calibrate against) keeps 1."""
    import numpy as np

    z, y = np.asarray(logits, dtype=np.float64), np.asarray(flags, dtype=np.float64)
    found = []
    for label in range(z.shape[1]):
        column, truth = z[:, label], y[:, label]
        if truth.min() == truth.max():
            found.append(1.0)
            continue

        def nll(t: float, column: np.ndarray = column, truth: np.ndarray = truth) -> float:
            scaled = column / t  # binary cross-entropy with logits, in its stable form
            return float(np.mean(np.maximum(scaled, 0) - scaled * truth + np.log1p(np.exp(-np.abs(scaled)))))

        found.append(_fitted(nll))
    return found


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, bins: int) -> list[dict[str, Any]]:
    """Equal-width bins of [0, 1] (the last one closed): each bin's count, mean confidence and share
    correct; empty bins are kept (count 0, no means) so every diagram has the same bins."""
    import numpy as np

    confidence, correct = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    found = []
    for b in range(bins):
        inside = index == b
        count = int(inside.sum())
        found.append(
            {
                "low": b / bins,
                "high": (b + 1) / bins,
                "count": count,
                "confidence": float(confidence[inside].mean()) if count else None,
                "accuracy": float(correct[inside].mean()) if count else None,
            }
        )
    return found


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int) -> float:
    """Σ over bins of (share of points in the bin) × |share correct − mean confidence|."""
    table = reliability_bins(confidence, correct, bins)
    total = sum(row["count"] for row in table)
    if not total:
        return 0.0
    return float(
        sum(row["count"] / total * abs(row["accuracy"] - row["confidence"]) for row in table if row["count"])
    )


def brier_score(probabilities: np.ndarray, targets: np.ndarray, per_label: bool) -> float:
    """Squared distance of the probabilities from the 0/1 answers: summed over classes and averaged over
    examples (Brier's multi-class score, 0 best, 2 worst), or with `per_label` averaged over every label
    of every example (0 best, 1 worst)."""
    import numpy as np

    squared = (np.asarray(probabilities, dtype=np.float64) - np.asarray(targets, dtype=np.float64)) ** 2
    if not squared.size:
        return 0.0
    return float(squared.mean()) if per_label else float(squared.sum(axis=1).mean())
