"""A data source read into its splits: the embedded sets, an aclImdb folder, local files, or the hub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.data import embedded
from runner.data.files import aclimdb_folder, builder, load_files, stem
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
