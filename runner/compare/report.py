"""`ftrun compare --report DIR`: report.md and PNG plots that can be pasted into a write-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner import rundir
from runner.compare import plots, verdict_plots
from runner.compare.calibration_table import calibration_markdown
from runner.compare.comparison import Comparison
from runner.compare.exports import tested, to_markdown
from runner.compare.paired import MCNEMAR
from runner.compare.shipping import shipping_markdown


def check_report_folder(folder: Path) -> None:
    """--report must name a folder ftrun can write into: checked before any comparing or drawing."""
    rundir.ensure_writable_folder(folder, f"--report {folder}")


def write_report(comparison: Comparison, folder: Path) -> list[Path]:
    """report.md, the verdict first, and its plots: the Pareto front of each verdict, then one chart of
    each kind per headline metric (`accuracy.png`, `macro_f1.png`, ...), since scores of different
    metrics share no axis."""
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    check_report_folder(folder)
    by_metric = {m: [row for row in comparison.rows if row["metric"] == m] for m in comparison.metrics}
    several = len(comparison.verdicts) > 1
    drawn = [
        *(
            verdict_plots.pareto_plot(v, folder / (f"pareto_{v.group}.png" if several else "pareto.png"))
            for v in comparison.verdicts
        ),
        *plots.selected_plots(comparison, folder),
        *(plots.score_bars(rows, metric, folder / f"{metric}.png") for metric, rows in by_metric.items()),
        plots.latency_bars(comparison.rows, folder / "latency.png"),
        *(
            plots.score_vs_trainable(rows, metric, folder / f"{metric}_vs_trainable.png")
            for metric, rows in by_metric.items()
        ),
        plots.loss_curves(comparison, folder / "loss.png"),
        plots.validation_curves(comparison, folder / "validation.png"),
    ]
    written = [p for p in drawn if p is not None]
    lines = ["# ftrun comparison", "", to_markdown(comparison)]
    lines += [f"![{p.stem}]({p.name})" for p in written]
    lines += _pairwise_markdown(comparison)
    lines += calibration_markdown(comparison)
    lines += shipping_markdown(comparison.rows)
    rundir.write_text(folder / "report.md", "\n".join(lines) + "\n")
    return [folder / "report.md", *written]


def _pairwise_markdown(comparison: Comparison) -> list[str]:
    """Every pair of runs within each group: McNemar for accuracy, the paired bootstrap otherwise."""
    lines = []
    mcnemar = [t for t in comparison.pairwise if t["test"] == MCNEMAR]
    bootstrap = [t for t in comparison.pairwise if t["test"] != MCNEMAR]
    if mcnemar:
        lines += [
            "",
            "## Pairwise McNemar tests (same eval set)",
            "",
            "| group | a | b | only a right | only b right | p | significant at 5% |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {t['group']} | {t['a']} | {t['b']} | {t['only_a_right']} | {t['only_b_right']} | "
            f"{t['p_value']:.3g} | {_yes(t)} |"
            for t in mcnemar
        ]
    if bootstrap:
        lines += [
            "",
            "## Pairwise paired-bootstrap tests (same eval set, task and metric)",
            "",
            "The difference of the metric, a − b, on the same 1000 resamples of the eval examples (seed 0), "
            "with its percentile 95% interval; p by the shift method.",
            "",
            "| group | a | b | metric | difference a − b (95% CI) | p | significant at 5% |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {t['group']} | {t['a']} | {t['b']} | {t['metric']} | {tested(t, t['metric'])} | "
            f"{t['p_value']:.3g} | {_yes(t)} |"
            for t in bootstrap
        ]
    return lines


def _yes(test: dict[str, Any]) -> str:
    return "yes" if test["significant"] else "no"
