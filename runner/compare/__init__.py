"""`ftrun compare`: finished runs gathered and ranked within a group of like runs: same eval set, task and
headline metric (`comparison`), tested pairwise as the metric allows (`paired`), one configuration per
method chosen on validation (`selection`, over `configurations`), methods searched too little flagged
(`undertuned`), the verdict against the best method with its margin (`verdict`, `equivalence`,
`verdict_text`, `verdict_plots`), tables, notes and files (`exports`, `notes`), and report.md with
plots (`report`, `plots`) and, for runs with an ONNX export, what would ship (`shipping`).
"""

from __future__ import annotations

from pathlib import Path


def write_runs_report(runs: Path, folder: Path) -> list[Path]:
    """report.md and plots of the finished runs under `runs`: what a sweep writes when its last run
    ends, its verdict printed on stderr. Compare's modules load only when it is called, so importing
    this package stays light."""
    import sys

    from runner.compare.comparison import compare
    from runner.compare.report import write_report
    from runner.compare.verdict_text import console_lines

    found = compare([runs])
    written = write_report(found, folder)
    for line in console_lines(found.verdicts):
        print(line, file=sys.stderr, flush=True)
    return written
