"""Small synthetic data sets for each task type, learnable from their words: pairs, multi-label,
regression. Shared by the task tests."""

from __future__ import annotations

import random
from pathlib import Path

from .conftest import FILLER, NEGATIVE, POSITIVE, write_jsonl

MULTI_LABELS = ["praise", "complaint", "plot"]


def pair_rows(n: int, seed: int) -> list[dict]:
    """Two short reviews; label 1 where they agree in sentiment (a paraphrase-like task)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        first_positive = rng.random() < 0.5
        same = i % 2 == 1
        second_positive = first_positive if same else not first_positive

        def review(positive: bool) -> str:
            words = rng.choices(FILLER, k=rng.randint(3, 9)) + rng.choices(
                POSITIVE if positive else NEGATIVE, k=2
            )
            rng.shuffle(words)
            return " ".join(words)

        rows.append({"first": review(first_positive), "second": review(second_positive), "label": int(same)})
    return rows


def multi_label_rows(n: int, seed: int) -> list[dict]:
    """praise where positive words appear, complaint for negative ones, plot where "plot" does."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        words = rng.choices([w for w in FILLER if w != "plot"], k=rng.randint(3, 10))
        labels = []
        if i % 2 == 0:
            words += rng.choices(POSITIVE, k=2)
            labels.append("praise")
        if i % 3 == 0:
            words += rng.choices(NEGATIVE, k=2)
            labels.append("complaint")
        if i % 5 == 0:
            words.append("plot")
            labels.append("plot")
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "labels": labels})
    return rows


def regression_rows(n: int, seed: int) -> list[dict]:
    """A score from 0 to 5 that grows with the positive words in the text."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        positive = rng.randint(0, 5)
        words = rng.choices(FILLER, k=rng.randint(3, 10)) + rng.choices(POSITIVE, k=positive)
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "score": positive + rng.uniform(-0.3, 0.3)})
    return rows


def write_task_data(folder: Path, rows_for, train: int = 60, test: int = 24) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "train.jsonl", rows_for(train, 1))
    write_jsonl(folder / "test.jsonl", rows_for(test, 2))
    return folder


# data section per task, over the folders written by write_task_data
TASK_DATA = {
    "pairs": (
        pair_rows,
        {"text_column": "first", "text_pair_column": "second", "labels": ["differ", "agree"]},
    ),
    "multi_label": (
        multi_label_rows,
        {"task": "multi_label", "label_column": "labels", "labels": MULTI_LABELS},
    ),
    "regression": (regression_rows, {"task": "regression", "label_column": "score"}),
}
