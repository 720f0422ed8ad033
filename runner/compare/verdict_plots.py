"""The verdict's picture: each method's test score against each of its costs (log scale), the Pareto
front joined, dominated methods hollow and grey, methods not tuned enough left out and named."""

from __future__ import annotations

from pathlib import Path

from runner.compare.verdict import COSTS, PARETO_COSTS, Verdict
from runner.formatting import axis_unit, plotted

UNITS = {"train_seconds": "s", "peak_memory_mb": "MB", "latency_ms": "ms", "trainable": "", "stored_mb": "MB"}


def pareto_plot(verdict: Verdict, path: Path) -> Path | None:
    import matplotlib.pyplot as plt

    ranked = [m for m in verdict.methods if m.ranked]
    costs = [k for k in PARETO_COSTS if sum(m.costs.get(k) is not None for m in ranked) >= 1]
    if not ranked or not costs:
        return None
    names = {key: name for key, name, _ in COSTS}
    fig, axes = plt.subplots(
        1, len(costs), figsize=(4.2 * len(costs), 4.2), layout="constrained", squeeze=False
    )
    metric = verdict.metric
    for ax, key in zip(axes[0], costs, strict=True):
        shown = [m for m in ranked if m.costs.get(key)]
        for m in shown:
            x, y = m.costs[key], plotted(metric, m.test_mean)
            style = {"facecolors": "none", "edgecolors": "grey"} if m.dominated else {"color": "#4C72B0"}
            ax.scatter([x], [y], s=60, zorder=3, **style)
            ax.annotate(
                m.method + (" (dominated)" if m.dominated else ""),
                (x, y),
                textcoords="offset points",
                xytext=(6, 4),
                fontsize="small",
                color="grey" if m.dominated else "black",
            )
        front = sorted((m for m in shown if not m.dominated), key=lambda m: m.costs[key] or 0.0)
        if len(front) > 1:
            ax.plot(
                [m.costs[key] for m in front],
                [plotted(metric, m.test_mean) for m in front],
                color="#4C72B0",
                linestyle="--",
                linewidth=1,
            )
        ax.set_xscale("log")
        unit = UNITS.get(key, "")
        ax.set_xlabel(f"{names[key]}{f' ({unit})' if unit else ''}, log scale")
        ax.set_ylabel(f"test {metric}{axis_unit(metric)}")
    left_out = [m.method for m in verdict.methods if not m.ranked]
    title = f"Test {metric} against each cost: the Pareto front dashed, dominated methods hollow"
    if left_out:
        title += f"\nnot tuned enough, not shown: {', '.join(left_out)}"
    fig.suptitle(title)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path
