"""`regression`: one number per text. One output, mean-squared error on targets standardised with the
train split's mean and deviation (so the learning rates that suit classification suit it too; after
training the head's last layer is rescaled, so the saved model outputs the raw value), and the value
itself as the prediction; ranked by Pearson's r (or Spearman's rho)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from runner.tasks.base import TargetColumn, Task, is_number
from runner.tasks.labels import refuse

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn


class Regression(Task):
    name = "regression"
    metrics = ("pearson", "spearman")
    companion = "rmse"
    has_classes = False
    one_label_per_text = False
    problem_type = "regression"
    answer_form = "numbers"
    card_metrics = (("pearsonr", "pearson"), ("spearmanr", "spearman"))
    card_line = "A regression: one output, {labels}, the predicted value itself."
    logits_mean = "the predicted value"

    def targets(self, values: list[Any], rows: Sequence[int], source: TargetColumn, where: str) -> list[Any]:
        """A finite float per row (a number, or a string that reads as one)."""
        found = [_to_float(value) for value in values]
        bad = [(rows[i], values[i]) for i, number in enumerate(found) if number is None]
        if bad:
            raise refuse(where, source.column, bad, "regression targets are not finite numbers")
        return [number for number in found if number is not None]

    def present_labels(self, targets: Sequence[Any]) -> set[int]:
        return set()

    def num_outputs(self, labels: Sequence[str]) -> int:
        return 1

    def output_names(self, labels: Sequence[str], column: str) -> list[str]:
        return [column or "value"]  # the one output is named after its target column

    def gold(self, targets: Sequence[Any], num_labels: int) -> np.ndarray:
        import numpy as np

        return np.asarray(targets, dtype=np.float64)

    def train_targets(self, targets: Sequence[Any], num_labels: int, mean: float, std: float) -> np.ndarray:
        import numpy as np

        return ((np.asarray(targets, dtype=np.float64) - mean) / std).astype(np.float32)

    def scale(self, targets: Sequence[Any]) -> tuple[float, float]:
        values = [float(v) for v in targets]
        std = statistics.pstdev(values) if len(values) > 1 else 0.0
        return statistics.fmean(values), std or 1.0

    def loss(self, class_weights: list[float] | None) -> nn.Module:
        return _squared_error()

    def outputs(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.float().squeeze(-1)

    def decide(
        self, outputs: torch.Tensor, thresholds: Sequence[float] | None, num_labels: int
    ) -> np.ndarray:
        return outputs.double().reshape(-1).numpy()  # type: ignore[no-any-return]  # (n,) or (n, 1) alike

    def arrays(self, gold: Any, predicted: Any, num_labels: int | None) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        return np.asarray(gold, dtype=float), np.asarray(predicted, dtype=float)

    def metric_value(
        self, metric: str, gold: np.ndarray, predicted: np.ndarray, num_labels: int | None
    ) -> float:
        from runner.tasks.scores import correlation, rank_correlation

        if len(gold) < 2:
            return 0.0
        return correlation(gold, predicted) if metric == "pearson" else rank_correlation(gold, predicted)

    def full_metrics(self, gold: Any, predicted: Any, labels: Sequence[str]) -> dict[str, Any]:
        from runner.tasks.scores import regression_metrics

        return regression_metrics(gold, predicted)

    def second_figure(self, metric: str) -> tuple[str, str]:
        return ("RMSE", "rmse")

    def prediction_rows(
        self,
        ids: Sequence[Any],
        targets: Sequence[Any],
        predicted: list[Any],
        scores: list[Any],
        labels: Sequence[str],
    ) -> list[dict[str, Any]]:
        return [
            {"id": ids[i], "gold": float(targets[i]), "predicted": predicted[i]}
            for i in range(len(predicted))
        ]

    def answer(self, value: Any) -> Any:
        return float(value) if is_number(value) else None

    def prediction(self, labels: Sequence[str], row: list[float], thresholds: Sequence[float] | None) -> dict:
        return {"value": row[0]}

    def table_columns(self, labels: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        return [(labels[0], {"justify": "right"})]

    def table_cells(
        self, labels: Sequence[str], row: list[float], thresholds: Sequence[float] | None
    ) -> list[str]:
        return [f"{row[0]:.3f}"]


def _to_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _squared_error() -> nn.Module:
    from torch import nn

    class SquaredError(nn.Module):
        def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            return nn.functional.mse_loss(output.squeeze(-1), target)

    return SquaredError()
