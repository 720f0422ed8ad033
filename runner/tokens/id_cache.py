"""Token ids on disk, shared by every run that tokenises the same texts the same way.

Tokenising 2.5 million IMDb reviews takes about 13 minutes on a 2-core CPU, and every run of a
sweep tokenises the same texts with the same tokenizer. The first run writes the ids here, a batch
at a time as the tokenizer produces them, and every run, the first included, maps them from disk
(numpy memmap): memory holds the pages a run reads, never the whole array, however many texts.

An entry is keyed by everything the ids depend on: the tokenizer (its whole serialised form), the
method's way of encoding (the class that defines `batch_encoder`, `model.max_length`, the prompt),
and the texts in order (sha256). Files are written under temporary names and renamed into place,
the values last, so an entry that can be seen is complete and runs side by side never read half
of one.

Layout: ROOT/token-ids/ab/KEY.values (raw little-endian int32), KEY.offsets.npy (int64, one more
than the texts), KEY.json (what they are). ROOT is `$FTRUN_CACHE`, else `~/.cache/ftrun`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from runner.rundir.atomic import one_writer, replacing
from runner.tokens.feature_cache import cache_root
from runner.tokens.ids import TokenIds

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# Bump when the ids an unchanged key stands for change (an encoder's code, the file format).
FORMAT_VERSION = 1


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    """sha256 of what decides a tokenizer's output: a fast tokenizer's full JSON (vocabulary, rules,
    special tokens, post-processing), else its class, vocabulary and settings."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        state = json.loads(backend.to_str())
        # Truncation and padding are the last call's settings, left on the backend: not its identity.
        state.pop("truncation", None)
        state.pop("padding", None)
        described = json.dumps(state, sort_keys=True)
    else:
        described = json.dumps([tokenizer.get_vocab(), tokenizer.init_kwargs], sort_keys=True, default=str)
    parts = [type(tokenizer).__name__, getattr(tokenizer, "truncation_side", ""), described]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def texts_fingerprint(texts: Sequence[str] | Sequence[tuple[str, str]]) -> str:
    """sha256 of the texts in order; a sentence pair counts as its two texts, marked as a pair."""
    digest = hashlib.sha256()
    for text in texts:
        parts = text if isinstance(text, tuple) else (text,)
        if isinstance(text, tuple):
            digest.update(b"\x00pair")
        for part in parts:
            encoded = part.encode()
            digest.update(len(encoded).to_bytes(8, "little"))  # lengths keep texts from running together
            digest.update(encoded)
    return digest.hexdigest()


def token_key(tokenizer: str, encoding: dict[str, Any], texts: str) -> str:
    parts = {"format": FORMAT_VERSION, "tokenizer": tokenizer, "encoding": encoding, "texts": texts}
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class TokenIdCache:
    """Get token ids by key, or write them once and get them. A damaged entry is a miss."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else cache_root() / "token-ids"
        self.problems: list[str] = []

    def _paths(self, key: str) -> tuple[Path, Path, Path]:
        folder = self.root / key[:2]
        return folder / f"{key}.values", folder / f"{key}.offsets.npy", folder / f"{key}.json"

    def writing(self, key: str) -> contextlib.AbstractContextManager[None]:
        """Held while one process computes the entry: another that needs it waits, then reads it."""
        return one_writer(self.root / key[:2] / f"{key}.lock")

    def get(self, key: str) -> TokenIds | None:
        """The ids under `key`, memory-mapped copy-on-write (a write never reaches the shared file)."""
        values_path, offsets_path, meta_path = self._paths(key)
        if not values_path.exists():
            return None
        try:
            meta = json.loads(meta_path.read_text())
            offsets = np.load(offsets_path)
            tokens = values_path.stat().st_size // 4
            if len(offsets) != meta["texts"] + 1 or int(offsets[-1]) != tokens or tokens != meta["tokens"]:
                raise ValueError(f"holds {len(offsets) - 1} texts and {tokens} tokens, expected {meta}")
            # np.memmap refuses an empty file; an entry of empty texts needs no file behind it.
            values = np.memmap(values_path, dtype="<i4", mode="c") if tokens else np.zeros(0, dtype=np.int32)
        except (OSError, ValueError, KeyError, EOFError) as error:
            self.problems.append(
                f"token id cache entry {values_path} is unreadable ({error}); tokenising again"
            )
            return None
        return TokenIds(values, offsets)

    def put(
        self, key: str, write: Callable[[IO[bytes]], np.ndarray], meta: dict[str, Any] | None = None
    ) -> TokenIds:
        """Store the ids `write(file)` writes (raw int32; it returns the offsets), then map them."""
        values_path, offsets_path, meta_path = self._paths(key)
        values_path.parent.mkdir(parents=True, exist_ok=True)
        # The values are staged under a temporary name while the tokenizer runs; the description
        # and offsets follow, and the values' rename last makes the entry visible.
        with replacing(values_path, "wb") as file:
            offsets = write(file)
            description = {**(meta or {}), "key": key, "texts": len(offsets) - 1, "tokens": int(offsets[-1])}
            with replacing(meta_path, "wb") as meta_file:
                meta_file.write(json.dumps(description, indent=1).encode())
            with replacing(offsets_path, "wb") as offsets_file:
                np.save(offsets_file, offsets, allow_pickle=False)
        stored = self.get(key)
        assert stored is not None, f"token id cache entry {values_path} vanished after writing"
        return stored
