"""Time and peak memory of ftrun's data handling at 25k, 250k and 2.5M texts, against Python lists.

Usage, from the repository root:
    python benchmarks/scale.py --sizes 25000,250000,2500000 --json scale.json
    python benchmarks/scale.py --sizes 25000 --ways lists,ftrun,ftrun-cached   # a quick look

The texts are the IMDb train reviews of benchmarks/imdb_files.py's files, repeated to reach each size
and written once as a plain JSON-lines file (the "data on disk"); each way then runs in a fresh process
(its own peak RSS) and does what a run does before training:

- `ftrun`: what a run does. `runner.data.loading.load_data` on that file (`datasets` turns it into a
  memory-mapped Arrow table; the texts stay there, `runner/texts.py`), then `Method.encode` with the
  token id cache (`runner/token_cache.py`) empty: the embedded MiniLM's tokenizer, 1,000 texts a
  call, each cut to 256 tokens, the ids written to the cache as they come and then memory-mapped;
- `ftrun-cached`: the same run again: the ids are found in the cache and mapped, nothing tokenised;
- `ftrun-in-memory`: `data.cache_token_ids = false`: the ids are kept in memory as
  `runner.tokens.ids.TokenIds` (one int32 array and offsets);
- `lists`: the way ftrun worked before: the texts as a list of Python strings, one
  `tokenizer(texts, truncation=True, max_length=256)["input_ids"]` call, kept as Python lists of ints.
  At 2.5M texts it needs about 170 GB: leave it out above 25k.

Reported: load and tokenise seconds; peak RSS and its growth over the process before loading
(libraries and tokenizer), that growth per token and as a multiple of the file's size; and the
peak of anonymous memory (RssAnon, sampled every 50 ms), the part the kernel cannot drop: RSS also
counts the pages of memory-mapped files a process has read (the Arrow table, cached ids), which are
clean copies of the disk that the kernel reclaims under pressure. `datasets` keeps its Arrow copy
of the file, and the cache its ids, in the temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
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
sys.path.insert(0, str(REPO / "benchmarks"))
import imdb_files  # noqa: E402

MAX_LENGTH = 256


def write_texts(size: int, folder: Path) -> Path:
    """`size` IMDb train reviews (repeated in order) as folder/train.jsonl, written once per size."""
    path = folder / f"texts-{size}" / "train.jsonl"
    if path.exists():
        return path
    path.parent.mkdir(parents=True)
    with gzip.open(imdb_files.split_file("train"), "rt") as file:
        lines = [line if line.endswith("\n") else line + "\n" for line in file if line.strip()]
    with path.open("w") as out:
        for start in range(0, size, len(lines)):
            out.writelines(lines[: min(len(lines), size - start)])
    return path


def status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakAnonymous:
    """The largest RssAnon seen while the block runs, sampled by a thread every 50 ms."""

    def __enter__(self) -> PeakAnonymous:
        import threading

        self.peak, self._stop = status_mb("RssAnon"), threading.Event()

        def sample() -> None:
            while not self._stop.wait(0.05):
                self.peak = max(self.peak, status_mb("RssAnon"))

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, status_mb("RssAnon"))


def measure(size: int, way: str, folder: Path) -> dict[str, Any]:
    from datasets import disable_progress_bars

    from runner import registry
    from runner.data.loading import load_data
    from runner.model.classifier import load_tokenizer, resolve_source
    from runner.recipe.reading import build
    from runner.tokens.id_cache import TokenIdCache

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
    before, anonymous_before = status_mb("VmRSS"), status_mb("RssAnon")
    with PeakAnonymous() as anonymous:
        started = time.perf_counter()
        data = load_data(recipe.data)
        load_seconds = time.perf_counter() - started
        started = time.perf_counter()
        if way == "lists":
            texts = list(data.train.texts)
            ids: Any = tokenizer(texts, truncation=True, max_length=MAX_LENGTH)["input_ids"]
            tokens = sum(len(row) for row in ids)
        else:
            cache = None if way == "ftrun-in-memory" else TokenIdCache(folder / "token-ids")
            ids = registry.method("full").encode(data.train.texts, tokenizer, recipe, None, cache=cache)
            tokens = int(ids.offsets[-1])
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
        "anonymous_growth_mb": anonymous.peak - anonymous_before,
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
        "| growth / file | anonymous growth MB | anonymous / file |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['size']:,} | {r['way']} | failed: {r['error']} ||||||||")
            continue
        growth = r["peak_rss_mb"] - r["rss_before_mb"]
        lines.append(
            f"| {r['size']:,} | {r['way']} | {r['file_mb']:,.0f} | {r['load_s']:.1f} | {r['tokenise_s']:.1f} "
            f"| {r['peak_rss_mb']:,.0f} | {growth:,.0f} | {growth * 2**20 / r['tokens']:.1f} "
            f"| {growth / r['file_mb']:.2f} | {r['anonymous_growth_mb']:,.0f} "
            f"| {r['anonymous_growth_mb'] / r['file_mb']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="25000,250000,2500000")
    parser.add_argument("--ways", default="ftrun-in-memory,ftrun,ftrun-cached")
    parser.add_argument(
        "--folder",
        help="keep the text files, Arrow copies and token ids here (default: a temporary folder, removed); "
        "with FTRUN_CACHE set to it, a run on FOLDER/texts-N finds the ids the `ftrun` way wrote",
    )
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--one", nargs=3, metavar=("SIZE", "WAY", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        size, way, folder = args.one
        print(json.dumps(measure(int(size), way, Path(folder))))
        return
    with contextlib.nullcontext(args.folder) if args.folder else tempfile.TemporaryDirectory() as folder:
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
