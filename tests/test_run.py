"""`ftrun RECIPE` end to end: each method on a tiny model, the run folder contract, reloading, resuming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from runner import rundir
from runner.errors import RunFolderError
from runner.pipeline import run_recipe
from runner.recipe import reading as recipes

from .conftest import ftrun_in_process, reload_probabilities

EXPECTED_FILES = {"recipe.toml", "metrics.json", "predictions.jsonl", "train_log.jsonl", "model"}


def tiny_recipe(
    model: Path, data_path: Path, out: Path, method_name: str, **sections
) -> recipes.schema.Recipe:
    raw = {
        "model": {"name": str(model), "max_length": 48},
        "data": {"source": str(data_path)},
        "method": {
            "name": method_name,
            "head_hidden": 16,
            "few_shot": 2 if method_name == "prompt-linear" else 0,
            "prompt_tokens": 4,  # prompt-tuning's (other methods ignore it): room in 128 positions
            # fp32 as train.precision: the merged model then matches the 4-bit run to float rounding.
            **({"compute_dtype": "float32"} if method_name == "qlora" else {}),
        },
        "train": {"epochs": 2, "batch_size": 8, "lr": 1e-3, "precision": "fp32", "log_every": 2},
        "eval": {"batch_size": 4, "latency_examples": 4, "latency_warmup": 1},
        "output": {"dir": str(out)},
    }
    for name, values in sections.items():
        raw[name].update(values)
    return recipes.build(raw)


METHODS = ["full", "lora", "ia3", "dora", "qlora", "linear", "prompt-linear", "prompt-tuning"]
# zero-shot trains nothing and needs a causal LM, not tiny_bert: tests/test_zero_shot.py runs it end to end.


@pytest.mark.parametrize("method", METHODS)
def test_each_method_writes_a_complete_run_folder_that_reloads_to_the_same_predictions(
    method, tiny_bert, data_folder, tmp_path
):
    recipe = tiny_recipe(tiny_bert, data_folder, tmp_path / "outputs", method)
    folder = run_recipe(recipe, Path(f"{method}.toml"))
    assert folder == tmp_path / "outputs" / method
    assert {p.name for p in folder.iterdir()} == EXPECTED_FILES
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["schema_version"] == rundir.SCHEMA_VERSION and metrics["method"] == method
    assert metrics["data"]["eval_size"] == 21 and metrics["total"] == 21
    low, high = metrics["accuracy_ci95"]
    assert low <= metrics["accuracy"] <= high
    assert metrics["latency"]["examples"] == 4 and metrics["latency"]["batch1_ms_p50"] > 0
    params = metrics["params"]
    if method == "full":
        assert params["trainable"] == params["total"]
    else:
        assert 0 < params["trainable"] < params["total"] * 0.5
    predictions = rundir.read_jsonl(folder / "predictions.jsonl")
    assert sorted(p["id"] for p in predictions) == list(range(21))
    assert recipes.load(folder / "recipe.toml") == recipe
    log = rundir.read_jsonl(folder / "train_log.jsonl")
    assert [row["step"] for row in log if "loss" in row] == [2, 4, 6, 8, 10, 12]
    assert any("eval_accuracy" in row for row in log)

    config = json.loads((folder / "model" / "config.json").read_text())
    assert (config["prompt"] is not None) == (method == "prompt-linear")
    reloaded = reload_probabilities(folder)
    assert reloaded.argmax(-1).tolist() == [p["predicted"] for p in predictions]
    saved = torch.tensor([p["probability"] for p in predictions])
    torch.testing.assert_close(reloaded.max(-1).values, saved, atol=1e-5, rtol=1e-5)


def test_dora_is_lora_with_a_learned_magnitude_per_output_and_its_adapter_says_so(
    tiny_bert, data_folder, tmp_path
):
    trainable = {}
    for method in ("lora", "dora"):
        recipe = tiny_recipe(
            tiny_bert, data_folder, tmp_path / "outputs", method, eval={"latency_examples": 0}
        )
        folder = run_recipe(recipe, Path(f"{method}.toml"))
        trainable[method] = json.loads((folder / "metrics.json").read_text())["params"]["trainable"]
        adapter = json.loads((folder / "model" / "adapter" / "adapter_config.json").read_text())
        assert adapter["peft_type"] == "LORA" and adapter["use_dora"] is (method == "dora")
    # One magnitude per output feature of each adapted projection: query and value, 32 wide, 2 layers.
    assert trainable["dora"] - trainable["lora"] == 2 * 2 * 32


def test_decoder_model_runs_end_to_end_with_batches(tiny_llama, data_folder, tmp_path):
    recipe = tiny_recipe(tiny_llama, data_folder, tmp_path, "lora", train={"epochs": 1})
    folder = run_recipe(recipe, Path("llama.toml"))
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["pooling"] == "last" and metrics["total"] == 21


def test_an_existing_run_folder_is_never_overwritten(tiny_bert, data_folder, tmp_path):
    recipe = tiny_recipe(tiny_bert, data_folder, tmp_path, "linear", train={"epochs": 1})
    first = run_recipe(recipe, Path("same.toml"))
    second = run_recipe(recipe, Path("same.toml"))
    assert (first.name, second.name) == ("same", "same-2")
    third = run_recipe(recipe, Path("same.toml"), overwrite=True)
    assert third == first and (first / "metrics.json").exists()


def test_max_steps_stops_training_early(tiny_bert, data_folder, tmp_path):
    recipe = tiny_recipe(tiny_bert, data_folder, tmp_path, "full", train={"max_steps": 3, "log_every": 1})
    folder = run_recipe(recipe, Path("short.toml"))
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["train"]["steps"] == 3 and metrics["train"]["examples_seen"] == 24


def test_same_recipe_and_seed_give_the_same_predictions(tiny_bert, data_folder, tmp_path):
    recipe = tiny_recipe(tiny_bert, data_folder, tmp_path, "full", train={"epochs": 1})
    a = rundir.read_jsonl(run_recipe(recipe, Path("a.toml")) / "predictions.jsonl")
    b = rundir.read_jsonl(run_recipe(recipe, Path("b.toml")) / "predictions.jsonl")
    assert a == b


def test_resume_continues_an_interrupted_run_from_its_last_epoch(
    tiny_bert, data_folder, tmp_path, monkeypatch, capsys
):
    from runner.training.checkpoints import Checkpoints

    recipe = tiny_recipe(tiny_bert, data_folder, tmp_path, "full", train={"epochs": 3})
    reference = rundir.read_jsonl(run_recipe(recipe, Path("reference.toml")) / "predictions.jsonl")

    real_save = Checkpoints.save

    def crash_after_first_epoch(self, accelerator, progress):
        real_save(self, accelerator, progress)
        raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(Checkpoints, "save", crash_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        run_recipe(recipe, Path("crashed.toml"))
    folder = tmp_path / "crashed"
    assert f"ftrun resume {folder}" in capsys.readouterr().err
    (checkpoint,) = (folder / "checkpoint").iterdir()
    progress = json.loads((checkpoint / "progress.json").read_text())
    assert progress["epoch"] == 1 and not (folder / "metrics.json").exists()
    monkeypatch.setattr(Checkpoints, "save", real_save)

    with pytest.raises(RunFolderError, match="differs"):
        run_recipe(
            tiny_recipe(tiny_bert, data_folder, tmp_path, "full", train={"epochs": 4}),
            Path("x.toml"),
            resume=folder,
        )
    resumed = run_recipe(recipe, Path("crashed.toml"), resume=folder)
    assert resumed == folder
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["train"]["epochs"] == 3 and metrics["train"]["steps"] == 18
    assert rundir.read_jsonl(folder / "predictions.jsonl") == reference
    with pytest.raises(RunFolderError, match="already finished"):
        run_recipe(recipe, Path("crashed.toml"), resume=folder)


def test_gradient_accumulation_takes_one_optimizer_step_per_group_of_batches(
    tiny_bert, data_folder, tmp_path
):
    recipe = tiny_recipe(
        tiny_bert,
        data_folder,
        tmp_path,
        "full",
        train={"epochs": 1, "gradient_accumulation": 3, "log_every": 1},
    )
    metrics = json.loads((run_recipe(recipe, Path("accumulate.toml")) / "metrics.json").read_text())
    assert metrics["train"]["steps"] == 2  # 48 examples = 6 batches of 8 = 2 steps of 3 batches
    assert metrics["train"]["effective_batch_size"] == 24


def test_log_with_tensorboard_writes_event_files_in_the_projects_folder(tiny_bert, data_folder, tmp_path):
    pytest.importorskip("tensorboard")
    recipe = tiny_recipe(
        tiny_bert, data_folder, tmp_path, "linear", train={"epochs": 1, "log_with": "tensorboard"}
    )
    folder = run_recipe(recipe, Path("tracked.toml"))
    assert list((tmp_path / "tensorboard" / "ftrun" / folder.name).rglob("events.out.tfevents.*"))


def test_adapter_latency_is_timed_with_the_adapters_apart_and_merged(tiny_bert, data_folder, tmp_path):
    from runner.compare.comparison import compare

    recipe = tiny_recipe(tiny_bert, data_folder, tmp_path / "out", "lora", train={"epochs": 1})
    metrics = json.loads((run_recipe(recipe, Path("lora.toml")) / "metrics.json").read_text())
    assert metrics["latency_unmerged"]["examples"] == metrics["latency"]["examples"] == 4
    assert metrics["latency_unmerged"]["batch1_ms_p50"] > 0
    (row,) = compare([tmp_path / "out"]).rows
    assert row["latency_unmerged_p50_ms"] == metrics["latency_unmerged"]["batch1_ms_p50"]
    full = tiny_recipe(tiny_bert, data_folder, tmp_path / "full", "full", train={"epochs": 1})
    assert (
        json.loads((run_recipe(full, Path("full.toml")) / "metrics.json").read_text())["latency_unmerged"]
        is None
    )


def stopped_before_a_usable_checkpoint(recipe, folder: Path, progress: str | None) -> Path:
    """A run folder as a kill leaves it: its recipe, and a checkpoint whose progress file reads
    `progress` (None: killed before its first checkpoint)."""
    folder.mkdir()
    (folder / "recipe.toml").write_text("# resolved\n" + recipes.to_toml(recipe))
    if progress is not None:
        checkpoint = folder / rundir.CHECKPOINT / "step-00000002"
        checkpoint.mkdir(parents=True)
        (checkpoint / "progress.json").write_text(progress)
    return folder


@pytest.mark.parametrize(
    ("progress", "why"),
    [(None, "no complete checkpoint"), ('{"steps": 2', "corrupt checkpoint file")],
    ids=["no checkpoint", "unreadable progress"],
)
@pytest.mark.parametrize("command", ["--resume", "resume"])
def test_an_explicit_resume_with_nothing_to_resume_from_stops_before_loading_the_model(
    command, progress, why, tiny_bert, data_folder, tmp_path, monkeypatch, capsys
):
    recipe = tiny_recipe(tiny_bert, data_folder, tmp_path, "linear")
    folder = stopped_before_a_usable_checkpoint(recipe, tmp_path / "stopped", progress)
    path = tmp_path / "stopped.toml"
    path.write_text(recipes.to_toml(recipe))
    monkeypatch.setattr("runner.pipeline.load_run", lambda *a: pytest.fail("the model loaded"))
    args = [str(path), "--resume", str(folder)] if command == "--resume" else ["resume", str(folder)]
    code, _, err = ftrun_in_process(monkeypatch, capsys, *args)
    assert code == 2
    line = " ".join(err.split())  # one error, however the console wraps it
    assert "nothing to resume from" in line and why in line and "without --resume" in line, err
    assert not (folder / "metrics.json").exists()
