"""The PNG charts of `ftrun compare --report`: scores with their intervals (one chart per headline
metric, since an accuracy and a correlation share no axis), latency, score against the share of weights
trained, training loss and per-epoch validation curves. Each function returns the file it drew, or None
where there was nothing to draw."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner import rundir
from runner.compare.comparison import Comparison
from runner.compare.selection import reported
from runner.compare.undertuned import NOT_TUNED
from runner.errors import RunFolderError
from runner.formatting import PERCENT_METRICS, axis_unit, plotted

NOT_TUNED_COLOR = "#B0B0B0"  # a method not tuned enough: grey and hatched, never its method's colour
COLORS = {"full": "#4C72B0", "lora": "#DD8452", "linear": "#55A868", "prompt-linear": "#C44E52"}


def _color(method: str) -> str:
    return COLORS.get(method, "#8172B3")


def _labels(rows: list[dict[str, Any]]) -> list[str]:
    several_sets = len({row["group"] for row in rows}) > 1
    labels = []
    for row in rows:
        label = row["run"] if row["run"] == row["method"] else f"{row['run']}\n({row['method']})"
        # Bars from different groups share a chart but not a ranking: say which group each is in.
        labels.append(f"{label}\n[eval set {row['group']}]" if several_sets else label)
    return labels


def _figure(count: int, panels: int = 1) -> Any:
    import matplotlib.pyplot as plt

    width = max(5.0, 1.3 * count + 2) if panels == 1 else 5.0 * panels
    return plt.subplots(1, panels, figsize=(width, 4.2), layout="constrained", squeeze=False)


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def _value_label(metric: str, value: float) -> str:
    return f"{value:.1f}%" if metric in PERCENT_METRICS else f"{value:.3f}"


def _set_score_limits(ax: Any, metric: str, lows: list[float]) -> None:
    if metric in PERCENT_METRICS:
        ax.set_ylim(min(50.0, min(lows) - 5), 100)
    else:  # F1s lie in [0, 1]; MCC and correlations may fall below 0
        ax.set_ylim(min(0.0, min(lows) - 0.05), 1.0)


def _bars_with_intervals(
    ax: Any,
    metric: str,
    values: list[float],
    intervals: list[Any],
    colors: list[str],
    not_tuned: list[bool] | None = None,
) -> None:
    """Bars of `values` with 95% intervals (already on the plotted scale; None where there is none);
    the bars of methods not tuned enough grey and hatched."""
    flags = not_tuned or [False] * len(values)
    colors = [NOT_TUNED_COLOR if flag else color for color, flag in zip(colors, flags, strict=True)]
    below = [0.0 if i is None else max(0.0, v - i[0]) for v, i in zip(values, intervals, strict=True)]
    above = [0.0 if i is None else max(0.0, i[1] - v) for v, i in zip(values, intervals, strict=True)]
    bars = ax.bar(range(len(values)), values, yerr=[below, above], capsize=5, color=colors)
    for bar, flag in zip(bars, flags, strict=True):
        if flag:
            bar.set_hatch("//")
    labels = [
        _value_label(metric, v) + (f"\n{NOT_TUNED}" if f else "") for v, f in zip(values, flags, strict=True)
    ]
    ax.bar_label(bars, labels=labels, label_type="center", color="white", fontweight="bold")
    _set_score_limits(ax, metric, [v - b for v, b in zip(values, below, strict=True)])


def score_bars(rows: list[dict[str, Any]], metric: str, path: Path) -> Path:
    fig, axes = _figure(len(rows))
    ax = axes[0][0]
    values = [plotted(metric, r["score"]) for r in rows]
    intervals = [(plotted(metric, r["score_ci_low"]), plotted(metric, r["score_ci_high"])) for r in rows]
    flags = [r["vs_best"] == NOT_TUNED for r in rows]
    _bars_with_intervals(ax, metric, values, intervals, [_color(r["method"]) for r in rows], flags)
    ax.set_xticks(range(len(rows)), _labels(rows))
    ax.set_ylabel(f"test {metric}{axis_unit(metric)}")
    ax.set_title(f"Test {metric} with 95% confidence intervals")
    return _save(fig, path)


def latency_bars(rows: list[dict[str, Any]], path: Path) -> Path | None:
    timed = [r for r in rows if r["latency_p50_ms"] is not None]
    if not timed:
        return None
    fig, axes = _figure(len(timed))
    ax = axes[0][0]
    p50 = [r["latency_p50_ms"] for r in timed]
    bars = ax.bar(range(len(timed)), p50, color=[_color(r["method"]) for r in timed], label="p50")
    ax.scatter(
        range(len(timed)),
        [r["latency_p95_ms"] for r in timed],
        marker="_",
        s=600,
        color="black",
        zorder=3,
        label="p95",
    )
    ax.bar_label(
        bars, labels=[f"{v:.1f}" for v in p50], label_type="center", color="white", fontweight="bold"
    )
    ax.set_xticks(range(len(timed)), _labels(timed))
    ax.set_ylabel("batch-1 latency per example (ms)")
    ax.set_title("Inference latency, batch size 1 (bar: median, mark: p95)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(fig, path)


def selected_plots(comparison: Comparison, folder: Path) -> list[Path]:
    """A sweep's answer in pictures: each method's configuration chosen on validation, its test score
    (bar: mean over seeds, line: 95% interval, dots: seeds; one chart per metric) and its latency."""
    several = len(comparison.selections) > 1
    chosen = [
        (
            f"{method}\n{configuration.label}"
            + (f"\n[eval set {group}]" if several else "")
            + (f"\n⚠ {NOT_TUNED}" if method in selection.undertuned else ""),
            method,
            reported(configuration),
        )
        for group, selection in enumerate(comparison.selections, start=1)
        for method, configuration in selection.selected.items()
    ]
    if not chosen:
        return []
    metrics = list(dict.fromkeys(test.metric for _, _, test in chosen))
    scores = [
        _selected_scores(
            [c for c in chosen if c[2].metric == metric], metric, folder / f"selected_{metric}.png"
        )
        for metric in metrics
    ]
    latency = _selected_latency(chosen, folder / "selected_latency.png")
    return [*scores, *([latency] if latency else [])]


def _selected_scores(chosen: list[tuple[str, str, Any]], metric: str, path: Path) -> Path:
    fig, axes = _figure(len(chosen))
    ax = axes[0][0]
    means = [plotted(metric, test.mean) for _, _, test in chosen]
    intervals = [
        None if test.ci95 is None else (plotted(metric, test.ci95[0]), plotted(metric, test.ci95[1]))
        for _, _, test in chosen
    ]
    flags = [NOT_TUNED in label for label, _, _ in chosen]
    _bars_with_intervals(ax, metric, means, intervals, [_color(m) for _, m, _ in chosen], flags)
    for i, (_, _, test) in enumerate(chosen):
        seeds = [plotted(metric, s) for s in test.scores]
        ax.scatter([i] * len(seeds), seeds, color="black", s=12, zorder=3)
    ax.set_xticks(range(len(chosen)), [label for label, _, _ in chosen])
    ax.set_ylabel(f"test {metric}{axis_unit(metric)}")
    ax.set_title(f"Selected on validation: test {metric} (mean of seeds, 95% CI, seeds as dots)")
    return _save(fig, path)


def _selected_latency(chosen: list[tuple[str, str, Any]], path: Path) -> Path | None:
    timed = [(label, method, test) for label, method, test in chosen if test.latency_ms is not None]
    if not timed:
        return None
    fig, axes = _figure(len(timed))
    ax = axes[0][0]
    merged = [test.latency_ms or 0.0 for _, _, test in timed]
    bars = ax.bar(
        range(len(timed)), merged, width=0.4, color=[_color(m) for _, m, _ in timed], label="as served"
    )
    ax.bar_label(bars, labels=[f"{v:.1f}" for v in merged], label_type="center", color="white")
    apart = [
        (i, test.latency_unmerged_ms) for i, (_, _, test) in enumerate(timed) if test.latency_unmerged_ms
    ]
    if apart:
        spots = [i + 0.4 for i, _ in apart]
        bars = ax.bar(
            spots,
            [v for _, v in apart],
            width=0.4,
            color="white",
            edgecolor="black",
            hatch="//",
            label="adapters kept apart",
        )
        ax.bar_label(bars, labels=[f"{v:.1f}" for _, v in apart], label_type="edge")
    ax.set_xticks(range(len(timed)), [label for label, _, _ in timed])
    ax.set_ylabel("batch-1 latency, p50 (ms)")
    ax.set_title("Selected configurations: batch-1 latency (median of the seeds' p50)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(fig, path)


def score_vs_trainable(rows: list[dict[str, Any]], metric: str, path: Path) -> Path:
    fig, axes = _figure(4)
    ax = axes[0][0]
    for row in rows:
        x = 100 * row["trainable_fraction"]
        y = plotted(metric, row["score"])
        low, high = plotted(metric, row["score_ci_low"]), plotted(metric, row["score_ci_high"])
        ax.errorbar(
            x,
            y,
            yerr=[[max(0.0, y - low)], [max(0.0, high - y)]],
            fmt="o",
            capsize=4,
            color=_color(row["method"]),
        )
        ax.annotate(row["run"], (x, y), textcoords="offset points", xytext=(6, 4))
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters (% of total, log scale)")
    ax.set_ylabel(f"test {metric}{axis_unit(metric)}")
    ax.set_title(f"Test {metric} against the share of weights trained")
    return _save(fig, path)


def loss_curves(comparison: Comparison, path: Path) -> Path | None:
    curves = [
        (run, rows)
        for group in comparison.groups
        for run in group
        if (rows := _log_rows(run.folder / "train_log.jsonl", "step", "loss"))
    ]
    if not curves:
        return None
    fig, axes = _figure(4)
    ax = axes[0][0]
    for run, rows in curves:
        label = f"{run.name} ({run.record.method})"
        ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], marker=".", label=label)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss")
    ax.set_title("Training loss")
    ax.legend()
    return _save(fig, path)


def validation_curves(comparison: Comparison, path: Path) -> Path | None:
    """Per-epoch validation score, one panel per metric: what best-epoch choice and early stopping saw."""
    by_metric: dict[str, list[tuple[Any, list[dict[str, Any]]]]] = {}
    for group in comparison.groups:
        for run in group:
            key = f"validation_{run.metric}"
            rows = _log_rows(run.folder / "train_log.jsonl", "epoch", key)
            if rows:
                by_metric.setdefault(run.metric, []).append((run, rows))
    if not by_metric:
        return None
    fig, axes = _figure(4, panels=len(by_metric))
    for ax, (metric, curves) in zip(axes[0], by_metric.items(), strict=True):
        for run, rows in curves:
            ax.plot(
                [r["epoch"] for r in rows],
                [plotted(metric, r[f"validation_{metric}"]) for r in rows],
                marker="o",
                label=f"{run.name} ({run.record.method})",
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"validation {metric}{axis_unit(metric)}")
        ax.set_title(f"Validation {metric} after each epoch")
        ax.legend(fontsize="small")
    fig.suptitle("The test split is scored once, at the end")
    return _save(fig, path)


def _log_rows(path: Path, *keys: str) -> list[dict[str, Any]]:
    """The log rows that carry every one of `keys`; a missing or damaged log gives none."""
    try:
        rows = rundir.read_jsonl(path) if path.exists() else []
    except RunFolderError:
        return []
    return [r for r in rows if isinstance(r, dict) and set(keys) <= r.keys()]
