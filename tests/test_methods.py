"""Method plugins: what each freezes, and how prompt-linear wraps and truncates texts."""

from __future__ import annotations

import pytest

from runner import registry
from runner.data.examples import Examples
from runner.errors import RecipeError
from runner.model.classifier import load_tokenizer, resolve_source
from runner.recipe.reading import build
from runner.recipe.schema import ModelSection, Recipe

TRAIN = Examples(["a fine film", "a dull film", "great fun", "awful mess"], [1, 0, 1, 0], [0, 1, 2, 3])


def prompt_recipe(**method) -> Recipe:
    return build({"method": {"name": "prompt-linear", **method}, "model": {"max_length": 40}})


def encode(texts, tokenizer, recipe):
    method = registry.method("prompt-linear")
    return method.encode(texts, tokenizer, recipe, method.prompt(recipe, tokenizer, TRAIN))


@pytest.fixture(scope="module")
def tokenizer(minilm_path):
    return load_tokenizer(resolve_source(ModelSection(name=str(minilm_path))))


def test_truncation_cuts_the_text_and_keeps_the_whole_template(tokenizer):
    recipe = prompt_recipe()
    (ids,) = encode(["word " * 500], tokenizer, recipe)
    decoded = tokenizer.decode(ids, skip_special_tokens=True)
    assert len(ids) == 40
    assert decoded.startswith("review :") and decoded.endswith("sentiment :")


def test_short_texts_are_wrapped_unchanged(tokenizer):
    (ids,) = encode(["a fine film"], tokenizer, prompt_recipe())
    assert tokenizer.decode(ids, skip_special_tokens=True) == "review : a fine film sentiment :"


def test_few_shot_examples_come_from_train_with_their_labels_and_the_data_seed(tokenizer):
    method = registry.method("prompt-linear")
    recipe = prompt_recipe(few_shot=2)
    recipe.model.max_length = 64
    first = encode(["x"], tokenizer, recipe)
    assert encode(["x"], tokenizer, recipe) == first
    decoded = tokenizer.decode(first[0], skip_special_tokens=True)
    assert decoded.count("review :") == 3 and decoded.count("sentiment :") == 3
    assert ("positive" in decoded) or ("negative" in decoded)
    assert method.prompt(recipe, tokenizer, TRAIN)["before"].count("Review:") == 3  # kept for head.json


def test_a_prompt_longer_than_max_length_is_a_recipe_error(tokenizer):
    recipe = prompt_recipe(prompt_template="Review: {text}\n" + "Be careful. " * 30 + "Sentiment:")
    with pytest.raises(RecipeError, match="no room for the text"):
        encode(["x"], tokenizer, recipe)


def test_every_registered_method_is_a_schema_choice_and_loads():
    from runner.recipe.schema import METHODS

    assert set(METHODS) == set(registry.METHODS)
    assert {registry.method(name).name for name in METHODS} == set(METHODS)
    frozen = [name for name in METHODS if registry.method(name).frozen_base]
    assert frozen == ["linear", "prompt-linear", "zero-shot"]
    assert [name for name in METHODS if not registry.method(name).trains] == ["zero-shot"]


# A peft method written outside ftrun: its options and its peft config, nothing else.
LOHA_PLUGIN = '''
"""`loha`: low-rank Hadamard-product adapters (peft LoHa); the head trains in full."""

from dataclasses import dataclass

from runner.methods.adapters import PeftMethod
from runner.recipe.fields import option


@dataclass
class LohaOptions:
    loha_r: int = option(4, "LoHa rank.", minimum=1)
    loha_target_modules: list[str] = option(["query", "value"], "Module names LoHa adapts.")


class Loha(PeftMethod):
    name = "loha"
    options = LohaOptions
    target_key = "loha_target_modules"

    def peft_config(self, options):
        from peft import LoHaConfig, TaskType

        targets = options.loha_target_modules
        return LoHaConfig(task_type=TaskType.FEATURE_EXTRACTION, r=options.loha_r, target_modules=targets)
'''


def test_a_new_peft_method_is_one_file_and_one_registry_line_end_to_end(
    tiny_bert, data_folder, tmp_path, monkeypatch
):
    import json
    from pathlib import Path

    from runner import rundir
    from runner.pipeline import run_recipe
    from runner.recipe import reading as loading

    from .conftest import reload_probabilities
    from .test_run import tiny_recipe

    (tmp_path / "ftrun_loha_plugin.py").write_text(LOHA_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(registry.METHODS, "loha", "ftrun_loha_plugin:Loha")

    recipe = tiny_recipe(
        tiny_bert, data_folder, tmp_path / "outputs", "loha", method={"loha_r": 2}, train={"epochs": 1}
    )
    assert recipe.method.options.loha_r == 2  # the recipe loader knows the method and its key
    folder = run_recipe(recipe, Path("loha.toml"))
    assert loading.load(folder / "recipe.toml") == recipe
    adapter = json.loads((folder / "model" / "adapter" / "adapter_config.json").read_text())
    assert adapter["peft_type"] == "LOHA" and adapter["r"] == 2
    predictions = rundir.read_jsonl(folder / "predictions.jsonl")
    assert reload_probabilities(folder).argmax(-1).tolist() == [p["predicted"] for p in predictions]
