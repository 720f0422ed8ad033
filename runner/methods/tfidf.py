"""`tfidf`: TF-IDF over word and character n-grams with a linear model (scikit-learn); no base model.

The cheap baseline a fine-tuned model has to beat. Two `TfidfVectorizer`s (word n-grams and
character n-grams within word boundaries, sublinear tf, each row L2-normalised) are fitted on the train
split and their columns put side by side; a logistic regression (one per label for a set of labels) or
a ridge regression is fitted on them, its C or alpha chosen on the validation split
(`runner.methods.fitted`). A sentence pair is one text: its two texts joined by `data.pair_separator`.

Saved form (`model/`, no pickle): `config.json` (method, task, labels, thresholds), `tfidf.json` (each
vectorizer's settings and vocabulary), `tfidf_idf.npz` (their idf weights) and `linear_head.npz` (the
weight matrix and bias). Reloading rebuilds the same transform: counts over the saved vocabulary, then
sublinear tf, idf and L2 normalisation, exactly what `TfidfVectorizer.transform` computes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from runner import rundir
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

VOCABULARY_FILE = "tfidf.json"
IDF_FILE = "tfidf_idf.npz"


@dataclass
class TfidfOptions:
    C_grid: list[float] = option(
        [0.1, 0.3, 1.0, 3.0, 10.0, 30.0],
        "Logistic regression's inverse regularisation C, tried in turn; the best on the validation split "
        "is kept (no validation split: the middle value).",
    )
    alpha_grid: list[float] = option(
        [0.1, 0.3, 1.0, 3.0, 10.0, 30.0],
        "Ridge regression's alpha for a number per text, chosen as C is.",
    )
    max_features: int = option(
        100_000, "Most n-grams kept per vectorizer, the most frequent first (0: all).", minimum=0
    )
    word_ngrams: list[float] = option([1, 2], "Word n-gram lengths, smallest and largest.")
    char_ngrams: list[float] = option(
        [2, 5], "Character n-gram lengths (within word boundaries), smallest and largest (empty: none)."
    )


class TfidfModel:
    """The fitted vectorizers' vocabularies and idf weights, and the linear head over their columns."""

    def __init__(self, parts: list[dict[str, Any]], idf: list[np.ndarray], head: LinearHead) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        self.parts, self.idf, self.head = parts, idf, head
        self.separator = ""
        self.choice: Choice | None = None
        self.counters = [
            CountVectorizer(
                analyzer=part["analyzer"],
                ngram_range=tuple(part["ngram_range"]),
                lowercase=True,
                vocabulary=part["vocabulary"],
            )
            for part in parts
        ]

    def features(self, inputs: Sequence[Any]) -> Any:
        from scipy.sparse import hstack
        from sklearn.preprocessing import normalize

        texts = joined_texts(inputs, self.separator)
        blocks = []
        for counter, idf in zip(self.counters, self.idf, strict=True):
            counts = counter.transform(texts).astype(np.float64)
            np.log(counts.data, counts.data)
            counts.data += 1.0  # sublinear tf: 1 + log(count)
            blocks.append(normalize(counts.multiply(idf).tocsr()))
        return hstack(blocks).tocsr()

    def logits(self, inputs: Sequence[Any]) -> torch.Tensor:
        return self.head.logits(self.features(inputs))

    @property
    def trainable_parameters(self) -> int:
        return self.head.parameters

    @property
    def total_parameters(self) -> int:
        return self.head.parameters + sum(len(idf) for idf in self.idf)

    def save(self, folder: Path) -> None:
        rundir.write_json(folder / VOCABULARY_FILE, {"separator": self.separator, "parts": self.parts})
        with rundir.replacing(folder / IDF_FILE, "wb") as handle:
            np.savez(handle, *self.idf)
        self.head.save(folder)

    @classmethod
    def load(cls, folder: Path) -> TfidfModel:
        saved = json.loads((folder / VOCABULARY_FILE).read_text())
        with np.load(folder / IDF_FILE, allow_pickle=False) as found:
            idf = [found[f"arr_{i}"] for i in range(len(saved["parts"]))]
        model = cls(saved["parts"], idf, LinearHead.load(folder))
        model.separator = saved["separator"]
        return model


def fitted_vectorizers(
    options: TfidfOptions, texts: list[str]
) -> tuple[list[dict[str, Any]], list[np.ndarray]]:
    """Each vectorizer fitted on the train texts: its settings with its vocabulary, and its idf."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    wanted = [("word", options.word_ngrams), ("char_wb", options.char_ngrams)]
    parts, idf = [], []
    for analyzer, lengths in wanted:
        if not lengths:
            continue
        vectorizer = TfidfVectorizer(
            analyzer=analyzer,
            ngram_range=(int(lengths[0]), int(lengths[-1])),
            sublinear_tf=True,
            max_features=options.max_features or None,
            dtype=np.float64,
        ).fit(texts)
        vocabulary = {term: int(column) for term, column in vectorizer.vocabulary_.items()}
        parts.append(
            {
                "analyzer": analyzer,
                "ngram_range": [int(lengths[0]), int(lengths[-1])],
                "vocabulary": vocabulary,
            }
        )
        idf.append(np.asarray(vectorizer.idf_))
    return parts, idf


class Tfidf(FittedMethod):
    name = "tfidf"
    options = TfidfOptions
    saved_files = (
        "`config.json` (method, task, labels, thresholds), `tfidf.json` (each vectorizer's settings and "
        "vocabulary), `tfidf_idf.npz` (their idf weights), `linear_head.npz` (the weights and bias)."
    )

    def check_model(self, recipe: Recipe, source: ModelSource) -> None:
        require("sklearn", self.name)
        options = self.own_options(recipe)
        check_grid(options.C_grid, "method.C_grid")
        check_grid(options.alpha_grid, "method.alpha_grid")
        for key, lengths in (("word_ngrams", options.word_ngrams), ("char_ngrams", options.char_ngrams)):
            if lengths and (
                len(lengths) != 2 or lengths != [int(n) for n in lengths] or not 1 <= lengths[0] <= lengths[1]
            ):
                from runner.errors import RecipeError

                raise RecipeError(
                    f"method.{key} = {lengths}: give two whole numbers [smallest, largest], "
                    "1 <= smallest <= largest"
                )

    def fit(
        self,
        recipe: Recipe,
        objective: Any,  # a runner.training.objective.Objective
        train: Examples,
        validation: Examples | None,
        score: Callable[[torch.Tensor, Examples], float],
    ) -> TfidfModel:
        options = self.own_options(recipe)
        separator = recipe.data.pair_separator
        parts, idf = fitted_vectorizers(options, joined_texts(train.inputs(), separator))
        model = TfidfModel(parts, idf, LinearHead(np.zeros((0, 0)), np.zeros(0)))
        model.separator = separator
        chosen: TfidfModel = self.with_chosen_head(
            model, options, recipe, objective, train, validation, score
        )
        return chosen

    def load_fitted(self, folder: Path) -> TfidfModel:
        require("sklearn", self.name)
        return TfidfModel.load(folder)
