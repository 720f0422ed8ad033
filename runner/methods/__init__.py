"""Fine-tuning methods, one small plugin each. Adding a method: a new module and one line here.

A leaf: entries are import paths, so reading the registry (the recipe schema does) imports no method,
no torch and nothing else of ftrun's.
"""

from __future__ import annotations

import importlib
from typing import Any

REGISTRY = {
    "full": "runner.methods.full:Full",
    "lora": "runner.methods.lora:Lora",
    "ia3": "runner.methods.ia3:IA3",
    "dora": "runner.methods.dora:Dora",
    "qlora": "runner.methods.qlora:Qlora",
    "linear": "runner.methods.linear:Linear",
    "prompt-linear": "runner.methods.prompt_linear:PromptLinear",
}


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
