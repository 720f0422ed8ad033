"""`prompt-linear`: as `linear`, with each text wrapped in a prompt, optionally after few-shot examples."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.errors import RecipeError
from runner.methods.linear import Linear
from runner.recipe.schema import option

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from runner.data.examples import Examples
    from runner.recipe.schema import Recipe


@dataclass
class PromptLinearOptions:
    prompt_template: str = option(
        "Review: {text}\nSentiment:", "Template with a `{text}` slot.", contains="{text}"
    )
    few_shot: int = option(0, "Labelled train examples shown before each text.", minimum=0)


class PromptLinear(Linear):
    name = "prompt-linear"
    options = PromptLinearOptions

    def prompt(
        self, recipe: Recipe, tokenizer: PreTrainedTokenizerBase, train_examples: Examples
    ) -> dict[str, str]:
        """The text before each input (few-shot examples, then the template's head) and after it."""
        options = self.own_options(recipe)
        before, after = options.prompt_template.split("{text}", 1)
        shots = few_shot_prefix(recipe, options.few_shot, (before, after), tokenizer, train_examples)
        return {"before": shots + before, "after": after}

    def batch_encoder(
        self, tokenizer: PreTrainedTokenizerBase, recipe: Recipe, prompt: dict[str, str] | None
    ) -> Callable[[list[str]], Any]:
        assert prompt is not None, "prompt-linear encodes around the prompt from Method.prompt"
        before, after = prompt["before"], prompt["after"]
        fixed = len(tokenizer(before + after, truncation=False)["input_ids"])
        room = recipe.model.max_length - fixed
        if room < 1:
            raise RecipeError(
                f"method.prompt_template with {self.own_options(recipe).few_shot} few-shot examples "
                f"takes {fixed} tokens, "
                f"leaving no room for the text in model.max_length = {recipe.model.max_length}"
            )

        def batch(chunk: list[str]) -> Any:
            # Truncate the text alone, so the template (and the "Sentiment:" cue) is always intact.
            text_ids = tokenizer(chunk, add_special_tokens=False)["input_ids"]
            wrapped = [
                before + (str(tokenizer.decode(ids[:room])) if len(ids) > room else text) + after
                for text, ids in zip(chunk, text_ids, strict=True)
            ]
            return tokenizer(wrapped, truncation=True, max_length=recipe.model.max_length)["input_ids"]

        return batch


def few_shot_prefix(
    recipe: Recipe,
    k: int,
    template: tuple[str, str],
    tokenizer: PreTrainedTokenizerBase,
    train_examples: Examples,
) -> str:
    """k labelled train examples, drawn with the data seed, each cut short to leave room for the text."""
    if not k:
        return ""
    if k > len(train_examples.texts):
        raise RecipeError(
            f"method.few_shot = {k} is more than the {len(train_examples.texts)} train examples"
        )
    rows = random.Random(recipe.data.seed).sample(range(len(train_examples.texts)), k)
    shot_tokens = max(8, recipe.model.max_length // (2 * (k + 1)))
    before, after = template
    shots = []
    for row in rows:
        ids = tokenizer(train_examples.texts[row], add_special_tokens=False)["input_ids"][:shot_tokens]
        label = recipe.data.labels[train_examples.labels[row]]
        shots.append(f"{before}{tokenizer.decode(ids)}{after} {label}\n\n")
    return "".join(shots)
