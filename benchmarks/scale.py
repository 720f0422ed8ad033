"""Time and peak memory to tokenise N texts and hold their token ids: Python lists against Arrow.

Usage, from the repository root:
    python benchmarks/scale.py --sizes 25000,250000,2500000 --json scale.json
    python benchmarks/scale.py --sizes 25000 --ways lists,arrow            # a quick look

The texts are the IMDb train reviews from ../shared/data/imdb, repeated to reach each size; each
text is cut to 256 tokens by the embedded MiniLM's tokenizer. The ways:

- `lists`: today's way, `tokenizer(texts, truncation=True, max_length=256)["input_ids"]`, every id a
  Python int in a list of lists (about 36 bytes a token), the texts a Python list;
- `arrow`: `tokenize_to_arrow` below: the texts in an Arrow file, `Dataset.map(batched=True)` writing
  the ids as an int32 list column to a cache file, read back memory-mapped (4 bytes a token on disk,
  pages loaded on demand), so memory stays flat as the data grows;
- `arrow2`: the same with `num_proc=2` worker processes.

Each measurement runs in a fresh process (its own peak RSS). Growth is the peak over the RSS before
the data is built (libraries, tokenizer and the 25k distinct texts, common to every way), and
bytes/token divides it by the tokens held. `arrow` ways also report the time to
put the texts in Arrow (what `datasets.load_dataset` does for a file source before ftrun sees it)
and a rerun that finds the tokenised cache. `lists` at 2.5M texts needs about 25 GB: skip it with
`--ways arrow,arrow2` on a smaller machine.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data" / "imdb" / "train.jsonl.gz"
MAX_LENGTH = 256


# --- the helper the runner could adopt ------------------------------------------------------------


class TokenIds:
    """Token ids of many texts in Arrow's list layout: flat int32 values plus row offsets, per chunk.

    Row i is a slice of one chunk's values, a view: nothing is copied or turned into Python ints,
    and when the chunks come from a memory-mapped Arrow file only the rows read are loaded. (An
    Arrow file written batch by batch has one chunk per batch; joining them would copy everything.)
    """

    def __init__(self, chunks: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.chunks = chunks  # (values, offsets) per chunk; row r of a chunk: values[offsets[r]:offsets[r+1]]
        self.starts = np.cumsum([0] + [len(offsets) - 1 for _, offsets in chunks])

    def __len__(self) -> int:
        return int(self.starts[-1])

    def __getitem__(self, index: int) -> np.ndarray:
        if not 0 <= index < len(self):
            raise IndexError(index)
        chunk = int(np.searchsorted(self.starts, index, side="right")) - 1
        values, offsets = self.chunks[chunk]
        row = index - int(self.starts[chunk])
        return values[offsets[row] : offsets[row + 1]]

    def lengths(self) -> np.ndarray:
        return np.concatenate([np.diff(offsets) for _, offsets in self.chunks])

    @classmethod
    def from_arrow(cls, column: Any) -> TokenIds:
        """From an Arrow list<int32> column (chunked or not), without copying its values."""
        arrays = column.chunks if hasattr(column, "chunks") else [column]
        # `.values` is the whole child array, ignoring a slice; `.offsets` point into it as they are.
        return cls([(a.values.to_numpy(zero_copy_only=True), a.offsets.to_numpy()) for a in arrays if len(a)])


def tokenize_to_arrow(
    texts: Any, tokenizer: Any, max_length: int, cache_file: Path, num_proc: int | None = None
) -> TokenIds:
    """Tokenise a `datasets.Dataset` with a `text` column into a memory-mapped Arrow cache file.

    Batches of 1,000 texts are tokenised and written as they go, so memory does not grow with the
    data. A second call with the same cache file and an unchanged dataset and tokenizer reads the
    file back instead (`datasets` fingerprints the function, the tokenizer and the input).
    """
    from datasets import Features, Sequence, Value

    def encode(batch: dict[str, list[str]]) -> dict[str, list[list[int]]]:
        encoded = tokenizer(
            batch["text"],
            truncation=True,
            max_length=max_length,
            return_attention_mask=False,  # the mask is rebuilt from lengths when a batch is padded
            return_token_type_ids=False,
        )
        return {"input_ids": encoded["input_ids"]}

    tokenised = texts.map(
        encode,
        batched=True,
        batch_size=1000,
        remove_columns=texts.column_names,
        features=Features({"input_ids": Sequence(Value("int32"))}),
        cache_file_name=str(cache_file),
        num_proc=num_proc,
        desc=None,
    )
    return TokenIds.from_arrow(tokenised.data.column("input_ids"))


# --- the measurement ------------------------------------------------------------------------------


def imdb_texts() -> list[str]:
    with gzip.open(DATA, "rt") as file:
        return [json.loads(line)["text"] for line in file]


def texts_to_arrow(texts: list[str], size: int, path: Path) -> Any:
    """`size` texts (the given ones, repeated) in an Arrow file, written 10,000 at a time.

    The stand-in for what `datasets.load_dataset` leaves in its cache for a file source: a
    `datasets.Dataset` memory-mapped from disk, whatever its size.
    """
    import pyarrow as pa
    from datasets import Dataset

    schema = pa.schema([("text", pa.large_string())])
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for start in range(0, size, 10_000):
            rows = [texts[i % len(texts)] for i in range(start, min(start + 10_000, size))]
            writer.write_batch(pa.record_batch([pa.array(rows, pa.large_string())], schema=schema))
    return Dataset.from_file(str(path))


def tokenizer() -> Any:
    from transformers import AutoTokenizer

    from runner.model import resolve_source
    from runner.schema import ModelSection

    return AutoTokenizer.from_pretrained(resolve_source(ModelSection()).name_or_path)


def peak_mb() -> tuple[float, float]:
    """This process's peak RSS and its largest worker's (Linux reports kilobytes)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, workers


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure_lists(size: int) -> dict[str, float]:
    base = imdb_texts()
    tok = tokenizer()
    before = current_rss_mb()  # libraries, tokenizer and the 25k distinct texts: common to both ways
    texts = [base[i % len(base)] for i in range(size)]  # repeats share one string object each
    started = time.perf_counter()
    ids = tok(texts, truncation=True, max_length=MAX_LENGTH)["input_ids"]
    seconds = time.perf_counter() - started
    return {"tokenise_s": seconds, "tokens": sum(len(row) for row in ids), "rss_before_mb": before}


def measure_arrow(size: int, workers: int | None, cache: Path) -> dict[str, float]:
    from datasets import disable_progress_bars

    disable_progress_bars()
    base = imdb_texts()
    tok = tokenizer()
    before = current_rss_mb()
    started = time.perf_counter()
    texts = texts_to_arrow(base, size, cache / f"texts-{size}-{workers or 1}.arrow")
    texts_seconds = time.perf_counter() - started
    cache_file = cache / f"ids-{size}-{workers or 1}.arrow"
    started = time.perf_counter()
    ids = tokenize_to_arrow(texts, tok, MAX_LENGTH, cache_file, num_proc=workers)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    again = tokenize_to_arrow(texts, tok, MAX_LENGTH, cache_file, num_proc=workers)
    rerun = time.perf_counter() - started
    assert len(again) == len(ids) == size
    disk = sum(p.stat().st_size for p in cache.glob(f"ids-{size}-{workers or 1}*.arrow"))
    return {
        "texts_to_arrow_s": texts_seconds,
        "tokenise_s": seconds,
        "cached_rerun_s": rerun,
        "tokens": int(ids.lengths().sum()),
        "ids_on_disk_mb": disk / 2**20,
        "rss_before_mb": before,
    }


def measure_one(size: int, way: str, cache: Path) -> dict[str, Any]:
    if way == "lists":
        result = measure_lists(size)
    else:
        result = measure_arrow(size, 2 if way == "arrow2" else None, cache)
    own, workers = peak_mb()
    return {"size": size, "way": way, **result, "peak_rss_mb": own, "workers_peak_rss_mb": workers}


def run_in_fresh_process(size: int, way: str, cache: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--one", str(size), way, str(cache)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        return {"size": size, "way": way, "error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def cell(row: dict[str, Any], key: str, digits: int = 1) -> str:
    return f"{row[key]:.{digits}f}" if key in row else "-"


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| texts | way | texts to Arrow s | tokenise s | cached rerun s | peak RSS MB | growth MB "
        "| bytes/token | workers' peak MB | ids on disk MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['size']:,} | {r['way']} | failed: {r['error']} |||||||")
            continue
        growth = r["peak_rss_mb"] - r["rss_before_mb"]
        lines.append(
            f"| {r['size']:,} | {r['way']} | {cell(r, 'texts_to_arrow_s')} | {cell(r, 'tokenise_s')} "
            f"| {cell(r, 'cached_rerun_s')} | {r['peak_rss_mb']:.0f} | {growth:.0f} "
            f"| {growth * 2**20 / r['tokens']:.1f} | {r['workers_peak_rss_mb']:.0f} "
            f"| {cell(r, 'ids_on_disk_mb', 0)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="25000,250000,2500000")
    parser.add_argument("--ways", default="lists,arrow,arrow2")
    parser.add_argument("--cache", help="folder for the Arrow files (default: a temporary one, removed)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--one", nargs=3, metavar=("SIZE", "WAY", "CACHE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        size, way, cache = args.one
        print(json.dumps(measure_one(int(size), way, Path(cache))))
        return
    with tempfile.TemporaryDirectory(dir=args.cache) as cache:
        rows = []
        for size in map(int, args.sizes.split(",")):
            for way in args.ways.split(","):
                rows.append(run_in_fresh_process(size, way, Path(cache)))
                print(json.dumps(rows[-1]), flush=True)
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
