"""How a number is shown to a person, in one place so the console, the model card, `compare`'s tables and
its plots agree: a share of examples as a percentage, any other metric to three decimals, an interval
as `low–high`, and the names metrics go by in tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Metrics that are a share of examples (or a mean of shares): read best as percentages.
PERCENT_METRICS = frozenset({"accuracy", "balanced_accuracy", "subset_accuracy"})
NAMES = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "macro_f1": "macro-F1",
    "micro_f1": "micro-F1",
    "mcc": "MCC",
    "pearson": "Pearson r",
    "spearman": "Spearman ρ",
    "rmse": "RMSE",
    "mae": "MAE",
    "subset_accuracy": "subset accuracy",
    "hamming_loss": "Hamming loss",
}


def metric_name(metric: str) -> str:
    return NAMES.get(metric, metric)


def score_text(metric: str, value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1%}" if metric in PERCENT_METRICS else f"{value:.3f}"


def interval_text(metric: str, interval: Sequence[float] | None) -> str:
    """`80.1%–92.0%`; a dash where no interval was recorded."""
    if not isinstance(interval, (list, tuple)) or len(interval) != 2:
        return "–"
    return f"{score_text(metric, interval[0])}–{score_text(metric, interval[1])}"


def with_interval(metric: str, value: float, interval: Any) -> str:
    """`87.5% (80.1%–92.0%)`; the value alone where no interval was recorded."""
    if not isinstance(interval, (list, tuple)) or len(interval) != 2:
        return score_text(metric, value)
    return f"{score_text(metric, value)} ({interval_text(metric, interval)})"


def mean_std_text(metric: str, mean: float, std: float | None) -> str:
    return score_text(metric, mean) + ("" if std is None else f" ± {score_text(metric, std)}")


def plotted(metric: str, value: float) -> float:
    """The value on a plot's axis: percent for a share of examples, the metric itself otherwise."""
    return 100 * value if metric in PERCENT_METRICS else value


def axis_unit(metric: str) -> str:
    return " (%)" if metric in PERCENT_METRICS else ""


def difference_text(metric: str, value: float | None) -> str:
    """A difference of two scores: `+1.2 points` for a share of examples, `+0.012` otherwise."""
    if value is None:
        return "–"
    return f"{100 * value:+.1f} points" if metric in PERCENT_METRICS else f"{value:+.3f}"


def ratio_text(value: float | None) -> str:
    """A cost as a multiple of another's: `0.31×`, `12×`; a dash where either is unknown."""
    if value is None:
        return "–"
    return f"{value:.2g}×" if value < 10 else f"{value:,.0f}×"
