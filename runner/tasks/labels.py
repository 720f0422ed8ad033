"""Label names read from a column's raw values, and the one-line refusal that names the bad rows: what
the classification tasks share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runner.errors import DataError


def refuse(where: str, column: str, bad: list[tuple[int, Any]], what: str) -> DataError:
    """A DataError naming the file, the column and the first few bad rows with their values."""
    shown = ", ".join(f"row {row}: {value!r}" for row, value in bad[:5])
    return DataError(f"{where}: column {column!r}: {len(bad)} {what} ({shown})")


def label_ids(
    values: list[Any], rows: Sequence[int], names: Sequence[str], where: str, column: str = "label"
) -> list[int]:
    """A label id per value: an index, a name, or a unique prefix of one (case aside)."""
    ids = [label_id(value, names) for value in values]
    bad = [(rows[i], values[i]) for i, found in enumerate(ids) if found is None]
    if bad:
        raise refuse(where, column, bad, f"labels are not among data.labels = {list(names)}")
    return [i for i in ids if i is not None]


def label_id(value: Any, names: Sequence[str]) -> int | None:
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
            return label_id(int(text), names)
        # "pos"/"neg" for "positive"/"negative": a prefix of exactly one label name.
        matches = [i for i, name in enumerate(lowered) if text and name.startswith(text)]
        return matches[0] if len(matches) == 1 else None
    return None
