"""One combination of a sweep, in this process: claimed, started or resumed (saying why), run, recorded.

Every engine runs combinations through here, each in a process of its own (`ftrun run-combination
SWEEP NAME`, started by an executor), so a crash, a hang or the OOM killer costs that combination only
and its peak memory is its own. It builds only its own combination's recipe, and refuses one that is
not what the launcher checked. The outcome goes to `.sweep/<name>.json` (`runner.sweep.outcomes`),
which the launcher reads when the process ends.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner import rundir
from runner.errors import FtrunError, RecipeError, first_line
from runner.recipe import reading as recipes
from runner.recipe import schema
from runner.sweep import claims, combinations, outcomes, reporting
from runner.sweep.grid import Combination
from runner.sweep.outcomes import Outcome
from runner.training.checkpoints import Checkpoints
from runner.training.run_folders import write_resolved_recipe

RunOne = Callable[..., Any]  # runner.pipeline.run_recipe(recipe, recipe_path, overwrite=, resume=)


def run_combination(
    sweep_path: Path,
    overrides: list[str],
    name: str,
    run_one: RunOne,
    rerun: bool = False,
    report: reporting.ReportStep | None = None,
    say: Callable[[str], None] | None = None,
) -> Outcome:
    """Run the combination `name` unless it is finished or another process holds it; with `report`,
    write the sweep's report if this was the last one to finish."""
    say = say or _say
    plan = combinations.plan_sweep(sweep_path, overrides)
    combination = plan.combination(name)
    recipe = plan.build(combination)  # only this one: the launcher checked them all
    _check_as_launched(plan, name, recipe)
    held = claims.claim(plan.folder, name)
    if held is None:
        return Outcome("busy", "another process is running it")
    started = time.monotonic()
    try:
        folder = plan.run_folder(name)
        if reporting.is_finished(folder) and not rerun:  # another launcher finished it a moment ago
            outcome = Outcome("skipped", "finished already")
        else:
            outcome = _run_searched(plan, combination, recipe, run_one, rerun, say)
            outcome.seconds = time.monotonic() - started
            if outcome.status == "failed":  # the log ends with the reason the launcher lists
                say(f"ftrun: error: {outcome.reason}")
        outcomes.record(plan.folder, name, outcome)
    finally:
        held.release()
    if report is not None and outcome.status == "finished":
        reporting.write_report_once(plan, report, say)
    return outcome


def _run_searched(
    plan: combinations.SweepPlan,
    combination: Combination,
    recipe: Any,
    run_one: RunOne,
    rerun: bool,
    say: Callable[[str], None],
) -> Outcome:
    """Run the combination; in an adaptive search, with the settings its study gives it, reporting each
    epoch's validation score to its trial (which may prune it) and telling the trial how it ended."""
    link = None
    if plan.adaptive:
        from runner.sweep import studies

        assert plan.search is not None
        try:
            combination, link = studies.searched(plan.folder, combination, plan.search)
        except FtrunError as error:
            return Outcome("failed", first_line(error))
        recipe = plan.build(combination)  # with the settings the study gave this trial
    folder = plan.run_folder(combination.name)
    if plan.adaptive and (trial := _same_trial_run(plan, combination, recipe)) is not None:
        _copy_run(trial, folder, recipe, plan.path)
        say(f"{combination.name}: the same run as {trial.name}, its best trial on this seed: copied")
        return Outcome("finished", outcomes.COPIED)
    options, why = restart_options(folder, recipe, rerun)
    if why:
        say(f"{combination.name}: {why}")
    if link is not None:
        options["on_epoch"] = link.on_epoch
    outcome = _attempt(run_one, recipe, plan.path, options)
    if link is not None and outcome.status == "finished":
        link.tell(folder)
        if link.pruned:
            outcome.reason = "pruned: its validation score trailed the other trials'"
    return outcome


def _same_trial_run(plan: combinations.SweepPlan, combination: Combination, recipe: Any) -> Path | None:
    """A confirmation on the search's seed repeats its method's best trial exactly (the same recipe, the
    same seed): that trial's finished run folder, so the confirmation costs nothing; None otherwise."""
    from runner.sweep import adaptive, studies

    if combination.stage != adaptive.CONFIRM_STAGE or plan.search is None:
        return None
    try:
        slot = studies.best_slot(plan.folder, adaptive.method_of(combination), plan.search)
    except FtrunError:
        return None
    trial = plan.run_folder(slot)
    saved = _saved_recipe(trial) if reporting.is_finished(trial) else None
    if saved is None or dataclasses.replace(saved, output=recipe.output) != recipe:
        return None
    return trial


def _copy_run(trial: Path, folder: Path, recipe: schema.Recipe, recipe_path: Path) -> None:
    """The trial's run folder as this combination's, named and resolved as this combination."""
    if folder.exists():
        shutil.rmtree(folder)  # an earlier attempt that did not finish
    shutil.copytree(trial, folder)
    write_resolved_recipe(folder, recipe, recipe_path)
    rundir.write_record(folder, dataclasses.replace(rundir.read_record(folder), run_name=folder.name))
    card = folder / "model" / "README.md"
    if card.is_file():  # the card names its run (a network's or a fitted baseline's card alike)
        rundir.write_text(card, card.read_text(encoding="utf-8").replace(trial.name, folder.name))


def _check_as_launched(plan: combinations.SweepPlan, name: str, recipe: schema.Recipe) -> None:
    """The recipe is the one the launcher checked (the sweep file may have changed since)."""
    manifest = claims.read_manifest(plan.folder)
    if manifest is None:  # started by hand, not by a launcher: nothing to match
        return
    launched = manifest["combinations"].get(name)  # None: another launcher's sweep file lacks it
    if launched is not None and launched != combinations.fingerprint(recipe):
        raise RecipeError(
            f"{plan.path}: combination {name} is not the one its launcher checked (the sweep file or "
            f"what it extends changed since): run `ftrun {plan.path}` again"
        )


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
