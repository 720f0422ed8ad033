"""A task type written outside ftrun, end to end: ordered labels (poor < fair < good) scored by mean
absolute error. One file and one registry line, as a method plugin is (the LoHa test in
tests/test_methods.py): training, `ftrun eval`, `ftrun predict` and `ftrun compare` ask the task and
never name it.

Every headline metric is higher-is-better, as scikit-learn's scorers are: an error is ranked by its
negative (`neg_mae`, like `neg_mean_absolute_error`), so selection, early stopping and compare keep one
rule and no flag can be forgotten in one of them.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from runner import registry, rundir
from runner.pipeline import run_recipe

from .conftest import FILLER, POSITIVE, ftrun_in_process
from .task_data import write_task_data
from .test_run import tiny_recipe

ORDINAL_TASK = '''
"""`ordinal`: one of `data.labels`, which are in order; the expected label under the softmax, rounded,
is the prediction, and the headline is the mean absolute error in label steps (negated)."""

import numpy as np
import torch

from runner.tasks.single_label import SingleLabel


class Ordinal(SingleLabel):
    name = "ordinal"
    metrics = ("neg_mae", "accuracy")
    companion = "mae"
    required_numbers = ("mae", "accuracy")
    required_intervals = ()
    card_metrics = (("mae", "mae"), ("accuracy", "accuracy"))
    card_line = "Ordered labels, one per text (the expected label, rounded): {labels}."

    def decide(self, outputs, thresholds, num_labels):
        steps = torch.arange(outputs.shape[-1], dtype=outputs.dtype)
        return (outputs @ steps).round().long().numpy()

    def metric_value(self, metric, gold, predicted, num_labels):
        if not len(gold):
            return 0.0
        if metric == "accuracy":
            return float(np.mean(gold == predicted))
        return -float(np.abs(gold - predicted).mean())

    def full_metrics(self, gold, predicted, labels):
        gold, predicted = np.asarray(gold), np.asarray(predicted)
        mae = -self.metric_value("neg_mae", gold, predicted, len(labels))
        accuracy = self.metric_value("accuracy", gold, predicted, len(labels))
        return {"neg_mae": -mae, "mae": mae, "accuracy": accuracy, "total": len(gold)}

    def second_figure(self, metric):
        return ("MAE", "mae") if metric == "neg_mae" else ("accuracy", "accuracy")

    def prediction(self, labels, row, thresholds):
        expected = sum(i * p for i, p in enumerate(row))
        probabilities = dict(zip(labels, row))
        return {"label": labels[round(expected)], "expected": expected, "probabilities": probabilities}

    def table_columns(self, labels):
        return [("label", {}), ("expected", {"justify": "right"})]

    def table_cells(self, labels, row, thresholds):
        expected = sum(i * p for i, p in enumerate(row))
        return [labels[round(expected)], f"{expected:.2f}"]
'''
LABELS = ["poor", "fair", "good"]


def ordinal_rows(n: int, seed: int) -> list[dict]:
    """poor, fair or good: as many positive words as the label's rank."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        rank = i % 3
        words = rng.choices(FILLER, k=rng.randint(3, 8)) + rng.choices(POSITIVE, k=2 * rank)
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "stars": LABELS[rank]})
    return rows


@pytest.fixture
def ordinal_task(tmp_path, monkeypatch):
    (tmp_path / "ftrun_ordinal_task.py").write_text(ORDINAL_TASK)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(registry.TASKS, "ordinal", "ftrun_ordinal_task:Ordinal")


def test_a_task_written_outside_ftrun_trains_evaluates_predicts_and_compares(
    ordinal_task, tiny_bert, tmp_path, monkeypatch, capsys
):
    source = write_task_data(tmp_path / "data", ordinal_rows, train=30, test=12)
    data = {"task": "ordinal", "label_column": "stars", "labels": LABELS}
    outputs = tmp_path / "outputs"
    folders = [
        run_recipe(
            tiny_recipe(tiny_bert, source, outputs, method, data=data, train={"epochs": 1}),
            Path(f"ordinal-{method}.toml"),
        )
        for method in ("full", "linear")
    ]

    # train: metrics.json and predictions.jsonl are the task's own
    metrics = json.loads((folders[0] / "metrics.json").read_text())
    assert (metrics["task"], metrics["metric"]) == ("ordinal", "neg_mae")
    rows = rundir.read_jsonl(folders[0] / "predictions.jsonl")
    errors = [abs(row["gold"] - row["predicted"]) for row in rows]
    assert metrics["score"] == pytest.approx(-np.mean(errors)) and metrics["mae"] == pytest.approx(
        np.mean(errors)
    )
    assert {row["gold_label"] for row in rows} == set(LABELS)
    config = json.loads((folders[0] / "model" / "config.json").read_text())
    assert config["task"] == "ordinal" and config["problem_type"] == "single_label_classification"
    assert "Ordered labels" in (folders[0] / "model" / "README.md").read_text()

    # eval: the saved model rescored on the same split gives the run's own score
    code, _, err = ftrun_in_process(
        monkeypatch, capsys, "eval", str(folders[0]), "--data", str(source), "--split", "test",
        "--out-dir", str(tmp_path / "evals"),
    )  # fmt: skip
    assert code == 0, err
    rescored = json.loads((tmp_path / "evals" / f"{folders[0].name}-on-data" / "metrics.json").read_text())
    assert (rescored["task"], rescored["metric"]) == ("ordinal", "neg_mae")
    assert rescored["score"] == pytest.approx(metrics["score"], abs=1e-9)

    # predict: the task says what a text's line holds
    code, out, err = ftrun_in_process(monkeypatch, capsys, "predict", str(folders[0]), "great fun", "--json")
    assert code == 0, err
    line = json.loads(out)
    expected = sum(i * line["probabilities"][label] for i, label in enumerate(LABELS))
    assert line["expected"] == pytest.approx(expected) and line["label"] == LABELS[round(expected)]
    code, out, err = ftrun_in_process(monkeypatch, capsys, "predict", str(folders[0]), "great fun")
    assert code == 0 and "expected" in out, err

    # compare: ranked by neg_mae (the lower error first), tested by the paired bootstrap
    code, out, err = ftrun_in_process(monkeypatch, capsys, "compare", str(outputs), "--format", "json")
    assert code == 0, err
    compared = json.loads(out)
    ranked = [row for row in compared["runs"] if row["task"] == "ordinal"]
    assert len(ranked) == 2 and ranked[0]["score"] >= ranked[1]["score"]
    assert {row["second_figure"] for row in ranked} == {
        json.loads((f / "metrics.json").read_text())["mae"] for f in folders
    }
    assert [test["test"] for test in compared["pairwise_tests"]] == ["paired bootstrap"]
    code, out, err = ftrun_in_process(monkeypatch, capsys, "compare", str(outputs))
    assert code == 0 and "neg_mae" in out and "MAE" in out, err


def test_a_registered_task_is_a_recipe_choice_with_its_metrics(ordinal_task):
    from runner.recipe import reading as loading

    recipe = loading.build({"data": {"task": "ordinal", "labels": LABELS}, "eval": {"metric": "neg_mae"}})
    assert recipe.data.task == "ordinal"
    with pytest.raises(Exception, match="does not fit"):
        loading.build({"data": {"task": "ordinal", "labels": LABELS}, "eval": {"metric": "pearson"}})
