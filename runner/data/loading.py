"""Load the recipe's train, validation and eval examples from any source: the data stage's entry point.

The source is read once (`raw_splits`); each split expression becomes examples (`select_examples`:
columns checked, targets read by the task, unusable texts skipped or refused, a stratified subsample
when a size is asked for); a validation set is a split of the source or a stratified carve-out of
train (`examples.stratified`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from runner import registry
from runner.data import texts
from runner.data.examples import Examples, stratified, subset
from runner.data.raw_splits import load_source
from runner.errors import DataError
from runner.recipe import splits
from runner.recipe.schema import DataSection
from runner.tasks.base import TargetColumn


@dataclass
class LoadedData:
    train: Examples
    eval: Examples
    notes: list[str] = field(default_factory=list)  # what the user should know (overlap, skipped rows)
    description: dict[str, Any] = field(default_factory=dict)
    validation: Examples | None = None  # what training chooses on (epochs, settings); never the eval split


def load_data(cfg: DataSection) -> LoadedData:
    raw_splits, source_note = load_source(cfg.source, cfg.config)
    notes = [source_note] if source_note else []
    # With a carve-out, train_size applies to what is left, so it still counts the examples that train.
    train_size = 0 if cfg.validation_size else cfg.train_size
    train = select_examples(raw_splits, cfg, cfg.train_split, train_size, "data.train_split", notes)
    train, validation = _validation(raw_splits, cfg, train, notes)
    evaluation = select_examples(raw_splits, cfg, cfg.eval_split, cfg.eval_size, "data.eval_split", notes)
    if registry.task(cfg.task).has_classes:
        notes += _missing_class_notes(train, evaluation, cfg)
    # The smaller split makes the set; the larger one is only streamed past it.
    overlap = len(set(evaluation.inputs()).intersection(train.inputs()))
    if overlap:
        notes.append(f"warning: {overlap} eval texts also appear in the train split")
    return LoadedData(
        train,
        evaluation,
        notes,
        {
            "task": cfg.task,
            "source": cfg.source,
            **({"config": cfg.config} if cfg.config else {}),
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
        validation = select_examples(raw_splits, cfg, expression, 0, "data.validation_split", notes)
        overlap = len(set(validation.inputs()).intersection(train.inputs()))
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
    held_out = set(stratified(train.labels, size, cfg.seed))
    validation = subset(train, sorted(held_out))
    rest = subset(train, [i for i in range(len(train)) if i not in held_out])
    if cfg.train_size and cfg.train_size < len(rest):
        rest = subset(rest, sorted(stratified(rest.labels, cfg.train_size, cfg.seed)))
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


def _missing_class_notes(train: Examples, evaluation: Examples, cfg: DataSection) -> list[str]:
    """A label with no training example can never be predicted; with one label left, nothing is learnt."""
    task = registry.task(cfg.task)
    names, trained = cfg.labels, task.present_labels(train.labels)
    missing_train = [name for i, name in enumerate(names) if i not in trained]
    if len(trained) == 1 and task.one_label_per_text:
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
    evaluated = task.present_labels(evaluation.labels)
    missing_eval = [name for i, name in enumerate(names) if i not in evaluated]
    if missing_eval:
        notes.append(
            f"warning: data.eval_split = {cfg.eval_split!r} has no examples of {missing_eval}: "
            "their recall and F1 cannot be measured"
        )
    return notes


def select_examples(
    raw_splits: dict[str, Any], cfg: DataSection, expression: str, size: int, key: str, notes: list[str]
) -> Examples:
    expr = splits.parse(expression, key)
    if expr.name not in raw_splits:
        raise DataError(
            f"{key} = {expression!r}: no split {expr.name!r}; the source has {sorted(raw_splits)}"
        )
    table = raw_splits[expr.name]
    _check_columns(table, cfg, expr.name)
    total = len(table) if hasattr(table, "column_names") else len(table[cfg.text_column])
    rows = expr.indices(total)
    if not rows:
        raise DataError(f"{key} = {expression!r} selects no rows (split {expr.name!r} has {total})")
    read, pairs, raw_targets = read_rows(table, rows, cfg)
    # The task reads its targets, and names the column and rows of any it cannot.
    source = TargetColumn(cfg.label_column, cfg.labels, cfg.label_separator)
    labels = registry.task(cfg.task).targets(
        raw_targets, rows, source, f"{key} = {expression!r} of {cfg.source}"
    )
    keep = _usable(read, pairs, rows, cfg, key, notes)
    if size and size < len(keep):
        keep = sorted(keep[i] for i in stratified([labels[i] for i in keep], size, cfg.seed))
    elif size > len(keep):
        size_key = key.removesuffix("_split") + "_size"
        notes.append(
            f"warning: {size_key} = {size} but {key} = {expression!r} has {len(keep)} usable rows; "
            f"using all {len(keep)}"
        )
    if not keep:
        raise DataError(f"{key} = {expression!r} has no usable rows")
    examples = Examples(read, labels, list(rows), pairs)
    if len(keep) == len(read):
        return examples
    return Examples(
        texts.take(read, keep),
        [labels[i] for i in keep],
        [rows[i] for i in keep],
        None if pairs is None else texts.take(pairs, keep),
    )


def _check_columns(table: Any, cfg: DataSection, split: str) -> None:
    columns = list(table.column_names) if hasattr(table, "column_names") else list(table)
    wanted = [("data.text_column", cfg.text_column)]
    if cfg.text_pair_column:
        wanted.append(("data.text_pair_column", cfg.text_pair_column))
    if cfg.label_column:
        wanted.append(("data.label_column", cfg.label_column))
    else:  # multi_label as one 0/1 column per label
        wanted += [("data.labels", name) for name in cfg.labels]
    for column_key, column in wanted:
        if column not in columns:
            raise DataError(
                f"{column_key}: {column!r} is not a column of split {split!r} of {cfg.source}; "
                f"columns: {columns}"
            )


def _usable(
    read: Sequence[Any],
    pairs: Sequence[Any] | None,
    rows: range,
    cfg: DataSection,
    key: str,
    notes: list[str],
) -> list[int]:
    """Positions whose text (and second text) is a non-blank string; the rest fail or are skipped."""
    keep = texts.usable(read)
    if pairs is not None:
        pair_ok = set(texts.usable(pairs))
        keep = [i for i in keep if i in pair_ok]
    if len(keep) == len(read):
        return keep
    bad = len(read) - len(keep)
    columns = cfg.text_column + (f" or {cfg.text_pair_column!r}" if pairs is not None else "")
    if cfg.bad_texts == "fail":
        kept = set(keep)
        first = [rows[i] for i in range(len(read)) if i not in kept][:5]
        raise DataError(
            f"{key} of {cfg.source}: {bad} empty or non-string texts in column {columns!r} (rows {first}); "
            'set data.bad_texts = "skip" to drop them'
        )
    notes.append(f"{key}: skipped {bad} empty or non-string texts")
    return keep


def read_rows(
    table: Any, rows: range, cfg: DataSection
) -> tuple[Sequence[Any], Sequence[Any] | None, list[Any]]:
    """The texts, second texts (or None) and raw targets of `rows` only: 100 eval rows of a split of
    millions read 100 texts. A `datasets.Dataset`'s string column stays in Arrow (`texts.py`).
    One 0/1 column per label gives each row the list of its columns' values."""
    target_columns = [cfg.label_column] if cfg.label_column else list(cfg.labels)
    text_values = _column(table, cfg.text_column, rows)
    pairs = _column(table, cfg.text_pair_column, rows) if cfg.text_pair_column else None
    columns = [list(_column(table, column, rows)) for column in target_columns]
    raw = columns[0] if cfg.label_column else [list(values) for values in zip(*columns, strict=True)]
    return text_values, pairs, raw


def _column(table: Any, name: str, rows: range) -> Sequence[Any]:
    if hasattr(table, "column_names"):  # a datasets.Dataset: a slice is a dict of lists
        in_arrow = texts.string_column(table, name, rows)
        if in_arrow is not None:
            return in_arrow
        return table.select_columns([name])[rows.start : rows.stop][name]  # type: ignore[no-any-return]
    return list(table[name][rows.start : rows.stop])
