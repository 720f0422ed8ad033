"""Token ids of many texts as two flat numpy arrays rather than Python lists of ints.

A list of lists holds every id as a Python int behind a pointer, about 36 bytes a token: 2.5 million
IMDb reviews at 256 tokens would need over 20 GB before training starts. Here a text's ids are a
slice (a view) of one int32 array, 4 bytes a token, plus one int64 offset per text. Texts are
tokenised a batch at a time, so at most one batch's Python lists exist at once; the memory of the
whole grows with the tokens held, at a ninth of the lists' cost (measured in docs/benchmarks.md's scale
table, `benchmarks/scale.py`).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any, overload

import numpy as np

# Texts per tokenizer call: large enough for the fast tokenizer's threads, small enough that one
# batch's Python lists stay a few megabytes.
BATCH = 1000


class TokenIds(Sequence[np.ndarray]):
    """Row i is `values[offsets[i]:offsets[i + 1]]`; rows are numpy views, never copies."""

    def __init__(self, values: np.ndarray, offsets: np.ndarray) -> None:
        self.values = values
        self.offsets = offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @overload
    def __getitem__(self, index: int) -> np.ndarray: ...

    @overload
    def __getitem__(self, index: slice) -> list[np.ndarray]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"row {index} of {len(self)}")
        return self.values[self.offsets[index] : self.offsets[index + 1]]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TokenIds):
            return NotImplemented
        return np.array_equal(self.offsets, other.offsets) and np.array_equal(self.values, other.values)

    __hash__ = None  # type: ignore[assignment]  # mutable arrays: equal by value, not hashable

    def lengths(self) -> list[int]:
        return np.diff(self.offsets).tolist()  # type: ignore[no-any-return]

    def fingerprint(self) -> str:
        """sha256 of every row's ids in order; the offsets keep rows from running together."""
        digest = hashlib.sha256()
        digest.update(self.offsets.astype("<i8").tobytes())
        digest.update(self.values.astype("<i4").tobytes())
        return digest.hexdigest()

    def tolist(self) -> list[list[int]]:
        return [row.tolist() for row in self]

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[int]]) -> TokenIds:
        rows = list(rows)
        lengths = np.fromiter((len(row) for row in rows), dtype=np.int64, count=len(rows))
        values = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int32, count=int(lengths.sum()))
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return cls(values, offsets)


def encode_in_batches(
    texts: Sequence[Any],  # strings, or (text, text_pair) tuples
    encode: Callable[[list[Any]], Sequence[Sequence[int]]],
    batch: int = BATCH,
    advance: Callable[[int], object] | None = None,
) -> TokenIds:
    """`encode` (texts -> ids per text) applied `batch` texts at a time, kept as TokenIds in memory.

    `advance(n)` is called after each batch of n texts, for a progress bar.
    """
    chunks = list(_encoded_chunks(texts, encode, batch, advance))
    offsets = _offsets([np.diff(chunk.offsets) for chunk in chunks])
    # Each chunk is dropped once copied; `values` takes memory only as its pages are written, so
    # the peak stays near one copy of the ids rather than two.
    values = np.empty(int(offsets[-1]), dtype=np.int32)
    at = 0
    while chunks:
        done = chunks.pop(0)
        values[at : at + len(done.values)] = done.values
        at += len(done.values)
    return TokenIds(values, offsets)


def encode_to_file(
    texts: Sequence[Any],  # strings, or (text, text_pair) tuples
    encode: Callable[[list[Any]], Sequence[Sequence[int]]],
    file: IO[bytes],
    batch: int = BATCH,
    advance: Callable[[int], object] | None = None,
) -> np.ndarray:
    """As `encode_in_batches`, writing the ids to `file` (raw little-endian int32) as they come;
    returns the offsets. Memory holds one batch of ids, however many texts there are."""
    lengths = []
    for chunk in _encoded_chunks(texts, encode, batch, advance):
        file.write(chunk.values.astype("<i4", copy=False).tobytes())
        lengths.append(np.diff(chunk.offsets))
    return _offsets(lengths)


def _encoded_chunks(
    texts: Sequence[Any],  # strings, or (text, text_pair) tuples
    encode: Callable[[list[Any]], Sequence[Sequence[int]]],
    batch: int,
    advance: Callable[[int], object] | None,
) -> Iterator[TokenIds]:
    for start in range(0, len(texts), batch):
        chunk = list(texts[start : start + batch])
        yield TokenIds.from_rows(encode(chunk))
        if advance is not None:
            advance(len(chunk))


def _offsets(lengths: list[np.ndarray]) -> np.ndarray:
    counts = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets
