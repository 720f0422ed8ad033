"""One combination of a sweep, in this process: claimed, started or resumed (saying why), run, recorded.

Every engine runs combinations through here, each in a process of its own (`ftrun run-combination
SWEEP NAME`, started by the local pool or by a SLURM task), so a crash, a hang or the OOM killer costs
that combination only and its peak memory is its own. The outcome goes to `.sweep/<name>.json`, which
the launcher reads when the process ends; a process that dies before writing it is reported from its
exit status instead.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner import rundir
from runner.errors import FtrunError, first_line
from runner.recipe import loading as recipes
from runner.recipe import schema
from runner.sweep import claims, reporting
from runner.sweep.combinations import load_combinations
from runner.training.checkpoints import Checkpoints

RunOne = Callable[..., Any]  # runner.pipeline.run_recipe(recipe, recipe_path, overwrite=, resume=)
EXIT_FAILED = 1
EXIT_BUSY = 75  # another process holds the combination (EX_TEMPFAIL): not a failure


@dataclasses.dataclass
class Outcome:
    status: str  # finished | skipped | failed | busy
    reason: str = ""
    seconds: float = 0.0


def run_combination(
    sweep_path: Path,
    overrides: list[str],
    name: str,
    run_one: RunOne,
    rerun: bool = False,
    report: bool = False,
    say: Callable[[str], None] | None = None,
) -> Outcome:
    """Run the combination `name` unless it is finished or another process holds it."""
    say = say or _say
    sweep = load_combinations(sweep_path, overrides)
    recipe = sweep.recipe_of(name)
    held = claims.claim(sweep.folder, name)
    if held is None:
        return Outcome("busy", "another process is running it")
    started = time.monotonic()
    try:
        folder = sweep.folder / name
        if reporting.is_finished(folder) and not rerun:  # another launcher finished it a moment ago
            outcome = Outcome("skipped", "finished already")
        else:
            options, why = restart_options(folder, recipe, rerun)
            if why:
                say(f"{name}: {why}")
            outcome = _attempt(run_one, recipe, sweep.path, options)
            outcome.seconds = time.monotonic() - started
            if outcome.status == "failed":  # the log ends with the reason the launcher lists
                say(f"ftrun: error: {outcome.reason}")
        _record(sweep.folder, name, outcome)
    finally:
        held.release()
    if report and outcome.status == "finished":
        reporting.write_report_once(sweep, say)
    return outcome


def _attempt(run_one: RunOne, recipe: schema.Recipe, path: Path, options: dict[str, Any]) -> Outcome:
    try:
        run_one(recipe, path, **options)
    except FtrunError as error:
        return Outcome("failed", first_line(error))
    except Exception as error:  # a bug: the traceback goes to the combination's log, one line to the list
        traceback.print_exc()
        return Outcome("failed", f"{type(error).__name__}: {first_line(error)}")
    return Outcome("finished")


def restart_options(folder: Path, recipe: schema.Recipe, rerun: bool) -> tuple[dict[str, Any], str]:
    """How to start a combination whose folder exists: resume it, or start again in place, and why."""
    if not folder.exists():
        return {}, ""
    # In place: a new run would go to `<name>-2`, outside the layout the sweep and compare read.
    if rerun:
        return {"overwrite": True}, "running it again (--overwrite)"
    saved = _saved_recipe(folder)
    step = _checkpoint_step(folder)
    if step is not None and saved == recipe:
        return {"resume": folder}, f"resuming from its checkpoint at step {step}"
    if step is not None:
        return {"overwrite": True}, "its recipe changed since it started: starting again"
    return {"overwrite": True}, "interrupted before its first complete checkpoint: starting again"


def stale_note(folder: Path, recipe: schema.Recipe) -> str:
    if _saved_recipe(folder) == recipe:
        return ""
    return " (its recipe differs from what the sweep gives now; delete the folder to run it again)"


def ended(sweep_folder: Path, name: str, code: int, since: float) -> Outcome:
    """How a combination's process ended: the outcome it recorded after `since` (a wall-clock time),
    or, where it died without one, its exit status or signal and its log's last line."""
    if code == EXIT_BUSY:
        return Outcome("busy", "running in another launcher, left to it")
    recorded = read_outcome(sweep_folder, name, since)
    if recorded is not None:
        return recorded
    if code < 0:
        killer = signal.Signals(-code).name
        cause = " (the out-of-memory killer?)" if -code == signal.SIGKILL else ""
        reason = f"its process was killed by {killer}{cause}"
    else:
        reason = f"its process exited with status {code}"
    log = claims.log_file(sweep_folder, name)
    last = claims.last_line(log)
    return Outcome("failed", f"{reason}; last line of {log}: {last}" if last else reason)


def read_outcome(sweep_folder: Path, name: str, since: float) -> Outcome | None:
    """The outcome a worker recorded after `since` (a wall-clock time), or None."""
    path = _outcome_file(sweep_folder, name)
    try:
        if path.stat().st_mtime < since:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return Outcome(str(data["status"]), str(data.get("reason", "")), float(data.get("seconds", 0)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _record(sweep_folder: Path, name: str, outcome: Outcome) -> None:
    data = {
        **dataclasses.asdict(outcome),
        "host": socket.gethostname(),
        "pid": os.getpid(),  # the process whose peak memory the run's metrics.json reports
        "finished_at": time.time(),
    }
    rundir.write_json(_outcome_file(sweep_folder, name), data)


def _outcome_file(sweep_folder: Path, name: str) -> Path:
    return claims.state_folder(sweep_folder) / f"{name}.json"


def _checkpoint_step(folder: Path) -> int | None:
    complete = Checkpoints(folder / rundir.CHECKPOINT, every=0, keep=1).complete()
    if not complete:
        return None
    digits = "".join(c for c in Path(complete[-1]).name if c.isdigit())
    return int(digits) if digits else 0


def _saved_recipe(folder: Path) -> schema.Recipe | None:
    try:
        return recipes.load(folder / "recipe.toml")
    except FtrunError:
        return None


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
