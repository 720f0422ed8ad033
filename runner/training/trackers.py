"""Experiment trackers (TensorBoard, W&B, MLflow, ...) through accelerate: every run of a project in one
place, each named after its run folder, with the resolved recipe as its config."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.errors import RecipeError
from runner.recipe import identity
from runner.recipe.schema import Recipe

if TYPE_CHECKING:
    from accelerate import Accelerator


def check_tracker(name: str) -> None:
    """The tracker `train.log_with` names is installed (the schema already checked its name)."""
    import accelerate.utils

    if name and not getattr(accelerate.utils, f"is_{name}_available")():
        raise RecipeError(
            f"train.log_with = {name!r}: the {name} package is not installed (pip install {name})"
        )


# How each tracker names a run inside its project (accelerate passes the project name itself).
_RUN_NAME_KEY = {
    "wandb": "name",
    "trackio": "name",
    "mlflow": "run_name",
    "clearml": "task_name",
    "swanlab": "experiment_name",
}
# Trackers whose project is a folder (tracker_dir): accelerate's "project name" is the run's subfolder.
_FOLDER_TRACKERS = ("tensorboard", "aim")


def tracker_dir(recipe: Recipe) -> Path:
    """Where folder-based trackers log: one folder per project, shared by all its runs."""
    return Path(recipe.output.dir) / recipe.train.log_with / recipe.train.tracker_project


def start_tracker(accelerator: Accelerator, recipe: Recipe, run_name: str) -> None:
    """All runs of `train.tracker_project` in one project, each named after its run folder, with the
    resolved recipe as its config (comet_ml and dvclive get the project only)."""
    tracker, project = recipe.train.log_with, recipe.train.tracker_project
    if tracker in _FOLDER_TRACKERS:
        accelerator.init_trackers(run_name, config=tracker_config(recipe))
        return
    name_key = _RUN_NAME_KEY.get(tracker)
    init_kwargs = {tracker: {name_key: run_name}} if name_key else {}
    accelerator.init_trackers(project, config=tracker_config(recipe), init_kwargs=init_kwargs)


def tracker_config(recipe: Recipe) -> dict[str, Any]:
    """The resolved recipe as flat `section.key` values (trackers take scalars; lists become text)."""
    flat = identity.flatten(identity.as_tables(recipe))
    return {key: str(value) if isinstance(value, (list, dict)) else value for key, value in flat.items()}
