"""Finished run folders as compare reads them: each checked whole, or skipped with the reason why.

A folder is compared only if its `metrics.json` is finished, of this schema version and holds every
value the tables read with the right type, and its `predictions.jsonl` has one row per eval example.
Anything else (unfinished, hand-edited, truncated, an `--overwrite` still moving into place) is a
RunFolderError with one line saying why, which `find_runs` lists instead of failing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner import rundir
from runner.errors import RunFolderError, first_line

# What the tables, tests and seed summaries read from metrics.json, with the type each must have.
_NUMBER = (int, float)
REQUIRED_METRICS: dict[str, Any] = {
    "method": str,
    "model": str,
    "accuracy": _NUMBER,
    "accuracy_ci95": list,
    "macro_f1": _NUMBER,
    "seed": int,
    "data.eval_hash": str,
    "data.eval_size": int,
    "data.train_size": int,
    "params.trainable": int,
    "params.trainable_fraction": _NUMBER,
    "train.seconds": _NUMBER,
}


@dataclass
class Run:
    folder: Path
    metrics: dict[str, Any]
    recipe_text: str
    correct_by_id: dict[Any, bool]  # read once: every pairwise test of a group needs it
    name: str = ""  # the folder relative to the directory it was found in

    @property
    def eval_key(self) -> tuple[str, int]:
        return (self.metrics["data"]["eval_hash"], self.metrics["data"]["eval_size"])

    @property
    def notes(self) -> list[str]:
        """The warnings the run recorded: data notes and a top-level `warnings` list, if any."""
        found = [self.metrics["data"].get("notes"), self.metrics.get("warnings")]
        return [note for notes in found if isinstance(notes, list) for note in notes if isinstance(note, str)]

    @property
    def validation_accuracy(self) -> float | None:
        """The scored weights' accuracy on the validation split; None for a run without one."""
        validation = self.metrics.get("validation")
        return validation["accuracy"] if isinstance(validation, dict) else None


def find_runs(directories: list[Path]) -> tuple[list[Run], list[tuple[Path, str]]]:
    """Every run folder under the directories; unreadable ones are listed with the reason, never fatal."""
    runs: list[Run] = []
    skipped: list[tuple[Path, str]] = []
    for directory in directories:
        if not directory.is_dir():
            raise RunFolderError(f"not a directory: {directory}")
        candidates = {p.parent for p in directory.rglob("recipe.toml")} | {
            p.parent for p in directory.rglob("metrics.json")
        }
        for folder in sorted(candidates):
            if folder.name == rundir.CHECKPOINT:
                continue
            try:
                run = _read_run(folder)
            except RunFolderError as error:
                skipped.append((folder, str(error)))
                continue
            run.name = str(folder.relative_to(directory)) if folder != directory else folder.name
            runs.append(run)
    return runs, skipped


def _read_run(folder: Path) -> Run:
    """A finished run, or a RunFolderError saying why the folder cannot be compared."""
    replaces = rundir.staged_for(folder)
    if replaces is not None:
        raise RunFolderError(f"an --overwrite run of {replaces} that has not finished moving into place")
    metrics = _read_metrics(folder / "metrics.json")
    correct = _read_correctness(folder / "predictions.jsonl", metrics["data"]["eval_size"])
    recipe_path = folder / "recipe.toml"
    try:
        recipe_text = recipe_path.read_text() if recipe_path.exists() else ""
    except (OSError, UnicodeDecodeError):
        recipe_text = ""  # only the seed summary reads it
    return Run(folder, metrics, recipe_text, correct)


def _read_metrics(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise RunFolderError("unfinished: no metrics.json")
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as error:
        raise RunFolderError(f"corrupt metrics.json: {first_line(error)}") from None
    if not isinstance(metrics, dict):
        raise RunFolderError("corrupt metrics.json: not an object")
    version = metrics.get("schema_version")
    if version != rundir.SCHEMA_VERSION:
        raise RunFolderError(
            f"metrics.json schema_version {version!r}, this ftrun reads {rundir.SCHEMA_VERSION}"
        )
    if metrics.get("status") != "finished":
        raise RunFolderError(f"status {metrics.get('status')!r}, not finished")
    _check_fields(metrics)
    return metrics


def _check_fields(metrics: dict[str, Any]) -> None:
    """Every value the tables read is there with its type: a hand-edited file is skipped, never a crash."""
    for key, kind in REQUIRED_METRICS.items():
        value: Any = metrics
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None or isinstance(value, bool) or not isinstance(value, kind):
            raise RunFolderError(f"metrics.json has no valid {key} (found {value!r})")
    interval = metrics["accuracy_ci95"]
    if len(interval) != 2 or not all(isinstance(v, _NUMBER) for v in interval):
        raise RunFolderError(f"metrics.json accuracy_ci95 is not [low, high]: {interval!r}")
    for key in ("latency", "peak_memory_mb"):  # optional sections, read with .get() when present
        if not isinstance(metrics.get(key) or {}, dict):
            raise RunFolderError(f"metrics.json {key} is not an object: {metrics[key]!r}")
    _check_validation(metrics.get("validation"))


def _check_validation(validation: Any) -> None:
    """`validation` is null (no validation split) or holds the accuracy that selection chooses on."""
    if validation is None:
        return
    accuracy = validation.get("accuracy") if isinstance(validation, dict) else None
    if isinstance(accuracy, bool) or not isinstance(accuracy, _NUMBER):
        raise RunFolderError(f"metrics.json validation has no valid accuracy (found {validation!r})")


def _read_correctness(path: Path, eval_size: int) -> dict[Any, bool]:
    """Whether each eval example was predicted right, by id: what McNemar's test compares."""
    if not path.exists():
        raise RunFolderError("no predictions.jsonl")
    rows = rundir.read_jsonl(path)
    if not rows:
        raise RunFolderError("predictions.jsonl is empty: nothing to test the run on")
    if len(rows) != eval_size:
        raise RunFolderError(
            f"predictions.jsonl has {len(rows)} rows but metrics.json has eval_size {eval_size}; truncated?"
        )
    correct = {}
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or not {"id", "gold", "predicted"} <= row.keys():
            raise RunFolderError(f"predictions.jsonl row {number} lacks id, gold or predicted")
        correct[row["id"]] = row["gold"] == row["predicted"]
    return correct
