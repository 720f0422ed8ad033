"""Calibration: temperatures fitted on the validation split only, folded into the head so every user of
the saved folder reads calibrated probabilities, and ECE and Brier as hand counts give them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import runner.pipeline as pipeline
from runner import rundir
from runner.model.modeling_ftrun import Head
from runner.scoring import calibration
from runner.tasks import calibration as maths
from runner.tasks.multi_label import MultiLabel
from runner.tasks.single_label import SingleLabel
from runner.training.objective import Objective

from .test_run import tiny_recipe


def test_ece_and_brier_match_hand_counts():
    # Four examples, two classes. Top-label confidences 0.9, 0.8, 0.6, 0.55; right, right, wrong, right.
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.45, 0.55]])
    gold = np.array([0, 1, 1, 1])
    found = SingleLabel().calibration_scores(probabilities, gold, bins=2)
    # Bin [0.5, 1]: all four, mean confidence 0.7125, share right 0.75 -> ECE 0.0375.
    assert found["ece"] == pytest.approx(0.0375)
    # Squared distances from one-hot: 0.02, 0.08, 0.72, 0.405 -> mean 0.30625.
    assert found["brier"] == pytest.approx(0.30625)
    assert [b["count"] for b in found["reliability"]] == [0, 4]
    # Multi-label: every label's probability is a point. 0.9 (gold), 0.2 (not), 0.7 (not), 0.4 (gold).
    flags = np.array([[True, False], [False, True]])
    multi = MultiLabel().calibration_scores(np.array([[0.9, 0.2], [0.7, 0.4]]), flags, bins=2)
    # Bin [0, .5): 0.2, 0.4 -> confidence 0.3, right 0.5; bin [.5, 1]: 0.9, 0.7 -> 0.8, right 0.5.
    assert multi["ece"] == pytest.approx(0.5 * 0.2 + 0.5 * 0.3)
    assert multi["brier"] == pytest.approx((0.01 + 0.04 + 0.49 + 0.36) / 4)


def test_a_softmax_temperature_undoes_overconfident_logits():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(size=(4000, 3)) * 2
    labels = np.array([rng.choice(3, p=np.exp(z) / np.exp(z).sum()) for z in true_logits])
    assert maths.softmax_temperature(true_logits * 3, labels) == pytest.approx(3, rel=0.15)


def test_multi_label_fits_one_temperature_per_label():
    rng = np.random.default_rng(1)
    true_logits = rng.normal(size=(4000, 2)) * 2
    flags = rng.random(true_logits.shape) < 1 / (1 + np.exp(-true_logits))
    temperatures = MultiLabel().fit_temperatures(true_logits * np.array([3.0, 0.5]), flags)
    assert temperatures == pytest.approx([3.0, 0.5], rel=0.15)


def head_with_logits(labels: int, word_classes=None) -> Head:
    torch.manual_seed(0)
    return Head(8, 0, labels, 0.0, word_classes).eval()


def test_folding_divides_the_logits_and_keeps_each_argmax():
    head, features = head_with_logits(4), torch.randn(50, 8)
    before = head(features)
    calibration.fold_temperature(head, calibration.Calibration([2.5]))
    after = head(features)
    torch.testing.assert_close(after, before / 2.5)
    assert torch.equal(after.argmax(-1), before.argmax(-1))
    per_label = head_with_logits(3)
    before = per_label(features)
    calibration.fold_temperature(per_label, calibration.Calibration([0.5, 1.0, 4.0]))
    torch.testing.assert_close(per_label(features), before / torch.tensor([0.5, 1.0, 4.0]))


def test_eval_calibrate_false_leaves_the_head_untouched(tiny_bert, tmp_path):
    recipe = tiny_recipe(tiny_bert, tmp_path, tmp_path, "full", eval={"calibrate": False})
    objective, head = Objective("single_label", 2), head_with_logits(2)
    weights = [p.clone() for p in head.parameters()]
    found = calibration.fit_calibration(recipe, objective, head, torch.randn(6, 2), [0, 1, 0, 1, 1, 0])
    calibration.fold_temperature(head, found)
    assert found.temperatures is None and found.note == "eval.calibrate = false"
    assert all(torch.equal(a, b) for a, b in zip(weights, head.parameters(), strict=True))


class BlindLabels:
    """An eval split whose answers raise while a temperature is being fitted."""

    def __init__(self, examples, fitting):
        self._examples, self._fitting = examples, fitting

    def __getattr__(self, name):
        if name == "labels" and self._fitting[0]:
            raise AssertionError("the eval split's labels were read while fitting the temperature")
        return getattr(self._examples, name)

    def __len__(self):
        return len(self._examples)


@pytest.fixture(scope="module")
def calibrated_run(tmp_path_factory, tiny_bert):
    from .conftest import sentiment_rows, write_jsonl

    root = tmp_path_factory.mktemp("calibrated")
    (root / "data").mkdir()
    write_jsonl(root / "data" / "train.jsonl", sentiment_rows(48, seed=1))
    write_jsonl(root / "data" / "test.jsonl", sentiment_rows(21, seed=2))
    recipe = tiny_recipe(
        tiny_bert, root / "data", root / "outputs", "full", data={"validation_size": 16}, train={"epochs": 3}
    )
    fitting, seen = [False], {}
    fit, load_run = pipeline.fit_calibration, pipeline.load_run

    def blinded_load(*args, **kwargs):
        loaded = load_run(*args, **kwargs)
        loaded.data.eval = BlindLabels(loaded.data.eval, fitting)
        return loaded

    def watched_fit(recipe, objective, head, logits, targets):
        fitting[0], seen["rows"] = True, len(logits)
        try:
            return fit(recipe, objective, head, logits, targets)
        finally:
            fitting[0] = False

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "load_run", blinded_load)
        patch.setattr(pipeline, "fit_calibration", watched_fit)
        folder = pipeline.run_recipe(recipe, Path("calibrated.toml"))
    return folder, seen


def test_the_temperature_is_fitted_on_validation_and_recorded(calibrated_run):
    folder, seen = calibrated_run
    assert seen["rows"] == 16  # the validation split's logits, and the eval labels were never read
    figure = rundir.read_record(folder).scores.figures["calibration"]
    assert figure["fitted_on"] == "validation" and figure["bins"] == 15 and figure["measured_on"] == "eval"
    assert figure["temperature"] > 0 and figure["ece"] == figure["ece_after"]
    assert (folder / "reliability.png").stat().st_size > 0
    # Refitting on the calibrated validation probabilities finds nothing left to correct.
    rows = rundir.read_jsonl(folder / "validation_predictions.jsonl")
    log_probabilities = np.log([row["probabilities"] for row in rows])
    assert maths.softmax_temperature(log_probabilities, np.array([r["gold"] for r in rows])) == pytest.approx(
        1, abs=0.02
    )


def test_plain_pipeline_gives_the_calibrated_probabilities(calibrated_run):
    from transformers import pipeline as hf_pipeline

    folder, _ = calibrated_run
    rows = rundir.read_jsonl(folder / "predictions.jsonl")
    texts = [json.loads(line)["text"] for line in (folder.parent.parent / "data" / "test.jsonl").open()]
    classify = hf_pipeline(
        "text-classification", model=str(folder / "model"), trust_remote_code=True, top_k=None
    )
    config = classify.model.config
    names = [config.id2label[i] for i in range(config.num_labels)]
    found = [[{s["label"]: s["score"] for s in row}[n] for n in names] for row in classify(texts)]
    np.testing.assert_allclose(found, [row["probabilities"] for row in rows], atol=1e-5)


@pytest.fixture(scope="module")
def llama_linear_run(tmp_path_factory, tiny_llama):
    from .conftest import sentiment_rows, write_jsonl

    root = tmp_path_factory.mktemp("llama-linear")
    (root / "data").mkdir()
    write_jsonl(root / "data" / "train.jsonl", sentiment_rows(24, seed=1))
    write_jsonl(root / "data" / "test.jsonl", sentiment_rows(9, seed=2))
    recipe = tiny_recipe(
        tiny_llama, root / "data", root / "outputs", "full", method={"head_hidden": 0, "pooling": "last"}
    )
    recipe.train.epochs = 1
    return pipeline.run_recipe(recipe, Path("llama-linear.toml")), root / "data" / "test.jsonl"


def test_a_head_with_a_bias_the_standard_class_lacks_gets_no_standard_copy(llama_linear_run):
    from runner.model.hf_folder import STANDARD_FOLDER

    folder, _ = llama_linear_run
    assert not (folder / "model" / STANDARD_FOLDER).exists()  # Llama's own `score` has no bias
    assert f"No `{STANDARD_FOLDER}/` copy" in (folder / "model" / "README.md").read_text()


def test_a_qualifying_llama_folder_loads_without_remote_code_to_the_same_probabilities(
    llama_linear_run, tmp_path
):
    import shutil

    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from runner.model.hf_folder import STANDARD_FOLDER, save_standard_copy

    run, test_file = llama_linear_run
    folder = shutil.copytree(run / "model", tmp_path / "model")
    tensors = load_file(folder / "model.safetensors")
    tensors["head.layers.1.bias"].zero_()  # as a head whose output layer has no bias
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    assert save_standard_copy(folder) == ""
    texts = [json.loads(line)["text"] for line in test_file.open()]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    ftrun_model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()
    standard = AutoModelForSequenceClassification.from_pretrained(folder / STANDARD_FOLDER).eval()
    assert type(standard).__name__ == "LlamaForSequenceClassification"
    with torch.no_grad():
        expected = ftrun_model(**batch).logits.softmax(-1)
        found = standard(**batch).logits.softmax(-1)
    torch.testing.assert_close(found, expected, atol=1e-5, rtol=1e-4)


def test_compare_shows_each_runs_calibrated_ece_and_brier(calibrated_run):
    from runner.compare.calibration_table import calibration_markdown
    from runner.compare.comparison import compare

    folder, _ = calibrated_run
    comparison = compare([folder.parent])
    figure = rundir.read_record(folder).scores.figures["calibration"]
    row = next(row for row in comparison.rows if row["run"] == folder.name)
    assert (row["ece"], row["brier"]) == (figure["ece_after"], figure["brier_after"])
    assert any(line.startswith(f"| {folder.name} | full |") for line in calibration_markdown(comparison))


def test_a_run_with_a_bias_free_linear_head_saves_a_standard_folder_plain_transformers_loads(
    tiny_llama, tmp_path
):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from runner.model.hf_folder import STANDARD_FOLDER

    from .conftest import sentiment_rows, write_jsonl

    (tmp_path / "data").mkdir()
    write_jsonl(tmp_path / "data" / "train.jsonl", sentiment_rows(24, seed=1))
    write_jsonl(tmp_path / "data" / "test.jsonl", sentiment_rows(9, seed=2))
    recipe = tiny_recipe(
        tiny_llama,
        tmp_path / "data",
        tmp_path / "outputs",
        "lora",
        method={"head_hidden": 0, "pooling": "last", "head_bias": False},
        data={"validation_size": 8},
    )
    recipe.train.epochs = 1
    folder = pipeline.run_recipe(recipe, Path("llama-no-bias.toml"))
    standard = AutoModelForSequenceClassification.from_pretrained(folder / "model" / STANDARD_FOLDER).eval()
    assert type(standard).__name__ == "LlamaForSequenceClassification"
    texts = [json.loads(line)["text"] for line in (tmp_path / "data" / "test.jsonl").open()]
    batch = AutoTokenizer.from_pretrained(folder / "model")(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        found = standard(**batch).logits.softmax(-1)
    saved = [row["probabilities"] for row in rundir.read_jsonl(folder / "predictions.jsonl")]
    torch.testing.assert_close(found, torch.tensor(saved), atol=1e-5, rtol=1e-4)  # calibrated, merged
    assert f"`{STANDARD_FOLDER}/`" in (folder / "model" / "README.md").read_text()
