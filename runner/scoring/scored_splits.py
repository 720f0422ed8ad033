"""A run's scored splits: the model's outputs on validation and eval, the multi_label thresholds chosen
on validation, and what they make of predictions.jsonl and metrics.json.

The validation split is scored first. The outputs of both splits are the head's logits divided by the
temperatures fitted on validation (`calibration`), then read as the task reads them: thresholds are
tuned on the calibrated validation probabilities (calibration first, then thresholds), never on the
eval split, and then applied unchanged to the eval split.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from runner.data.examples import Examples
from runner.recipe.schema import Recipe
from runner.scoring import run_results
from runner.scoring.calibration import Calibration
from runner.scoring.task_metrics import task_metrics
from runner.scoring.thresholds import decision_thresholds
from runner.training.objective import Objective


@dataclass
class Split:
    examples: Examples
    outputs: torch.Tensor  # probabilities per label, or the predicted values


@dataclass
class Evaluated:
    recipe: Recipe
    objective: Objective
    metric: str  # the headline metric (`eval.metric` resolved)
    eval: Split | None = None
    validation: Split | None = None
    thresholds: list[float] | None = None  # multi_label only
    thresholds_set_by: str = ""
    validation_summary: dict[str, Any] | None = field(default=None)  # metrics.json's `validation`
    calibration: Calibration = field(default_factory=Calibration)  # fitted before either split is scored
    calibration_figure: dict[str, Any] | None = None  # metrics.json's `calibration`, of the eval split

    def validate(
        self, examples: Examples, logits: torch.Tensor, history: list[dict[str, Any]], best: int | None
    ) -> None:
        """Score the validation split with the weights chosen, calibrated; tune thresholds on it."""
        outputs = self.objective.outputs(self.calibration.scaled(logits))
        self.validation = Split(examples, outputs)
        gold = self.objective.gold(examples.labels)
        self.thresholds, self.thresholds_set_by = decision_thresholds(self.recipe, outputs.numpy(), gold)
        scored = self.scored(self.validation)
        kept = ("accuracy", "correct", "total", "accuracy_ci95")  # what earlier runs recorded
        self.validation_summary = {
            "metric": self.metric,
            "score": scored["score"],
            "score_ci95": scored["score_ci95"],
            **{key: scored[key] for key in kept if key in scored},
            "size": len(examples),
            "hash": examples.fingerprint(),
            "best_epoch": best,
            "per_epoch": history,
        }

    def evaluate(self, examples: Examples, logits: torch.Tensor) -> None:
        self.eval = Split(examples, self.objective.outputs(self.calibration.scaled(logits)))
        self.calibration_figure = self.calibration.figure(self.objective, logits, examples.labels)
        if self.thresholds is None:
            self.thresholds, self.thresholds_set_by = decision_thresholds(self.recipe, None, None)

    def decided(self, split: Split) -> tuple[Any, Any]:
        """(gold, predicted) of a split, in the shapes the task's metrics take."""
        return self.objective.gold(split.examples.labels), self.objective.decide(
            split.outputs, self.thresholds
        )

    def scored(self, split: Split) -> dict[str, Any]:
        labels = self.recipe.data.labels
        return task_metrics(self.recipe.data.task, self.metric, *self.decided(split), labels)

    def rows(self, split: Split) -> list[dict[str, Any]]:
        return run_results.prediction_rows(
            split.examples, split.outputs, self.objective, self.recipe.data.labels, self.thresholds
        )

    def eval_metrics(self) -> dict[str, Any]:
        """metrics.json's scores of the eval split, and how its predictions were decided."""
        assert self.eval is not None, "the eval split is scored before metrics are written"
        gold, predicted = self.decided(self.eval)
        labels = self.recipe.data.labels
        found = {
            "task": self.recipe.data.task,
            **task_metrics(self.recipe.data.task, self.metric, gold, predicted, labels),
        }
        found["objective"] = self.objective.description()
        if self.thresholds is not None:
            found["thresholds"] = self.thresholds
            found["thresholds_set_by"] = self.thresholds_set_by
        found["prediction_warnings"] = run_results.prediction_warnings(gold, predicted, labels)
        if self.calibration_figure is not None:
            found["calibration"] = self.calibration_figure
        return found
