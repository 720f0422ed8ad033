"""`lora`: low-rank adapters (peft) on the attention projections; the head trains in full."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner.methods.adapters import PeftMethod
from runner.recipe.fields import option


@dataclass
class LoraOptions:
    lora_r: int = option(8, "LoRA rank.", minimum=1)
    lora_alpha: int = option(16, "LoRA scaling numerator (alpha / r scales the update).", minimum=1)
    lora_dropout: float = option(0.1, "Dropout on the LoRA path.", minimum=0.0, maximum=0.95)
    lora_target_modules: list[str] = option(
        [], "Module names LoRA adapts (empty: attention projections for the architecture)."
    )


class Lora(PeftMethod):
    name = "lora"
    defaults = {"train": {"lr": 1e-3}}
    options = LoraOptions
    target_key = "lora_target_modules"

    def peft_config(self, options: LoraOptions) -> Any:
        from peft import LoraConfig, TaskType

        return LoraConfig(
            task_type=TaskType.FEATURE_EXTRACTION,
            r=options.lora_r,
            lora_alpha=options.lora_alpha,
            lora_dropout=options.lora_dropout,
            # None lets peft pick the attention projections it knows for this architecture.
            target_modules=options.lora_target_modules or None,
        )
