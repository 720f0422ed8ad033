"""`zero-shot`: nothing trains; each text goes through a prompt, and its class is the label word the
decoder finds likeliest to come next. The baseline a trained method has to beat.

A causal LM predicts the next token from the final hidden state at the last position, through its
output embedding. Keeping that embedding's rows of the label words' first tokens as a fixed linear
head gives exactly those next-token logits, so the run is a `prompt-linear` run whose head was read
off the model instead of trained: the same prompt encoding, cached features, saved folder and reload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner import registry
from runner.errors import ModelError, RecipeError
from runner.methods.base import freeze
from runner.methods.prompt_linear import PROMPT_TEMPLATE, PromptLinear, PromptLinearOptions
from runner.recipe.fields import option

if TYPE_CHECKING:
    from pathlib import Path

    from transformers import PreTrainedTokenizerBase

    from runner.data.examples import Examples
    from runner.model.classifier import Classifier, ModelSource
    from runner.recipe.schema import Recipe


@dataclass
class ZeroShotOptions(PromptLinearOptions):
    prompt_template: str = option(
        PROMPT_TEMPLATE,
        "Template with a `{text}` slot (and a `{text_pair}` slot for sentence pairs); the label word "
        "is predicted as the token after it.",
        contains="{text}",
    )
    label_words: dict[str, list[str]] = option(
        {},
        'Words per class, e.g. `{negative = ["negative", "bad"], positive = ["positive"]}`; '
        'a word is scored by its first token as it follows the template with a leading space (" positive", '
        "as BPE tokenizers spell a word after another), a class by the logsumexp of its words "
        "(empty: each class's own name in `data.labels`).",
    )
    few_shot: int = option(
        0,
        "Labelled train examples shown before each text, each answered with its class's first label word.",
        minimum=0,
    )


class ZeroShot(PromptLinear):
    name = "zero-shot"
    options = ZeroShotOptions
    defaults: dict[str, dict[str, Any]] = {}  # no train.lr to tune: nothing trains
    trains = False

    def __init__(self) -> None:
        # Set by `prompt` (which has the tokenizer) for `load_backbone`, then `prepare`.
        self.label_words: list[list[str]] = []
        self.word_tokens: list[int] = []
        self.word_classes: list[int] = []
        self.head_rows: Any = None  # (weight, bias) of those tokens in the model's output layer

    def check_model(self, recipe: Recipe, source: ModelSource) -> None:
        from runner.model.classifier import is_decoder, load_config

        problems = []
        if not registry.task(recipe.data.task).one_label_per_text:
            takes = ", ".join(f'"{n}"' for n in registry.TASKS if registry.task(n).one_label_per_text)
            problems.append(
                f'method.name = "zero-shot" picks one label word per text; data.task = "{recipe.data.task}" '
                f"needs a trained method (zero-shot takes data.task = {takes})"
            )
        if recipe.method.pooling not in ("auto", "last"):
            problems.append(
                f'method.pooling = "{recipe.method.pooling}": zero-shot reads the next-token prediction '
                'at the text\'s last token; use "auto" or "last"'
            )
        try:
            class_words(recipe)
        except RecipeError as error:
            problems += error.problems
        if problems:
            raise RecipeError(*problems)
        config = load_config(source)
        if not is_decoder(config):
            raise ModelError(
                f'method.name = "zero-shot" needs a decoder (a causal LM predicts the next word); '
                f"{recipe.model.name} is a {config.model_type} encoder: use a decoder such as "
                '"embedded-smollm2", or a trained method'
            )
        if getattr(config, "final_logit_softcapping", None):
            raise ModelError(
                f"{recipe.model.name} softcaps its next-token logits, which zero-shot's linear head "
                "cannot reproduce"
            )

    def prompt(
        self, recipe: Recipe, tokenizer: PreTrainedTokenizerBase, train_examples: Examples
    ) -> dict[str, str]:
        prompt = super().prompt(recipe, tokenizer, train_examples)
        self.label_words = class_words(recipe)
        self.word_tokens, self.word_classes = label_tokens(recipe, tokenizer, prompt["after"])
        return prompt

    def shot_answer(self, recipe: Recipe) -> Callable[[Any], str]:
        words = class_words(recipe)
        return lambda target: words[target][0]

    def load_backbone(self, recipe: Recipe, source: ModelSource, pad_token_id: int | None) -> Any:
        """The causal LM's base (final norm included: what its output layer reads), having kept that
        output layer's rows of the label words' tokens."""
        import torch
        from transformers import AutoModelForCausalLM

        from runner.model.classifier import load_backbone

        assert self.word_tokens, "Method.prompt runs before load_backbone and finds the label tokens"
        causal_lm: Any = load_backbone(source, recipe.model.dtype, pad_token_id, AutoModelForCausalLM)
        output = causal_lm.get_output_embeddings()
        rows = torch.tensor(self.word_tokens)
        weight = output.weight.detach()[rows].float().clone()
        bias = getattr(output, "bias", None)
        bias = torch.zeros(len(rows)) if bias is None else bias.detach()[rows].float().clone()
        self.head_rows = (weight, bias)
        return causal_lm.base_model

    def prepare(self, classifier: Classifier, recipe: Recipe) -> Classifier:
        from runner.model.classifier import Head

        assert self.head_rows is not None, "load_backbone keeps the label words' rows"
        weight, bias = self.head_rows
        head = Head(weight.shape[1], 0, len(recipe.data.labels), 0.0, self.word_classes)
        output_layer: Any = head.layers[1]
        output_layer.weight.data.copy_(weight)
        output_layer.bias.data.copy_(bias)
        freeze(classifier.backbone)
        freeze(head)
        classifier.head = head
        classifier.pooling = "last"  # the next-token position, whatever `auto` would pick for a frozen base
        return classifier

    def save(
        self,
        classifier: Classifier,
        tokenizer: PreTrainedTokenizerBase,
        folder: Path,
        head_description: dict[str, Any],
    ) -> None:
        """The base, the fixed head and the words it scores: `method.head_hidden` and `head_dropout`
        never applied."""
        description = head_description | {
            "hidden": 0,
            "head_dropout": 0.0,
            "word_classes": classifier.head.word_classes,
            "label_words": self.label_words,
        }
        super().save(classifier, tokenizer, folder, description)


def class_words(recipe: Recipe) -> list[list[str]]:
    """Each class's label words, in `data.labels` order; a RecipeError line per class missing or unknown."""
    labels = list(recipe.data.labels)
    options = recipe.method.options
    chosen = options.label_words if isinstance(options, ZeroShotOptions) else {}
    if not chosen:
        return [[label] for label in labels]
    problems = [
        f"method.label_words: {name!r} is not a class of data.labels ({', '.join(labels)})"
        for name in chosen
        if name not in labels
    ]
    problems += [
        f"method.label_words: no words for class {label!r}; give every class of data.labels its words"
        for label in labels
        if label not in chosen
    ]
    if problems:
        raise RecipeError(*problems)
    return [list(chosen[label]) for label in labels]


def label_tokens(
    recipe: Recipe, tokenizer: PreTrainedTokenizerBase, after: str
) -> tuple[list[int], list[int]]:
    """The first token of each label word as it follows the prompt's end, and each word's class.

    A word is tokenised after the template's tail and a space, as it would be generated there; where
    the tokenizer merges across that boundary, the word alone with its leading space is used.
    """
    context = tokenizer(after, add_special_tokens=False)["input_ids"]
    tokens: list[int] = []
    classes: list[int] = []
    owners: dict[int, str] = {}
    for label, words in enumerate(class_words(recipe)):
        for word in words:
            joined = tokenizer(after + " " + word.strip(), add_special_tokens=False)["input_ids"]
            if joined[: len(context)] == context and len(joined) > len(context):
                token = joined[len(context)]
            else:
                token = tokenizer(" " + word.strip(), add_special_tokens=False)["input_ids"][0]
            if token in owners:
                other = owners[token]
                raise RecipeError(
                    f"method.label_words: {other!r} and {word!r} start with the same token "
                    f"{tokenizer.convert_ids_to_tokens(token)!r}; give each word a first token of its own"
                )
            owners[token] = word
            tokens.append(int(token))
            classes.append(label)
    return tokens, classes
