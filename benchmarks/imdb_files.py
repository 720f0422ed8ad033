"""The IMDb files the benchmark scripts read: `{train,test}.jsonl.gz`, one `{"text", "label"}` a line.

    python benchmarks/imdb_files.py         # data/imdb/ from the Hugging Face hub's stanfordnlp/imdb

Each split keeps the first copy of a duplicated review, the test split drops reviews that also stand in
train (so the two are disjoint), and each is shuffled with a fixed seed, so that the first N rows
are a fair, balanced sample (the hub's files are sorted by label). The scripts read the folder named by
`IMDB_FILES` (default `data/imdb` in the repository).
"""

from __future__ import annotations

import gzip
import json
import os
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEED = 20231


def folder() -> Path:
    """Where the scripts read the files: `IMDB_FILES`, or data/imdb in the repository."""
    return Path(os.environ.get("IMDB_FILES", REPO / "data" / "imdb"))


def split_file(split: str) -> Path:
    path = folder() / f"{split}.jsonl.gz"
    if not path.is_file():
        sys.exit(f"{path} is missing: run `python benchmarks/imdb_files.py` first (or set IMDB_FILES)")
    return path


def write(target: Path) -> None:
    import datasets

    loaded = datasets.load_dataset("stanfordnlp/imdb")
    seen: set[str] = set()
    for split in ("train", "test"):
        rows = {}  # text -> label, the first copy of each review only
        for row in loaded[split]:
            if row["text"] not in seen and row["text"] not in rows:
                rows[row["text"]] = row["label"]
        seen |= set(rows)  # train's texts: the test split leaves them out
        shuffled = sorted(rows.items())
        random.Random(SEED).shuffle(shuffled)
        target.mkdir(parents=True, exist_ok=True)
        with gzip.open(target / f"{split}.jsonl.gz", "wt") as out:
            for text, label in shuffled:
                out.write(json.dumps({"text": text, "label": label}) + "\n")
        print(f"{target / split}.jsonl.gz: {len(shuffled):,} reviews")


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else folder())
