"""`multi_label`: zero or more of `data.labels` per text. One logit per label, binary cross-entropy, a
sigmoid per label, and every label at or above its threshold; ranked by macro-F1 (or micro-F1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from runner.tasks.base import TargetColumn, Task, is_label_id
from runner.tasks.labels import label_id, refuse

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

DEFAULT_THRESHOLD = 0.5  # where neither the recipe nor the saved model gives one
_FLAGS = {"0": 0, "1": 1}


class MultiLabel(Task):
    name = "multi_label"
    metrics = ("macro_f1", "micro_f1")
    companion = "micro_f1"
    one_label_per_text = False
    has_thresholds = True
    one_column_per_label = True
    problem_type = "multi_label_classification"
    answer_form = "lists of label ids"
    required_numbers = ("macro_f1",)
    card_metrics = (("f1", "macro_f1"), ("f1", "micro_f1"))
    card_line = "Labels (any number per text, a sigmoid each): {labels}."
    logits_mean = "the head's logits: the sigmoid of each is its label's probability"
    calibrates = True
    calibration_points = "every label's probability of every example, right when the label is gold"

    def targets(self, values: list[Any], rows: Sequence[int], source: TargetColumn, where: str) -> list[Any]:
        """A sorted tuple of label ids per row, from a list, a delimited string (`"joy,surprise"`,
        `"17,27"`) or one 0/1 column per label (`values` then holds each row's flags in label order)."""
        names = source.labels
        if not source.column:
            return _one_hot_sets(values, rows, names, where)
        sets: list[tuple[int, ...]] = []
        bad: list[tuple[int, Any]] = []
        for row, value in zip(rows, values, strict=True):
            parts: Any = value
            if isinstance(value, str):
                parts = [part for part in value.split(source.separator) if part.strip()]
            elif value is None:
                parts = []
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                parts = [value]
            ids = [label_id(part, names) for part in parts] if isinstance(parts, (list, tuple)) else [None]
            if any(found is None for found in ids):
                bad.append((row, value))
                continue
            sets.append(tuple(sorted({i for i in ids if i is not None})))
        if bad:
            raise refuse(
                where, source.column, bad, f"rows name labels that are not in data.labels = {list(names)}"
            )
        return sets

    def present_labels(self, targets: Sequence[Any]) -> set[int]:
        return {label for row in targets for label in row}

    def gold(self, targets: Sequence[Any], num_labels: int) -> np.ndarray:
        """A boolean row per example."""
        import numpy as np

        rows = np.zeros((len(targets), num_labels), dtype=bool)
        for i, row in enumerate(targets):
            rows[i, list(row)] = True
        return rows

    def train_targets(self, targets: Sequence[Any], num_labels: int, mean: float, std: float) -> np.ndarray:
        import numpy as np

        return self.gold(targets, num_labels).astype(np.float32)

    def balanced_weights(self, targets: Sequence[Any], num_labels: int) -> list[float]:
        """Negatives over positives per label (`pos_weight`); 1 for a label with no example."""
        n, positives = len(targets), self.gold(targets, num_labels).sum(axis=0)
        return [float((n - p) / p) if p else 1.0 for p in positives.tolist()]

    def loss(self, class_weights: list[float] | None) -> nn.Module:
        import torch
        from torch import nn

        return nn.BCEWithLogitsLoss(pos_weight=None if class_weights is None else torch.tensor(class_weights))

    def outputs(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.float().sigmoid()

    def decide(
        self, outputs: torch.Tensor, thresholds: Sequence[float] | None, num_labels: int
    ) -> np.ndarray:
        import torch

        limits = torch.tensor(list(thresholds) if thresholds else [DEFAULT_THRESHOLD] * num_labels)
        return (outputs >= limits).numpy()  # type: ignore[no-any-return]

    def fit_temperatures(self, logits: np.ndarray, gold: np.ndarray) -> list[float]:
        """One temperature per label (`calibration.sigmoid_temperatures` says why). Thresholds are chosen
        after it, on the calibrated probabilities: a temperature moves each label's probabilities, so a
        threshold tuned before it would no longer cut where it was tuned."""
        from runner.tasks.calibration import sigmoid_temperatures

        return sigmoid_temperatures(logits, gold)

    def calibration_scores(self, probabilities: np.ndarray, gold: np.ndarray, bins: int) -> dict[str, Any]:
        from runner.tasks.calibration import brier_score, expected_calibration_error, reliability_bins

        confidence, right = probabilities.ravel(), gold.ravel()
        return {
            "ece": expected_calibration_error(confidence, right, bins),
            "brier": brier_score(probabilities, gold, per_label=True),
            "reliability": reliability_bins(confidence, right, bins),
        }

    def arrays(self, gold: Any, predicted: Any, num_labels: int | None) -> tuple[np.ndarray, np.ndarray]:
        """n × L booleans; without `num_labels`, as many labels as the highest id."""
        import numpy as np

        from runner.tasks.scores import label_matrix

        if num_labels is None and isinstance(gold, np.ndarray):
            num_labels = gold.shape[1]
        elif num_labels is None:
            num_labels = 1 + max((max(ids, default=-1) for ids in [*gold, *predicted]), default=0)
        return label_matrix(gold, num_labels), label_matrix(predicted, num_labels)

    def metric_value(
        self, metric: str, gold: np.ndarray, predicted: np.ndarray, num_labels: int | None
    ) -> float:
        from runner.tasks.scores import label_counts, multi_label_scores

        return multi_label_scores(*label_counts(gold, predicted))[metric]

    def full_metrics(self, gold: Any, predicted: Any, labels: Sequence[str]) -> dict[str, Any]:
        from runner.tasks.scores import multi_label_metrics

        return multi_label_metrics(gold, predicted, labels)

    def second_figure(self, metric: str) -> tuple[str, str]:
        return ("micro F1", "micro_f1") if metric == "macro_f1" else ("macro F1", "macro_f1")

    def prediction_rows(
        self,
        ids: Sequence[Any],
        targets: Sequence[Any],
        predicted: list[Any],
        scores: list[Any],
        labels: Sequence[str],
    ) -> list[dict[str, Any]]:
        rows = []
        for i, flags in enumerate(predicted):
            chosen = [label for label, on in enumerate(flags) if on]
            gold = list(targets[i])
            rows.append(
                {
                    "id": ids[i],
                    "gold": gold,
                    "predicted": chosen,
                    "gold_labels": [labels[label] for label in gold],
                    "predicted_labels": [labels[label] for label in chosen],
                    "probabilities": scores[i],
                }
            )
        return rows

    def answer(self, value: Any) -> Any:
        if isinstance(value, list) and all(is_label_id(v) for v in value):
            return tuple(sorted(set(value)))
        return None

    def prediction(self, labels: Sequence[str], row: list[float], thresholds: Sequence[float] | None) -> dict:
        return {
            "labels": _chosen(labels, row, thresholds),
            "probabilities": dict(zip(labels, row, strict=True)),
        }

    def table_columns(self, labels: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        return [("labels", {}), ("probabilities", {"overflow": "fold"})]

    def table_cells(
        self, labels: Sequence[str], row: list[float], thresholds: Sequence[float] | None
    ) -> list[str]:
        top = sorted(zip(labels, row, strict=True), key=lambda item: -item[1])
        return [
            ", ".join(_chosen(labels, row, thresholds)) or "(none)",
            " ".join(f"{n} {p:.2f}" for n, p in top),
        ]


def _chosen(labels: Sequence[str], row: list[float], thresholds: Sequence[float] | None) -> list[str]:
    """The labels at or above their thresholds (0.5 where the run saved none)."""
    limits = thresholds or [DEFAULT_THRESHOLD] * len(row)
    return [label for label, p, t in zip(labels, row, limits, strict=True) if p >= t]


def _one_hot_sets(
    values: list[Any], rows: Sequence[int], names: Sequence[str], where: str
) -> list[tuple[int, ...]]:
    """One 0/1 column per label (`values` holds each row's column values in data.labels order; a CSV
    read as text holds "0" and "1")."""
    values = [
        [_FLAGS.get(flag, flag) if isinstance(flag, str) else flag for flag in flags] for flags in values
    ]
    for position, name in enumerate(names):
        bad = [
            (row, flags[position])
            for row, flags in zip(rows, values, strict=True)
            if flags[position] not in (0, 1)
        ]
        if bad:
            raise refuse(where, name, bad, "values are not 0 or 1 (one 0/1 column per label)")
    return [tuple(i for i, flag in enumerate(flags) if flag == 1) for flags in values]
