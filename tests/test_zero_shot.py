"""`zero-shot`: no training; the class is the label word a decoder predicts next after the prompt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from runner import registry, rundir
from runner.errors import ModelError, RecipeError
from runner.model.classifier import Classifier, Head, load_tokenizer, resolve_source
from runner.model.reload import load_saved
from runner.pipeline import run_recipe
from runner.recipe import reading as recipes

from .conftest import (
    ftrun_in_process,
    reload_probabilities,
    sentiment_rows,
    tiny_llama_config,
    tiny_opt_config,
    write_jsonl,
)
from .test_run import tiny_recipe

TEXTS = ["the film was great and moving", "a dull boring mess", "it was fine"]


def save_causal_lm(folder: Path, config, tokenizer_source: Path) -> Path:
    """A random-weight causal LM with its output layer, so next-token logits are defined."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tokenizer_source).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def causal_llama(tmp_path_factory, minilm_path) -> Path:
    config = tiny_llama_config(tie_word_embeddings=False)
    return save_causal_lm(tmp_path_factory.mktemp("causal-llama"), config, minilm_path)


@pytest.fixture(scope="module")
def causal_opt(tmp_path_factory, minilm_path) -> Path:
    # Projected to 16 wide before the tied output layer, as OPT-350m: the base must include project_out.
    return save_causal_lm(tmp_path_factory.mktemp("causal-opt"), tiny_opt_config(), minilm_path)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("zero-shot-data")
    write_jsonl(folder / "train.jsonl", sentiment_rows(48, seed=1))
    write_jsonl(folder / "test.jsonl", sentiment_rows(21, seed=2))
    return folder


def zero_shot_recipe(model: Path, data: Path, out: Path, **method):
    recipe = tiny_recipe(model, data, out, "zero-shot", eval={"latency_examples": 2})
    for key, value in method.items():
        setattr(recipe.method.options, key, value)
    return recipe


def prepared(recipe):
    """The zero-shot classifier and its prompt, built as a run builds them (nothing trains anyway)."""
    from runner.data.loading import load_data

    source = resolve_source(recipe.model)
    tokenizer = load_tokenizer(source)
    method = registry.method("zero-shot")
    method.check_model(recipe, source)
    prompt = method.prompt(recipe, tokenizer, load_data(recipe.data).train)
    backbone = method.load_backbone(recipe, source, tokenizer.pad_token_id)
    classifier = method.prepare(Classifier(backbone, Head(1, 16, 2, 0.1), "mean"), recipe).eval()
    return classifier, tokenizer, method, prompt


def next_token_logits(model: Path, ids: list[int]) -> torch.Tensor:
    from transformers import AutoModelForCausalLM

    causal_lm = AutoModelForCausalLM.from_pretrained(model).eval()
    with torch.no_grad():
        return causal_lm(torch.tensor([ids])).logits[0, -1]


def head_logits(classifier, ids: list[int]) -> torch.Tensor:
    batch = torch.tensor([ids])
    with torch.no_grad():
        return classifier(batch, torch.ones_like(batch))[0]


@pytest.mark.parametrize("model", ["causal_llama", "causal_opt"])
def test_the_heads_logits_are_the_causal_lms_next_token_logits_of_the_label_words(
    model, data, tmp_path, request
):
    path = request.getfixturevalue(model)
    recipe = zero_shot_recipe(path, data, tmp_path)
    classifier, tokenizer, method, prompt = prepared(recipe)
    words = tokenizer(["negative", "positive"], add_special_tokens=False)["input_ids"]
    assert method.word_tokens == [w[0] for w in words]
    for ids in method.encode(TEXTS, tokenizer, recipe, prompt):
        expected = next_token_logits(path, list(ids))[method.word_tokens]
        torch.testing.assert_close(head_logits(classifier, list(ids)), expected, atol=1e-5, rtol=1e-5)


def test_a_class_of_several_words_scores_as_the_logsumexp_of_their_logits(causal_llama, data, tmp_path):
    words = {"negative": ["awful", "bad"], "positive": ["great", "good", "superb"]}
    recipe = zero_shot_recipe(causal_llama, data, tmp_path, label_words=words)
    classifier, tokenizer, method, prompt = prepared(recipe)
    assert method.word_classes == [0, 0, 1, 1, 1]
    for ids in method.encode(TEXTS, tokenizer, recipe, prompt):
        logits = next_token_logits(causal_llama, list(ids))[method.word_tokens]
        expected = torch.stack([logits[:2].logsumexp(0), logits[2:].logsumexp(0)])
        torch.testing.assert_close(head_logits(classifier, list(ids)), expected, atol=1e-5, rtol=1e-5)


def test_few_shot_examples_are_answered_with_their_classs_first_label_word(causal_llama, data, tmp_path):
    words = {"negative": ["awful", "bad"], "positive": ["great"]}
    recipe = zero_shot_recipe(causal_llama, data, tmp_path, label_words=words, few_shot=3)
    recipe.model.max_length = 120
    _, _, _, prompt = prepared(recipe)
    shots = prompt["before"].split("\n\n")[:-1]  # the last piece is the template's own "Review: "
    answers = [shot.rsplit("\nSentiment: ", 1)[1] for shot in shots]
    assert len(answers) == 3 and set(answers) <= {"awful", "great"}


@pytest.fixture(scope="module")
def llama_run(causal_llama, data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("zero-shot-runs")
    return run_recipe(zero_shot_recipe(causal_llama, data, out), Path("zero-shot.toml"))


def saved_probabilities(folder: Path) -> torch.Tensor:
    rows = sorted(rundir.read_jsonl(folder / "predictions.jsonl"), key=lambda row: row["id"])
    return torch.tensor([row["probabilities"] for row in rows])


def test_a_run_trains_nothing_and_leaves_the_base_as_it_was(llama_run, causal_llama):
    from transformers import AutoModel

    metrics = json.loads((llama_run / "metrics.json").read_text())
    assert metrics["method"] == "zero-shot" and metrics["pooling"] == "last"
    assert metrics["params"]["trainable"] == 0
    train = metrics["train"]
    assert train["seconds"] == 0 and train["steps"] == 0 and train["examples_seen"] == 0
    assert metrics["latency"]["examples"] == 2 and metrics["total"] == 21
    assert rundir.read_jsonl(llama_run / "train_log.jsonl") == []
    classifier, _ = load_saved(llama_run / "model")
    original = AutoModel.from_pretrained(causal_llama).state_dict()
    saved = classifier.backbone.state_dict()
    assert saved.keys() == original.keys()
    for name, weight in original.items():
        torch.testing.assert_close(saved[name], weight, atol=0, rtol=0, msg=name)


def test_the_saved_folder_holds_the_fixed_head_and_reloads_to_the_runs_predictions(llama_run):
    config = json.loads((llama_run / "model" / "config.json").read_text())
    assert config["method"] == "zero-shot" and config["head_hidden"] == 0
    assert config["label_words"] == [["negative"], ["positive"]] and config["head_word_classes"] == [0, 1]
    assert config["prompt"]["after"] == "\nSentiment:"
    torch.testing.assert_close(reload_probabilities(llama_run), saved_probabilities(llama_run))


def test_transformers_alone_loads_the_folder_to_the_same_logits(llama_run, data):
    from transformers import AutoModelForSequenceClassification

    folder = llama_run / "model"
    plain = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()
    ours, tokenizer = load_saved(folder)
    batch = tokenizer(TEXTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        expected = ours(batch["input_ids"], batch["attention_mask"])
        got = plain(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    torch.testing.assert_close(got, expected)


def test_ftrun_predict_gives_the_runs_probabilities(llama_run, data, tmp_path, monkeypatch, capsys):
    texts = [json.loads(line)["text"] for line in (data / "test.jsonl").read_text().splitlines()]
    (tmp_path / "texts.txt").write_text("\n".join(texts) + "\n")
    out = tmp_path / "predicted.jsonl"
    args = ("predict", str(llama_run), "--file", str(tmp_path / "texts.txt"), "--out", str(out))
    code, _, _ = ftrun_in_process(monkeypatch, capsys, *args)
    assert code in (0, None)
    predicted = torch.tensor(
        [
            [row["probabilities"][label] for label in ("negative", "positive")]
            for row in rundir.read_jsonl(out)
        ]
    )
    torch.testing.assert_close(predicted, saved_probabilities(llama_run), atol=1e-5, rtol=1e-4)


def test_an_encoder_is_refused_in_one_line_naming_the_model(tiny_bert, data, tmp_path):
    recipe = zero_shot_recipe(tiny_bert, data, tmp_path)
    with pytest.raises(ModelError, match=r"needs a decoder.*bert encoder") as raised:
        registry.method("zero-shot").check_model(recipe, resolve_source(recipe.model))
    assert str(tiny_bert) in str(raised.value) and "\n" not in str(raised.value)


def test_an_unknown_class_and_a_missing_one_are_both_named(causal_llama, data, tmp_path):
    recipe = zero_shot_recipe(
        causal_llama, data, tmp_path, label_words={"negative": ["bad"], "neutral": ["ok"]}
    )
    with pytest.raises(RecipeError) as raised:
        registry.method("zero-shot").check_model(recipe, resolve_source(recipe.model))
    assert raised.value.problems == [
        "method.label_words: 'neutral' is not a class of data.labels (negative, positive)",
        "method.label_words: no words for class 'positive'; give every class of data.labels its words",
    ]


def test_two_words_sharing_a_first_token_are_a_recipe_error(causal_llama, data, tmp_path):
    words = {"negative": ["goodxqzv"], "positive": ["good"]}
    recipe = zero_shot_recipe(causal_llama, data, tmp_path, label_words=words)
    with pytest.raises(RecipeError, match="'goodxqzv' and 'good' start with the same token 'good'"):
        prepared(recipe)


def test_multi_label_and_another_pooling_are_refused(causal_llama, data, tmp_path):
    recipe = zero_shot_recipe(causal_llama, data, tmp_path)
    recipe.data.task, recipe.method.pooling = "multi_label", "mean"
    with pytest.raises(RecipeError) as raised:
        registry.method("zero-shot").check_model(recipe, resolve_source(recipe.model))
    assert len(raised.value.problems) == 2
    assert 'data.task = "multi_label"' in raised.value.problems[0]
    assert 'method.pooling = "mean"' in raised.value.problems[1]


def test_label_words_must_be_a_table_of_word_lists(tmp_path, monkeypatch, capsys):
    path = tmp_path / "zero.toml"
    path.write_text('[method]\nname = "zero-shot"\nlabel_words = {negative = "bad", positive = ["good"]}\n')
    with pytest.raises(RecipeError, match="method.label_words must be a table of lists of words"):
        recipes.load(path)


def test_ftrun_validate_accepts_a_zero_shot_recipe(tmp_path, monkeypatch, capsys):
    path = tmp_path / "zero.toml"
    path.write_text(
        '[model]\nname = "embedded-smollm2"\n[method]\nname = "zero-shot"\nfew_shot = 2\n'
        '[method.label_words]\nnegative = ["negative", "bad"]\npositive = ["positive", "good"]\n'
    )
    code, out, _ = ftrun_in_process(monkeypatch, capsys, "validate", str(path))
    assert code in (0, None) and out.startswith("ok")
    recipe = recipes.load(path)
    assert recipe.method.options.label_words == {
        "negative": ["negative", "bad"],
        "positive": ["positive", "good"],
    }
    resolved = tmp_path / "resolved.toml"
    resolved.write_text(recipes.to_toml(recipe))
    assert recipes.load(resolved) == recipe  # as a run folder's recipe.toml reads back


def test_a_sweep_gives_zero_shot_one_combination_per_own_setting_and_seed():
    from runner.sweep.grid import expand

    table = {
        "method.name": ["linear", "zero-shot"],
        "train.seed": [1, 2],
        "zero-shot": {"method.few_shot": [0, 2]},
    }
    names = sorted(c.name for c in expand(table, "linear"))
    assert names == [
        "linear-seed1",
        "linear-seed2",
        "zero-shot-few_shot0-seed1",
        "zero-shot-few_shot0-seed2",
        "zero-shot-few_shot2-seed1",
        "zero-shot-few_shot2-seed2",
    ]
