"""`single_label`: one of `data.labels` per text. One logit per label, cross-entropy, softmax, and the
most probable label; ranked by accuracy (or macro-F1, MCC, balanced accuracy)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from runner.tasks.base import TargetColumn, Task, is_label_id
from runner.tasks.labels import label_ids

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn


class SingleLabel(Task):
    name = "single_label"
    metrics = ("accuracy", "macro_f1", "mcc", "balanced_accuracy")
    companion = "macro_f1"
    exact_match_metrics = ("accuracy",)
    problem_type = "single_label_classification"
    answer_form = "label ids"
    required_numbers = ("accuracy", "macro_f1")
    required_intervals = ("accuracy_ci95",)
    card_metrics = (("accuracy", "accuracy"), ("f1", "macro_f1"), ("matthews_correlation", "mcc"))
    card_line = "Labels (one per text): {labels}."
    logits_mean = "the head's logits: their softmax is each label's probability"
    calibrates = True
    calibration_points = "each example's most probable label: its probability, right where it is gold"

    def targets(self, values: list[Any], rows: Sequence[int], source: TargetColumn, where: str) -> list[Any]:
        return label_ids(values, rows, source.labels, where, source.column)

    def gold(self, targets: Sequence[Any], num_labels: int) -> np.ndarray:
        import numpy as np

        return np.asarray(targets, dtype=np.int64)

    def balanced_weights(self, targets: Sequence[Any], num_labels: int) -> list[float]:
        """n / (classes x count) per class (scikit-learn's `balanced`); 1 for a class with no example."""
        import numpy as np

        n, counts = len(targets), np.bincount(self.gold(targets, num_labels), minlength=num_labels)
        return [float(n / (num_labels * c)) if c else 1.0 for c in counts.tolist()]

    def loss(self, class_weights: list[float] | None) -> nn.Module:
        import torch
        from torch import nn

        return nn.CrossEntropyLoss(weight=None if class_weights is None else torch.tensor(class_weights))

    def outputs(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.float().softmax(-1)

    def decide(
        self, outputs: torch.Tensor, thresholds: Sequence[float] | None, num_labels: int
    ) -> np.ndarray:
        return outputs.argmax(-1).numpy()  # type: ignore[no-any-return]

    def fit_temperatures(self, logits: np.ndarray, gold: np.ndarray) -> list[float]:
        """One temperature for the softmax: dividing every logit by the same number keeps the argmax."""
        from runner.tasks.calibration import softmax_temperature

        return [softmax_temperature(logits, gold)]

    def calibration_scores(self, probabilities: np.ndarray, gold: np.ndarray, bins: int) -> dict[str, Any]:
        import numpy as np

        from runner.tasks.calibration import brier_score, expected_calibration_error, reliability_bins

        confidence, right = probabilities.max(axis=1), probabilities.argmax(axis=1) == gold
        one_hot = np.eye(probabilities.shape[1])[gold]
        return {
            "ece": expected_calibration_error(confidence, right, bins),
            "brier": brier_score(probabilities, one_hot, per_label=False),
            "reliability": reliability_bins(confidence, right, bins),
        }

    def arrays(self, gold: Any, predicted: Any, num_labels: int | None) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        return np.asarray(gold, dtype=np.int64), np.asarray(predicted, dtype=np.int64)

    def metric_value(
        self, metric: str, gold: np.ndarray, predicted: np.ndarray, num_labels: int | None
    ) -> float:
        """`num_labels` matters to macro F1, which averages over every label, including labels a
        resample lacks; without it, the labels are those up to the highest id seen."""
        import numpy as np

        from runner.tasks.scores import confusion_matrix, single_label_scores

        if metric == "accuracy":
            return float(np.mean(gold == predicted)) if len(gold) else 0.0
        if num_labels is None:
            num_labels = int(max(gold.max(initial=0), predicted.max(initial=0))) + 1
        return single_label_scores(confusion_matrix(gold, predicted, num_labels))[metric]

    def full_metrics(self, gold: Any, predicted: Any, labels: Sequence[str]) -> dict[str, Any]:
        from runner.tasks.scores import classification_metrics

        return classification_metrics(list(gold), list(predicted), len(labels))

    def second_figure(self, metric: str) -> tuple[str, str]:
        return ("F1", "macro_f1") if metric == "accuracy" else ("accuracy", "accuracy")

    def prediction_rows(
        self,
        ids: Sequence[Any],
        targets: Sequence[Any],
        predicted: list[Any],
        scores: list[Any],
        labels: Sequence[str],
    ) -> list[dict[str, Any]]:
        return [
            {
                "id": ids[i],
                "gold": targets[i],
                "predicted": predicted[i],
                "gold_label": labels[targets[i]],
                "predicted_label": labels[predicted[i]],
                "probability": scores[i][predicted[i]],
                # One per label, in data.labels order: AUROC, calibration or thresholds need them all.
                "probabilities": scores[i],
            }
            for i in range(len(predicted))
        ]

    def answer(self, value: Any) -> Any:
        return value if is_label_id(value) else None

    def prediction(self, labels: Sequence[str], row: list[float], thresholds: Sequence[float] | None) -> dict:
        best = max(range(len(labels)), key=row.__getitem__)
        return {
            "label": labels[best],
            "probability": row[best],
            "probabilities": dict(zip(labels, row, strict=True)),
        }

    def table_columns(self, labels: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        return [("label", {}), ("probability", {"justify": "right"})]

    def table_cells(
        self, labels: Sequence[str], row: list[float], thresholds: Sequence[float] | None
    ) -> list[str]:
        best = max(range(len(labels)), key=row.__getitem__)
        return [labels[best], f"{row[best]:.3f}"]
