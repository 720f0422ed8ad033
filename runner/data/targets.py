"""A split's raw target values -> what `data.task` trains on, or one line naming the column and rows.

`single_label`: a label id (an index, a name, or a unique prefix of one). `multi_label`: a sorted
tuple of label ids, from a list, a delimited string (`"joy,surprise"`, `"17,27"`) or one 0/1 column
per label. `regression`: a finite float.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from runner.errors import DataError
from runner.recipe.schema import DataSection


def targets(values: list[Any], rows: Sequence[int], cfg: DataSection, where: str) -> list[Any]:
    """`values` (one per row; a list of 0/1 per label for one-hot columns) as the task's targets."""
    if cfg.task == "regression":
        return numbers(values, rows, cfg.label_column, where)
    if cfg.task == "multi_label":
        return label_sets(values, rows, cfg, where)
    return label_ids(values, rows, cfg.labels, where, cfg.label_column)


def _refuse(where: str, column: str, bad: list[tuple[int, Any]], what: str) -> DataError:
    shown = ", ".join(f"row {row}: {value!r}" for row, value in bad[:5])
    return DataError(f"{where}: column {column!r}: {len(bad)} {what} ({shown})")


def numbers(values: list[Any], rows: Sequence[int], column: str, where: str) -> list[float]:
    def to_float(value: Any) -> float | None:
        if isinstance(value, bool) or value is None:
            return None
        try:
            number = float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            return None
        return number if math.isfinite(number) else None

    found = [to_float(value) for value in values]
    bad = [(rows[i], values[i]) for i, number in enumerate(found) if number is None]
    if bad:
        raise _refuse(where, column, bad, "regression targets are not finite numbers")
    return [number for number in found if number is not None]


def label_ids(
    values: list[Any], rows: Sequence[int], names: list[str], where: str, column: str = "label"
) -> list[int]:
    ids = [_label_id(value, names) for value in values]
    bad = [(rows[i], values[i]) for i, label_id in enumerate(ids) if label_id is None]
    if bad:
        raise _refuse(where, column, bad, f"labels are not among data.labels = {names}")
    return [i for i in ids if i is not None]


def _label_id(value: Any, names: list[str]) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return value if 0 <= value < len(names) else None
    if isinstance(value, str):
        lowered = [name.lower() for name in names]
        text = value.strip().lower()
        if text in lowered:
            return lowered.index(text)
        if text.isdigit():
            return _label_id(int(text), names)
        # "pos"/"neg" for "positive"/"negative": a prefix of exactly one label name.
        matches = [i for i, name in enumerate(lowered) if text and name.startswith(text)]
        return matches[0] if len(matches) == 1 else None
    return None


def label_sets(values: list[Any], rows: Sequence[int], cfg: DataSection, where: str) -> list[tuple[int, ...]]:
    names = cfg.labels
    if not cfg.label_column:
        return _one_hot_sets(values, rows, names, where)
    sets: list[tuple[int, ...] | None] = []
    bad: list[tuple[int, Any]] = []
    for row, value in zip(rows, values, strict=True):
        parts: Any = value
        if isinstance(value, str):
            parts = [part for part in value.split(cfg.label_separator) if part.strip()]
        elif value is None:
            parts = []
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            parts = [value]
        if not isinstance(parts, (list, tuple)):
            bad.append((row, value))
            continue
        ids = [_label_id(part, names) for part in parts]
        if any(label_id is None for label_id in ids):
            bad.append((row, value))
            continue
        sets.append(tuple(sorted({i for i in ids if i is not None})))
    if bad:
        raise _refuse(where, cfg.label_column, bad, f"rows name labels that are not in data.labels = {names}")
    return [labels for labels in sets if labels is not None]


def _one_hot_sets(
    values: list[Any], rows: Sequence[int], names: list[str], where: str
) -> list[tuple[int, ...]]:
    """One 0/1 column per label (`values` holds each row's column values in data.labels order)."""
    for position, name in enumerate(names):
        bad = [
            (row, flags[position])
            for row, flags in zip(rows, values, strict=True)
            if flags[position] not in (0, 1)
        ]
        if bad:
            raise _refuse(where, name, bad, "values are not 0 or 1 (one 0/1 column per label)")
    return [tuple(i for i, flag in enumerate(flags) if flag == 1) for flags in values]
