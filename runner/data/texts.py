"""A split's texts read from their Arrow column when they are needed, not held as Python strings.

`datasets` keeps a loaded file as a memory-mapped Arrow table. A list of its texts copies every
review into a Python string: about the file's size again in memory (3 GB at 2.5 million IMDb
reviews). `ArrowTexts` is a sequence over the column instead: a batch of texts becomes strings when
the tokenizer asks for it, and selecting rows keeps their positions, not copies of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np

# Texts turned into strings at a time while iterating (hashing, overlap checks).
CHUNK = 10_000


class ArrowTexts(Sequence[str]):
    """Row i is `column[positions[i]]` (`column[i]` without positions); a slice is a list of str."""

    def __init__(self, column: Any, positions: np.ndarray | None = None) -> None:
        self.column = column  # a pyarrow (Chunked)Array of strings
        self.positions = positions

    def __len__(self) -> int:
        return len(self.column) if self.positions is None else len(self.positions)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if self.positions is None and step == 1:
                return self.column.slice(start, max(0, stop - start)).to_pylist()
            return self.column.take(self._rows()[index]).to_pylist()
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"text {index} of {len(self)}")
        row = index if self.positions is None else int(self.positions[index])
        return self.column[row].as_py()  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[str]:
        for start in range(0, len(self), CHUNK):
            yield from self[start : start + CHUNK]

    def __eq__(self, other: object) -> bool:
        """Equal to any sequence of the same strings in order (a list of them included)."""
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # equal by value, like the list it stands for

    def _rows(self) -> np.ndarray:
        return np.arange(len(self.column)) if self.positions is None else self.positions

    def take(self, positions: Sequence[int]) -> ArrowTexts:
        return ArrowTexts(self.column, self._rows()[np.asarray(positions, dtype=np.int64)])

    def usable(self) -> list[int]:
        """Positions of the texts that are not null, empty or only whitespace."""
        import pyarrow.compute as pc

        # Classified where they lie: trimming would copy every string (and Arrow's allocator keeps
        # what it freed, so the copy would stay in the process's memory).
        blank = pc.or_(pc.equal(pc.utf8_length(self.column), 0), pc.utf8_is_space(self.column))
        present = pc.fill_null(pc.invert(blank), False)
        present_rows = np.asarray(present.to_numpy(zero_copy_only=False), dtype=bool)
        if self.positions is not None:
            present_rows = present_rows[self.positions]
        return np.flatnonzero(present_rows).tolist()  # type: ignore[no-any-return]


class TextPairs(Sequence[tuple[str, str]]):
    """Sentence pairs as one sequence of (text, text_pair) over two text sequences, copying neither."""

    def __init__(self, texts: Sequence[str], pairs: Sequence[str]) -> None:
        self.texts = texts
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.texts)

    @overload
    def __getitem__(self, index: int) -> tuple[str, str]: ...

    @overload
    def __getitem__(self, index: slice) -> list[tuple[str, str]]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return list(zip(self.texts[index], self.pairs[index], strict=True))
        return (self.texts[index], self.pairs[index])


def string_column(table: Any, name: str, rows: range) -> ArrowTexts | None:
    """`rows` of a `datasets.Dataset`'s string column `name`, read from Arrow; None where the table
    is not a plain Arrow table of strings (an index mapping, other types: read as Python values)."""
    import pyarrow as pa

    if getattr(table, "_indices", None) is not None or not hasattr(table, "data"):
        return None
    column = table.data.column(name)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return None
    return ArrowTexts(column.slice(rows.start, len(rows)))


def usable(texts: Sequence[Any]) -> list[int]:
    """Positions of the texts that are strings with something besides whitespace."""
    if isinstance(texts, ArrowTexts):
        return texts.usable()
    return [i for i, text in enumerate(texts) if isinstance(text, str) and text.strip()]


def take(texts: Sequence[Any], positions: Sequence[int]) -> Sequence[str]:
    if isinstance(texts, ArrowTexts):
        return texts.take(positions)
    return [texts[i] for i in positions]
