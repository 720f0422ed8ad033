"""`ftrun compare`: finished runs gathered and ranked within a group of like runs: same eval set, task and
headline metric (`comparison`), tested pairwise as the metric allows (`paired`), one configuration per
method chosen on validation (`selection`, over `configurations`), tables, notes and files (`exports`,
`notes`, `figures`), and report.md with plots (`report`, `plots`) and, for runs with an ONNX export,
what would ship (`shipping`).
"""

from __future__ import annotations

from pathlib import Path


def write_runs_report(runs: Path, folder: Path) -> list[Path]:
    """report.md and plots of the finished runs under `runs`: what a sweep writes when its last run
    ends. Compare's modules load only when it is called, so importing this package stays light."""
    from runner.compare.comparison import compare
    from runner.compare.report import write_report

    return write_report(compare([runs]), folder)
