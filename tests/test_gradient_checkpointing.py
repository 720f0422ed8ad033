"""`train.gradient_checkpointing`: activations recomputed in backward, the run's results unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from runner import rundir
from runner.pipeline import run_recipe

from .test_run import tiny_recipe


def _run(model: Path, data: Path, out: Path, method: str, checkpointing: bool) -> Path:
    # Dropout inside the layers (tiny BERT's 0.1, LoRA's 0.1) is what the recomputation must redraw
    # identically; the CPU dropout kernel ("auto") draws it from torch's global generator.
    recipe = tiny_recipe(
        model,
        data,
        out,
        method,
        train={"gradient_checkpointing": checkpointing, "dropout_kernel": "auto"},
        output={"run_name": f"{method}-{'checkpointed' if checkpointing else 'plain'}"},
    )
    return run_recipe(recipe, Path(f"{method}.toml"))


def _losses(folder: Path) -> list[float]:
    return [row["loss"] for row in rundir.read_jsonl(folder / "train_log.jsonl") if "loss" in row]


def _probabilities(folder: Path) -> torch.Tensor:
    return torch.tensor([p["probability"] for p in rundir.read_jsonl(folder / "predictions.jsonl")])


@pytest.mark.parametrize("method", ["full", "lora"])
def test_a_checkpointed_run_gives_the_losses_and_predictions_of_a_plain_run(
    method, tiny_bert, data_folder, tmp_path, monkeypatch
):
    import transformers.modeling_utils

    recomputed = []
    checkpoint = transformers.modeling_utils.checkpoint

    def counting(*args, **kwargs):
        recomputed.append(1)
        return checkpoint(*args, **kwargs)

    out = tmp_path / "outputs"
    plain = _run(tiny_bert, data_folder, out, method, False)
    assert not recomputed
    monkeypatch.setattr(transformers.modeling_utils, "checkpoint", counting)
    checkpointed = _run(tiny_bert, data_folder, out, method, True)
    assert recomputed, "no layer ran under torch.utils.checkpoint"

    torch.testing.assert_close(torch.tensor(_losses(checkpointed)), torch.tensor(_losses(plain)))
    torch.testing.assert_close(_probabilities(checkpointed), _probabilities(plain), atol=1e-5, rtol=1e-5)
    metrics = json.loads((checkpointed / "metrics.json").read_text())
    assert metrics["gradient_checkpointing"] is True and metrics["dropout_kernel"] == "ftrun-cpu"
    assert json.loads((plain / "metrics.json").read_text())["gradient_checkpointing"] is False


def test_a_frozen_base_records_that_it_checkpointed_nothing(tiny_bert, data_folder, tmp_path):
    folder = _run(tiny_bert, data_folder, tmp_path / "outputs", "linear", True)
    assert json.loads((folder / "metrics.json").read_text())["gradient_checkpointing"] is False


def test_the_saved_model_folder_trains_further_with_gradient_checkpointing(tiny_bert, data_folder, tmp_path):
    from transformers import AutoModelForSequenceClassification

    folder = _run(tiny_bert, data_folder, tmp_path / "outputs", "full", False)
    model = AutoModelForSequenceClassification.from_pretrained(folder / "model", trust_remote_code=True)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    assert model.is_gradient_checkpointing
    model.train()
    ids = torch.tensor([[101, 2307, 3185, 102]])
    output = model(input_ids=ids, labels=torch.tensor([1]))
    output.loss.backward()
    assert model.backbone.encoder.layer[0].attention.self.query.weight.grad is not None
