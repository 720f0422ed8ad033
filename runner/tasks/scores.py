"""The formulas of the built-in tasks' metrics from gold answers and predictions: single-label and
multi-label classification, regression (pure numpy; each task module says which it reports).

The `*_scores` functions are the formulas on counts or arrays, fast enough to run once per bootstrap
resample; the `*_metrics` functions are the full dicts a run writes into metrics.json.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from runner.tasks.stats import wilson_interval


def confusion_matrix(gold: np.ndarray, predicted: np.ndarray, num_labels: int) -> np.ndarray:
    """Counts by gold label (rows) and predicted label (columns)."""
    flat = np.bincount(gold * num_labels + predicted, minlength=num_labels * num_labels)
    return flat.reshape(num_labels, num_labels)


def _ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """top / bottom, 0 where bottom is 0: a precision with no predictions counts as 0, not NaN."""
    return np.divide(top, bottom, out=np.zeros(np.shape(top), dtype=float), where=bottom > 0)


def single_label_scores(confusion: np.ndarray) -> dict[str, float]:
    """Accuracy, macro precision/recall/F1 (over every label), balanced accuracy and MCC from a confusion
    matrix."""
    confusion = confusion.astype(float)  # MCC squares the total: int64 would overflow past ~55,000
    total = confusion.sum()
    true_positive = np.diag(confusion)
    gold_count, predicted_count = confusion.sum(axis=1), confusion.sum(axis=0)
    recall = _ratio(true_positive, gold_count)
    correct = true_positive.sum()
    # Gorodkin's R_K: Matthews' correlation for K classes; 0 where one side has a single class.
    covariance = correct * total - gold_count @ predicted_count
    spread = (total**2 - predicted_count @ predicted_count) * (total**2 - gold_count @ gold_count)
    present = gold_count > 0
    return {
        "accuracy": float(correct / total) if total else 0.0,
        # 2·tp / (gold + predicted) is 2PR / (P + R), and 0 where either is 0.
        "macro_f1": float(_ratio(2 * true_positive, gold_count + predicted_count).mean()),
        "macro_precision": float(_ratio(true_positive, predicted_count).mean()),
        "macro_recall": float(recall.mean()),
        "balanced_accuracy": float(recall[present].mean()) if present.any() else 0.0,
        "mcc": float(covariance / np.sqrt(spread)) if spread > 0 else 0.0,
    }


def classification_metrics(gold: list[int], predicted: list[int], num_labels: int) -> dict[str, Any]:
    """Single-label metrics: every label counts in the macro averages, present in the eval set or not."""
    confusion = confusion_matrix(
        np.asarray(gold, dtype=np.int64), np.asarray(predicted, dtype=np.int64), num_labels
    )
    scores = single_label_scores(confusion)
    correct, total = int(np.trace(confusion)), len(gold)
    low, high = wilson_interval(correct, total)
    true_positive = np.diag(confusion)
    gold_count, predicted_count = confusion.sum(axis=1), confusion.sum(axis=0)
    return {
        "accuracy": scores["accuracy"],
        "accuracy_ci95": [low, high],
        "correct": correct,
        "total": total,
        "macro_f1": scores["macro_f1"],
        "macro_precision": scores["macro_precision"],
        "macro_recall": scores["macro_recall"],
        "balanced_accuracy": scores["balanced_accuracy"],
        "mcc": scores["mcc"],
        "per_class": per_label_scores(list(range(num_labels)), true_positive, predicted_count, gold_count),
        "confusion_matrix": confusion.tolist(),
    }


def per_label_scores(
    names: list[Any], true_positive: np.ndarray, predicted_count: np.ndarray, gold_count: np.ndarray
) -> list[dict[str, Any]]:
    """Precision, recall, F1 and support of each label, named as `names` says (an index or a name)."""
    precision, recall = _ratio(true_positive, predicted_count), _ratio(true_positive, gold_count)
    f1 = _ratio(2 * true_positive, gold_count + predicted_count)
    return [
        {
            "label": name,
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(gold_count[i]),
        }
        for i, name in enumerate(names)
    ]


def label_matrix(rows: Sequence[Sequence[int]] | np.ndarray, num_labels: int) -> np.ndarray:
    """Lists of label ids (or a 0/1 array) as an n × num_labels boolean array."""
    if isinstance(rows, np.ndarray):
        if rows.ndim != 2 or rows.shape[1] != num_labels:
            raise ValueError(f"expected an n × {num_labels} array of 0/1, got shape {rows.shape}")
        return rows.astype(bool)
    matrix = np.zeros((len(rows), num_labels), dtype=bool)
    for i, ids in enumerate(rows):
        if any(not 0 <= label < num_labels for label in ids):
            raise ValueError(f"row {i}: label ids {list(ids)} are not all in 0..{num_labels - 1}")
        matrix[i, list(ids)] = True
    return matrix


def label_counts(gold: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per label of n × L boolean arrays: true positives, predicted count and gold count."""
    return (gold & predicted).sum(axis=0), predicted.sum(axis=0), gold.sum(axis=0)


def multi_label_scores(
    true_positive: np.ndarray, predicted_count: np.ndarray, gold_count: np.ndarray
) -> dict[str, float]:
    """Micro (pooled over labels) and macro (mean over every label) precision, recall and F1."""
    tp, pred, gold = true_positive.sum(), predicted_count.sum(), gold_count.sum()
    return {
        "micro_f1": float(2 * tp / (pred + gold)) if pred + gold else 0.0,
        "micro_precision": float(tp / pred) if pred else 0.0,
        "micro_recall": float(tp / gold) if gold else 0.0,
        "macro_f1": float(_ratio(2 * true_positive, gold_count + predicted_count).mean()),
        "macro_precision": float(_ratio(true_positive, predicted_count).mean()),
        "macro_recall": float(_ratio(true_positive, gold_count).mean()),
    }


def multi_label_metrics(
    gold: Sequence[Sequence[int]] | np.ndarray,
    predicted: Sequence[Sequence[int]] | np.ndarray,
    labels: Sequence[str],
) -> dict[str, Any]:
    """Multi-label metrics: each example has 0..L labels; `labels` names them in id order."""
    gold_matrix, predicted_matrix = label_matrix(gold, len(labels)), label_matrix(predicted, len(labels))
    if gold_matrix.shape != predicted_matrix.shape:
        raise ValueError(f"{len(gold_matrix)} gold rows but {len(predicted_matrix)} predicted")
    true_positive, predicted_count, gold_count = label_counts(gold_matrix, predicted_matrix)
    total = len(gold_matrix)
    return {
        **multi_label_scores(true_positive, predicted_count, gold_count),
        "per_label": per_label_scores(list(labels), true_positive, predicted_count, gold_count),
        "subset_accuracy": float((gold_matrix == predicted_matrix).all(axis=1).mean()) if total else 0.0,
        "hamming_loss": float((gold_matrix != predicted_matrix).mean()) if gold_matrix.size else 0.0,
        "total": total,
    }


def correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r; 0.0 where either side is constant (r is undefined there, and NaN would poison a
    mean over seeds)."""
    x, y = x - x.mean(), y - y.mean()
    spread = float(np.sqrt((x @ x) * (y @ y)))
    return float(x @ y) / spread if spread > 0 else 0.0


def ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing their mean rank (scipy's `rankdata`, several times faster on
    the many ties of a bootstrap resample)."""
    order = np.argsort(values)
    ordered = values[order]
    starts_group = np.r_[True, ordered[1:] != ordered[:-1]]
    starts = np.flatnonzero(starts_group)
    sizes = np.diff(np.r_[starts, len(values)])
    result = np.empty(len(values))
    result[order] = (starts + (sizes + 1) / 2)[np.cumsum(starts_group) - 1]
    return result


def rank_correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho: Pearson's r of the ranks."""
    return correlation(ranks(x), ranks(y))


def regression_metrics(
    gold: Sequence[float] | np.ndarray, predicted: Sequence[float] | np.ndarray
) -> dict[str, Any]:
    """Regression metrics for float targets: correlations (higher is better) and errors (lower is better)."""
    x, y = np.asarray(gold, dtype=float), np.asarray(predicted, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"{len(x)} gold values but {len(y)} predicted")
    error = y - x
    return {
        "pearson": correlation(x, y) if len(x) > 1 else 0.0,
        "spearman": rank_correlation(x, y) if len(x) > 1 else 0.0,
        "rmse": float(np.sqrt((error**2).mean())) if len(x) else 0.0,
        "mae": float(np.abs(error).mean()) if len(x) else 0.0,
        "total": len(x),
    }
