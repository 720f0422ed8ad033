"""`train.dropout_kernel`: `auto` puts ftrun's CPU dropout and attention where the base trains on a CPU,
`torch` keeps torch's dropout and the library's attention everywhere; the run records which ran."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from rich.console import Console
from torch import nn

from runner.model import cpu_dropout
from runner.model.cpu_dropout import ATTENTION, KERNEL, CpuDropout, attention_kernels, dropout_kernel
from runner.pipeline import run_recipe
from runner.recipe import reading as recipes
from runner.rundir.finished import find_runs
from runner.training.loaded_run import load_run

from .test_run import tiny_recipe


@pytest.fixture
def on_a_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def on_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def test_auto_is_ftrun_dropout_on_a_cpu(on_a_cpu):
    assert dropout_kernel("auto") == KERNEL == "ftrun-cpu"
    assert dropout_kernel("torch") == "torch"


def test_auto_is_torch_dropout_on_a_gpu(on_a_gpu):
    assert dropout_kernel("auto") == "torch"


def test_ftrun_attention_comes_only_with_ftrun_dropout_while_the_base_trains():
    assert attention_kernels("auto", base_trains=True, dropout=KERNEL) == (ATTENTION, None)
    assert attention_kernels("auto", base_trains=True, dropout="torch") == (None, None)
    assert attention_kernels("auto", base_trains=False, dropout=KERNEL) == (None, None)


@pytest.mark.parametrize("dropout", [KERNEL, "torch"])
@pytest.mark.parametrize("attention", ["eager", "sdpa"])
def test_an_explicit_attention_applies_whatever_the_dropout_kernel(attention, dropout):
    assert attention_kernels(attention, base_trains=True, dropout=dropout) == (attention, attention)


def loaded(model, data_folder, tmp_path, method, kernel):
    recipe = tiny_recipe(model, data_folder, tmp_path, method, train={"dropout_kernel": kernel})
    return load_run(recipe, Path("r.toml"), Console(quiet=True))


def training_step_draws(classifier, monkeypatch):
    """(ftrun masks drawn, torch dropout calls) in one training forward pass of `classifier`."""
    counts = {"ftrun": 0, "torch": 0}
    ftrun_draw, torch_dropout = cpu_dropout.random_int16, nn.functional.dropout

    def counted(name, function):
        def call(*args, **kwargs):
            counts[name] += 1
            return function(*args, **kwargs)

        return call

    monkeypatch.setattr(cpu_dropout, "random_int16", counted("ftrun", ftrun_draw))
    monkeypatch.setattr(nn.functional, "dropout", counted("torch", torch_dropout))
    input_ids = torch.randint(1000, 2000, (2, 10), generator=torch.Generator().manual_seed(0))
    classifier.train()(input_ids, torch.ones_like(input_ids))
    return counts["ftrun"], counts["torch"]


@pytest.mark.parametrize("method", ["full", "lora"])
def test_torch_kernel_runs_torch_dropout_and_the_library_attention(
    method, tiny_bert, data_folder, tmp_path, monkeypatch, on_a_cpu
):
    run = loaded(tiny_bert, data_folder, tmp_path, method, "torch")
    dropouts = {name: type(m) for name, m in run.classifier.named_modules() if isinstance(m, nn.Dropout)}
    assert run.dropout_kernel == "torch"
    assert set(dropouts.values()) == {nn.Dropout}
    assert any(name.startswith("head.") for name in dropouts)
    assert any("lora_dropout" in name for name in dropouts) == (method == "lora")
    assert run.training_attention != ATTENTION
    assert run.classifier.backbone.config._attn_implementation != ATTENTION
    ftrun_masks, torch_dropouts = training_step_draws(run.classifier, monkeypatch)
    assert ftrun_masks == 0 and torch_dropouts > 0


@pytest.mark.parametrize("method", ["full", "lora"])
def test_auto_kernel_on_a_cpu_runs_ftrun_dropout_and_attention_while_the_base_trains(
    method, tiny_bert, data_folder, tmp_path, monkeypatch, on_a_cpu
):
    run = loaded(tiny_bert, data_folder, tmp_path, method, "auto")
    dropouts = {name: type(m) for name, m in run.classifier.named_modules() if isinstance(m, nn.Dropout)}
    assert run.dropout_kernel == KERNEL
    assert set(dropouts.values()) == {CpuDropout}
    assert any("lora_dropout" in name for name in dropouts) == (method == "lora")
    assert run.training_attention == ATTENTION
    assert run.classifier.backbone.config._attn_implementation == ATTENTION
    ftrun_masks, torch_dropouts = training_step_draws(run.classifier, monkeypatch)
    assert ftrun_masks > 0 and torch_dropouts == 0


def test_auto_kernel_keeps_the_library_attention_for_a_frozen_base(
    tiny_bert, data_folder, tmp_path, on_a_cpu
):
    run = loaded(tiny_bert, data_folder, tmp_path, "linear", "auto")
    assert run.dropout_kernel == KERNEL and run.training_attention != ATTENTION
    assert any(isinstance(m, CpuDropout) for m in run.classifier.head.modules())


@pytest.mark.parametrize("kernel", ["torch", "auto"])
def test_the_run_folder_records_the_kernel_asked_for_and_the_one_that_ran(
    kernel, tiny_bert, data_folder, tmp_path
):
    recipe = tiny_recipe(
        tiny_bert,
        data_folder,
        tmp_path,
        "full",
        train={"dropout_kernel": kernel, "epochs": 1, "max_steps": 1},
        eval={"latency_examples": 0, "every_epoch": False},
        output={"dir": str(tmp_path), "save_model": False},
    )
    folder = run_recipe(recipe, Path("kernel.toml"))
    assert recipes.load(folder / "recipe.toml").train.dropout_kernel == kernel
    metrics = json.loads((folder / "metrics.json").read_text())
    ran = dropout_kernel(kernel)  # `auto`: ftrun's on a CPU, torch's on a GPU
    assert metrics["dropout_kernel"] == ran
    assert (metrics["attention"]["training"] == ATTENTION) == (ran == KERNEL)
    assert metrics["attention"]["serving"] not in (None, ATTENTION)

    # A run folder written before the key (no dropout_kernel, no attention) still compares.
    del metrics["dropout_kernel"], metrics["attention"]
    (folder / "metrics.json").write_text(json.dumps(metrics))
    runs, skipped = find_runs([tmp_path])
    assert [run.folder for run in runs] == [folder] and skipped == []
