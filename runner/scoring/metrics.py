"""Classification metrics from gold labels and predicted probabilities."""

from __future__ import annotations

from typing import Any

from runner.scoring.stats import wilson_interval


def classification_metrics(gold: list[int], predicted: list[int], num_labels: int) -> dict[str, Any]:
    confusion = [[0] * num_labels for _ in range(num_labels)]  # rows: gold, columns: predicted
    for g, p in zip(gold, predicted, strict=True):
        confusion[g][p] += 1
    correct = sum(confusion[i][i] for i in range(num_labels))
    total = len(gold)
    precisions, recalls, f1s = [], [], []
    for label in range(num_labels):
        true_positive = confusion[label][label]
        predicted_count = sum(confusion[g][label] for g in range(num_labels))
        gold_count = sum(confusion[label])
        precision = true_positive / predicted_count if predicted_count else 0.0
        recall = true_positive / gold_count if gold_count else 0.0
        precisions.append(precision)
        recalls.append(recall)
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    low, high = wilson_interval(correct, total)
    return {
        "accuracy": correct / total if total else 0.0,
        "accuracy_ci95": [low, high],
        "correct": correct,
        "total": total,
        "macro_f1": sum(f1s) / num_labels,
        "macro_precision": sum(precisions) / num_labels,
        "macro_recall": sum(recalls) / num_labels,
        "confusion_matrix": confusion,
    }
