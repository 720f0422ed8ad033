"""The run folder: the contract that `compare`, reloading and resuming read.

outputs/<run>/recipe.toml         the fully resolved recipe
outputs/<run>/metrics.json        results and provenance (`schema_version` below); written last
outputs/<run>/predictions.jsonl   one row per eval example
outputs/<run>/train_log.jsonl     step, loss, lr, throughput (and eval accuracy per epoch)
outputs/<run>/model/              weights in save_pretrained form (or adapter) + head.safetensors
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from runner.errors import RunFolderError

SCHEMA_VERSION = 1
CHECKPOINT = "checkpoint"


def new_run_folder(parent: Path, name: str, overwrite: bool) -> Path:
    """A fresh folder for the run: `name`, or `name-2`, `name-3`... so no run is ever overwritten."""
    parent.mkdir(parents=True, exist_ok=True)
    folder = parent / name
    if overwrite and folder.exists():
        shutil.rmtree(folder)
    suffix = 2
    while folder.exists():
        folder = parent / f"{name}-{suffix}"
        suffix += 1
    folder.mkdir()
    return folder


def existing_run_folder(folder: Path) -> Path:
    if not (folder / "recipe.toml").is_file():
        raise RunFolderError(f"--resume {folder}: not a run folder (no recipe.toml)")
    if (folder / "metrics.json").is_file():
        raise RunFolderError(f"--resume {folder}: this run already finished (metrics.json exists)")
    return folder


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open() as handle:
        return [json.loads(line) for line in handle if line.strip()]
