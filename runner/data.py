"""Load the recipe's train and eval examples from any source into plain (text, label id) lists."""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner import embedded, sources, splits, texts
from runner.datafiles import aclimdb_folder, builder, load_files, stem
from runner.errors import DataError, first_line
from runner.schema import DataSection


@dataclass
class Examples:
    texts: Sequence[str]  # a list, or ArrowTexts read from the source's Arrow column on demand
    labels: list[int]
    ids: list[int]  # row numbers in the source split, for predictions.jsonl

    def __len__(self) -> int:
        return len(self.texts)

    def fingerprint(self) -> str:
        """A hash of the texts and labels: runs are only ranked against each other on equal hashes."""
        digest = hashlib.sha256()
        for text, label in zip(self.texts, self.labels, strict=True):
            digest.update(f"{label}\t{text}\n".encode())
        return digest.hexdigest()[:16]


@dataclass
class LoadedData:
    train: Examples
    eval: Examples
    notes: list[str] = field(default_factory=list)  # what the user should know (overlap, skipped rows)
    description: dict[str, Any] = field(default_factory=dict)
    validation: Examples | None = None  # what training chooses on (epochs, settings); never the eval split


def load_data(cfg: DataSection) -> LoadedData:
    raw_splits, source_note = _load_source(cfg.source)
    notes = [source_note] if source_note else []
    # With a carve-out, train_size applies to what is left, so it still counts the examples that train.
    train_size = 0 if cfg.validation_size else cfg.train_size
    train = _select(raw_splits, cfg, cfg.train_split, train_size, "data.train_split", notes)
    train, validation = _validation(raw_splits, cfg, train, notes)
    evaluation = _select(raw_splits, cfg, cfg.eval_split, cfg.eval_size, "data.eval_split", notes)
    notes += _missing_class_notes(train, evaluation, cfg)
    # The smaller split makes the set; the larger one is only streamed past it.
    overlap = len(set(evaluation.texts).intersection(train.texts))
    if overlap:
        notes.append(f"warning: {overlap} eval texts also appear in the train split")
    return LoadedData(
        train,
        evaluation,
        notes,
        {
            "source": cfg.source,
            "train_split": cfg.train_split,
            "eval_split": cfg.eval_split,
            "train_size": len(train),
            "eval_size": len(evaluation),
            "eval_hash": evaluation.fingerprint(),
            "train_eval_overlap": overlap,
            "notes": notes,
            **_validation_description(cfg, validation),
        },
        validation,
    )


def _validation(
    raw_splits: dict[str, Any], cfg: DataSection, train: Examples, notes: list[str]
) -> tuple[Examples, Examples | None]:
    """(what trains, the validation examples): a split of the source, or a carve-out of train."""
    expression, size = cfg.validation_split, cfg.validation_size
    if expression and size:
        raise DataError("data.validation_split and data.validation_size: set one of them, not both")
    if expression:
        validation = _select(raw_splits, cfg, expression, 0, "data.validation_split", notes)
        overlap = len(set(validation.texts).intersection(train.texts))
        if overlap:
            notes.append(f"warning: {overlap} validation texts also appear in the train split")
        return train, validation
    if not size:
        return train, None
    if size >= len(train):
        raise DataError(
            f"data.validation_size = {size} leaves nothing to train on: "
            f"data.train_split = {cfg.train_split!r} has {len(train)} examples"
        )
    held_out = set(_stratified(train.labels, size, cfg.seed))
    validation = _subset(train, sorted(held_out))
    rest = _subset(train, [i for i in range(len(train)) if i not in held_out])
    if cfg.train_size and cfg.train_size < len(rest):
        rest = _subset(rest, sorted(_stratified(rest.labels, cfg.train_size, cfg.seed)))
    return rest, validation


def _validation_description(cfg: DataSection, validation: Examples | None) -> dict[str, Any]:
    if validation is None:
        return {}  # metrics.json of a run without validation stays as it was
    expression = cfg.validation_split
    return {
        "validation_split": expression or f"{cfg.train_split} (stratified carve-out, data.seed {cfg.seed})",
        "validation_size": len(validation),
        "validation_hash": validation.fingerprint(),
    }


def _subset(examples: Examples, positions: list[int]) -> Examples:
    return Examples(
        texts.take(examples.texts, positions),
        [examples.labels[i] for i in positions],
        [examples.ids[i] for i in positions],
    )


def _load_source(source: str) -> tuple[dict[str, Any], str]:
    """Split name -> a table with named columns (a `datasets.Dataset` or a dict of lists)."""
    if embedded.is_embedded(source):
        return embedded.load_embedded(source)
    path = Path(source).expanduser()
    if path.is_dir() and (path / "train" / "pos").is_dir():
        return aclimdb_folder(path), ""
    if path.is_dir():
        files = {stem(f): f for f in sorted(path.iterdir()) if builder(f)}
        if not files:
            raise DataError(f"data.source: no csv/tsv/json/jsonl/parquet files in folder {path}")
        return load_files(files), ""
    if path.is_file():
        if not builder(path):
            raise DataError(
                f"data.source: {path}: unsupported file type {path.suffix or '(no extension)'}; "
                "ftrun reads .csv, .tsv, .json, .jsonl or .parquet files (optionally .gz), or a folder"
            )
        return load_files({"train": path}), ""
    if sources.looks_like_path(source):
        raise DataError(f"data.source: file or folder not found: {source}")
    return _hub_dataset(source), ""


def _hub_dataset(name: str) -> dict[str, Any]:
    import datasets

    try:
        return dict(datasets.load_dataset(name))
    except Exception as error:  # the hub raises many types; all mean "could not get it"
        raise DataError(f"data.source: cannot load hub dataset {name!r}: {first_line(error)}") from None


def _select(
    raw_splits: dict[str, Any], cfg: DataSection, expression: str, size: int, key: str, notes: list[str]
) -> Examples:
    expr = splits.parse(expression, key)
    if expr.name not in raw_splits:
        raise DataError(
            f"{key} = {expression!r}: no split {expr.name!r}; the source has {sorted(raw_splits)}"
        )
    table = raw_splits[expr.name]
    columns = list(table.column_names) if hasattr(table, "column_names") else list(table)
    for column_key, column in (
        ("data.text_column", cfg.text_column),
        ("data.label_column", cfg.label_column),
    ):
        if column not in columns:
            raise DataError(
                f"{column_key} = {column!r} is not a column of split {expr.name!r}; columns: {columns}"
            )
    total = len(table) if hasattr(table, "column_names") else len(table[cfg.text_column])
    rows = expr.indices(total)
    if not rows:
        raise DataError(f"{key} = {expression!r} selects no rows (split {expr.name!r} has {total})")
    read, raw_labels = _read_rows(table, rows, cfg)
    labels = _label_ids(raw_labels, rows, cfg.labels, key)
    keep = texts.usable(read)
    if len(keep) < len(read):
        bad = len(read) - len(keep)
        if cfg.bad_texts == "fail":
            kept = set(keep)
            first = [rows[i] for i in range(len(read)) if i not in kept][:5]
            raise DataError(
                f"{key}: {bad} empty or non-string texts in column {cfg.text_column!r} (rows {first}); "
                'set data.bad_texts = "skip" to drop them'
            )
        notes.append(f"{key}: skipped {bad} empty or non-string texts")
    if size and size < len(keep):
        keep = sorted(keep[i] for i in _stratified([labels[i] for i in keep], size, cfg.seed))
    elif size > len(keep):
        size_key = key.removesuffix("_split") + "_size"
        notes.append(
            f"warning: {size_key} = {size} but {key} = {expression!r} has {len(keep)} usable rows; "
            f"using all {len(keep)}"
        )
    if not keep:
        raise DataError(f"{key} = {expression!r} has no usable rows")
    if len(keep) == len(read):
        return Examples(read, labels, list(rows))
    return Examples(texts.take(read, keep), [labels[i] for i in keep], [rows[i] for i in keep])


def _read_rows(table: Any, rows: range, cfg: DataSection) -> tuple[Sequence[Any], list[Any]]:
    """The texts and labels of `rows` only: 100 eval rows of a split of millions read 100 texts.

    A `datasets.Dataset`'s string column stays in Arrow (`runner/texts.py`)."""
    columns = [cfg.text_column, cfg.label_column]
    if hasattr(table, "column_names"):  # a datasets.Dataset: a slice is a dict of lists
        in_arrow = texts.string_column(table, cfg.text_column, rows)
        if in_arrow is not None:
            labels = table.select_columns([cfg.label_column])[rows.start : rows.stop]
            return in_arrow, labels[cfg.label_column]
        part = table.select_columns(columns)[rows.start : rows.stop]
        return part[cfg.text_column], part[cfg.label_column]
    text_values, labels = (list(table[column][rows.start : rows.stop]) for column in columns)
    return text_values, labels


def _label_ids(values: list[Any], rows: Sequence[int], names: list[str], key: str) -> list[int]:
    lowered = [name.lower() for name in names]

    def to_id(value: Any) -> int | None:
        if isinstance(value, bool):
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int):
            return value if 0 <= value < len(names) else None
        if isinstance(value, str):
            text = value.strip().lower()
            if text in lowered:
                return lowered.index(text)
            if text.isdigit():
                return to_id(int(text))
            # "pos"/"neg" for "positive"/"negative": a prefix of exactly one label name.
            matches = [i for i, name in enumerate(lowered) if text and name.startswith(text)]
            return matches[0] if len(matches) == 1 else None
        return None

    ids = [to_id(value) for value in values]
    bad = [(rows[i], values[i]) for i, label_id in enumerate(ids) if label_id is None]
    if bad:
        shown = ", ".join(f"row {row}: {value!r}" for row, value in bad[:5])
        raise DataError(f"{key}: {len(bad)} labels are not among data.labels = {names} ({shown})")
    return [i for i in ids if i is not None]


def _missing_class_notes(train: Examples, evaluation: Examples, cfg: DataSection) -> list[str]:
    """A label with no training example can never be predicted; with one label left, nothing is learnt."""
    names, trained = cfg.labels, set(train.labels)
    missing_train = [name for i, name in enumerate(names) if i not in trained]
    if len(trained) == 1:
        (only,) = trained
        raise DataError(
            f"data.train_split = {cfg.train_split!r}: all {len(train)} training examples have label "
            f"{names[only]!r} (none of {missing_train}); a classifier cannot learn from one class"
        )
    notes = []
    if missing_train:
        notes.append(
            f"warning: data.train_split = {cfg.train_split!r} has no examples of {missing_train} "
            f"(data.labels = {names}): the model can never predict them"
        )
    evaluated = set(evaluation.labels)
    missing_eval = [name for i, name in enumerate(names) if i not in evaluated]
    if missing_eval:
        notes.append(
            f"warning: data.eval_split = {cfg.eval_split!r} has no examples of {missing_eval}: "
            "their recall and F1 cannot be measured"
        )
    return notes


def _stratified(labels: list[int], size: int, seed: int) -> list[int]:
    """`size` positions drawn with `seed`, keeping each label's share."""
    by_label: dict[int, list[int]] = defaultdict(list)
    for position, label in enumerate(labels):
        by_label[label].append(position)
    rng = random.Random(seed)
    chosen: list[int] = []
    leftovers: list[int] = []
    for label in sorted(by_label):
        positions = by_label[label][:]
        rng.shuffle(positions)
        take = int(size * len(positions) / len(labels))
        chosen += positions[:take]
        leftovers += positions[take:]
    rng.shuffle(leftovers)
    return chosen + leftovers[: size - len(chosen)]
