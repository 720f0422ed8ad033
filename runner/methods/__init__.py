"""Fine-tuning methods, one small plugin each. Adding a method: a new module and one line here.

A leaf: entries are import paths, so reading the registry (the recipe schema does) imports no method,
no torch and nothing else of ftrun's.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from typing import Any

REGISTRY = {
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
    """The method names, read from `REGISTRY` whenever asked (not copied once at import), so that one
    line added to it, here or by a plugin at run time, makes a valid `method.name`."""

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


REGISTERED_NAMES = RegisteredNames()


def method_class(name: str) -> Any:
    module_name, class_name = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def get(name: str) -> Any:
    """A fresh instance of the method plugin `name` (a `runner.methods.base.Method`)."""
    return method_class(name)()


def options_class(name: str) -> type:
    """The dataclass of method `name`'s own recipe keys. Method modules import no torch at load."""
    options: type = method_class(name).options
    return options
