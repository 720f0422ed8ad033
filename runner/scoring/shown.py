"""How a score is shown to a person: a share of examples as a percentage, anything else to 3 places."""

from __future__ import annotations

from typing import Any

from runner.scoring.headline import metric_of, score_ci95_of, score_of, task_of

# Metrics that are a share of examples (or a mean of shares): read best as percentages.
PERCENT_METRICS = {"accuracy", "balanced_accuracy", "subset_accuracy"}
NAMES = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "macro_f1": "macro-F1",
    "micro_f1": "micro-F1",
    "mcc": "MCC",
    "pearson": "Pearson r",
    "spearman": "Spearman ρ",
    "rmse": "RMSE",
    "subset_accuracy": "subset accuracy",
}


def score_text(metric: str, value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1%}" if metric in PERCENT_METRICS else f"{value:.3f}"


def with_interval(metric: str, value: float, interval: Any) -> str:
    """`87.5% (80.1%–92.0%)`; the value alone where no interval was recorded."""
    if not isinstance(interval, (list, tuple)) or len(interval) != 2:
        return score_text(metric, value)
    return (
        f"{score_text(metric, value)} ({score_text(metric, interval[0])}–{score_text(metric, interval[1])})"
    )


def headline(metrics: dict[str, Any]) -> tuple[str, str, float, Any]:
    """(task, metric, score, interval) of a run's metrics.json, old runs' included (`headline`)."""
    return task_of(metrics), metric_of(metrics), score_of(metrics), score_ci95_of(metrics)
