"""Training chooses on the validation split only; the eval (test) split is scored once, at the end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import runner.pipeline as run_module
from runner import rundir
from runner.pipeline import run_recipe

from .test_run import tiny_recipe

VALIDATION = 10  # carved from the 48 training examples; the eval split has 21


@pytest.fixture
def predict_calls(monkeypatch):
    """Every scoring pass of a run: (what it was labelled, how many examples it scored)."""
    calls = []
    real = run_module.tracked_predict

    def spy(label, model, loader, forward, accelerator, size, progress):
        calls.append((label, size))
        return real(label, model, loader, forward, accelerator, size, progress)

    monkeypatch.setattr(run_module, "tracked_predict", spy)
    return calls


@pytest.mark.parametrize("method", ["full", "linear"])
def test_per_epoch_scores_and_choices_read_only_the_validation_split(
    method, predict_calls, tiny_bert, data_folder, tmp_path
):
    recipe = tiny_recipe(
        tiny_bert,
        data_folder,
        tmp_path,
        method,
        data={"validation_size": VALIDATION},
        train={"epochs": 3, "keep_best": True},
        eval={"latency_examples": 0},
    )
    folder = run_recipe(recipe, Path(f"{method}.toml"))
    # Three epochs scored on validation, the chosen weights once more, then the eval split once.
    assert predict_calls == [("validate", VALIDATION)] * 4 + [("evaluate", 21)]
    log = rundir.read_jsonl(folder / "train_log.jsonl")
    assert [row["epoch"] for row in log if "validation_accuracy" in row] == [1, 2, 3]
    assert not any("eval_accuracy" in row for row in log)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["data"]["train_size"] == 48 - VALIDATION and metrics["total"] == 21
    assert metrics["validation"]["size"] == VALIDATION and len(metrics["validation"]["per_epoch"]) == 3


def test_keep_best_scores_the_eval_split_with_the_best_epochs_weights(tiny_bert, data_folder, tmp_path):
    recipe = tiny_recipe(
        tiny_bert,
        data_folder,
        tmp_path,
        "full",
        data={"validation_size": VALIDATION},
        train={"epochs": 4, "keep_best": True, "lr": 3e-3},
        eval={"latency_examples": 0},
    )
    metrics = json.loads((run_recipe(recipe, Path("best.toml")) / "metrics.json").read_text())
    validation = metrics["validation"]
    best = max(validation["per_epoch"], key=lambda row: (row["score"], -row["epoch"]))
    assert validation["best_epoch"] == best["epoch"] and validation["metric"] == "accuracy"
    assert validation["accuracy"] == pytest.approx(best["score"]) == validation["score"]


def test_early_stopping_stops_after_patience_epochs_without_a_better_score(tiny_bert, data_folder, tmp_path):
    # A learning rate too small to change a prediction: no epoch after the first scores better.
    recipe = tiny_recipe(
        tiny_bert,
        data_folder,
        tmp_path,
        "linear",
        data={"validation_size": VALIDATION},
        train={"epochs": 6, "lr": 1e-12, "early_stopping_patience": 2},
        eval={"latency_examples": 0},
    )
    metrics = json.loads((run_recipe(recipe, Path("patience.toml")) / "metrics.json").read_text())
    assert metrics["train"]["epochs"] == 3 and metrics["train"]["stopped_early"] is True
    assert metrics["validation"]["best_epoch"] is None  # keep_best is off: the last weights are scored


def test_without_a_validation_split_the_per_epoch_curve_is_named_for_the_eval_split(
    predict_calls, tiny_bert, data_folder, tmp_path
):
    recipe = tiny_recipe(tiny_bert, data_folder, tmp_path, "linear", eval={"latency_examples": 0})
    folder = run_recipe(recipe, Path("plain.toml"))
    assert predict_calls == [("evaluate", 21)] * 2  # after epoch 1, then the final score
    assert json.loads((folder / "metrics.json").read_text())["validation"] is None
    assert [
        row["epoch"] for row in rundir.read_jsonl(folder / "train_log.jsonl") if "eval_accuracy" in row
    ] == [1]


def test_choosing_on_validation_needs_a_validation_split(tmp_path, monkeypatch, capsys):
    from .conftest import ftrun_in_process

    path = tmp_path / "r.toml"
    path.write_text("[train]\nkeep_best = true\n")
    code, _, err = ftrun_in_process(monkeypatch, capsys, "validate", str(path))
    assert code == 2 and "data.validation_size" in err and err.count("\n") == 1
