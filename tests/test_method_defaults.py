"""Each method's own defaults for keys a recipe leaves unset; a recipe's value always wins."""

from __future__ import annotations

import pytest

from runner.recipe import reading as recipes
from runner.registry import METHODS as REGISTRY

from .conftest import REPO


@pytest.mark.parametrize("method", sorted(REGISTRY))
def test_an_unset_learning_rate_is_the_methods_own_and_is_recorded(method, tmp_path):
    from runner.registry import method_class

    recipe = recipes.build({"method": {"name": method}})
    expected = method_class(method).defaults.get("train", {}).get("lr", recipes.schema.TrainSection().lr)
    assert recipe.train.lr == expected
    shown = tmp_path / "shown.toml"
    shown.write_text(recipes.to_toml(recipe))
    assert recipes.load(shown) == recipe  # the value used is in the resolved recipe


def test_frozen_heads_and_adapters_train_faster_than_full_fine_tuning_by_default():
    lr = {m: recipes.build({"method": {"name": m}}).train.lr for m in REGISTRY}
    assert lr["full"] < min(lr["lora"], lr["ia3"], lr["linear"]) and lr["linear"] == lr["prompt-linear"]


def test_a_recipes_own_learning_rate_wins_over_the_methods_default():
    assert recipes.build({"method": {"name": "lora"}, "train": {"lr": 1e-5}}).train.lr == 1e-5


def test_the_quickstart_leaves_the_learning_rate_to_the_method():
    for method in REGISTRY:
        recipe = recipes.load(REPO / "recipes" / "quickstart.toml", [f"method.name={method}"])
        assert recipe.train.lr == recipes.build({"method": {"name": method}}).train.lr
