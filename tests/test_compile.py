"""`train.compile`: the base's forward passes go through torch.compile; what a run computes and saves
stays what the plain run computes and saves."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from runner import rundir
from runner.pipeline import run_recipe

from .conftest import reload_probabilities, save_tiny, tiny_bert_config
from .test_distributed import RECIPE, launch
from .test_run import tiny_recipe


@pytest.fixture
def tiny_bert_without_dropout(tmp_path, minilm_path) -> Path:
    """Dropout masks come from another generator under the compiler; without dropout the runs can agree."""
    config = tiny_bert_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return save_tiny(tmp_path / "bert", config, minilm_path)


def _plain_and_compiled(model: Path, data: Path, out: Path, method: str) -> tuple[Path, Path]:
    """The same one-epoch run twice, without and with `train.compile`; the compiler must really run."""
    from torch._dynamo.utils import counters

    def run(name: str, compile: bool) -> Path:
        recipe = tiny_recipe(
            model,
            data,
            out / name,
            method,
            method={"head_dropout": 0.0, "cache_features": False},
            train={"epochs": 1, "compile": compile},
            eval={"latency_examples": 0},
        )
        return run_recipe(recipe, Path(f"{name}.toml"))

    plain = run("plain", compile=False)
    torch._dynamo.reset()  # graphs another test compiled in this process would be reused, not counted
    graphs_before = counters["stats"]["unique_graphs"]
    compiled = run("compiled", compile=True)
    assert counters["stats"]["unique_graphs"] > graphs_before
    return plain, compiled


def _probabilities(folder: Path) -> torch.Tensor:
    return torch.tensor([p["probability"] for p in rundir.read_jsonl(folder / "predictions.jsonl")])


def test_a_compiled_full_run_trains_and_saves_what_the_plain_run_does(
    tiny_bert_without_dropout, data_folder, tmp_path
):
    plain, compiled = _plain_and_compiled(tiny_bert_without_dropout, data_folder, tmp_path, "full")
    torch.testing.assert_close(_probabilities(compiled), _probabilities(plain), atol=1e-4, rtol=1e-4)
    # The saved model is the plain module: it reloads with the weight names of an uncompiled run.
    reloaded = reload_probabilities(compiled)
    torch.testing.assert_close(reloaded.max(-1).values, _probabilities(compiled), atol=1e-5, rtol=1e-5)
    names = {p.name for p in (compiled / "model").iterdir()}
    assert names == {p.name for p in (plain / "model").iterdir()}


def test_a_compiled_frozen_base_extracts_the_features_the_plain_one_does(
    tiny_bert_without_dropout, data_folder, tmp_path
):
    plain, compiled = _plain_and_compiled(tiny_bert_without_dropout, data_folder, tmp_path, "linear")
    torch.testing.assert_close(_probabilities(compiled), _probabilities(plain), atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_a_compiled_run_under_two_processes_counts_every_eval_example_once(tiny_bert, data_folder, tmp_path):
    out = tmp_path / "outputs"
    recipe_path = tmp_path / "full.toml"
    recipe = RECIPE.format(model=tiny_bert, data=data_folder, method="full", out=out)
    recipe_path.write_text(recipe.replace("[train]\n", "[train]\ncompile = true\n"))
    done = launch(recipe_path, "-m", "runner")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "_broadcast_coalesced" not in done.stderr  # the known, harmless graph break is not shown

    folder = out / "full"
    predictions = rundir.read_jsonl(folder / "predictions.jsonl")
    assert sorted(p["id"] for p in predictions) == list(range(21))
    reloaded = reload_probabilities(folder)
    torch.testing.assert_close(reloaded.max(-1).values, _probabilities(folder), atol=1e-5, rtol=1e-5)
