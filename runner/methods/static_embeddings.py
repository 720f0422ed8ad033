"""`static-embeddings`: a Model2Vec static embedding distilled from the recipe's own base model, with a
linear model on each text's mean embedding (scikit-learn); the base never runs on the texts.

`model2vec.distill` passes every token of the base's vocabulary through the base once, keeps each
token's output vector (reduced by PCA to `method.pca_dims`, weighted by token frequency), and from then
on a text is the mean of its tokens' vectors: no attention, thousands of texts a second on a CPU. It
reads the base from the local folder the recipe resolves to, so it works offline. Distilling the
embedded MiniLM (30,522 tokens) took about two minutes on two CPU cores; the result is cached under
`$FTRUN_CACHE/static` (else `~/.cache/ftrun/static`) per base and `pca_dims`, so a sweep distils once.
A logistic regression (one per label for a set of labels) or ridge is fitted on the embeddings, its C or
alpha chosen on the validation split as `tfidf` chooses it. A sentence pair is one text: its two texts
joined by `data.pair_separator`.

Saved form (`model/`, no pickle): `config.json`, `static/` (the Model2Vec model as its own
`save_pretrained` writes it: safetensors and tokenizer.json) and `linear_head.npz`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from runner import rundir
from runner.errors import ModelError
from runner.methods.fitted import (
    Choice,
    FittedMethod,
    LinearHead,
    check_grid,
    joined_texts,
    require,
)
from runner.recipe.fields import option

if TYPE_CHECKING:
    import torch

    from runner.data.examples import Examples
    from runner.model.classifier import ModelSource
    from runner.recipe.schema import Recipe

STATIC_FOLDER = "static"


@dataclass
class StaticEmbeddingsOptions:
    C_grid: list[float] = option(
        [0.1, 0.3, 1.0, 3.0, 10.0, 30.0],
        "Logistic regression's inverse regularisation C, tried in turn; the best on the validation split "
        "is kept (no validation split: the middle value).",
    )
    alpha_grid: list[float] = option(
        [0.1, 0.3, 1.0, 3.0, 10.0, 30.0], "Ridge regression's alpha for a number per text, chosen as C is."
    )
    pca_dims: int = option(
        256, "Dimensions of the distilled embeddings (PCA; at most the base's width).", minimum=2
    )


class StaticModelWithHead:
    def __init__(self, static: Any, head: LinearHead, separator: str) -> None:
        self.static, self.head, self.separator = static, head, separator
        self.choice: Choice | None = None

    def features(self, inputs: Sequence[Any]) -> np.ndarray:
        texts = joined_texts(inputs, self.separator)
        return np.asarray(self.static.encode(texts, use_multiprocessing=False), dtype=np.float64)

    def logits(self, inputs: Sequence[Any]) -> torch.Tensor:
        return self.head.logits(self.features(inputs))

    @property
    def trainable_parameters(self) -> int:
        return self.head.parameters

    @property
    def total_parameters(self) -> int:
        return self.head.parameters + int(np.prod(self.static.embedding.shape))

    def save(self, folder: Path) -> None:
        self.static.save_pretrained(folder / STATIC_FOLDER)
        rundir.write_json(folder / "static_embeddings.json", {"separator": self.separator})
        self.head.save(folder)


def distilled(source: ModelSource, pca_dims: int) -> Any:
    """The base distilled into a Model2Vec model, from the cache when another run distilled it."""
    from model2vec import StaticModel
    from model2vec.distill import distill

    from runner.tokens.feature_cache import cache_root

    key = hashlib.sha256(f"{Path(source.name_or_path).resolve()}\t{pca_dims}".encode()).hexdigest()[:16]
    folder = cache_root() / "static" / key
    with rundir.one_writer(folder.with_suffix(".lock")):
        if not (folder / "config.json").is_file():
            model = distill(model_name=source.name_or_path, pca_dims=pca_dims)
            model.save_pretrained(folder)
    return StaticModel.from_pretrained(folder, force_download=False)


class StaticEmbeddings(FittedMethod):
    name = "static-embeddings"
    options = StaticEmbeddingsOptions
    saved_files = (
        "`config.json` (method, task, labels, thresholds), `static/` (the distilled Model2Vec model), "
        "`static_embeddings.json` (how pairs are joined), `linear_head.npz` (the weights and bias)."
    )

    def check_model(self, recipe: Recipe, source: ModelSource) -> None:
        require("sklearn", self.name)
        require("model2vec", self.name)
        options = self.own_options(recipe)
        check_grid(options.C_grid, "method.C_grid")
        check_grid(options.alpha_grid, "method.alpha_grid")
        if source.gguf_file:
            raise ModelError(
                f'method.name = "static-embeddings" distils a transformers model; {recipe.model.name} is '
                f"a GGUF file ({source.gguf_file}), which model2vec cannot read: use its transformers "
                'folder or hub id, or method.name = "tfidf"'
            )

    def fit(
        self,
        recipe: Recipe,
        objective: Any,  # a runner.training.objective.Objective
        train: Examples,
        validation: Examples | None,
        score: Callable[[torch.Tensor, Examples], float],
    ) -> StaticModelWithHead:
        from runner.model.classifier import resolve_source

        options = self.own_options(recipe)
        static = distilled(resolve_source(recipe.model), options.pca_dims)
        model = StaticModelWithHead(
            static, LinearHead(np.zeros((0, 0)), np.zeros(0)), recipe.data.pair_separator
        )
        chosen: StaticModelWithHead = self.with_chosen_head(
            model, options, recipe, objective, train, validation, score
        )
        return chosen

    def load_fitted(self, folder: Path) -> StaticModelWithHead:
        import json

        from model2vec import StaticModel

        require("model2vec", self.name)
        separator = json.loads((folder / "static_embeddings.json").read_text())["separator"]
        static = StaticModel.from_pretrained(folder / STATIC_FOLDER, force_download=False)
        return StaticModelWithHead(static, LinearHead.load(folder), separator)
