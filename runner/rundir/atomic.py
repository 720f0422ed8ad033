"""Files written atomically (complete or not at all) and JSON-lines files read back with the line named.

Every file a run, a cache, `compare` or `predict` writes goes through `replacing`: readers, and a
process killed mid-write, see the old file or the complete new one, never half of it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from runner.errors import RunFolderError


@contextlib.contextmanager
def replacing(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """A file to write (text, or bytes with mode "wb") that appears at `path` complete or not at all."""
    # The temporary file sits in the destination folder: os.replace is atomic only within one file system.
    # Opened with "x" (not mkstemp) so it gets the user's umask, as a plain write would: 0600 files in a
    # run folder on a shared disk would lock colleagues out.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with temporary.open(mode.replace("w", "x"), encoding=None if "b" in mode else "utf-8") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def one_writer(lock_path: Path) -> Iterator[None]:
    """Wait for, then hold, an exclusive lock on `lock_path`: what it guards is computed by one process
    at a time (two runs of a parallel sweep needing the same cache entry: one computes, one waits and
    reads). Where the filesystem has no locks it holds nothing; the writes stay atomic either way."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # closing drops the lock


def write_text(path: Path, text: str) -> None:
    with replacing(path) as handle:
        handle.write(text)


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with replacing(path) as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSON-lines file; a truncated or corrupt one is a RunFolderError naming the line."""
    try:
        with path.open(encoding="utf-8") as handle:
            return [_json_line(path, number, line) for number, line in enumerate(handle, 1) if line.strip()]
    except UnicodeDecodeError:
        raise RunFolderError(f"{path}: not UTF-8 text; corrupt?") from None


def _json_line(path: Path, number: int, line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as error:
        raise RunFolderError(f"{path} line {number}: not valid JSON ({error.msg}); truncated?") from None
