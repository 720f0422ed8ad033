"""Where a sweep's combinations run, one module per engine. Adding an engine: a module here (an
`Executor` subclass and, if it has keys of its own, its settings) and one line in `REGISTRY`.

A leaf: entries are import paths, so reading the registry (checking `[sweep.executor]` does) imports
no executor. `base` says what an executor is; `local` runs combinations as processes on this machine,
`slurm` as a job array through submitit.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from typing import Any

REGISTRY = {
    "local": "runner.sweep.executors.local:LocalExecutor",
    "slurm": "runner.sweep.executors.slurm:SlurmExecutor",
    "submitit-local": "runner.sweep.executors.slurm:SubmititLocalExecutor",
}


class EngineNames(Sequence[str]):
    """The engine names, read from `REGISTRY` whenever asked, so that a line added to it (here, or by a
    plugin at run time) makes a valid `engine` and `--executor`."""

    def __getitem__(self, index: Any) -> Any:
        return tuple(REGISTRY)[index]

    def __len__(self) -> int:
        return len(REGISTRY)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(REGISTRY))

    def __contains__(self, name: object) -> bool:
        return name in REGISTRY

    def __repr__(self) -> str:
        return repr(tuple(REGISTRY))


ENGINE_NAMES = EngineNames()


def executor_class(engine: str) -> Any:
    """The `runner.sweep.executors.base.Executor` subclass of `engine`."""
    module_name, class_name = REGISTRY[engine].split(":")
    return getattr(importlib.import_module(module_name), class_name)
