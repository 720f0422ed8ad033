"""`lora`: low-rank adapters (peft) on the attention projections; the head trains in full."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.errors import ModelError
from runner.methods.base import Method
from runner.model import Classifier
from runner.schema import Recipe


class Lora(Method):
    name = "lora"

    def prepare(self, classifier: Classifier, recipe: Recipe) -> Classifier:
        from peft import LoraConfig, TaskType, get_peft_model

        cfg = recipe.method
        config = LoraConfig(
            task_type=TaskType.FEATURE_EXTRACTION,
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            # None lets peft pick the attention projections it knows for this architecture.
            target_modules=cfg.lora_target_modules or None,
        )
        try:
            classifier.backbone = get_peft_model(classifier.backbone, config)
        except ValueError as error:
            raise ModelError(
                f'method.lora_target_modules: {error}; name the modules to adapt, e.g. ["q_proj", "v_proj"]'
            ) from None
        return classifier

    def save(
        self, classifier: Classifier, tokenizer: Any, folder: Path, head_description: dict[str, Any]
    ) -> None:
        # The adapter (adapter_config.json + adapter_model.safetensors) and the head side by side.
        classifier.backbone.save_pretrained(folder)
        super().save(classifier, tokenizer, folder, head_description)

    def for_inference(self, classifier: Classifier) -> Classifier:
        classifier.backbone = classifier.backbone.merge_and_unload()
        return classifier
