"""`prompt-tuning`: a learned soft prompt before every text, trained with the head through a frozen base."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from runner import registry, rundir
from runner.errors import ModelError
from runner.model.classifier import resolve_source
from runner.model.modeling_ftrun import pool
from runner.model.reload import load_saved
from runner.pipeline import run_recipe

from .conftest import ftrun_in_process, reload_probabilities
from .test_run import tiny_recipe

PROMPT_TOKENS = 4


def prompt_recipe(model: Path, data: Path, out: Path, **method):
    recipe = tiny_recipe(
        model, data, out, "prompt-tuning", train={"epochs": 1, "lr": 3e-2}, eval={"latency_examples": 0}
    )
    recipe.method.options.prompt_tokens = PROMPT_TOKENS
    for key, value in method.items():
        setattr(recipe.method.options, key, value)
    return recipe


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from .conftest import sentiment_rows, write_jsonl

    folder = tmp_path_factory.mktemp("prompt-data")
    write_jsonl(folder / "train.jsonl", sentiment_rows(48, seed=1))
    write_jsonl(folder / "test.jsonl", sentiment_rows(21, seed=2))
    return folder


@pytest.fixture(scope="module")
def bert_run(tiny_bert, data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prompt-runs")
    return run_recipe(prompt_recipe(tiny_bert, data, out), Path("bert.toml"))


def prepared(recipe):
    """A fresh tiny classifier around the recipe's model, prepared by prompt-tuning (not trained)."""
    from runner.model.classifier import Classifier, Head, load_backbone

    backbone = load_backbone(resolve_source(recipe.model), "float32", None)
    return registry.method("prompt-tuning").prepare(Classifier(backbone, Head(32, 0, 2, 0.0), "mean"), recipe)


def saved_probabilities(folder: Path) -> torch.Tensor:
    rows = sorted(rundir.read_jsonl(folder / "predictions.jsonl"), key=lambda row: row["id"])
    return torch.tensor([row["probabilities"] for row in rows])


def test_only_the_prompt_and_the_head_train_and_the_base_is_unchanged(bert_run, tiny_bert):
    from transformers import AutoModel

    params = json.loads((bert_run / "metrics.json").read_text())["params"]
    # 4 virtual tokens 32 wide; the head 32 -> 16 -> 2 with biases.
    assert params["trainable"] == PROMPT_TOKENS * 32 + (32 * 16 + 16) + (16 * 2 + 2)
    classifier, _ = load_saved(bert_run / "model")
    original = AutoModel.from_pretrained(tiny_bert).state_dict()
    trained = classifier.backbone.state_dict()
    assert trained.keys() == original.keys()
    for name, weight in original.items():
        torch.testing.assert_close(trained[name], weight, atol=0, rtol=0, msg=name)
    assert classifier.soft_prompt is not None
    assert classifier.soft_prompt.embeddings.shape == (PROMPT_TOKENS, 32)


@pytest.mark.parametrize("model", ["tiny_bert", "tiny_llama"])
def test_the_saved_folder_reloads_to_the_runs_own_predictions(model, data, tmp_path, request):
    folder = run_recipe(prompt_recipe(request.getfixturevalue(model), data, tmp_path), Path(f"{model}.toml"))
    config = json.loads((folder / "model" / "config.json").read_text())
    assert config["soft_prompt_tokens"] == PROMPT_TOKENS and config["method"] == "prompt-tuning"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["pooling"] == ("last" if model == "tiny_llama" else "mean")
    reloaded = reload_probabilities(folder)
    torch.testing.assert_close(reloaded, saved_probabilities(folder), atol=1e-5, rtol=1e-4)


def test_ftrun_predict_gives_the_runs_probabilities(bert_run, data, tmp_path, monkeypatch, capsys):
    texts = [json.loads(line)["text"] for line in (data / "test.jsonl").read_text().splitlines()]
    (tmp_path / "texts.txt").write_text("\n".join(texts) + "\n")
    out = tmp_path / "predicted.jsonl"
    args = ("predict", str(bert_run), "--file", str(tmp_path / "texts.txt"), "--out", str(out))
    code, _, _ = ftrun_in_process(monkeypatch, capsys, *args)
    assert code in (0, None)
    rows = rundir.read_jsonl(out)
    predicted = torch.tensor(
        [[row["probabilities"][label] for label in ("negative", "positive")] for row in rows]
    )
    torch.testing.assert_close(predicted, saved_probabilities(bert_run), atol=1e-5, rtol=1e-4)


def test_a_folder_saved_before_soft_prompts_existed_loads_as_before(tiny_bert, data, tmp_path):
    folder = run_recipe(
        tiny_recipe(tiny_bert, data, tmp_path, "linear", train={"epochs": 1}, eval={"latency_examples": 0}),
        Path("old.toml"),
    )
    config_file = folder / "model" / "config.json"
    config = json.loads(config_file.read_text())
    del config["soft_prompt_tokens"]
    config_file.write_text(json.dumps(config))
    classifier, _ = load_saved(folder / "model")
    assert classifier.soft_prompt is None
    reloaded = reload_probabilities(folder)
    torch.testing.assert_close(reloaded, saved_probabilities(folder), atol=1e-5, rtol=1e-4)


def test_prompt_init_text_starts_the_prompt_from_that_texts_token_embeddings(tiny_bert, data, tmp_path):
    from runner.model.classifier import load_tokenizer

    recipe = prompt_recipe(tiny_bert, data, tmp_path, prompt_init_text="a great film")
    classifier = prepared(recipe)
    ids = load_tokenizer(resolve_source(recipe.model))("a great film")[
        "input_ids"
    ]  # [CLS] a great film [SEP]
    embeddings = classifier.backbone.get_base_model().get_input_embeddings()
    expected = embeddings(torch.tensor(ids[:PROMPT_TOKENS]))  # cut to the prompt's 4 tokens
    learned = classifier.backbone.get_prompt_embedding_to_save("default")
    torch.testing.assert_close(learned, expected.detach())


def test_gradients_reach_the_prompt_through_the_frozen_base(tiny_bert, data, tmp_path):
    classifier = prepared(prompt_recipe(tiny_bert, data, tmp_path))
    ids = torch.tensor([[101, 2307, 2143, 102]])
    classifier(ids, torch.ones_like(ids)).sum().backward()
    trained = {name for name, p in classifier.named_parameters() if p.grad is not None}
    head = {f"head.{name}" for name, _ in classifier.head.named_parameters()}
    assert trained == {"backbone.prompt_encoder.default.embedding.weight", *head}
    assert classifier.backbone.prompt_encoder.default.embedding.weight.grad.abs().sum() > 0


def test_a_prompt_past_the_models_positions_is_a_model_error(tiny_bert, data, tmp_path):
    recipe = prompt_recipe(tiny_bert, data, tmp_path, prompt_tokens=20)
    recipe.model.max_length = 120  # tiny_bert has 128 positions
    with pytest.raises(ModelError, match="method.prompt_tokens: 20 virtual tokens"):
        registry.method("prompt-tuning").check_model(recipe, resolve_source(recipe.model))


@pytest.mark.parametrize("pooling", ["mean", "first", "last"])
def test_pooling_leaves_out_the_positions_before_the_text(pooling):
    text = torch.randn(2, 5, 3)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    prompted = torch.cat((torch.randn(2, 4, 3), text), dim=1)
    torch.testing.assert_close(pool(prompted, mask, pooling), pool(text, mask, pooling))
