"""How compare writes a score: accuracy as a percentage (as ftrun always has), every other metric as a
number to three decimals (F1, MCC and correlations read that way), and the names tables give them."""

from __future__ import annotations

from collections.abc import Sequence

PERCENT_METRICS = ("accuracy",)


def shown(metric: str, value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1%}" if metric in PERCENT_METRICS else f"{value:.3f}"


def shown_interval(metric: str, interval: Sequence[float] | None) -> str:
    if interval is None:
        return "–"
    return f"{shown(metric, interval[0])}–{shown(metric, interval[1])}"


def shown_mean_std(metric: str, mean: float, std: float | None) -> str:
    return shown(metric, mean) + ("" if std is None else f" ± {shown(metric, std)}")


def plotted(metric: str, value: float) -> float:
    """The value on a plot's axis: percent for accuracy, the metric itself otherwise."""
    return 100 * value if metric in PERCENT_METRICS else value


def axis_unit(metric: str) -> str:
    return " (%)" if metric in PERCENT_METRICS else ""
