"""A run's headline score as its metrics.json records it: the task, the metric, the score and its interval,
on the test split and on validation.

Runs written before task types existed have no `task`, `metric` or `score`: they are single-label runs
ranked by accuracy, so their score is `accuracy`, its interval `accuracy_ci95` and their validation
score the validation accuracy. Everything here reads both kinds; nothing here checks them (that is
`runner.rundir.finished`'s job).
"""

from __future__ import annotations

from typing import Any

from runner import registry

HEADLINE_KEYS = ("task", "metric", "score")


def records_headline(metrics: dict[str, Any]) -> bool:
    """Whether the run was written with a headline score, rather than before task types existed."""
    return any(key in metrics for key in HEADLINE_KEYS)


def task_of(metrics: dict[str, Any]) -> str:
    return str(metrics.get("task", registry.DEFAULT_TASK))


def metric_of(metrics: dict[str, Any]) -> str:
    task = task_of(metrics)
    default = registry.task(task).metrics[0] if task in registry.TASKS else "accuracy"
    return str(metrics.get("metric", default))


def score_of(metrics: dict[str, Any]) -> float:
    """The headline score on the eval (test) split: a test figure, never read to choose."""
    return metrics["score"] if "score" in metrics else metrics[metric_of(metrics)]


def score_ci95_of(metrics: dict[str, Any]) -> tuple[float, float] | None:
    interval = metrics.get("score_ci95", metrics.get(f"{metric_of(metrics)}_ci95"))
    return (interval[0], interval[1]) if isinstance(interval, (list, tuple)) and len(interval) == 2 else None


def validation_score_of(metrics: dict[str, Any]) -> float | None:
    """The scored weights' headline score on the validation split; None for a run without one."""
    validation = metrics.get("validation")
    if not isinstance(validation, dict):
        return None
    return validation.get("score" if records_headline(metrics) else "accuracy")
