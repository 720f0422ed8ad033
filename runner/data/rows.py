"""A split expression of a loaded source -> examples: columns checked, targets read for the task,
unusable texts skipped or refused, and a stratified subsample when a size is asked for."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runner import registry
from runner.data import texts
from runner.data.examples import Examples, stratified
from runner.errors import DataError
from runner.recipe import splits
from runner.recipe.schema import DataSection
from runner.tasks.base import TargetColumn


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
