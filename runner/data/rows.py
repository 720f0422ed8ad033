"""A split expression of a loaded source -> examples: columns checked, labels mapped to ids, unusable
texts skipped or refused, and a stratified subsample when a size is asked for."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runner.data import texts
from runner.data.examples import Examples, stratified
from runner.errors import DataError
from runner.recipe import splits
from runner.recipe.schema import DataSection


def select_examples(
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
    read, raw_labels = read_rows(table, rows, cfg)
    labels = label_ids(raw_labels, rows, cfg.labels, key)
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
        keep = sorted(keep[i] for i in stratified([labels[i] for i in keep], size, cfg.seed))
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


def read_rows(table: Any, rows: range, cfg: DataSection) -> tuple[Sequence[Any], list[Any]]:
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


def label_ids(values: list[Any], rows: Sequence[int], names: list[str], key: str) -> list[int]:
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
