"""A sweep's progress on disk, and its report: written once, by whoever finishes the last combination.

The report is `ftrun compare`'s report of the sweep folder (`<sweep folder>/report/`), a step the
command line hands in (`ReportStep`): the sweep comes before compare and imports nothing of it. With
several launchers or a SLURM array, every process that finishes a combination looks: when none is
left, one of them (under a lock) writes it, and any other finds it newer than every run and leaves it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from runner import rundir
from runner.errors import FtrunError, first_line
from runner.sweep import claims

if TYPE_CHECKING:
    from runner.sweep.combinations import SweepPlan

REPORT = "report"
# Writes the report of the runs under a folder (the sweep folder) into another; the files written.
ReportStep = Callable[[Path, Path], list[Path]]


def is_finished(run_folder: Path) -> bool:
    return (run_folder / "metrics.json").is_file()


def unfinished(sweep: SweepPlan) -> list[str]:
    return [c.name for c in sweep.combinations if not is_finished(sweep.run_folder(c.name))]


def write_report_once(
    sweep: SweepPlan, write: ReportStep, say: Callable[[str], None], force: bool = False
) -> list[Path]:
    """The report, if every combination has finished and no one wrote it since the last run ended."""
    if unfinished(sweep):
        return []
    with rundir.one_writer(claims.state_folder(sweep.folder) / "report.lock"):
        if not force and _report_is_current(sweep):
            return []
        try:
            written = write(sweep.report_runs, sweep.folder / REPORT)
            if sweep.adaptive:  # what each method's search was given and used, beside the comparison
                from runner.sweep import budget

                written += budget.write_budget(sweep, sweep.folder / REPORT)
        except FtrunError as error:
            say(f"no report: {first_line(error)}")
            return []
    for path in written:
        say(f"wrote {path}")
    return written


def _report_is_current(sweep: SweepPlan) -> bool:
    report = sweep.folder / REPORT / "report.md"
    if not report.is_file():
        return False
    newest_run = max((sweep.run_folder(c.name) / "metrics.json").stat().st_mtime for c in sweep.combinations)
    return report.stat().st_mtime >= newest_run
