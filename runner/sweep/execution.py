"""Run a sweep: each combination in a process of its own, here or on SLURM, then the report.

Every combination is checked before any starts; finished ones are skipped; the rest run through the
engine `[sweep.executor]` (or `--executor`) names, `parallel` at a time, each as `ftrun
run-combination` (`runner.sweep.worker`), which resumes an interrupted one from its checkpoint. A
crash costs one combination: it is listed with its reason at the end and a rerun retries it.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from runner.errors import RecipeError
from runner.recipe import loading as recipes
from runner.sweep import claims, local, placement, reporting, slurm
from runner.sweep.combinations import Sweep, load_combinations
from runner.sweep.display import SweepDisplay
from runner.sweep.settings import ExecutorSettings, with_flags
from runner.sweep.worker import Outcome, stale_note


def run_sweep(
    path: str | Path,
    overrides: list[str] | tuple[str, ...],
    flags: dict[str, Any] | None = None,
    rerun: bool = False,
    echo: Callable[[str], None] | None = None,
    worker: tuple[str, ...] | None = None,
) -> int:
    """Run every unfinished combination; 0 if all finished, 1 if any failed (listed at the end).

    `flags` are the command line's executor settings; `worker` replaces the command that runs one
    combination (`python -m runner`), for tests.
    """
    _refuse_under_a_launcher(path)
    say = echo or _echo
    sweep = load_combinations(path, overrides)  # every combination checked before the first starts
    settings = with_flags(sweep.executor, flags or {})
    fingerprints = {
        c.name: hashlib.sha256(recipes.to_toml(r).encode()).hexdigest()[:16]
        for c, r in zip(sweep.combinations, sweep.recipes, strict=True)
    }
    claims.check_sweep_folder(sweep.folder, sweep.path, fingerprints, take_over=rerun)
    say(f"sweep {sweep.path}: {len(fingerprints)} combinations into {sweep.folder}/")
    pending = _pending(sweep, rerun, say)

    def command(slot: placement.Slot, name: str) -> list[str]:
        options = [part for override in overrides for part in ("--set", override)]
        options += ["--overwrite"] if rerun else []
        options += ["--report"] if settings.engine != "local" else []  # the last task writes it there
        return [*(worker or slot.prefix), "run-combination", str(sweep.path), name, *options]

    outcomes: dict[str, Outcome] = {}
    if pending and settings.engine == "local":
        outcomes = _run_here(sweep, pending, settings, command, say)
    elif pending:
        outcomes = slurm.submit(sweep.folder, pending, settings, command, say)
        if not settings.wait:
            return 0
    return _summary(sweep, outcomes, say)


def _pending(sweep: Sweep, rerun: bool, say: Callable[[str], None]) -> list[str]:
    pending = []
    total = len(sweep.combinations)
    for number, (combination, recipe) in enumerate(zip(sweep.combinations, sweep.recipes, strict=True), 1):
        folder = sweep.folder / combination.name
        if reporting.is_finished(folder) and not rerun:
            say(
                f"[{number}/{total}] {combination.name}: finished already, skipped"
                + stale_note(folder, recipe)
            )
        else:
            pending.append(combination.name)
    return pending


def _run_here(
    sweep: Sweep,
    pending: list[str],
    settings: ExecutorSettings,
    command: placement.Command,
    say: Callable[[str], None],
) -> dict[str, Outcome]:
    slots = placement.plan_slots(settings, say)
    where = slots[0].label + (" each" if len(slots) > 1 else "")
    say(
        f"{len(pending)} to run, {len(slots)} at a time ({where}); "
        f"logs in {claims.state_folder(sweep.folder) / 'logs'}/"
    )
    total, finished_before = len(sweep.combinations), len(sweep.combinations) - len(pending)
    console = Console(stderr=True)
    with SweepDisplay(total, finished_before, len(slots), console) as display:
        try:
            return local.run_local(
                sweep.folder, pending, slots, command, display, time_limit=settings.time_minutes * 60
            )
        except KeyboardInterrupt:
            display.say(f"sweep interrupted: run `ftrun {sweep.path}` again to continue where it stopped")
            raise


def _summary(sweep: Sweep, outcomes: dict[str, Outcome], say: Callable[[str], None]) -> int:
    if not reporting.write_report_once(sweep, say):
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
