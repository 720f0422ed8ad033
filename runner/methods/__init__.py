"""Fine-tuning methods, one small plugin each. Adding a method: a new module and one line here.

Entries are import paths so that reading the registry (the recipe schema does) loads no torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runner.methods.base import Method

REGISTRY = {
    "full": "runner.methods.full:Full",
    "lora": "runner.methods.lora:Lora",
    "linear": "runner.methods.linear:Linear",
    "prompt-linear": "runner.methods.prompt_linear:PromptLinear",
}


def get(name: str) -> Method:
    module_name, class_name = REGISTRY[name].split(":")
    method: Method = getattr(importlib.import_module(module_name), class_name)()
    return method
