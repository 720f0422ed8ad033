"""A run's headline score for any task: the one number it is ranked, chosen and tested by.

The task computes its metrics (`runner.tasks`); this adds the headline's 95% interval. `metric_value`
is the headline metric on numpy arrays, cheap enough to call once per bootstrap resample;
`task_metrics` is what a run writes into metrics.json: the task's full metrics plus `metric`, `score`
and `score_ci95`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from runner import registry
from runner.tasks.stats import bootstrap_interval


def check_metric(task: str, metric: str) -> None:
    """A ValueError unless `metric` is one of `task`'s headline metrics."""
    if task not in registry.TASKS:
        raise ValueError(f"unknown task {task!r}: choose one of {', '.join(registry.TASKS)}")
    allowed = registry.task(task).metrics
    if metric not in allowed:
        raise ValueError(f"metric {metric!r} is not one of {task}'s: {', '.join(allowed)}")


def as_arrays(
    task: str,
    gold: Sequence[Any] | np.ndarray,
    predicted: Sequence[Any] | np.ndarray,
    num_labels: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Answers as `metric_value` takes them (the task says which form: label ids, n × L booleans,
    floats)."""
    return registry.task(task).arrays(gold, predicted, num_labels)  # type: ignore[no-any-return]


def metric_value(
    task: str, metric: str, gold: np.ndarray, predicted: np.ndarray, num_labels: int | None = None
) -> float:
    """The headline `metric` of `task` on arrays from `as_arrays`."""
    if task not in registry.TASKS:
        raise ValueError(f"unknown task {task!r}")
    return float(registry.task(task).metric_value(metric, gold, predicted, num_labels))


def task_metrics(
    task: str,
    metric: str,
    gold: Sequence[Any] | np.ndarray,
    predicted: Sequence[Any] | np.ndarray,
    labels: Sequence[str] | None,
) -> dict[str, Any]:
    """The task's full metrics with the headline `metric`, its `score` and a 95% `score_ci95`.

    The interval is the one the task records for the metric where it has one (Wilson's for accuracy:
    exact enough and free); for every other metric it is the percentile bootstrap over the examples
    (1000 resamples, seed 0, so a run's interval is reproducible). `labels` names the label ids of a
    task with classes; one without ignores it.
    """
    check_metric(task, metric)
    kind = registry.task(task)
    full = kind.full_metrics(gold, predicted, labels or ())
    if f"{metric}_ci95" in full:
        interval = tuple(full[f"{metric}_ci95"])
    else:
        num_labels = len(labels) if labels and kind.has_classes else None
        gold_array, predicted_array = kind.arrays(gold, predicted, num_labels)

        def statistic(indices: np.ndarray) -> float:
            return float(kind.metric_value(metric, gold_array[indices], predicted_array[indices], num_labels))

        interval = bootstrap_interval(statistic, len(gold_array))
    return {**full, "metric": metric, "score": full[metric], "score_ci95": [*interval]}
