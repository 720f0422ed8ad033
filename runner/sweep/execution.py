"""Run a sweep: each combination in a process of its own, through its executor, then the report.

Every combination is checked before any starts; finished ones are skipped; the rest go to the executor
`[sweep.executor]` (or `--executor`) names (`runner.sweep.executors`), each run as `ftrun
run-combination` (`runner.sweep.worker`), which resumes an interrupted one from its checkpoint. A
crash costs one combination: it is listed with its reason at the end and a rerun retries it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.errors import RecipeError
from runner.sweep import claims, executors, placement, reporting
from runner.sweep.combinations import TABLE, Sweep, fingerprint, load_combinations
from runner.sweep.executors.base import Executor, Launch
from runner.sweep.outcomes import Outcome
from runner.sweep.settings import executor_settings
from runner.sweep.worker import stale_note


def run_sweep(
    path: str | Path,
    overrides: list[str] | tuple[str, ...],
    report: reporting.ReportStep,
    flags: dict[str, Any] | None = None,
    rerun: bool = False,
    echo: Callable[[str], None] | None = None,
    worker: tuple[str, ...] | None = None,
) -> int:
    """Run every unfinished combination; 0 if all finished, 1 if any failed (listed at the end).

    `report` writes the report once all have finished (`runner.compare.write_runs_report`, handed in
    by the command line); `flags` are the command line's executor settings; `worker` replaces the
    command that runs one combination (`python -m runner`), for tests.
    """
    _refuse_under_a_launcher(path)
    say = echo or _echo
    sweep = load_combinations(path, overrides)  # every combination checked before the first starts
    settings = executor_settings(sweep.executor_table, f"{sweep.path}: [{TABLE}]", flags)
    executor: Executor = executors.executor_class(settings.engine)(settings)
    fingerprints = {c.name: fingerprint(r) for c, r in zip(sweep.combinations, sweep.recipes, strict=True)}
    claims.check_sweep_folder(sweep.folder, sweep.path, fingerprints, take_over=rerun)
    say(f"sweep {sweep.path}: {len(fingerprints)} combinations into {sweep.folder}/")
    pending = _pending(sweep, rerun, say)

    def command(slot: placement.Slot, name: str) -> list[str]:
        options = [part for override in overrides for part in ("--set", override)]
        options += ["--overwrite"] if rerun else []
        options += ["--report"] if executor.workers_write_report else []
        return [*(worker or slot.prefix), "run-combination", str(sweep.path), name, *options]

    def launch(names: list[str], later: int) -> dict[str, Outcome]:
        # `later`: combinations left for a later launch (a search's confirmations), not counted as done
        total = len(sweep.combinations) - later
        return executor.run(Launch(sweep.path, sweep.folder, names, total, command, say))

    if sweep.adaptive:
        return _search_then_confirm(sweep, pending, launch, executor.waits, report, say)
    outcomes: dict[str, Outcome] = {}
    if pending:
        outcomes = launch(pending, 0)
        if not executor.waits:
            return 0
    return _summary(sweep, outcomes, report, say)


def _search_then_confirm(
    sweep: Sweep,
    pending: list[str],
    launch: Callable[[list[str], int], dict[str, Outcome]],
    waits: bool,
    report: reporting.ReportStep,
    say: Callable[[str], None],
) -> int:
    """An adaptive search: its trials first, then each method's best setting on every seed."""
    from runner.sweep import adaptive, studies

    assert sweep.search is not None
    trials = [c for c in sweep.combinations if c.stage == adaptive.SEARCH_STAGE]
    studies.reconcile(sweep.folder, trials, sweep.search)  # trials a killed process did not tell
    searching = [name for name in pending if sweep.combination(name).stage == adaptive.SEARCH_STAGE]
    confirming = [name for name in pending if name not in searching]
    outcomes = launch(searching, len(confirming)) if searching else {}
    if not waits:
        if searching:
            say("the confirmations start once the search has ended: run the sweep again then")
            return 0
    else:
        studies.reconcile(sweep.folder, trials, sweep.search)
    if any(o.status in ("failed", "busy") for o in outcomes.values()):
        say("the search did not end: its confirmations wait for the next start")
        return _summary(sweep, outcomes, report, say)
    outcomes |= launch(confirming, 0) if confirming else {}
    return _summary(sweep, outcomes, report, say) if waits or not confirming else 0


def _pending(sweep: Sweep, rerun: bool, say: Callable[[str], None]) -> list[str]:
    pending = []
    total = len(sweep.combinations)
    for number, (combination, recipe) in enumerate(zip(sweep.combinations, sweep.recipes, strict=True), 1):
        folder = sweep.run_folder(combination.name)
        if reporting.is_finished(folder) and not rerun:
            # An adaptive search's settings come from its study, not the sweep file: no stale note.
            stale = "" if sweep.adaptive else stale_note(folder, recipe)
            say(f"[{number}/{total}] {combination.name}: finished already, skipped{stale}")
        else:
            pending.append(combination.name)
    return pending


def _summary(
    sweep: Sweep, outcomes: dict[str, Outcome], report: reporting.ReportStep, say: Callable[[str], None]
) -> int:
    if not reporting.write_report_once(sweep, report, say):
        left = reporting.unfinished(sweep)
        if not left:
            say(f"report up to date: {sweep.folder / reporting.REPORT / 'report.md'}")
        elif not any(o.status == "failed" for o in outcomes.values()):
            say(f"no report yet: {len(left)} combination(s) unfinished ({', '.join(left[:5])}"
                f"{', ...' if len(left) > 5 else ''})")  # fmt: skip
    failures = [(name, o.reason) for name, o in outcomes.items() if o.status == "failed"]
    for name, reason in failures:
        say(f"failed {name}: {reason}")
    if failures:
        say(
            f"{len(failures)} of {len(sweep.combinations)} combinations failed; "
            "run the sweep again to retry them"
        )
    return 1 if failures else 0


def _refuse_under_a_launcher(path: str | Path) -> None:
    # Under `accelerate launch` every process would start the whole sweep's processes again.
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise RecipeError(
            f"{path} is a sweep: it starts its own processes; run `ftrun {path} --gpus-per-run K` "
            "instead of under accelerate launch or torchrun"
        )


def _echo(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
