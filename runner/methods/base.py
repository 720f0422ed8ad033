"""What a fine-tuning method decides: what trains, how texts are encoded, what is saved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.model import Classifier, save_head
from runner.schema import Recipe


class Method:
    name = "base"
    # A frozen base never changes, so its features are computed once and only the head trains.
    frozen_base = False

    def prepare(self, classifier: Classifier, recipe: Recipe) -> Classifier:
        """Freeze or wrap parts of the classifier before training."""
        return classifier

    def encode(
        self, texts: list[str], tokenizer: Any, recipe: Recipe, train_examples: Any
    ) -> list[list[int]]:
        """Token ids per text, truncated to `model.max_length`."""
        encoded = tokenizer(texts, truncation=True, max_length=recipe.model.max_length)
        return list(encoded["input_ids"])

    def save(
        self, classifier: Classifier, tokenizer: Any, folder: Path, head_description: dict[str, Any]
    ) -> None:
        """Write the trained parts so plain transformers/peft (plus the head file) reload them."""
        tokenizer.save_pretrained(folder)
        save_head(classifier.head, folder, head_description)

    def for_inference(self, classifier: Classifier) -> Classifier:
        """The fastest equivalent model for serving (LoRA merges its adapters)."""
        return classifier


def freeze(module: Any) -> None:
    for parameter in module.parameters():
        parameter.requires_grad_(False)
