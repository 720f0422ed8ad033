"""`prompt-linear`: as `linear`, with each text wrapped in a prompt, optionally after few-shot examples."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from runner.errors import RecipeError
from runner.methods.linear import Linear
from runner.schema import Recipe


class PromptLinear(Linear):
    name = "prompt-linear"

    def encode(
        self, texts: list[str], tokenizer: Any, recipe: Recipe, train_examples: Any
    ) -> list[list[int]]:
        before, after = recipe.method.prompt_template.split("{text}", 1)
        before = few_shot_prefix(recipe, tokenizer, train_examples) + before
        fixed = len(tokenizer(before + after, truncation=False)["input_ids"])
        room = recipe.model.max_length - fixed
        if room < 1:
            raise RecipeError(
                f"method.prompt_template with {recipe.method.few_shot} few-shot examples "
                f"takes {fixed} tokens, "
                f"leaving no room for the text in model.max_length = {recipe.model.max_length}"
            )
        # Truncate the text alone, so the template (and the "Sentiment:" cue) is always intact.
        text_ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
        wrapped = [
            before + (tokenizer.decode(ids[:room]) if len(ids) > room else text) + after
            for text, ids in zip(texts, text_ids, strict=True)
        ]
        encoded = tokenizer(wrapped, truncation=True, max_length=recipe.model.max_length)
        self.prompt = {"before": before, "after": after}
        return list(encoded["input_ids"])

    def save(self, classifier: Any, tokenizer: Any, folder: Path, head_description: dict[str, Any]) -> None:
        # A reloaded head only makes sense around the same prompt: keep it beside the head.
        super().save(classifier, tokenizer, folder, {**head_description, "prompt": self.prompt})


def few_shot_prefix(recipe: Recipe, tokenizer: Any, train_examples: Any) -> str:
    """k labelled train examples, drawn with the data seed, each cut short to leave room for the text."""
    k = recipe.method.few_shot
    if not k:
        return ""
    if k > len(train_examples.texts):
        raise RecipeError(
            f"method.few_shot = {k} is more than the {len(train_examples.texts)} train examples"
        )
    rows = random.Random(recipe.data.seed).sample(range(len(train_examples.texts)), k)
    shot_tokens = max(8, recipe.model.max_length // (2 * (k + 1)))
    before, after = recipe.method.prompt_template.split("{text}", 1)
    shots = []
    for row in rows:
        ids = tokenizer(train_examples.texts[row], add_special_tokens=False)["input_ids"][:shot_tokens]
        label = recipe.data.labels[train_examples.labels[row]]
        shots.append(f"{before}{tokenizer.decode(ids)}{after} {label}\n\n")
    return "".join(shots)
