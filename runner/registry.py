"""What can be named in a recipe and where it lives: the registries, as import paths only.

A leaf: reading it imports nothing of ftrun's and no torch, so the recipe schema lists the names and
`ftrun validate` stays instant. Adding a task type: a module in `runner/tasks/` and one line here (a
plugin may add its line at run time).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import Any

# data.task -> the class that says everything about it (a `runner.tasks.base.Task`).
TASKS = {
    "single_label": "runner.tasks.single_label:SingleLabel",
    "multi_label": "runner.tasks.multi_label:MultiLabel",
    "regression": "runner.tasks.regression:Regression",
}
# data.task's default, and the task of every run written before runs recorded their task.
DEFAULT_TASK = "single_label"


class Names(Sequence[str]):
    """Names read from a registry whenever asked (not copied once at import), so that one line added
    to it, here or by a plugin at run time, is a valid choice."""

    def __init__(self, names: Callable[[], tuple[str, ...]]) -> None:
        self._names = names

    def __getitem__(self, index: Any) -> Any:
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __repr__(self) -> str:
        return repr(self._names())


TASK_NAMES = Names(lambda: tuple(TASKS))


def headline_metrics() -> tuple[str, ...]:
    """Every registered task's headline metrics, each once. Task modules import no numpy or torch when
    loaded, so this stays instant."""
    return tuple(dict.fromkeys(metric for name in TASKS for metric in task(name).metrics))


@cache
def _task_at(path: str) -> Any:
    module_name, class_name = path.split(":")
    return getattr(importlib.import_module(module_name), class_name)()


def task(name: str) -> Any:
    """The task type `name` (a `runner.tasks.base.Task`); a KeyError for a name not registered."""
    return _task_at(TASKS[name])
