"""report.md's calibration table: per run, how well its shipped probabilities are calibrated on the eval
split (expected calibration error and Brier score, after the temperature where one was fitted).
Methods differ in how sure they are when wrong, which accuracy alone does not show."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runner.formatting import score_text

if TYPE_CHECKING:
    from runner.compare.comparison import Comparison


def calibration_markdown(comparison: Comparison) -> list[str]:
    """The table, or nothing where no run recorded calibration figures (a regression, older runs)."""
    rows = [row for row in comparison.rows if row.get("ece") is not None]
    if not rows:
        return []
    lines = [
        "",
        "## Calibration (eval split, lower is better; after the temperature where one was fitted)",
        "",
        "| run | method | ECE | Brier |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {row['run']} | {row['method']} | {score_text('ece', row['ece'])} | "
        f"{score_text('brier', row['brier'])} |"
        for row in rows
    ]
    return lines
