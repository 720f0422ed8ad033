"""A data source read into its raw splits (split name -> a table with named columns): the embedded sets,
an aclImdb folder, local files and folders, or the hub.

`datasets` reports most bad files with a generic message ("An error occurred while generating the
dataset"); the checks here find the cause first (empty, not gzip, not UTF-8, bad JSON on line N) so
the user gets one line naming the file and what is wrong with it.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runner.data import embedded
from runner.errors import DataError, first_line
from runner.recipe import sources


def load_source(source: str, config: str = "") -> tuple[dict[str, Any], str]:
    """Split name -> a table with named columns (a `datasets.Dataset` or a dict of lists).

    `config` names a configuration of a hub dataset (`mrpc` of `nyu-mll/glue`); other sources have none.
    """
    path = Path(source).expanduser()
    is_local = embedded.is_embedded(source) or path.exists() or sources.looks_like_path(source)
    if config and is_local:
        raise DataError(f"data.config = {config!r}: a configuration of a hub dataset; {source} is not one")
    if embedded.is_embedded(source):
        return embedded.load_embedded(source)
    if path.is_dir() and (path / "train" / "pos").is_dir():
        return aclimdb_folder(path), ""
    if path.is_dir():
        files = {stem(f): f for f in sorted(path.iterdir()) if builder(f)}
        if not files:
            raise DataError(f"data.source: no csv/tsv/json/jsonl/parquet files in folder {path}")
        return load_files(files), ""
    if path.is_file():
        if not builder(path):
            raise DataError(
                f"data.source: {path}: unsupported file type {path.suffix or '(no extension)'}; "
                "ftrun reads .csv, .tsv, .json, .jsonl or .parquet files (optionally .gz), or a folder"
            )
        return load_files({"train": path}), ""
    if sources.looks_like_path(source):
        raise DataError(f"data.source: file or folder not found: {source}")
    return hub_dataset(source, config), ""


def hub_dataset(name: str, config: str = "") -> dict[str, Any]:
    import datasets

    named = f"{name!r} (configuration {config!r})" if config else repr(name)
    try:
        return dict(datasets.load_dataset(name, config or None))
    except Exception as error:  # the hub raises many types; all mean "could not get it"
        raise DataError(f"data.source: cannot load hub dataset {named}: {first_line(error)}") from None


_BUILDERS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


def load_files(files: dict[str, Path]) -> dict[str, Any]:
    """Split name -> table, from one file per split, all of one type."""
    import datasets

    kinds = {builder(f) for f in files.values()}
    if len(kinds) != 1:
        raise DataError(f"data.source: mixed file types in one source: {sorted(map(str, files.values()))}")
    kind = kinds.pop()
    options = {"delimiter": "\t"} if any(_plain_suffix(f) == ".tsv" for f in files.values()) else {}
    for path in files.values():
        _check_file(path)
    data_files = {split: str(path) for split, path in files.items()}
    try:
        with _library_errors_unlogged():
            loaded = datasets.load_dataset(kind, data_files=data_files, **options)
    except Exception as error:
        as_text = _csv_as_text(files, options) if kind == "csv" else None
        if as_text is not None:
            return as_text
        # The library's own message is often generic ("An error occurred while generating the
        # dataset"), its cause deeper in the chain: find the cause ourselves where we can.
        for path in files.values():
            problem = _unreadable_because(path)
            if problem:
                raise DataError(f"data.source: {path} {problem}") from None
        cause = first_line(_root_cause(error))
        raise DataError(f"data.source: cannot read {', '.join(data_files.values())}: {cause}") from None
    return dict(loaded)


def _csv_as_text(files: dict[str, Path], options: dict[str, str]) -> dict[str, Any] | None:
    """CSV files read with every column as text; None where that fails too.

    The library infers a column's type from the first file (and block) it reads and casts the rest to
    it, so `1.5` in train.csv and `high` in test.csv stop it with a message naming neither the column
    nor the row. Read as text, the file loads, and the task's own check of its targets says which
    split, column and row hold a value it cannot read (texts are text either way)."""
    import csv

    import datasets

    headers = set()
    for path in files.values():
        with _open_bytes(path) as handle:
            first = handle.readline().decode("utf-8", errors="replace")
            headers.add(tuple(next(csv.reader([first], delimiter=options.get("delimiter", ",")), ())))
    if len(headers) != 1 or not all(headers.copy().pop()):
        return None
    features = datasets.Features({name: datasets.Value("string") for name in headers.pop()})
    data_files = {split: str(path) for split, path in files.items()}
    try:
        with _library_errors_unlogged():
            return dict(datasets.load_dataset("csv", data_files=data_files, features=features, **options))
    except Exception:
        return None


@contextlib.contextmanager
def _library_errors_unlogged() -> Iterator[None]:
    """`datasets` logs a file's failure on a line of its own; ftrun's one error line says it instead."""
    logger = logging.getLogger("datasets")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _root_cause(error: BaseException) -> BaseException:
    """The innermost exception of a chain, where a library's generic message hides the cause."""
    seen = {id(error)}
    while (inner := error.__cause__ or error.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        error = inner
    return error


def _check_file(path: Path) -> None:
    """Mistakes visible before loading, each named plainly (the library's messages for them are not)."""
    if path.stat().st_size == 0:
        raise DataError(f"data.source: {path} is empty (0 bytes)")
    if path.suffix == ".gz":
        with path.open("rb") as handle:
            if handle.read(2) != b"\x1f\x8b":
                raise DataError(f"data.source: {path} ends in .gz but is not gzip-compressed")
    if builder(path) != "parquet":
        line = _first_non_utf8_line(path)
        if line:
            raise DataError(f"data.source: {path} line {line} is not UTF-8 text; save the file as UTF-8")


def _first_non_utf8_line(path: Path) -> int | None:
    done = 0
    with _open_bytes(path) as handle:
        # About a MiB of lines at a time: fast for valid files, line-exact for invalid ones.
        while lines := handle.readlines(1 << 20):
            try:
                b"".join(lines).decode("utf-8")
            except UnicodeDecodeError:
                for number, line in enumerate(lines, start=done + 1):
                    try:
                        line.decode("utf-8")
                    except UnicodeDecodeError:
                        return number
            done += len(lines)
    return None


def _unreadable_because(path: Path) -> str | None:
    """Why the library could not read a (UTF-8) text file, where that can be told: no rows, bad JSON."""
    if builder(path) == "parquet":
        return None
    with _open_bytes(path) as handle:
        text = handle.read().decode("utf-8")
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        return "has no rows (only blank lines)"
    if builder(path) == "csv":
        return "has a header line but no rows" if len(lines) == 1 else None
    if _plain_suffix(path) == ".json" and not _parses(lines[0][1]):
        try:  # one JSON document (an array or object of rows), not one row per line
            json.loads(text)
        except json.JSONDecodeError as error:
            return f"line {error.lineno}: not valid JSON ({error.msg})"
        return None
    for number, line in lines:
        try:
            json.loads(line)
        except json.JSONDecodeError as error:
            return f"line {number}: not valid JSON ({error.msg})"
    return None


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def _open_bytes(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def aclimdb_folder(path: Path) -> dict[str, Any]:
    """Split name -> table, from `<split>/pos/*.txt` and `<split>/neg/*.txt`."""
    tables = {}
    for split_folder in sorted(p for p in path.iterdir() if (p / "pos").is_dir() and (p / "neg").is_dir()):
        texts, labels = [], []
        for label in ("neg", "pos"):
            for review in sorted((split_folder / label).glob("*.txt")):
                texts.append(review.read_text(encoding="utf-8", errors="replace"))
                labels.append(label)
        tables[split_folder.name] = {"text": texts, "label": labels}
    return tables


def builder(path: Path) -> str | None:
    """The `datasets` builder that reads this file (None: not a data file ftrun reads)."""
    return _BUILDERS.get(_plain_suffix(path)) if path.is_file() else None


def _plain_suffix(path: Path) -> str:
    suffixes = [s for s in path.suffixes if s != ".gz"]
    return suffixes[-1].lower() if suffixes else ""


def stem(path: Path) -> str:
    """The split a file in a folder source is: `train.jsonl.gz` -> `train`."""
    return path.name.split(".")[0]
