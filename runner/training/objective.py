"""What the head is trained on for `data.task` and how its outputs become predictions: the task's own
rules (`runner.tasks`) with what was measured on this run's train split, the class weights and, for a
task that standardises its targets, their mean and deviation. After training the head's last layer is
rescaled (`fold_scale`), so the saved model outputs raw values.
`train.class_weights` weights the classes (the positives of each label, where a text has several).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from runner import registry
from runner.recipe.schema import Recipe
from runner.tasks.base import Task


@dataclass
class Objective:
    task: str
    num_labels: int
    class_weights: list[float] | None = None  # per class, or a positive weight per label
    target_mean: float = 0.0  # a standardising task: what standardising subtracts ...
    target_std: float = 1.0  # ... and divides by

    @property
    def task_type(self) -> Task:
        return registry.task(self.task)  # type: ignore[no-any-return]

    def targets(self, labels: Sequence[Any]) -> np.ndarray:
        """Training targets as the loss reads them: ids, 0/1 rows, or standardised values."""
        return self.task_type.train_targets(labels, self.num_labels, self.target_mean, self.target_std)

    def gold(self, labels: Sequence[Any]) -> np.ndarray:
        """What the metrics compare predictions with: ids, a bool row per example, or the values."""
        return self.task_type.gold(labels, self.num_labels)

    def loss_function(self) -> nn.Module:
        return self.task_type.loss(self.class_weights)

    def outputs(self, logits: torch.Tensor) -> torch.Tensor:
        """Probabilities per label, or the predicted value (as the head outputs it), in float32."""
        return self.task_type.outputs(logits)

    def decide(self, outputs: torch.Tensor, thresholds: Sequence[float] | None = None) -> np.ndarray:
        """Predictions in the shape of `gold`: the best label, the labels over threshold, the value."""
        return self.task_type.decide(outputs, thresholds, self.num_labels)

    def fold_scale(self, head: nn.Module) -> None:
        """Make a head trained on standardised targets output raw values (last layer times the
        deviation, plus the mean)."""
        if self.target_mean == 0.0 and self.target_std == 1.0:
            return
        last = [m for m in head.modules() if isinstance(m, nn.Linear)][-1]
        with torch.no_grad():
            last.weight.mul_(self.target_std)
            last.bias.mul_(self.target_std).add_(self.target_mean)
        self.target_mean, self.target_std = 0.0, 1.0

    def description(self) -> dict[str, Any]:
        """What metrics.json records of the objective."""
        return {"task": self.task, "class_weights": self.class_weights}


def objective_for(recipe: Recipe, train_labels: Sequence[Any]) -> Objective:
    """The recipe's objective, with weights and scale measured on the train split."""
    task = registry.task(recipe.data.task)
    objective = Objective(recipe.data.task, task.num_outputs(recipe.data.labels))
    objective.target_mean, objective.target_std = task.scale(train_labels)
    weights = recipe.train.class_weights
    if isinstance(weights, list):
        objective.class_weights = [float(w) for w in weights]
    elif weights == "balanced":
        objective.class_weights = balanced_weights(objective, train_labels)
    return objective


def balanced_weights(objective: Objective, labels: Sequence[Any]) -> list[float]:
    """The task's `balanced` weights: n / (classes x count) per class (scikit-learn's), or negatives
    over positives per label (`pos_weight`). A class with no train example gets weight 1."""
    return objective.task_type.balanced_weights(labels, objective.num_labels)  # type: ignore[no-any-return]
