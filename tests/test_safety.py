"""Runs that go wrong say so: a diverged loss stops the run, a log file shows progress, typos stay cheap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import runner.training.inputs as inputs_module
from runner.errors import TrainingError
from runner.pipeline import run_recipe

from .conftest import REPO, run_cli
from .test_run import tiny_recipe


def test_a_non_finite_loss_stops_the_run_naming_the_step_and_keeps_the_last_good_checkpoint(
    tiny_bert, data_folder, tmp_path, monkeypatch
):
    real, calls = inputs_module.logits_from_tokens, [0]

    def diverging(model, batch):
        calls[0] += 1
        logits = real(model, batch)
        return logits * float("nan") if calls[0] == 3 else logits  # the third training step

    monkeypatch.setattr(inputs_module, "logits_from_tokens", diverging)
    recipe = tiny_recipe(tiny_bert, data_folder, tmp_path, "full", train={"checkpoint_every": 2})
    with pytest.raises(TrainingError, match="not finite at step 3"):
        run_recipe(recipe, Path("nan.toml"))
    checkpoints = sorted(p.name for p in (tmp_path / "nan" / "checkpoint").iterdir())
    assert checkpoints == ["step-00000002"]  # step 4's state, after the NaN, was never saved
    assert not (tmp_path / "nan" / "metrics.json").exists()


def test_without_a_terminal_a_run_prints_plain_progress_lines(tiny_bert, data_folder, tmp_path):
    recipe = tmp_path / "logged.toml"
    from runner.recipe import reading as recipes

    recipe.write_text(recipes.to_toml(tiny_recipe(tiny_bert, data_folder, tmp_path / "out", "full")))
    import os

    env = {**os.environ, "FTRUN_PROGRESS_SECONDS": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "runner", str(recipe)], capture_output=True, text=True, cwd=REPO, env=env
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("train: ")]
    assert lines and "/12 (" in lines[-1] and "left" in lines[-1] and "loss" in lines[-1]


def test_a_recipe_typo_is_reported_without_importing_torch(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nepoch = 2\n")
    probe = (
        "import sys\nfrom runner.cli import main\n"
        f"sys.argv = ['ftrun', {str(bad)!r}]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    print(e.code, 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    assert done.stdout.split() == ["2", "False"], done.stderr
    assert "did you mean train.epochs?" in done.stderr


def test_every_recipe_problem_is_reported_at_once(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[train]\nepoch = 2\nlr = -1.0\n[method]\nname = "lorra"\n')
    code, _, err = run_cli("validate", str(bad))
    assert code == 2
    assert (
        len(err.strip().splitlines()) == 3 and "train.epoch" in err and "train.lr" in err and "lorra" in err
    )


def test_resumed_training_time_is_carried_over(tiny_bert, data_folder, tmp_path, monkeypatch):
    import json

    from runner.training.checkpoints import Checkpoints

    recipe = tiny_recipe(tiny_bert, data_folder, tmp_path, "full", train={"checkpoint_every": 3})
    real_save = Checkpoints.save

    def stop_after_saving(self, accelerator, progress):
        real_save(self, accelerator, progress)
        raise KeyboardInterrupt

    monkeypatch.setattr(Checkpoints, "save", stop_after_saving)
    with pytest.raises(KeyboardInterrupt):
        run_recipe(recipe, Path("timed.toml"))
    monkeypatch.setattr(Checkpoints, "save", real_save)
    saved = json.loads((tmp_path / "timed" / "checkpoint" / "step-00000003" / "progress.json").read_text())
    folder = run_recipe(recipe, Path("timed.toml"), resume=tmp_path / "timed")
    metrics = json.loads((folder / "metrics.json").read_text())
    assert saved["seconds"] > 0 and metrics["train"]["seconds"] > saved["seconds"]
    assert torch.isfinite(torch.tensor(metrics["train"]["seconds"]))


def test_lora_target_modules_that_match_nothing_fail_before_data_or_weights_load(
    tiny_bert, data_folder, tmp_path, monkeypatch
):
    import runner.training.loaded_run as loaded_module
    from runner.errors import ModelError

    def no_data(*args, **kwargs):
        raise AssertionError("data loaded before the module names were checked")

    monkeypatch.setattr(loaded_module, "load_data", no_data)
    recipe = tiny_recipe(
        tiny_bert, data_folder, tmp_path, "lora", method={"lora_target_modules": ["q_proj", "query"]}
    )
    with pytest.raises(ModelError, match=r"\['q_proj'\] match no module .* 'query'"):
        run_recipe(recipe, Path("targets.toml"))
