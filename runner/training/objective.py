"""What the head is trained to output for `data.task`, the loss that trains it, and how its outputs
become predictions.

`single_label`: one logit per label, cross-entropy, softmax, the most probable label.
`multi_label`: one logit per label, binary cross-entropy, a sigmoid per label, every label at or above
its threshold. `regression`: one output, mean-squared error on targets standardised with the train
split's mean and deviation, so that the learning rates that suit classification suit it too; after
training the head's last layer is rescaled (`fold_scale`), so the saved model outputs the raw value.
`train.class_weights` weights the classes (the positives of each label, for multi_label).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from runner.recipe.schema import Recipe


@dataclass
class Objective:
    task: str
    num_labels: int
    class_weights: list[float] | None = None  # per class (single_label) or positive weight per label
    target_mean: float = 0.0  # regression: what standardising subtracts ...
    target_std: float = 1.0  # ... and divides by

    def targets(self, labels: Sequence[Any]) -> np.ndarray:
        """Training targets as the loss reads them: ids, 0/1 rows, or standardised values."""
        if self.task == "multi_label":
            return self.gold(labels).astype(np.float32)
        if self.task == "regression":
            return ((np.asarray(labels, dtype=np.float64) - self.target_mean) / self.target_std).astype(
                np.float32
            )
        return np.asarray(labels, dtype=np.int64)

    def gold(self, labels: Sequence[Any]) -> np.ndarray:
        """What the metrics compare predictions with: ids, a bool row per example, or the values."""
        if self.task == "multi_label":
            rows = np.zeros((len(labels), self.num_labels), dtype=bool)
            for i, row in enumerate(labels):
                rows[i, list(row)] = True
            return rows
        if self.task == "regression":
            return np.asarray(labels, dtype=np.float64)
        return np.asarray(labels, dtype=np.int64)

    def loss_function(self) -> nn.Module:
        weights = None if self.class_weights is None else torch.tensor(self.class_weights)
        if self.task == "multi_label":
            return nn.BCEWithLogitsLoss(pos_weight=weights)
        if self.task == "regression":
            return _SquaredError()
        return nn.CrossEntropyLoss(weight=weights)

    def outputs(self, logits: torch.Tensor) -> torch.Tensor:
        """Probabilities per label, or the predicted value (as the head outputs it)."""
        if self.task == "multi_label":
            return logits.float().sigmoid()
        if self.task == "regression":
            return logits.float().squeeze(-1)
        return logits.float().softmax(-1)

    def decide(self, outputs: torch.Tensor, thresholds: Sequence[float] | None = None) -> np.ndarray:
        """Predictions in the shape of `gold`: the best label, the labels over threshold, the value."""
        if self.task == "multi_label":
            limits = torch.tensor(list(thresholds) if thresholds else [0.5] * self.num_labels)
            return (outputs >= limits).numpy()
        if self.task == "regression":
            return outputs.double().reshape(-1).numpy()  # (n,) or a model's (n, 1) alike
        return outputs.argmax(-1).numpy()

    def fold_scale(self, head: nn.Module) -> None:
        """Regression: make the head output raw values (last layer times the deviation, plus the mean)."""
        if self.task != "regression" or (self.target_mean == 0.0 and self.target_std == 1.0):
            return
        last = [m for m in head.modules() if isinstance(m, nn.Linear)][-1]
        with torch.no_grad():
            last.weight.mul_(self.target_std)
            last.bias.mul_(self.target_std).add_(self.target_mean)
        self.target_mean, self.target_std = 0.0, 1.0

    def description(self) -> dict[str, Any]:
        """What metrics.json records of the objective."""
        return {"task": self.task, "class_weights": self.class_weights}


class _SquaredError(nn.Module):
    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(output.squeeze(-1), target)


def objective_for(recipe: Recipe, train_labels: Sequence[Any]) -> Objective:
    """The recipe's objective, with weights and scale measured on the train split."""
    task, names = recipe.data.task, recipe.data.labels
    if task == "regression":
        values = [float(v) for v in train_labels]
        std = statistics.pstdev(values) if len(values) > 1 else 0.0
        return Objective(task, 1, None, statistics.fmean(values), std or 1.0)
    objective = Objective(task, len(names))
    weights = recipe.train.class_weights
    if isinstance(weights, list):
        objective.class_weights = [float(w) for w in weights]
    elif weights == "balanced":
        objective.class_weights = balanced_weights(objective, train_labels)
    return objective


def balanced_weights(objective: Objective, labels: Sequence[Any]) -> list[float]:
    """single_label: n / (classes x count) per class (scikit-learn's `balanced`); multi_label: negatives
    over positives per label (`pos_weight`). A class with no train example gets weight 1."""
    gold = objective.gold(labels)
    n = len(labels)
    if objective.task == "multi_label":
        positives = gold.sum(axis=0)
        return [float((n - p) / p) if p else 1.0 for p in positives.tolist()]
    counts = np.bincount(gold, minlength=objective.num_labels)
    return [float(n / (objective.num_labels * c)) if c else 1.0 for c in counts.tolist()]
