"""Which folder a run writes into: a fresh one named after the run, or the one it resumes, checked to
hold the same recipe and a checkpoint to resume from."""

from __future__ import annotations

from pathlib import Path

from runner import rundir
from runner.errors import RunFolderError
from runner.recipe import reading as recipes
from runner.recipe.schema import Recipe
from runner.training.checkpoints import Checkpoints


def run_name(recipe: Recipe, recipe_path: Path) -> str:
    return recipe.output.run_name or recipe_path.stem


def resumed_folder(recipe: Recipe, resume: Path) -> Path:
    folder = rundir.existing_run_folder(resume)
    if recipes.load(folder / "recipe.toml") != recipe:
        raise RunFolderError(f"--resume {folder}: the recipe differs from the one this run started with")
    # A resume that would start from step 0 is not what was asked for (the Trainer refuses it too).
    problem = Checkpoints(folder / rundir.CHECKPOINT, every=0, keep=1).nothing_to_resume()
    if problem is not None:
        raise RunFolderError(
            f"--resume {folder}: nothing to resume from: {problem}; to start afresh, run the recipe "
            "without --resume (with --overwrite to replace this run folder)"
        )
    return folder


def run_folder(recipe: Recipe, recipe_path: Path, overwrite: bool, resume: Path | None) -> Path:
    """A fresh run folder holding the resolved recipe, or the one being resumed (checked)."""
    if resume is not None:
        return resumed_folder(recipe, resume)
    folder = rundir.new_run_folder(Path(recipe.output.dir), run_name(recipe, recipe_path), overwrite)
    write_resolved_recipe(folder, recipe, recipe_path)
    return folder


def write_resolved_recipe(folder: Path, recipe: Recipe, recipe_path: Path) -> None:
    """`recipe.toml`: the recipe as it ran, every default filled in, and the file it came from."""
    rundir.write_text(folder / "recipe.toml", f"# resolved from {recipe_path}\n" + recipes.to_toml(recipe))
