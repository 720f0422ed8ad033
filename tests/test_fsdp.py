"""`train.fsdp = "full_shard"`: two CPU processes over gloo shard full fine-tuning (FSDP2 through
accelerate) and compute what two unsharded (DDP) processes compute; the run folder holds a plain model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from runner import rundir
from runner.errors import RecipeError
from runner.recipe import reading as recipes

from .conftest import reload_probabilities
from .test_distributed import RECIPE, launch

# Stops a run right after its first checkpoint is written, on every process, as a kill would.
CRASH_AFTER_FIRST_CHECKPOINT = """
import sys
from runner.cli import main
from runner.training.checkpoints import Checkpoints

real_save = Checkpoints.save

def save_then_crash(self, accelerator, state):
    real_save(self, accelerator, state)
    raise SystemExit(3)

Checkpoints.save = save_then_crash
sys.argv[0] = "ftrun"
main()
"""


def _recipe(tmp_path: Path, model: Path, data: Path, name: str, fsdp: str) -> Path:
    text = RECIPE.format(model=model, data=data, method="full", out=tmp_path / "outputs")
    text = text.replace("[train]\n", f'[train]\nfsdp = "{fsdp}"\n')
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def _probabilities(folder: Path) -> torch.Tensor:
    return torch.tensor([p["probability"] for p in rundir.read_jsonl(folder / "predictions.jsonl")])


def _losses(folder: Path) -> torch.Tensor:
    return torch.tensor([r["loss"] for r in rundir.read_jsonl(folder / "train_log.jsonl") if "loss" in r])


@pytest.mark.slow
def test_two_sharded_processes_give_the_predictions_of_two_unsharded_ones_and_resume_from_shards(
    tiny_llama, data_folder, tmp_path
):
    from transformers import AutoModelForSequenceClassification

    out = tmp_path / "outputs"
    done = launch(_recipe(tmp_path, tiny_llama, data_folder, "ddp", "auto"), "-m", "runner")
    assert done.returncode == 0, done.stderr[-3000:]
    done = launch(_recipe(tmp_path, tiny_llama, data_folder, "fsdp", "full_shard"), "-m", "runner")
    assert done.returncode == 0, done.stderr[-3000:]

    ddp, fsdp = out / "ddp", out / "fsdp"
    sharding = json.loads((fsdp / "metrics.json").read_text())["fsdp"]
    assert sharding == {
        "version": 2,
        "reshard_after_forward": True,
        "state_dict_type": "SHARDED_STATE_DICT",
        "processes": 2,
    }
    assert json.loads((ddp / "metrics.json").read_text())["fsdp"] is None
    torch.testing.assert_close(_losses(fsdp), _losses(ddp), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(_probabilities(fsdp), _probabilities(ddp), atol=1e-5, rtol=1e-5)

    # The gathered weights: a plain transformers model folder that computes the run's predictions.
    AutoModelForSequenceClassification.from_pretrained(fsdp / "model", trust_remote_code=True)
    reloaded = reload_probabilities(fsdp).max(-1).values
    torch.testing.assert_close(reloaded, _probabilities(fsdp), atol=1e-5, rtol=1e-5)

    crashing = tmp_path / "crash.py"
    crashing.write_text(CRASH_AFTER_FIRST_CHECKPOINT)
    done = launch(_recipe(tmp_path, tiny_llama, data_folder, "crashed", "full_shard"), str(crashing))
    crashed = out / "crashed"
    assert done.returncode != 0 and not (crashed / "metrics.json").exists()
    (checkpoint,) = (crashed / "checkpoint").iterdir()
    # Each process wrote its own shard of the weights and of the optimizer state.
    assert len(list((checkpoint / "pytorch_model_fsdp_0").glob("*.distcp"))) == 2
    assert len(list((checkpoint / "optimizer_0").glob("*.distcp"))) == 2

    done = launch(crashed, "-m", "runner", "resume")
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((crashed / "metrics.json").read_text())["train"]["steps"] == 12
    torch.testing.assert_close(_probabilities(crashed), _probabilities(fsdp), atol=1e-5, rtol=1e-5)


def test_full_shard_is_refused_for_a_method_other_than_full_and_with_keep_best():
    with pytest.raises(RecipeError) as raised:
        recipes.build(
            {
                "method": {"name": "lora"},
                "train": {"fsdp": "full_shard", "keep_best": True},
                "data": {"validation_size": 10},
            }
        )
    text = str(raised.value)
    assert "shards full fine-tuning (method.name = \"full\"), not 'lora'" in text
    assert "train.keep_best keeps unsharded weights" in text


def test_full_shard_in_one_process_says_how_to_launch_several(tiny_bert, data_folder, tmp_path):
    from runner.pipeline import run_recipe

    from .test_run import tiny_recipe

    recipe = tiny_recipe(tiny_bert, data_folder, tmp_path / "outputs", "full", train={"fsdp": "full_shard"})
    with pytest.raises(RecipeError, match="accelerate launch --multi_gpu --num_processes N"):
        run_recipe(recipe, Path("one.toml"))
