"""What a run loads before training: examples, tokenizer, model, method, and the texts' token ids."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console

from runner import registry
from runner.console import progress_bars
from runner.data.loading import LoadedData, load_data
from runner.model.classifier import (
    Classifier,
    Head,
    ModelSource,
    choose_pooling,
    hidden_size,
    load_tokenizer,
    resolve_source,
    use_attention,
)
from runner.model.cpu_dropout import KERNEL, attention_kernels, dropout_kernel, use_cpu_dropout
from runner.recipe.schema import Recipe
from runner.tokens.encoding import uses_token_types
from runner.tokens.id_cache import TokenIdCache
from runner.tokens.ids import TokenIds
from runner.training.objective import Objective, objective_for

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from runner.methods.base import Method


@dataclass
class LoadedRun:
    recipe: Recipe
    recipe_path: Path
    data: LoadedData
    source: ModelSource
    tokenizer: PreTrainedTokenizerBase
    classifier: Classifier
    method: Any  # runner.methods.base.Method
    prompt: dict[str, str] | None  # the text around each input, for prompt methods
    train_ids: TokenIds
    eval_ids: TokenIds
    validation_ids: TokenIds | None  # None: no validation split
    serving_attention: str | None  # the attention kernel for evaluation and latency
    training_attention: str | None  # the attention kernel while training
    dropout_kernel: str  # train.dropout_kernel resolved: cpu_dropout.KERNEL or "torch"
    objective: Objective  # what the head outputs for the task, and its loss
    segment_token: int | None = None  # a pair's separator, where the model has token types
    gradient_checkpointing: bool = False  # train.gradient_checkpointing, where a trained base uses it

    @property
    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.classifier.parameters() if p.requires_grad)

    @property
    def total_parameters(self) -> int:
        return sum(weights_in(p) for p in self.classifier.parameters())


def weights_in(parameter: Any) -> int:
    """How many weights a parameter holds: a bitsandbytes 4-bit one packs two to a byte, and its
    quantisation state knows the shape it stands for."""
    quant_state = getattr(parameter, "quant_state", None)
    shape = getattr(quant_state, "shape", None)
    return int(np.prod(shape)) if shape is not None else parameter.numel()


def load_run(recipe: Recipe, recipe_path: Path, console: Console) -> LoadedRun:
    console.print(
        f"[bold]ftrun[/] {recipe_path} · method [cyan]{recipe.method.name}[/] · model {recipe.model.name}",
        soft_wrap=True,
    )
    source = resolve_source(recipe.model)
    method = registry.method(recipe.method.name)
    method.check_model(recipe, source)  # before data and weights load: a wrong module name costs a second
    data = load_data(recipe.data)
    for note in data.notes:
        console.print(f"[yellow]{note}[/]")
    console.print(
        f"data: {len(data.train)} train / {len(data.eval)} eval examples from {recipe.data.source}",
        soft_wrap=True,
    )
    tokenizer = load_tokenizer(source)
    # Before the model loads: a prompt too long for max_length or too many few-shot examples fail fast.
    prompt = method.prompt(recipe, tokenizer, data.train)
    train_ids, eval_ids, validation_ids = _encode_splits(data, tokenizer, recipe, method, prompt, console)
    backbone = method.load_backbone(recipe, source, tokenizer.pad_token_id)
    objective = objective_for(recipe, data.train.labels)
    head = Head(
        hidden_size(backbone),
        recipe.method.head_hidden,
        objective.num_labels,
        recipe.method.head_dropout,
        bias=recipe.method.head_bias,
    )
    pooling = choose_pooling(recipe.method.pooling, backbone.config, method.frozen_base)
    dropout = dropout_kernel(recipe.train.dropout_kernel)
    training, serving = attention_kernels(recipe.model.attention, not method.frozen_base, dropout)
    loaded_with: str | None = getattr(getattr(backbone, "config", None), "_attn_implementation", None)
    use_attention(backbone, training)
    classifier = method.prepare(Classifier(backbone, head, pooling), recipe)
    if dropout == KERNEL:  # after `prepare`: adapters bring their own nn.Dropout modules
        use_cpu_dropout(classifier)
    # A frozen base runs under no_grad and keeps no activations: nothing to recompute there.
    checkpointing = recipe.train.gradient_checkpointing and not method.frozen_base
    if checkpointing:
        use_gradient_checkpointing(classifier.backbone)
    return LoadedRun(
        recipe,
        recipe_path,
        data,
        source,
        tokenizer,
        classifier,
        method,
        prompt,
        train_ids,
        eval_ids,
        validation_ids,
        serving or loaded_with,
        training or loaded_with,
        dropout,
        objective,
        tokenizer.sep_token_id if data.train.pairs is not None and uses_token_types(tokenizer) else None,
        checkpointing,
    )


def use_gradient_checkpointing(backbone: Any) -> None:
    """Recompute each layer's activations in backward (a peft wrapper passes the call to its base).

    Non-reentrant: gradients reach adapter weights whatever the inputs, and it composes with FSDP.
    torch restores its random state for the recomputation, so dropout draws the same masks.
    """
    backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def _encode_splits(
    data: LoadedData,
    tokenizer: PreTrainedTokenizerBase,
    recipe: Recipe,
    method: Method,
    prompt: dict[str, str] | None,
    console: Console,
) -> tuple[TokenIds, TokenIds, TokenIds | None]:
    """Every split's token ids, under a progress bar: millions of texts take minutes to tokenise."""
    splits = [data.train, data.eval] + ([data.validation] if data.validation is not None else [])
    cache = TokenIdCache() if recipe.data.cache_token_ids else None
    with progress_bars(console, not console.quiet) as bars:
        task = bars.add_task("tokenise", total=sum(len(split) for split in splits), info="")
        encoded = [
            method.encode(split.inputs(), tokenizer, recipe, prompt, lambda n: bars.advance(task, n), cache)
            for split in splits
        ]
        bars.remove_task(task)
    for problem in cache.problems if cache else []:
        console.print(f"[yellow]{problem}[/]")
    _count_cut(data, encoded, recipe, console)
    return encoded[0], encoded[1], encoded[2] if len(encoded) == 3 else None


def _count_cut(data: LoadedData, encoded: list[TokenIds], recipe: Recipe, console: Console) -> None:
    """How many texts per split fill `model.max_length`: cut (or exactly that long), in the run's record."""
    limit = recipe.model.max_length
    names = ["train", "eval", "validation"]
    cut = {
        name: int((np.diff(ids.offsets) >= limit).sum()) for name, ids in zip(names, encoded, strict=False)
    }
    data.description["cut_to_max_length"] = cut
    if any(cut.values()):
        counted = zip(cut.items(), encoded, strict=True)
        shown = ", ".join(f"{count} of {len(ids)} {name}" for (name, count), ids in counted)
        console.print(
            f"texts cut to model.max_length = {limit} tokens ({recipe.data.truncation}): {shown}",
            soft_wrap=True,
        )
