"""`ftrun compare --report DIR`: report.md and PNG plots that can be pasted into a write-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner import rundir
from runner.compare.comparison import Comparison
from runner.compare.exports import to_markdown
from runner.errors import RunFolderError

COLORS = {"full": "#4C72B0", "lora": "#DD8452", "linear": "#55A868", "prompt-linear": "#C44E52"}


def check_report_folder(folder: Path) -> None:
    """--report must name a folder ftrun can write into: checked before any comparing or drawing."""
    rundir.ensure_writable_folder(folder, f"--report {folder}")


def write_report(comparison: Comparison, folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    check_report_folder(folder)
    drawn = [
        *_selected_plots(comparison, folder),
        _accuracy_bars(comparison.rows, folder / "accuracy.png"),
        _latency_bars(comparison.rows, folder / "latency.png"),
        _accuracy_vs_trainable(comparison.rows, folder / "accuracy_vs_trainable.png"),
        _loss_curves(comparison, folder / "loss.png"),
        _validation_curves(comparison, folder / "validation.png"),
    ]
    plots = [p for p in drawn if p is not None]
    lines = ["# ftrun comparison", "", to_markdown(comparison)]
    lines += [f"![{p.stem}]({p.name})" for p in plots]
    if comparison.pairwise:
        lines += [
            "",
            "## Pairwise McNemar tests (same eval set)",
            "",
            "| group | a | b | only a right | only b right | p | significant at 5% |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {t['group']} | {t['a']} | {t['b']} | {t['only_a_right']} | {t['only_b_right']} | "
            f"{t['p_value']:.3g} | {'yes' if t['significant'] else 'no'} |"
            for t in comparison.pairwise
        ]
    rundir.write_text(folder / "report.md", "\n".join(lines) + "\n")
    return [folder / "report.md", *plots]


def _color(method: str) -> str:
    return COLORS.get(method, "#8172B3")


def _labels(rows: list[dict[str, Any]]) -> list[str]:
    several_sets = len({row["group"] for row in rows}) > 1
    labels = []
    for row in rows:
        label = row["run"] if row["run"] == row["method"] else f"{row['run']}\n({row['method']})"
        # Bars from different eval sets share a chart but not a ranking: say which set each is on.
        labels.append(f"{label}\n[eval set {row['group']}]" if several_sets else label)
    return labels


def _figure(count: int) -> Any:
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(max(5.0, 1.3 * count + 2), 4.2), layout="constrained")


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def _accuracy_bars(rows: list[dict[str, Any]], path: Path) -> Path:
    fig, ax = _figure(len(rows))
    accuracy = [100 * r["accuracy"] for r in rows]
    errors = [
        [100 * (r["accuracy"] - r["accuracy_ci_low"]) for r in rows],
        [100 * (r["accuracy_ci_high"] - r["accuracy"]) for r in rows],
    ]
    bars = ax.bar(
        range(len(rows)),
        accuracy,
        yerr=errors,
        capsize=5,
        color=[_color(r["method"]) for r in rows],
    )
    ax.bar_label(
        bars, labels=[f"{a:.1f}%" for a in accuracy], label_type="center", color="white", fontweight="bold"
    )
    ax.set_xticks(range(len(rows)), _labels(rows))
    ax.set_ylabel("accuracy on the eval set (%)")
    ax.set_ylim(min(50.0, min(accuracy) - 5), 100)
    ax.set_title("Accuracy with 95% confidence intervals")
    return _save(fig, path)


def _latency_bars(rows: list[dict[str, Any]], path: Path) -> Path | None:
    timed = [r for r in rows if r["latency_p50_ms"] is not None]
    if not timed:
        return None
    fig, ax = _figure(len(timed))
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


def _selected_plots(comparison: Comparison, folder: Path) -> list[Path]:
    """A sweep's answer in two pictures: each method's configuration chosen on validation, its test
    accuracy (bar: mean over seeds, line: 95% interval, dots: seeds) and its batch-1 latency."""
    from runner.compare.selection import reported

    several = len(comparison.selections) > 1
    chosen = [
        (
            f"{method}\n{configuration.label}" + (f"\n[eval set {group}]" if several else ""),
            method,
            reported(configuration),
        )
        for group, selection in enumerate(comparison.selections, start=1)
        for method, configuration in selection.selected.items()
    ]
    if not chosen:
        return []
    latency = _selected_latency(chosen, folder / "selected_latency.png")
    return [_selected_accuracy(chosen, folder / "selected_accuracy.png"), *([latency] if latency else [])]


def _selected_accuracy(chosen: list[tuple[str, str, Any]], path: Path) -> Path:
    fig, ax = _figure(len(chosen))
    means = [100 * test.mean for _, _, test in chosen]
    errors = [[0.0] * len(chosen), [0.0] * len(chosen)]
    for i, (_, _, test) in enumerate(chosen):
        if test.ci95 is not None:
            errors[0][i], errors[1][i] = means[i] - 100 * test.ci95[0], 100 * test.ci95[1] - means[i]
    bars = ax.bar(range(len(chosen)), means, yerr=errors, capsize=5, color=[_color(m) for _, m, _ in chosen])
    for i, (_, _, test) in enumerate(chosen):
        ax.scatter(
            [i] * len(test.accuracies), [100 * a for a in test.accuracies], color="black", s=12, zorder=3
        )
    ax.bar_label(
        bars, labels=[f"{a:.1f}%" for a in means], label_type="center", color="white", fontweight="bold"
    )
    ax.set_xticks(range(len(chosen)), [label for label, _, _ in chosen])
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(min(50.0, min(means) - 5), 100)
    ax.set_title("Selected on validation: test accuracy (mean of seeds, 95% CI, seeds as dots)")
    return _save(fig, path)


def _selected_latency(chosen: list[tuple[str, str, Any]], path: Path) -> Path | None:
    timed = [(label, method, test) for label, method, test in chosen if test.latency_ms is not None]
    if not timed:
        return None
    fig, ax = _figure(len(timed))
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


def _accuracy_vs_trainable(rows: list[dict[str, Any]], path: Path) -> Path:
    fig, ax = _figure(4)
    for row in rows:
        x = 100 * row["trainable_fraction"]
        ax.errorbar(
            x,
            100 * row["accuracy"],
            yerr=[
                [100 * (row["accuracy"] - row["accuracy_ci_low"])],
                [100 * (row["accuracy_ci_high"] - row["accuracy"])],
            ],
            fmt="o",
            capsize=4,
            color=_color(row["method"]),
        )
        ax.annotate(row["run"], (x, 100 * row["accuracy"]), textcoords="offset points", xytext=(6, 4))
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters (% of total, log scale)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Accuracy against the share of weights trained")
    return _save(fig, path)


def _loss_curves(comparison: Comparison, path: Path) -> Path | None:
    fig, ax = _figure(4)
    drawn = 0
    for group in comparison.groups:
        for run in group:
            rows = _loss_rows(run.folder / "train_log.jsonl")
            if rows:
                ax.plot(
                    [r["step"] for r in rows],
                    [r["loss"] for r in rows],
                    marker=".",
                    label=f"{run.name} ({run.metrics['method']})",
                )
                drawn += 1
    if not drawn:
        return None
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss (cross-entropy)")
    ax.set_title("Training loss")
    ax.legend()
    return _save(fig, path)


def _validation_curves(comparison: Comparison, path: Path) -> Path | None:
    """Per-epoch validation accuracy: what best-epoch choice and early stopping looked at."""
    fig, ax = _figure(4)
    drawn = 0
    for group in comparison.groups:
        for run in group:
            rows = _log_rows(run.folder / "train_log.jsonl", "epoch", "validation_accuracy")
            if rows:
                ax.plot(
                    [r["epoch"] for r in rows],
                    [100 * r["validation_accuracy"] for r in rows],
                    marker="o",
                    label=f"{run.name} ({run.metrics['method']})",
                )
                drawn += 1
    if not drawn:
        import matplotlib.pyplot as plt

        plt.close(fig)
        return None
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title("Validation accuracy after each epoch (the test split is scored once, at the end)")
    ax.legend(fontsize="small")
    return _save(fig, path)


def _loss_rows(path: Path) -> list[dict[str, Any]]:
    """A run's logged losses; a missing or damaged log only leaves its curve out of the plot."""
    return _log_rows(path, "step", "loss")


def _log_rows(path: Path, *keys: str) -> list[dict[str, Any]]:
    """The log rows that carry every one of `keys`; a missing or damaged log gives none."""
    try:
        rows = rundir.read_jsonl(path) if path.exists() else []
    except RunFolderError:
        return []
    return [r for r in rows if isinstance(r, dict) and set(keys) <= r.keys()]
