"""Run a sweep: every combination in turn, finished ones skipped, failures listed, then the report.

Each combination is a normal run (`run_one` is `runner.pipeline.run_recipe`) into its own folder, so an
interrupted sweep continues where it stopped: finished folders are skipped, a folder with a
checkpoint resumes, anything else left behind starts again in place.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner import rundir
from runner.errors import FtrunError, first_line
from runner.recipe import loading as recipes
from runner.recipe import schema
from runner.sweep.combinations import load_combinations
from runner.training.checkpoints import Checkpoints

RunOne = Callable[..., Any]  # runner.pipeline.run_recipe(recipe, recipe_path, overwrite=, resume=)


def run_sweep(
    path: str | Path,
    overrides: list[str] | tuple[str, ...],
    run_one: RunOne,
    rerun: bool = False,
    echo: Callable[[str], None] | None = None,
) -> int:
    """Run every combination in turn; 0 if all finished, 1 if any failed (listed at the end)."""
    say = echo or _echo
    sweep = load_combinations(path, overrides)  # every combination checked before the first trains
    total = len(sweep.combinations)
    say(f"sweep {sweep.path}: {total} combinations into {sweep.folder}/")
    failures: list[tuple[str, str]] = []
    for number, (combination, recipe) in enumerate(
        zip(sweep.combinations, sweep.recipes, strict=True), start=1
    ):
        folder = sweep.folder / combination.name
        if (folder / "metrics.json").is_file() and not rerun:
            stale = _stale_note(folder, recipe)
            say(f"[{number}/{total}] {combination.name}: finished already, skipped{stale}")
            continue
        say(f"[{number}/{total}] {combination.name}")
        try:
            run_one(recipe, sweep.path, **_restart_options(folder, recipe, rerun))
        except KeyboardInterrupt:
            say(f"sweep interrupted: run `ftrun {sweep.path}` again to continue where it stopped")
            raise
        except FtrunError as error:
            failures.append((combination.name, first_line(error)))
        except Exception as error:  # a bug in one combination must not cost the rest of the sweep
            traceback.print_exc()
            failures.append((combination.name, f"{type(error).__name__}: {first_line(error)}"))
        _free_accelerator_memory()
    if _is_main_process():
        _write_report(sweep.folder, say)
    for name, reason in failures:
        say(f"failed {name}: {reason}")
    if failures:
        say(f"{len(failures)} of {total} combinations failed; run the sweep again to retry them")
    return 1 if failures else 0


def _restart_options(folder: Path, recipe: schema.Recipe, rerun: bool) -> dict[str, Any]:
    """A folder left by an interrupted run: resume it if it can be, else start it again in place."""
    if not folder.exists():
        return {}
    has_checkpoint = bool(Checkpoints(folder / rundir.CHECKPOINT, every=0, keep=1).complete())
    if not rerun and has_checkpoint and _saved_recipe(folder) == recipe:
        return {"resume": folder}
    # Without this the run would go to `<name>-2`, outside the layout the sweep and compare read.
    return {"overwrite": True}


def _stale_note(folder: Path, recipe: schema.Recipe) -> str:
    if _saved_recipe(folder) == recipe:
        return ""
    return " (its recipe differs from what the sweep gives now; delete the folder to run it again)"


def _saved_recipe(folder: Path) -> schema.Recipe | None:
    try:
        return recipes.load(folder / "recipe.toml")
    except FtrunError:
        return None


def _write_report(folder: Path, say: Callable[[str], None]) -> None:
    """report/report.md and the plots: each method's configuration chosen on validation, then every run."""
    from runner.compare import comparison as compare
    from runner.compare.report import write_report

    try:
        result = compare.compare([folder])
    except FtrunError as error:
        say(f"no report: {first_line(error)}")
        return
    for written in write_report(result, folder / "report"):
        say(f"wrote {written}")


def _free_accelerator_memory() -> None:
    # A failed run can leave its model on the GPU; the next combination needs that memory.
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        import gc

        gc.collect()
        torch.cuda.empty_cache()


def _is_main_process() -> bool:
    # Under `accelerate launch`/torchrun every process runs the sweep; one writes the report.
    return os.environ.get("RANK", "0") == "0"


def _echo(line: str) -> None:
    if _is_main_process():
        print(line, file=sys.stderr, flush=True)
