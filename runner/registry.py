"""Every plugin ftrun knows, by name: the fine-tuning methods (`runner/methods/`) and the task types
(`runner/tasks/`). Adding one is a module and one line here; a plugin written outside ftrun adds its line
at run time.

A leaf: entries are `module:name` import paths, so reading the registry (the recipe schema does) imports
no plugin, no torch and nothing else of ftrun's, and `ftrun validate` stays instant.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import Any

METHODS = {
    "full": "runner.methods.full:Full",
    "lora": "runner.methods.lora:Lora",
    "ia3": "runner.methods.ia3:IA3",
    "dora": "runner.methods.dora:Dora",
    "qlora": "runner.methods.qlora:Qlora",
    "linear": "runner.methods.linear:Linear",
    "prompt-linear": "runner.methods.prompt_linear:PromptLinear",
    "prompt-tuning": "runner.methods.prompt_tuning:PromptTuning",
    "zero-shot": "runner.methods.zero_shot:ZeroShot",
    "tfidf": "runner.methods.tfidf:Tfidf",
    "static-embeddings": "runner.methods.static_embeddings:StaticEmbeddings",
}
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
    to it, here or by a plugin at run time, makes a valid choice."""

    def __init__(self, names: Callable[[], tuple[str, ...]]) -> None:
        self.names = names

    def __getitem__(self, index: Any) -> Any:
        return self.names()[index]

    def __len__(self) -> int:
        return len(self.names())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __contains__(self, name: object) -> bool:
        return name in self.names()

    def __repr__(self) -> str:
        return repr(self.names())


METHOD_NAMES = Names(lambda: tuple(METHODS))
TASK_NAMES = Names(lambda: tuple(TASKS))


def loaded(path: str) -> Any:
    """What an entry's `module:name` import path names, imported now."""
    module_name, attribute = path.split(":")
    return getattr(importlib.import_module(module_name), attribute)


def method_class(name: str) -> Any:
    return loaded(METHODS[name])


def method(name: str) -> Any:
    """A fresh instance of the method plugin `name` (a `runner.methods.base.Method`)."""
    return method_class(name)()


def method_options(name: str) -> type:
    """The dataclass of method `name`'s own recipe keys. Method modules import no torch at load."""
    options: type = method_class(name).options
    return options


@cache
def _task_at(path: str) -> Any:
    return loaded(path)()


def task(name: str) -> Any:
    """The task type `name` (a `runner.tasks.base.Task`); a KeyError for a name not registered. Tasks
    hold no state, so one instance per entry serves every caller."""
    return _task_at(TASKS[name])


def headline_metrics() -> tuple[str, ...]:
    """Every registered task's headline metrics, each once. Task modules import no numpy or torch when
    loaded, so this stays instant."""
    return tuple(dict.fromkeys(metric for name in TASKS for metric in task(name).metrics))
