"""Frozen-base features on disk, shared by every run that asks for the same ones.

A frozen base maps the same token ids to the same features, so a sweep of heads and learning rates
needs one extraction. An entry is keyed by everything the features depend on: the weights (a cheap
fingerprint, below), the exact token ids (`TokenIds.fingerprint`: they already encode the data, its
order, the tokenizer, the prompt and `max_length`), the pooling rule, the dtype and precision the
base ran in, and any `extra` a caller adds. Entries are `.npy` files opened memory-mapped, so a run
holds only the pages it reads, and are written atomically, so runs started side by side never read
half an entry.

Layout: ROOT/ab/abcdef....npy (the features) beside ROOT/ab/abcdef....json (what they are).
ROOT is `$FTRUN_CACHE/features`, else `~/.cache/ftrun/features`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.rundir.atomic import one_writer, replacing

if TYPE_CHECKING:
    import torch

# Bump when what a cached feature means changes (pooling code, stored dtype): old entries then miss.
FORMAT_VERSION = 1
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".msgpack", ".h5")
# The files that decide what the weights compute, besides the weights themselves.
CONFIG_FILES = ("config.json", "adapter_config.json")


def cache_root() -> Path:
    """Where ftrun keeps what runs share: features here, token ids beside them (runner/token_cache.py)."""
    return Path(os.environ.get("FTRUN_CACHE") or Path.home() / ".cache" / "ftrun")


def default_root() -> Path:
    return cache_root() / "features"


def feature_key(
    model: str, token_ids: str, pooling: str, precision: str, extra: dict[str, Any] | None = None
) -> str:
    """sha256 of a canonical JSON of every part: equal parts give one key, any difference another."""
    parts = {
        "format": FORMAT_VERSION,
        "model": model,
        "token_ids": token_ids,
        "pooling": pooling,
        "precision": precision,
        "extra": extra or {},
    }
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def model_fingerprint(name_or_path: str, gguf_file: str | None = None, revision: str | None = None) -> str:
    """Identifies the weights without reading them (hashing gigabytes each run would cost more than
    some extractions).

    A folder is fingerprinted by its weight and config files' names, sizes and modification times:
    `save_pretrained`, a download or any edit rewrites a file and so changes its mtime. The only way
    to fool it is to replace weights by different ones of the same size while deliberately keeping
    the old mtime; a mere copy (new mtime) costs one re-extraction, never a wrong answer. A hub id
    is looked up in the local hub cache, whose snapshot folder is named after the commit (a content
    address); one not found there is fingerprinted by id and revision alone.
    """
    path = Path(name_or_path).expanduser()
    folder = path if path.is_dir() else _hub_snapshot(name_or_path, revision)
    described: dict[str, Any] = {"name": name_or_path, "revision": revision, "gguf": gguf_file}
    if folder is not None:
        described["folder"] = str(folder.resolve())
        described["files"] = [
            (f.name, f.stat().st_size, f.stat().st_mtime_ns)
            for f in sorted(folder.iterdir())
            if f.is_file()
            and (f.suffix in WEIGHT_SUFFIXES or f.name in CONFIG_FILES)
            and (gguf_file is None or f.suffix != ".gguf" or f.name == gguf_file)
        ]
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def _hub_snapshot(repo_id: str, revision: str | None) -> Path | None:
    """The local snapshot folder of a hub model (offline: only what is already downloaded)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        config = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    except Exception:  # an id the hub library rejects cannot be in its cache either
        return None
    return Path(config).parent if isinstance(config, str) else None


@dataclass
class Entry:
    key: str
    bytes: int
    meta: dict[str, Any]


class FeatureCache:
    """Get and put feature tensors by key. A damaged entry is a miss, noted in `problems`."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()
        self.problems: list[str] = []

    def _paths(self, key: str) -> tuple[Path, Path]:
        folder = self.root / key[:2]
        return folder / f"{key}.npy", folder / f"{key}.json"

    def writing(self, key: str) -> contextlib.AbstractContextManager[None]:
        """Held while one process computes the entry: another that needs it waits, then reads it."""
        return one_writer(self.root / key[:2] / f"{key}.lock")

    def get(self, key: str) -> torch.Tensor | None:
        """The features stored under `key`, memory-mapped, or None.

        Copy-on-write mapping: the tensor is writable, but a write copies the page and never
        reaches the file that other runs share.
        """
        import numpy as np
        import torch

        array_path, meta_path = self._paths(key)
        if not array_path.exists():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            array = np.load(array_path, mmap_mode="c")
            if list(array.shape) != meta["shape"] or str(array.dtype) != meta["dtype"]:
                raise ValueError(
                    f"holds {array.dtype}{list(array.shape)}, expected {meta['dtype']}{meta['shape']}"
                )
        except (OSError, ValueError, KeyError, EOFError) as error:
            # A disk filled up, a file edited by hand, a version we cannot read: extract again.
            self.problems.append(f"feature cache entry {array_path} is unreadable ({error}); recomputing")
            return None
        return torch.from_numpy(array)

    def meta(self, key: str) -> dict[str, Any]:
        """What was stored with the entry under `key` (empty if unreadable)."""
        try:
            meta: dict[str, Any] = json.loads(self._paths(key)[1].read_text())
        except (OSError, ValueError):
            return {}
        return meta

    def put(self, key: str, features: torch.Tensor, meta: dict[str, Any] | None = None) -> Path:
        """Store `features` (bf16 is kept as float32: numpy has no bf16, and the upcast is exact).

        Each file is written under a temporary name and renamed into place (`os.replace` is atomic
        on one file system); the description first and the array last, so an array that can be
        seen always has its description, and a crash leaves at most a stray temporary file.
        """
        import numpy as np
        import torch

        if features.dtype == torch.bfloat16:
            features = features.float()
        array = features.detach().cpu().contiguous().numpy()
        array_path, meta_path = self._paths(key)
        array_path.parent.mkdir(parents=True, exist_ok=True)
        description = {**(meta or {}), "key": key, "shape": list(array.shape), "dtype": str(array.dtype)}
        with replacing(meta_path, "wb") as file:
            file.write(json.dumps(description, indent=1).encode())
        with replacing(array_path, "wb") as file:
            np.save(file, array, allow_pickle=False)
        return array_path

    def entries(self) -> list[Entry]:
        """Every complete entry, largest first (for `ftrun cache`-style listings and pruning)."""
        found = []
        for array_path in self.root.glob("??/*.npy"):
            meta_path = array_path.with_suffix(".json")
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, ValueError):
                meta = {}
            found.append(Entry(array_path.stem, array_path.stat().st_size, meta))
        return sorted(found, key=lambda entry: entry.bytes, reverse=True)

    def total_bytes(self) -> int:
        return sum(entry.bytes for entry in self.entries())
