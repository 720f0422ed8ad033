"""Decision thresholds of a task that has them: given, or chosen per label for its F1 on the validation
split.

Chosen on validation only, never on the eval split: a threshold tuned on the reported split would
make its F1 look better than a user will see. They are chosen on the calibrated probabilities (the
run fits its temperatures first, `scoring.calibration`), which are what the saved model outputs: a
threshold tuned before a temperature would cut each label somewhere else once the temperature is in.
Given thresholds (`eval.thresholds`) apply to the calibrated probabilities too.
"""

from __future__ import annotations

import numpy as np

from runner import registry
from runner.recipe.schema import Recipe

# Candidate thresholds: fine enough to matter for rare labels, coarse enough not to fit noise.
CANDIDATES = np.round(np.arange(0.05, 0.951, 0.05), 2)


def decision_thresholds(
    recipe: Recipe, probabilities: np.ndarray | None, gold: np.ndarray | None
) -> tuple[list[float] | None, str]:
    """(thresholds per label, how they were set); (None, "") for a task without thresholds."""
    cfg = recipe.eval
    if not registry.task(recipe.data.task).has_thresholds:
        return None, ""
    labels = len(recipe.data.labels)
    if cfg.thresholds:
        return [float(t) for t in cfg.thresholds], "eval.thresholds"
    if cfg.tune_thresholds and probabilities is not None and gold is not None:
        return tuned(probabilities, gold), "tuned per label on the validation split"
    return [cfg.threshold] * labels, f"eval.threshold = {cfg.threshold:g}"


def tuned(probabilities: np.ndarray, gold: np.ndarray) -> list[float]:
    """Per label, the candidate with the best F1 on these examples (0.5 where the label never occurs,
    the lowest of equals otherwise)."""
    chosen = []
    for label in range(gold.shape[1]):
        truth = gold[:, label].astype(bool)
        if not truth.any():
            chosen.append(0.5)
            continue
        predicted = probabilities[:, label][None, :] >= CANDIDATES[:, None]
        true_positive = (predicted & truth).sum(1)
        f1 = 2 * true_positive / np.maximum(predicted.sum(1) + truth.sum(), 1)
        chosen.append(float(CANDIDATES[int(np.argmax(f1))]))
    return chosen
