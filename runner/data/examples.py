"""Examples (texts, label ids, source rows) and the seeded, stratified draws that subsample them."""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from runner.data import texts


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


def subset(examples: Examples, positions: list[int]) -> Examples:
    return Examples(
        texts.take(examples.texts, positions),
        [examples.labels[i] for i in positions],
        [examples.ids[i] for i in positions],
    )


def stratified(labels: list[int], size: int, seed: int) -> list[int]:
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
