"""A run's headline score for any task: the one number it is ranked, chosen and tested by.

`metric_value` is the headline metric on numpy arrays, cheap enough to call once per bootstrap
resample; `task_metrics` is what a run writes into metrics.json: the task's full metrics plus `metric`,
`score` and `score_ci95`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from runner.scoring.metrics import (
    TASK_METRICS,
    classification_metrics,
    confusion_matrix,
    correlation,
    label_counts,
    label_matrix,
    multi_label_metrics,
    multi_label_scores,
    rank_correlation,
    regression_metrics,
    single_label_scores,
)
from runner.scoring.stats import bootstrap_interval


def check_metric(task: str, metric: str) -> None:
    """A ValueError unless `metric` is one of `task`'s headline metrics."""
    if task not in TASK_METRICS:
        raise ValueError(f"unknown task {task!r}: choose one of {', '.join(TASK_METRICS)}")
    if metric not in TASK_METRICS[task]:
        raise ValueError(f"metric {metric!r} is not one of {task}'s: {', '.join(TASK_METRICS[task])}")


def as_arrays(
    task: str,
    gold: Sequence[Any] | np.ndarray,
    predicted: Sequence[Any] | np.ndarray,
    num_labels: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Answers as `metric_value` takes them: label ids (single_label), n × L booleans (multi_label),
    floats (regression). Without `num_labels`, a multi-label task has as many labels as its highest id."""
    if task == "single_label":
        return np.asarray(gold, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    if task == "multi_label":
        if num_labels is None and isinstance(gold, np.ndarray):
            num_labels = gold.shape[1]
        elif num_labels is None:
            num_labels = 1 + max((max(ids, default=-1) for ids in [*gold, *predicted]), default=0)
        return label_matrix(gold, num_labels), label_matrix(predicted, num_labels)
    return np.asarray(gold, dtype=float), np.asarray(predicted, dtype=float)


def metric_value(
    task: str, metric: str, gold: np.ndarray, predicted: np.ndarray, num_labels: int | None = None
) -> float:
    """The headline `metric` of `task` on arrays from `as_arrays`.

    `num_labels` matters to a single-label macro F1, which averages over every label, including
    labels a resample happens to lack; without it, the labels are those up to the highest id seen.
    """
    if task == "single_label":
        if metric == "accuracy":
            return float(np.mean(gold == predicted)) if len(gold) else 0.0
        if num_labels is None:
            num_labels = int(max(gold.max(initial=0), predicted.max(initial=0))) + 1
        return single_label_scores(confusion_matrix(gold, predicted, num_labels))[metric]
    if task == "multi_label":
        return multi_label_scores(*label_counts(gold, predicted))[metric]
    if task == "regression":
        if len(gold) < 2:
            return 0.0
        return correlation(gold, predicted) if metric == "pearson" else rank_correlation(gold, predicted)
    raise ValueError(f"unknown task {task!r}")


def task_metrics(
    task: str,
    metric: str,
    gold: Sequence[Any] | np.ndarray,
    predicted: Sequence[Any] | np.ndarray,
    labels: Sequence[str] | None,
) -> dict[str, Any]:
    """The task's full metrics with the headline `metric`, its `score` and a 95% `score_ci95`.

    The interval is Wilson's for accuracy (exact enough and free); for every other metric it is the
    percentile bootstrap over the examples (1000 resamples, seed 0, so a run's interval is reproducible).
    `labels` names the label ids of the classification tasks; regression ignores it.
    """
    check_metric(task, metric)
    if task == "single_label":
        full = classification_metrics(list(gold), list(predicted), len(labels or ()))
    elif task == "multi_label":
        full = multi_label_metrics(gold, predicted, labels or ())
    else:
        full = regression_metrics(gold, predicted)
    if metric == "accuracy":
        interval = tuple(full["accuracy_ci95"])
    else:
        num_labels = len(labels) if labels and task != "regression" else None
        gold_array, predicted_array = as_arrays(task, gold, predicted, num_labels)

        def statistic(indices: np.ndarray) -> float:
            return metric_value(task, metric, gold_array[indices], predicted_array[indices], num_labels)

        interval = bootstrap_interval(statistic, len(gold_array))
    return {**full, "metric": metric, "score": full[metric], "score_ci95": [*interval]}
