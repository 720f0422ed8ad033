"""What the loop trains on: token batches for the whole classifier, or, for a frozen base, the base's
features computed once (only the head trains on them)."""

from __future__ import annotations

import time
from collections.abc import Sized
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn
from torch.utils.data import Dataset

from runner.tokens.feature_cache import FeatureCache, feature_key, model_fingerprint
from runner.tokens.ids import TokenIds
from runner.training.batches import (
    FeatureDataset,
    TokenDataset,
    inference_batches,
    make_loader,
    training_batches,
)
from runner.training.loaded_run import LoadedRun
from runner.training.loop import Forward, compiled, logits_from_features, logits_from_tokens, tracked_predict
from runner.training.sharding import is_sharded, skeleton

if TYPE_CHECKING:
    from accelerate import Accelerator
    from torch.utils.data import DataLoader

    from runner.console import ProgressBars
    from runner.model.classifier import Classifier


@dataclass
class TrainingInputs:
    model: nn.Module
    forward: Forward
    train_set: Dataset  # type: ignore[type-arg]
    lengths: list[int]  # per training example, for length-grouped batches (all 0 for features)
    eval_loader: DataLoader
    pad_token_id: int
    pad_to_multiple_of: int
    validation_loader: DataLoader | None = None  # None: no validation split
    feature_seconds: float = 0.0
    segment_token: int | None = None  # a pair's separator, where the model has token types
    # Under FSDP: the classifier's modules with meta weights, for the gathered weights after training.
    unsharded: Classifier | None = None

    def train_loader(self, batch_size: int, seed: int, epoch: int) -> DataLoader:
        batches = training_batches(self.lengths, batch_size, seed, epoch)
        return make_loader(
            self.train_set, batches, self.pad_token_id, self.pad_to_multiple_of, self.segment_token
        )


def training_inputs(loaded: LoadedRun, accelerator: Accelerator, progress: ProgressBars) -> TrainingInputs:
    # Under mixed precision, widths that are multiples of 8 fit tensor-core tiles.
    multiple = 8 if accelerator.mixed_precision in ("bf16", "fp16") else 1

    def tokens(ids: TokenIds, examples: Any) -> Any:
        return accelerator.prepare(
            token_loader(ids, loaded.objective.targets(examples.labels), loaded, multiple)
        )

    validation = None
    if loaded.validation_ids is not None:
        validation = tokens(loaded.validation_ids, loaded.data.validation)
    inputs = TrainingInputs(
        loaded.classifier,
        compiled(logits_from_tokens, loaded.recipe.train.compile),
        TokenDataset(loaded.train_ids, loaded.objective.targets(loaded.data.train.labels)),
        loaded.train_ids.lengths(),
        tokens(loaded.eval_ids, loaded.data.eval),
        loaded.tokenizer.pad_token_id,
        multiple,
        validation,
        segment_token=loaded.segment_token,
    )
    if not loaded.method.frozen_base:
        if is_sharded(accelerator):  # before `prepare` shards the weights in place
            inputs.unsharded = skeleton(loaded.classifier)
        inputs.model = accelerator.prepare(loaded.classifier)
        return inputs
    return _over_features(loaded, inputs, tokens(loaded.train_ids, loaded.data.train), accelerator, progress)


def _over_features(
    loaded: LoadedRun,
    inputs: TrainingInputs,
    train_tokens: Any,
    accelerator: Accelerator,
    progress: ProgressBars,
) -> TrainingInputs:
    """The same inputs for the head alone: every split's tokens replaced by the frozen base's features."""
    loaded.classifier.to(accelerator.device)
    cache = FeatureCache() if loaded.recipe.method.cache_features and accelerator.num_processes == 1 else None
    # The weights cannot change between splits: fingerprint them once (it reads file metadata).
    weights = model_fingerprint(loaded.source.name_or_path, loaded.source.gguf_file) if cache else ""
    cost = 0.0  # what extraction costs, cache hits counted at the first run's price

    def features_of(ids: TokenIds, tokens: Any) -> torch.Tensor:
        nonlocal cost
        features, seconds = cached_features(loaded, ids, tokens, accelerator, progress, cache, weights)
        cost += seconds
        return features

    def feature_loader(ids: TokenIds, tokens: Any, labels: list[Any]) -> Any:
        # Features all have one size: batch them in order.
        batches = inference_batches([0] * len(labels), loaded.recipe.eval.batch_size)
        dataset = FeatureDataset(features_of(ids, tokens), loaded.objective.targets(labels))
        return accelerator.prepare(make_loader(dataset, batches, inputs.pad_token_id))

    train_targets = loaded.objective.targets(loaded.data.train.labels)
    if loaded.method.trains:
        train_set = FeatureDataset(features_of(loaded.train_ids, train_tokens), train_targets)
    else:  # nothing fits on the train split, so its features would go unused
        train_set = FeatureDataset(torch.empty(0), [])
    eval_loader = feature_loader(loaded.eval_ids, inputs.eval_loader, loaded.data.eval.labels)
    validation = None
    if inputs.validation_loader is not None:
        assert loaded.validation_ids is not None and loaded.data.validation is not None
        validation = feature_loader(
            loaded.validation_ids, inputs.validation_loader, loaded.data.validation.labels
        )
    return TrainingInputs(
        accelerator.prepare(loaded.classifier.head),
        logits_from_features,
        train_set,
        [0] * len(train_set),
        eval_loader,
        inputs.pad_token_id,
        1,
        validation,
        cost,
    )


def token_loader(ids: TokenIds, targets: Any, loaded: LoadedRun, multiple: int) -> Any:
    """Longest-first batches at the eval batch size: for evaluation and feature extraction."""
    batches = inference_batches(ids.lengths(), loaded.recipe.eval.batch_size)
    dataset = TokenDataset(ids, targets)
    return make_loader(dataset, batches, loaded.tokenizer.pad_token_id, multiple, loaded.segment_token)


def cached_features(
    loaded: LoadedRun,
    ids: TokenIds,
    tokens: Any,
    accelerator: Accelerator,
    progress: ProgressBars,
    cache: FeatureCache | None,
    weights: str,
) -> tuple[torch.Tensor, float]:
    """The frozen base's features of `ids`, and what extracting them costs (a sweep of heads pays once).

    Under several processes each would have to agree on a hit before the gathering forward passes,
    and a frozen head gains nothing from them: the cache serves single-process runs.
    """
    if cache is None:
        return _extracted(loaded, tokens, accelerator, progress)
    key = feature_key(
        weights,
        ids.fingerprint(),
        loaded.classifier.pooling,
        accelerator.mixed_precision,
        {"dtype": loaded.recipe.model.dtype},
    )
    with cache.writing(key):  # runs of a parallel sweep that need these features extract them once
        features = cache.get(key)
        for problem in cache.problems:
            progress.console.print(f"[yellow]{problem}[/]")
        cache.problems.clear()
        if features is not None:
            return features, float(cache.meta(key).get("seconds", 0.0))
        features, seconds = _extracted(loaded, tokens, accelerator, progress)
        cache.put(key, features, {"seconds": seconds, "model": loaded.recipe.model.name})
    return features, seconds


def _extracted(
    loaded: LoadedRun, tokens: Any, accelerator: Accelerator, progress: ProgressBars
) -> tuple[torch.Tensor, float]:
    started = time.perf_counter()
    features = extract_features(
        loaded.classifier, tokens, accelerator, progress, compile=loaded.recipe.train.compile
    )
    return features, time.perf_counter() - started


def extract_features(
    classifier: Any,
    loader: DataLoader,
    accelerator: Accelerator,
    progress: ProgressBars,
    compile: bool = False,
) -> torch.Tensor:
    def forward(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with accelerator.autocast():
            return model.features(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))

    size = len(cast(Sized, loader.dataset))
    return tracked_predict(
        "features", classifier, loader, compiled(forward, compile), accelerator, size, progress
    )
