"""`linear`: the base is frozen; only the new head trains (on cached base features)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runner.methods.base import Method, freeze

if TYPE_CHECKING:
    from runner.model.classifier import Classifier
    from runner.recipe.schema import Recipe


class Linear(Method):
    name = "linear"
    defaults = {"train": {"lr": 1e-3}}
    frozen_base = True

    def prepare(self, classifier: Classifier, recipe: Recipe) -> Classifier:
        freeze(classifier.backbone)
        return classifier
