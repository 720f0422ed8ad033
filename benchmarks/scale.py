"""Time and peak memory of ftrun's data handling at 25k, 250k and 2.5M texts, against Python lists.

Usage, from the repository root:
    python benchmarks/scale.py --sizes 25000,250000,2500000 --json scale.json
    python benchmarks/scale.py --sizes 25000 --ways lists,ftrun            # a quick look

The texts are the IMDb train reviews from ../shared/data/imdb, repeated to reach each size and
written once as a plain JSON-lines file (the "data on disk"); each way then runs in a fresh process
(its own peak RSS) and does what a run does before training:

- `ftrun`: `runner.data.load_data` on that file (`datasets` turns it into a memory-mapped Arrow
  table; ftrun takes its texts and labels), then `Method.encode`: the embedded MiniLM's tokenizer,
  1,000 texts a call, each text cut to 256 tokens, the ids kept as `runner.token_ids.TokenIds`
  (one int32 array and offsets);
- `lists`: the same loading, then the way ftrun encoded before TokenIds, one
  `tokenizer(texts, truncation=True, max_length=256)["input_ids"]` call, kept as Python lists of ints.
  At 2.5M texts it needs about 25 GB: leave it out with `--ways ftrun` on a smaller machine.

Reported: load and tokenise seconds, peak RSS, its growth over the process before loading
(libraries and tokenizer), that growth per token and as a multiple of the file's size.
`datasets` keeps its Arrow copy of the file in the temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data" / "imdb" / "train.jsonl.gz"
MAX_LENGTH = 256


def write_texts(size: int, folder: Path) -> Path:
    """`size` IMDb train reviews (repeated in order) as folder/train.jsonl, written once per size."""
    path = folder / f"texts-{size}" / "train.jsonl"
    if path.exists():
        return path
    path.parent.mkdir(parents=True)
    with gzip.open(DATA, "rt") as file:
        lines = [line if line.endswith("\n") else line + "\n" for line in file if line.strip()]
    with path.open("w") as out:
        for start in range(0, size, len(lines)):
            out.writelines(lines[: min(len(lines), size - start)])
    return path


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(size: int, way: str, folder: Path) -> dict[str, Any]:
    from datasets import disable_progress_bars

    from runner import methods
    from runner.data import load_data
    from runner.model import load_tokenizer, resolve_source
    from runner.recipe import build

    disable_progress_bars()
    path = write_texts(size, folder)
    recipe = build(
        {
            "model": {"max_length": MAX_LENGTH},
            # The eval split is a sliver: what is measured is the training data's handling.
            "data": {"source": str(path.parent), "train_split": "train", "eval_split": "train[:100]"},
        }
    )
    tokenizer = load_tokenizer(resolve_source(recipe.model))
    before = current_rss_mb()
    started = time.perf_counter()
    data = load_data(recipe.data)
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    if way == "lists":
        ids: Any = tokenizer(data.train.texts, truncation=True, max_length=MAX_LENGTH)["input_ids"]
        tokens = sum(len(row) for row in ids)
    else:
        ids = methods.get("full").encode(data.train.texts, tokenizer, recipe, None)
        tokens = len(ids.values)
    tokenise_seconds = time.perf_counter() - started
    assert len(ids) == len(data.train) == size
    return {
        "size": size,
        "way": way,
        "load_s": load_seconds,
        "tokenise_s": tokenise_seconds,
        "tokens": tokens,
        "file_mb": path.stat().st_size / 2**20,
        "rss_before_mb": before,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux: kilobytes
    }


def run_in_fresh_process(size: int, way: str, folder: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--one", str(size), way, str(folder)]
    env = {**os.environ, "HF_DATASETS_CACHE": str(folder / "datasets")}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode:
        return {"size": size, "way": way, "error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| texts | way | file MB | load s | tokenise s | peak RSS MB | growth MB | bytes/token "
        "| growth / file |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['size']:,} | {r['way']} | failed: {r['error']} ||||||")
            continue
        growth = r["peak_rss_mb"] - r["rss_before_mb"]
        lines.append(
            f"| {r['size']:,} | {r['way']} | {r['file_mb']:,.0f} | {r['load_s']:.1f} | {r['tokenise_s']:.1f} "
            f"| {r['peak_rss_mb']:,.0f} | {growth:,.0f} | {growth * 2**20 / r['tokens']:.1f} "
            f"| {growth / r['file_mb']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="25000,250000,2500000")
    parser.add_argument("--ways", default="lists,ftrun")
    parser.add_argument("--folder", help="folder for text files and Arrow copies (default: a temporary one)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--one", nargs=3, metavar=("SIZE", "WAY", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        size, way, folder = args.one
        print(json.dumps(measure(int(size), way, Path(folder))))
        return
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        rows = []
        for size in map(int, args.sizes.split(",")):
            write_texts(size, Path(folder))
            for way in args.ways.split(","):
                rows.append(run_in_fresh_process(size, way, Path(folder)))
                print(json.dumps(rows[-1]), flush=True)
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
