"""Finished run folders as compare reads them: each checked whole, or skipped with the reason why.

A folder is compared only if its record (`metrics.json`, read and checked by `runner.rundir.record`) is
finished, of this schema version and holds every value the tables read with the right type, the task's
own figures included, and its `predictions.jsonl` has one row per eval example of its task's form.
Anything else (unfinished, hand-edited, truncated, an `--overwrite` still moving into place) is a
RunFolderError with one line saying why, which `find_runs` lists instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from runner import registry
from runner.errors import RunFolderError
from runner.rundir.atomic import read_jsonl
from runner.rundir.folder import CHECKPOINT, staged_for
from runner.rundir.record import RunRecord, check_interval, check_types, read

VALIDATION_PREDICTIONS = "validation_predictions.jsonl"

_NUMBER = (int, float)


def task_required_metrics(task: str) -> dict[str, Any]:
    """What the tables show beside the headline for `task` (the task says: numbers and intervals)."""
    kind = registry.task(task)
    return {**dict.fromkeys(kind.required_numbers, _NUMBER), **dict.fromkeys(kind.required_intervals, list)}


Outputs = dict[Any, tuple[Any, Any]]  # example id -> (gold, predicted)


@dataclass
class Run:
    folder: Path
    record: RunRecord
    recipe_text: str
    outputs_by_id: Outputs  # read once: every pairwise test of a group needs it
    name: str = ""  # the folder relative to the directory it was found in

    @property
    def eval_key(self) -> tuple[str, int]:
        return self.record.eval_key

    @property
    def task(self) -> str:
        return self.record.task

    @property
    def metric(self) -> str:
        return self.record.metric

    @property
    def score(self) -> float:
        return self.record.score

    @property
    def score_ci95(self) -> tuple[float, float]:
        interval = self.record.scores.score_ci95
        assert interval is not None, "checked when the run was read"
        return interval

    @property
    def validation_score(self) -> float | None:
        """The scored weights' headline score on the validation split; None for a run without one."""
        return self.record.validation_score

    @property
    def validation_accuracy(self) -> float | None:
        """Validation accuracy where the run recorded one (single-label runs); None otherwise."""
        validation = self.record.validation
        return validation.get("accuracy") if isinstance(validation, dict) else None

    @property
    def num_labels(self) -> int | None:
        """How many labels a classification run had, as its metrics record them; None if they do not."""
        for key in ("confusion_matrix", "per_class", "per_label", "thresholds"):
            if isinstance(self.record.scores.get(key), list):
                return len(self.record.scores.get(key))
        return None

    @property
    def notes(self) -> list[str]:
        """Each distinct warning the run recorded: data notes and the top-level `warnings` list, if any.

        A run copies its data warnings into `warnings`; listed from both, each would be counted twice.
        """
        found = [self.record.data.get("notes"), self.record.warnings]
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
        validation = self.record.validation
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
            if folder.name == CHECKPOINT or folder.resolve() in seen:
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
    replaces = staged_for(folder)
    if replaces is not None:
        raise RunFolderError(f"an --overwrite run of {replaces} that has not finished moving into place")
    record = read(folder)
    _check_task(record)
    outputs = read_outputs(folder / "predictions.jsonl", record.data["eval_size"], record.task)
    recipe_path = folder / "recipe.toml"
    try:
        recipe_text = recipe_path.read_text() if recipe_path.exists() else ""
    except (OSError, UnicodeDecodeError):
        recipe_text = ""  # only the seed summary reads it
    return Run(folder, record, recipe_text, outputs)


def _check_task(record: RunRecord) -> None:
    """The figures the tables show beside the task's headline are there."""
    figures = record.scores.figures
    check_types(figures, task_required_metrics(record.task))
    for key in registry.task(record.task).required_intervals:
        check_interval(figures, key)


def read_outputs(path: Path, size: int, task: str) -> Outputs:
    """(gold, predicted) by example id from a predictions file of `task`'s rows: label ids (single_label),
    lists of label ids (multi_label, kept as sorted tuples) or numbers (regression)."""
    if not path.exists():
        raise RunFolderError(f"no {path.name}")
    rows = read_jsonl(path)
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
