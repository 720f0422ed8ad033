"""Examples (texts, targets, source rows) and the seeded, stratified draws that subsample them.

A target is what `data.task` predicts: a label id (`single_label`), a sorted tuple of label ids
(`multi_label`), or a number (`regression`).
"""

from __future__ import annotations

import bisect
import hashlib
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from runner.data import texts
from runner.data.texts import TextPairs

# Regression targets are stratified by these many quantile bins of their value.
REGRESSION_BINS = 10


@dataclass
class Examples:
    texts: Sequence[str]  # a list, or ArrowTexts read from the source's Arrow column on demand
    labels: list[Any]  # the targets: label ids, tuples of label ids, or numbers
    ids: list[int]  # row numbers in the source split, for predictions.jsonl
    pairs: Sequence[str] | None = None  # each text's second text (sentence pairs), or None

    def __len__(self) -> int:
        return len(self.texts)

    def inputs(self) -> Sequence[str] | TextPairs:
        """What the tokenizer reads: the texts, or (text, text_pair) tuples."""
        return self.texts if self.pairs is None else TextPairs(self.texts, self.pairs)

    def fingerprint(self) -> str:
        """A hash of the texts and targets: runs are only ranked against each other on equal hashes."""
        digest = hashlib.sha256()
        for i, (text, label) in enumerate(zip(self.texts, self.labels, strict=True)):
            shown = list(label) if isinstance(label, tuple) else label
            pair = "" if self.pairs is None else f"\t{self.pairs[i]}"
            digest.update(f"{shown}\t{text}{pair}\n".encode())
        return digest.hexdigest()[:16]


def subset(examples: Examples, positions: list[int]) -> Examples:
    return Examples(
        texts.take(examples.texts, positions),
        [examples.labels[i] for i in positions],
        [examples.ids[i] for i in positions],
        None if examples.pairs is None else texts.take(examples.pairs, positions),
    )


def strata(labels: list[Any]) -> list[Any]:
    """What a stratified draw keeps in proportion: the label; for a set of labels its rarest one (so
    rare labels stay present); for a number its quantile bin."""
    if not labels or isinstance(labels[0], int):
        return labels
    if isinstance(labels[0], tuple):
        counts = Counter(label for row in labels for label in row)
        return [min(row, key=lambda label: (counts[label], label)) if row else -1 for row in labels]
    ordered = sorted(labels)
    edges = [ordered[len(ordered) * k // REGRESSION_BINS] for k in range(1, REGRESSION_BINS)]
    return [bisect.bisect_right(edges, value) for value in labels]


def stratified(labels: list[Any], size: int, seed: int) -> list[int]:
    """`size` positions drawn with `seed`, keeping each stratum's share (see `strata`)."""
    keys = strata(labels)
    by_key: dict[Any, list[int]] = defaultdict(list)
    for position, key in enumerate(keys):
        by_key[key].append(position)
    rng = random.Random(seed)
    chosen: list[int] = []
    leftovers: list[int] = []
    for key in sorted(by_key):
        positions = by_key[key][:]
        rng.shuffle(positions)
        take = int(size * len(positions) / len(keys))
        chosen += positions[:take]
        leftovers += positions[take:]
    rng.shuffle(leftovers)
    return chosen + leftovers[: size - len(chosen)]
