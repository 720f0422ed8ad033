"""Real model, real reviews: the embedded MiniLM learns IMDb sentiment clearly above chance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner import recipe as recipes
from runner.run import run_recipe


@pytest.mark.slow
def test_linear_head_on_frozen_minilm_beats_chance_on_embedded_imdb(tmp_path):
    recipe = recipes.build(
        {
            "model": {"name": "embedded-minilm", "max_length": 128},
            "data": {"source": "embedded-imdb", "train_size": 400, "eval_size": 300},
            "method": {"name": "linear", "head_hidden": 0},
            "train": {"epochs": 20, "batch_size": 16, "lr": 3e-3},
            "eval": {"latency_examples": 5, "every_epoch": False},
            "output": {"dir": str(tmp_path)},
        }
    )
    metrics = json.loads((run_recipe(recipe, Path("minilm-linear.toml")) / "metrics.json").read_text())
    low, _ = metrics["accuracy_ci95"]
    assert metrics["accuracy"] > 0.65 and low > 0.55, metrics["accuracy"]
