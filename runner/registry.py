"""Every plugin ftrun knows, by name: the fine-tuning methods (`runner/methods/`). Adding one is a module
and one line here; a plugin written outside ftrun adds its line at run time.

A leaf: entries are `module:name` import paths, so reading the registry (the recipe schema does) imports
no plugin, no torch and nothing else of ftrun's.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
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
}


class RegisteredNames(Sequence[str]):
    """A registry's names, read from it whenever asked (not copied once at import), so that one line
    added to it, here or by a plugin at run time, makes a valid choice."""

    def __init__(self, registry: dict[str, str]) -> None:
        self.registry = registry

    def __getitem__(self, index: Any) -> Any:
        return tuple(self.registry)[index]

    def __len__(self) -> int:
        return len(self.registry)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self.registry))

    def __contains__(self, name: object) -> bool:
        return name in self.registry

    def __repr__(self) -> str:
        return repr(tuple(self.registry))


METHOD_NAMES = RegisteredNames(METHODS)


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
