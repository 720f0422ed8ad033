"""`dora`: weight-decomposed low-rank adapters (peft's LoRA with `use_dora`), LoRA's keys and defaults.

DoRA splits each adapted weight into a magnitude (one learned scale per output) and a direction that
LoRA's low-rank update moves; it trains a few more weights than LoRA and is slower per step, and peft
suggests it as the LoRA variant to try next. The head trains in full; the served model merges the
adapters like LoRA's.
"""

from __future__ import annotations

from typing import Any

from runner.methods.lora import Lora, LoraOptions


class Dora(Lora):
    name = "dora"
    defaults = {"train": {"lr": 1e-3}}
    options = LoraOptions

    def peft_config(self, options: LoraOptions) -> Any:
        config = super().peft_config(options)
        config.use_dora = True
        return config
