"""Finished run folders as compare reads them: each checked whole, or skipped with the reason why.

A folder is compared only if its `metrics.json` is finished, of this schema version and holds every
value the tables read with the right type, and its `predictions.jsonl` has one row per eval example of
its task's form. Anything else (unfinished, hand-edited, truncated, an `--overwrite` still moving into
place) is a RunFolderError with one line saying why, which `find_runs` lists instead of failing.

Runs written before task types existed (no `task`, `metric`, `score`) are single-label runs scored by
accuracy; `runner.scoring.headline` reads both kinds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from runner import registry, rundir
from runner.errors import RunFolderError, first_line
from runner.scoring import headline

VALIDATION_PREDICTIONS = "validation_predictions.jsonl"

# What the tables, tests and seed summaries read from every run's metrics.json, with each one's type.
_NUMBER = (int, float)
REQUIRED_METRICS: dict[str, Any] = {
    "method": str,
    "model": str,
    "seed": int,
    "data.eval_hash": str,
    "data.eval_size": int,
    "data.train_size": int,
    "params.trainable": int,
    "params.trainable_fraction": _NUMBER,
    "train.seconds": _NUMBER,
}
# A run that records its headline score; one written before task types has accuracy in its place.
HEADLINE_METRICS: dict[str, Any] = {"task": str, "metric": str, "score": _NUMBER, "score_ci95": list}


def task_required_metrics(task: str) -> dict[str, Any]:
    """What the tables show beside the headline for `task` (the task says: numbers and intervals)."""
    kind = registry.task(task)
    return {**dict.fromkeys(kind.required_numbers, _NUMBER), **dict.fromkeys(kind.required_intervals, list)}


Outputs = dict[Any, tuple[Any, Any]]  # example id -> (gold, predicted)


@dataclass
class Run:
    folder: Path
    metrics: dict[str, Any]
    recipe_text: str
    outputs_by_id: Outputs  # read once: every pairwise test of a group needs it
    name: str = ""  # the folder relative to the directory it was found in

    @property
    def eval_key(self) -> tuple[str, int]:
        return (self.metrics["data"]["eval_hash"], self.metrics["data"]["eval_size"])

    @property
    def task(self) -> str:
        return headline.task_of(self.metrics)

    @property
    def metric(self) -> str:
        return headline.metric_of(self.metrics)

    @property
    def score(self) -> float:
        return headline.score_of(self.metrics)

    @property
    def score_ci95(self) -> tuple[float, float]:
        interval = headline.score_ci95_of(self.metrics)
        assert interval is not None, "checked when the run was read"
        return interval

    @property
    def validation_score(self) -> float | None:
        """The scored weights' headline score on the validation split; None for a run without one."""
        return headline.validation_score_of(self.metrics)

    @property
    def validation_accuracy(self) -> float | None:
        """Validation accuracy where the run recorded one (single-label runs); None otherwise."""
        validation = self.metrics.get("validation")
        return validation.get("accuracy") if isinstance(validation, dict) else None

    @property
    def num_labels(self) -> int | None:
        """How many labels a classification run had, as its metrics record them; None if they do not."""
        for key in ("confusion_matrix", "per_class", "per_label", "thresholds"):
            if isinstance(self.metrics.get(key), list):
                return len(self.metrics[key])
        return None

    @property
    def notes(self) -> list[str]:
        """Each distinct warning the run recorded: data notes and the top-level `warnings` list, if any.

        A run copies its data warnings into `warnings`; listed from both, each would be counted twice.
        """
        found = [self.metrics["data"].get("notes"), self.metrics.get("warnings")]
        notes = [
            note for notes in found if isinstance(notes, list) for note in notes if isinstance(note, str)
        ]
        return list(dict.fromkeys(notes))

    @cached_property
    def correct_by_id(self) -> dict[Any, bool]:
        """Whether each eval example was answered exactly right: what McNemar's test compares."""
        return {key: gold == predicted for key, (gold, predicted) in self.outputs_by_id.items()}

    @cached_property
    def validation_outputs(self) -> Outputs | None:
        """(gold, predicted) per validation example, for the weights that were scored; None where the
        run saved no validation predictions (runs before they were saved) or they cannot be read."""
        path = self.folder / VALIDATION_PREDICTIONS
        validation = self.metrics.get("validation")
        size = validation.get("size") if isinstance(validation, dict) else None
        if not path.exists() or not isinstance(size, int):
            return None
        try:
            return read_outputs(path, size, self.task)
        except RunFolderError:
            return None


def find_runs(directories: list[Path]) -> tuple[list[Run], list[tuple[Path, str]]]:
    """Every run folder under the directories; unreadable ones are listed with the reason, never fatal.

    A folder found through two of the directories (`compare outputs outputs/sweep`) is read once.
    """
    runs: list[Run] = []
    skipped: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for directory in directories:
        if not directory.is_dir():
            raise RunFolderError(f"not a directory: {directory}")
        candidates = {p.parent for p in directory.rglob("recipe.toml")} | {
            p.parent for p in directory.rglob("metrics.json")
        }
        for folder in sorted(candidates):
            if folder.name == rundir.CHECKPOINT or folder.resolve() in seen:
                continue
            seen.add(folder.resolve())
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
    task = headline.task_of(metrics)
    outputs = read_outputs(folder / "predictions.jsonl", metrics["data"]["eval_size"], task)
    recipe_path = folder / "recipe.toml"
    try:
        recipe_text = recipe_path.read_text() if recipe_path.exists() else ""
    except (OSError, UnicodeDecodeError):
        recipe_text = ""  # only the seed summary reads it
    return Run(folder, metrics, recipe_text, outputs)


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
    _check_types(metrics, REQUIRED_METRICS)
    if headline.records_headline(metrics):
        _check_types(metrics, HEADLINE_METRICS)
        task, metric = metrics["task"], metrics["metric"]
        if task not in registry.TASKS:
            raise RunFolderError(f"metrics.json task {task!r} is not one of {', '.join(registry.TASKS)}")
        if metric not in registry.task(task).metrics:
            allowed = ", ".join(registry.task(task).metrics)
            raise RunFolderError(f"metrics.json metric {metric!r} is not one of {task}'s: {allowed}")
        _check_interval(metrics, "score_ci95")
    task = headline.task_of(metrics)
    _check_types(metrics, task_required_metrics(task))
    for key in registry.task(task).required_intervals:
        _check_interval(metrics, key)
    for key in ("latency", "peak_memory_mb"):  # optional sections, read with .get() when present
        if not isinstance(metrics.get(key) or {}, dict):
            raise RunFolderError(f"metrics.json {key} is not an object: {metrics[key]!r}")
    _check_validation(metrics)


def _check_types(metrics: dict[str, Any], required: dict[str, Any]) -> None:
    for key, kind in required.items():
        value: Any = metrics
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None or isinstance(value, bool) or not isinstance(value, kind):
            raise RunFolderError(f"metrics.json has no valid {key} (found {value!r})")


def _check_interval(metrics: dict[str, Any], key: str) -> None:
    interval = metrics[key]
    if len(interval) != 2 or not all(_is_number(v) for v in interval):
        raise RunFolderError(f"metrics.json {key} is not [low, high]: {interval!r}")


def _check_validation(metrics: dict[str, Any]) -> None:
    """`validation` is null (no validation split) or holds the score that selection chooses on: `score`
    in the run's own metric, or `accuracy` for a run written before task types."""
    validation = metrics.get("validation")
    if validation is None:
        return
    key = "score" if headline.records_headline(metrics) else "accuracy"
    value = validation.get(key) if isinstance(validation, dict) else None
    if not _is_number(value):
        raise RunFolderError(f"metrics.json validation has no valid {key} (found {validation!r})")
    scored_by = validation.get("metric", metrics.get("metric"))
    if key == "score" and scored_by != metrics.get("metric"):
        raise RunFolderError(
            f"metrics.json validation is scored by {scored_by!r} but the run by {metrics.get('metric')!r}"
        )


def read_outputs(path: Path, size: int, task: str) -> Outputs:
    """(gold, predicted) by example id from a predictions file of `task`'s rows: label ids (single_label),
    lists of label ids (multi_label, kept as sorted tuples) or numbers (regression)."""
    if not path.exists():
        raise RunFolderError(f"no {path.name}")
    rows = rundir.read_jsonl(path)
    if not rows:
        raise RunFolderError(f"{path.name} is empty: nothing to test the run on")
    if len(rows) != size:
        raise RunFolderError(
            f"{path.name} has {len(rows)} rows but metrics.json has {size} examples; truncated?"
        )
    outputs: Outputs = {}
    kind = registry.task(task)
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or not {"id", "gold", "predicted"} <= row.keys():
            raise RunFolderError(f"{path.name} row {number} lacks id, gold or predicted")
        key = row["id"]
        if isinstance(key, (list, dict)) or key in outputs:
            raise RunFolderError(f"{path.name} row {number}: id {key!r} is not a unique string or number")
        outputs[key] = (kind.answer(row["gold"]), kind.answer(row["predicted"]))
        if None in outputs[key]:
            raise RunFolderError(
                f"{path.name} row {number}: gold and predicted are not {kind.answer_form} "
                f"(found {row['gold']!r}, {row['predicted']!r})"
            )
    return outputs


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
