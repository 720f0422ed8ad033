"""What every task type must answer: the `Task` class each module in `runner/tasks/` subclasses.

A task is asked, never branched on: the data stage asks it for targets, training for the loss and the
head's outputs, scoring for decisions and metrics, the run folder for its prediction rows, the saved
model for its `problem_type`, `predict` for what it prints, compare for its paired test. It takes plain
values (label names, weights, thresholds, arrays): a task imports nothing of the stages after it.

Every headline metric is higher-is-better, as scikit-learn's scorers are (`neg_mean_absolute_error`):
selection, early stopping and compare rank by one rule, and a task with an error as its headline
names its negative (`neg_mae`).

Class attributes only are read by the recipe schema and `ftrun validate`: numpy and torch are imported
inside the methods that compute.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn


@dataclass(frozen=True)
class TargetColumn:
    """Where a split's targets come from: the column (empty: one 0/1 column per label), the label names
    and what separates several labels in one string."""

    column: str
    labels: Sequence[str]
    separator: str = ","


class Task:
    name: ClassVar[str] = ""
    # The headline metrics it may be ranked by (`eval.metric`), the default first; higher is better.
    metrics: ClassVar[tuple[str, ...]] = ()
    companion: ClassVar[str] = ""  # the figure a run's summary shows beside the headline
    # Headline metrics that count right answers: two runs are compared on which examples each got right
    # (McNemar); any other metric by the paired bootstrap.
    exact_match_metrics: ClassVar[tuple[str, ...]] = ()
    has_classes: ClassVar[bool] = True  # reads `data.labels`; class weights weigh them
    one_label_per_text: ClassVar[bool] = True  # a single class per example (zero-shot can pick it)
    has_thresholds: ClassVar[bool] = False  # decided by a threshold per label (`eval.thresholds`)
    one_column_per_label: ClassVar[bool] = False  # may read one 0/1 column per label
    problem_type: ClassVar[str] = ""  # transformers' name: what `pipeline` applies to the logits
    answer_form: ClassVar[str] = ""  # a predictions row's gold and predicted, for error messages
    # What metrics.json must hold beside the headline: numbers, and [low, high] intervals.
    required_numbers: ClassVar[tuple[str, ...]] = ()
    required_intervals: ClassVar[tuple[str, ...]] = ()
    card_metrics: ClassVar[tuple[tuple[str, str], ...]] = ()  # (model-index metric type, metrics.json key)
    card_line: ClassVar[str] = ""  # the model card's line on the outputs; `{labels}` names them
    logits_mean: ClassVar[str] = ""  # what the model's raw outputs are, for an exported graph's users
    # Probabilities a temperature fitted on validation can calibrate (`eval.calibrate`), and what the
    # expected calibration error bins: which probability, and when it counts as right.
    calibrates: ClassVar[bool] = False
    calibration_points: ClassVar[str] = ""

    # -- data: targets from raw column values --------------------------------------------------------
    def targets(self, values: list[Any], rows: Sequence[int], source: TargetColumn, where: str) -> list[Any]:
        """`values` (one per row) as this task's targets, or a DataError naming the column and rows."""
        raise NotImplementedError

    def present_labels(self, targets: Sequence[Any]) -> set[int]:
        """The label ids that occur among these targets."""
        return set(targets)

    # -- the head and its training ---------------------------------------------------------------------
    def num_outputs(self, labels: Sequence[str]) -> int:
        return len(labels)

    def output_names(self, labels: Sequence[str], column: str) -> list[str]:
        """The saved model's `id2label`: one name per output."""
        return list(labels)

    def gold(self, targets: Sequence[Any], num_labels: int) -> np.ndarray:
        """What the metrics compare predictions with."""
        raise NotImplementedError

    def train_targets(self, targets: Sequence[Any], num_labels: int, mean: float, std: float) -> np.ndarray:
        """Targets as the loss reads them."""
        return self.gold(targets, num_labels)

    def scale(self, targets: Sequence[Any]) -> tuple[float, float]:
        """(mean, deviation) the targets are standardised with; (0, 1): not at all."""
        return 0.0, 1.0

    def balanced_weights(self, targets: Sequence[Any], num_labels: int) -> list[float]:
        """`train.class_weights = "balanced"` measured on the train split."""
        raise NotImplementedError(f"{self.name} has no classes to weight")

    def loss(self, class_weights: list[float] | None) -> nn.Module:
        raise NotImplementedError

    def outputs(self, logits: torch.Tensor) -> torch.Tensor:
        """The head's logits as numbers a person reads (probabilities, a value), in float32."""
        raise NotImplementedError

    def decide(
        self, outputs: torch.Tensor, thresholds: Sequence[float] | None, num_labels: int
    ) -> np.ndarray:
        """Predictions in the shape of `gold`."""
        raise NotImplementedError

    # -- calibration (where `calibrates`) -----------------------------------------------------------
    def fit_temperatures(self, logits: np.ndarray, gold: np.ndarray) -> list[float]:
        """The temperature the logits are divided by: one for every output, or one per output."""
        raise NotImplementedError(f"{self.name} has no probabilities to calibrate")

    def calibration_scores(self, probabilities: np.ndarray, gold: np.ndarray, bins: int) -> dict[str, Any]:
        """{"ece", "brier", "reliability"} (`bins` equal-width bins) of these probabilities against gold."""
        raise NotImplementedError(f"{self.name} has no probabilities to calibrate")

    # -- scoring -----------------------------------------------------------------------------------
    def arrays(self, gold: Any, predicted: Any, num_labels: int | None) -> tuple[np.ndarray, np.ndarray]:
        """Answers (as predictions.jsonl holds them, or from `gold`/`decide`) as `metric_value` takes them."""
        import numpy as np

        return np.asarray(gold), np.asarray(predicted)

    def metric_value(
        self, metric: str, gold: np.ndarray, predicted: np.ndarray, num_labels: int | None
    ) -> float:
        """One headline metric on arrays from `arrays`: cheap enough for each bootstrap resample."""
        raise NotImplementedError

    def full_metrics(self, gold: Any, predicted: Any, labels: Sequence[str]) -> dict[str, Any]:
        """Every metric metrics.json records; an `<metric>_ci95` here is that metric's interval."""
        raise NotImplementedError

    def second_figure(self, metric: str) -> tuple[str, str]:
        """(column title, metrics key) of the figure compare shows beside a headline `metric`."""
        return (self.companion, self.companion)

    # -- what a run writes and prints ----------------------------------------------------------------
    def prediction_rows(
        self,
        ids: Sequence[Any],
        targets: Sequence[Any],
        predicted: list[Any],
        scores: list[Any],
        labels: Sequence[str],
    ) -> list[dict[str, Any]]:
        """predictions.jsonl: per example what its metrics are recomputed from."""
        raise NotImplementedError

    def answer(self, value: Any) -> Any:
        """A predictions row's gold or predicted value in this task's form, or None where it is not."""
        raise NotImplementedError

    def prediction(self, labels: Sequence[str], row: list[float], thresholds: Sequence[float] | None) -> dict:
        """What `ftrun predict` prints for one text (beside the text), from its outputs."""
        raise NotImplementedError

    def table_columns(self, labels: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        """`ftrun predict`'s table: the columns before the text, each (title, rich column options)."""
        raise NotImplementedError

    def table_cells(
        self, labels: Sequence[str], row: list[float], thresholds: Sequence[float] | None
    ) -> list[str]:
        raise NotImplementedError


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_label_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
