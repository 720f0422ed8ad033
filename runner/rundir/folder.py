"""The run folder: the contract that `compare`, reloading and resuming read.

outputs/<run>/recipe.toml         the fully resolved recipe
outputs/<run>/metrics.json        results and provenance (`schema_version` below); written last
outputs/<run>/predictions.jsonl   one row per eval example
outputs/<run>/train_log.jsonl     step, loss, lr, throughput (and eval accuracy per epoch)
outputs/<run>/model/              a standard Hugging Face model folder (custom code) + model card

A run replacing an older one (`--overwrite`) is built in outputs/.<run>.partial-XXXX/<run>/ and moved
to outputs/<run> only when it finishes, so a run that fails or is killed never costs the old one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from runner.errors import RunFolderError
from runner.recipe.rules import run_name_problem

CHECKPOINT = "checkpoint"
_STAGING_MARK = ".partial-"


def check_run_name(name: str, key: str = "output.run_name") -> None:
    """A run name must be one folder name: anything else could write or delete outside output.dir."""
    problem = run_name_problem(name, key)
    if problem:
        raise RunFolderError(problem)


def new_run_folder(parent: Path, name: str, overwrite: bool) -> Path:
    """A fresh folder for the run: `name`, or `name-2`, `name-3`... so no run is ever overwritten.

    With `overwrite` and an existing `name`, the new run goes to a staging folder beside it;
    `finish_run_folder` swaps it in once the run has finished.
    """
    check_run_name(name)
    ensure_output_dir(parent)
    existing = parent / name
    if overwrite and (existing.exists() or existing.is_symlink()):
        if not (existing / "recipe.toml").is_file() and not (existing / "metrics.json").is_file():
            raise RunFolderError(
                f"--overwrite: {existing} is not a run folder (no recipe.toml); remove it yourself "
                "or choose another output.run_name"
            )
        staging = Path(tempfile.mkdtemp(prefix=f".{name}{_STAGING_MARK}", dir=parent))
        (staging / name).mkdir()
        return staging / name
    for suffix in range(1, 10_000):
        candidate = parent / (name if suffix == 1 else f"{name}-{suffix}")
        try:
            # mkdir itself is the check: of two runs racing for one name, exactly one gets it.
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
        except OSError as error:
            raise RunFolderError(
                f"output.dir = {str(parent)!r}: cannot create {candidate}: {error.strerror}"
            ) from None
    raise RunFolderError(f"output.dir = {str(parent)!r}: {name}-2 ... {name}-9999 are all taken")


def staged_for(folder: Path) -> Path | None:
    """The run folder that `folder` will replace when it finishes, or None if it is not staged."""
    staging = folder.parent
    if staging.name.startswith(f".{folder.name}{_STAGING_MARK}"):
        return staging.parent / folder.name
    return None


def finish_run_folder(folder: Path) -> Path:
    """Move a finished staged run into place (the old run is removed only now); other runs stay put."""
    final = staged_for(folder)
    if final is None:
        return folder
    staging = folder.parent
    if final.exists() or final.is_symlink():
        # Renamed into the staging folder, then removed with it: a symlink is removed, never followed.
        final.rename(staging / ".replaced")
    folder.rename(final)
    shutil.rmtree(staging)
    return final


def existing_run_folder(folder: Path) -> Path:
    if not folder.is_dir():
        raise RunFolderError(f"--resume {folder}: no such folder")
    if not (folder / "recipe.toml").is_file():
        raise RunFolderError(f"--resume {folder}: not a run folder (no recipe.toml)")
    if (folder / "metrics.json").is_file():
        raise RunFolderError(f"--resume {folder}: this run already finished (metrics.json exists)")
    return folder


def ensure_output_dir(parent: Path) -> None:
    """output.dir exists (it is created) and a run folder can be made in it."""
    ensure_writable_folder(parent, f"output.dir = {str(parent)!r}")


def ensure_writable_folder(folder: Path, named: str) -> None:
    """`folder` exists (it is created) and files can be written in it; `named` is how errors name it."""
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"{named} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunFolderError(f"{named}: cannot create it: {error.strerror}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise RunFolderError(f"{named} is not writable")
