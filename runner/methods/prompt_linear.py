"""`prompt-linear`: as `linear`, with each text wrapped in a prompt, optionally after few-shot examples."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.errors import RecipeError
from runner.methods.linear import Linear
from runner.recipe.fields import option

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from runner.data.examples import Examples
    from runner.recipe.schema import Recipe


PROMPT_TEMPLATE = "Review: {text}\nSentiment:"


@dataclass
class PromptLinearOptions:
    prompt_template: str = option(
        PROMPT_TEMPLATE,
        "Template with a `{text}` slot (and a `{text_pair}` slot for sentence pairs).",
        contains="{text}",
    )
    few_shot: int = option(0, "Labelled train examples shown before each text.", minimum=0)


class PromptLinear(Linear):
    name = "prompt-linear"
    options = PromptLinearOptions

    def prompt(
        self, recipe: Recipe, tokenizer: PreTrainedTokenizerBase, train_examples: Examples
    ) -> dict[str, str]:
        """The text before each input (few-shot examples, then the template's head), between the two
        texts of a pair, and after it."""
        options = self.own_options(recipe)
        template = options.prompt_template
        pairs = bool(recipe.data.text_pair_column)
        if pairs != ("{text_pair}" in template):
            raise RecipeError(
                "method.prompt_template needs a {text_pair} slot for sentence pairs (data.text_pair_column)"
                if pairs
                else "method.prompt_template has a {text_pair} slot but data.text_pair_column is not set"
            )
        before, after = template.split("{text}", 1)
        parts = {"before": before, "after": after}
        if pairs:
            between, after = after.split("{text_pair}", 1)
            parts = {"before": before, "between": between, "after": after}
        shots = few_shot_prefix(
            recipe, options.few_shot, parts, tokenizer, train_examples, self.shot_answer(recipe)
        )
        return {**parts, "before": shots + before}

    def shot_answer(self, recipe: Recipe) -> Callable[[Any], str]:
        """How a few-shot example shows its label after the template: the label's name here."""
        return lambda target: target_words(recipe, target)

    def batch_encoder(
        self, tokenizer: PreTrainedTokenizerBase, recipe: Recipe, prompt: dict[str, str] | None
    ) -> Callable[[list[Any]], Any]:
        from runner.tokens.encoding import cut, cut_longest_first

        assert prompt is not None, "prompt-linear encodes around the prompt from Method.prompt"
        before, between, after = prompt["before"], prompt.get("between", ""), prompt["after"]
        fixed = len(tokenizer(before + between + after, truncation=False)["input_ids"])
        room = recipe.model.max_length - fixed
        if room < 1:
            raise RecipeError(
                f"method.prompt_template with {self.own_options(recipe).few_shot} few-shot examples "
                f"takes {fixed} tokens, "
                f"leaving no room for the text in model.max_length = {recipe.model.max_length}"
            )
        data = recipe.data

        def shown(text: str, ids: list[int], kept: list[int]) -> str:
            return text if len(kept) == len(ids) else str(tokenizer.decode(kept))

        def batch(chunk: list[Any]) -> Any:
            # Truncate the texts alone, so the template (and the "Sentiment:" cue) is always intact.
            if chunk and isinstance(chunk[0], tuple):
                firsts = tokenizer([a for a, _ in chunk], add_special_tokens=False)["input_ids"]
                seconds = tokenizer([b for _, b in chunk], add_special_tokens=False)["input_ids"]
                wrapped = []
                for (a, b), ids_a, ids_b in zip(chunk, firsts, seconds, strict=True):
                    kept_a, kept_b = cut_longest_first(list(ids_a), list(ids_b), room)
                    wrapped.append(
                        before + shown(a, ids_a, kept_a) + between + shown(b, ids_b, kept_b) + after
                    )
            else:
                text_ids = tokenizer(chunk, add_special_tokens=False)["input_ids"]
                wrapped = [
                    before + shown(text, ids, cut(ids, room, data.truncation, data.head_share)) + after
                    for text, ids in zip(chunk, text_ids, strict=True)
                ]
            return tokenizer(wrapped, truncation=True, max_length=recipe.model.max_length)["input_ids"]

        return batch


def few_shot_prefix(
    recipe: Recipe,
    k: int,
    template: dict[str, str],
    tokenizer: PreTrainedTokenizerBase,
    train_examples: Examples,
    answer: Callable[[Any], str] | None = None,
) -> str:
    """k labelled train examples, drawn with the data seed, each cut short to leave room for the text;
    each shows its label as `answer(label)` says (default: the label's name)."""
    if not k:
        return ""
    if k > len(train_examples.texts):
        raise RecipeError(
            f"method.few_shot = {k} is more than the {len(train_examples.texts)} train examples"
        )
    rows = random.Random(recipe.data.seed).sample(range(len(train_examples.texts)), k)
    if answer is None:
        answer = lambda target: target_words(recipe, target)  # noqa: E731
    shot_tokens = max(8, recipe.model.max_length // (2 * (k + 1)))
    pairs = train_examples.pairs
    if pairs is not None:
        shot_tokens = max(4, shot_tokens // 2)  # both texts of a shot share its budget

    def short(text: str) -> str:
        return str(tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"][:shot_tokens]))

    shots = []
    for row in rows:
        shown = template["before"] + short(train_examples.texts[row])
        if pairs is not None:
            shown += template["between"] + short(pairs[row])
        shots.append(f"{shown}{template['after']} {answer(train_examples.labels[row])}\n\n")
    return "".join(shots)


def target_words(recipe: Recipe, target: Any) -> str:
    """How a shot shows its answer: the label's name, the names of a set of labels, or the number."""
    names = recipe.data.labels
    if isinstance(target, tuple):
        return ", ".join(names[i] for i in target) or "none"
    if isinstance(target, float):
        return f"{target:g}"
    return names[target]
