"""`ia3`: learned rescaling vectors on keys, values and feed-forward activations (peft IA3).

Fewer trainable weights than LoRA (one vector per adapted layer); the head trains in full.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner.methods.adapters import PeftMethod
from runner.recipe.fields import option


@dataclass
class IA3Options:
    ia3_target_modules: list[str] = option(
        [], "Module names IA3 rescales (empty: keys, values and feed-forward layers for the architecture)."
    )
    ia3_feedforward_modules: list[str] = option(
        [], "Which of those are feed-forward layers, scaled on their input (empty: the architecture's)."
    )


class IA3(PeftMethod):
    name = "ia3"
    defaults = {"train": {"lr": 3e-3}}
    options = IA3Options
    target_key = "ia3_target_modules"

    def peft_config(self, options: IA3Options) -> Any:
        from peft import IA3Config, TaskType

        return IA3Config(
            task_type=TaskType.FEATURE_EXTRACTION,
            target_modules=options.ia3_target_modules or None,
            feedforward_modules=options.ia3_feedforward_modules or None,
        )
