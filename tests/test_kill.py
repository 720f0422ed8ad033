"""Killed runs lose nothing: SIGKILL mid-epoch or while a checkpoint is written, then resume.

Each run is a real `ftrun` process, killed by SIGKILL at a chosen point by a small wrapper, and
resumed with `ftrun resume RUN_DIR`; it must end with the predictions of a run never interrupted.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from runner import rundir
from runner.pipeline import run_recipe
from runner.recipe import reading as recipes

from .conftest import REPO
from .test_run import tiny_recipe

# Kills its own process at the KILL_AT-th checkpoint: after it is complete, or before it is renamed
# into place (the moment a kill would leave a half-written checkpoint).
WRAPPER = """
import os, signal, sys
from pathlib import Path
from runner.training.checkpoints import Checkpoints

kill_at, mode = int(os.environ["KILL_AT"]), os.environ["KILL_MODE"]
real_save, real_rename, saves = Checkpoints.save, Path.rename, [0]

def rename(path, target):
    if path.name.endswith(".partial"):
        os.kill(os.getpid(), signal.SIGKILL)
    return real_rename(path, target)

def save(self, accelerator, progress):
    saves[0] += 1
    if saves[0] == kill_at and mode == "during":
        Path.rename = rename
    real_save(self, accelerator, progress)
    if saves[0] == kill_at and mode == "after":
        os.kill(os.getpid(), signal.SIGKILL)

Checkpoints.save = save
from runner.cli import main
sys.argv = ["ftrun", *sys.argv[1:]]
main()
"""


def ftrun(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    wrapper = tmp_path / "killing_ftrun.py"
    wrapper.write_text(WRAPPER)
    import os

    environment = {**os.environ, "KILL_AT": "0", "KILL_MODE": "none", **env}
    return subprocess.run(
        [sys.executable, str(wrapper), *args], capture_output=True, text=True, cwd=REPO, env=environment
    )


@pytest.fixture
def recipe_file(tiny_bert, data_folder, tmp_path):
    # 48 examples, batch 8: 6 steps an epoch, 12 in all; a checkpoint every 2 steps, the last 2 kept.
    recipe = tiny_recipe(
        tiny_bert,
        data_folder,
        tmp_path / "outputs",
        "full",
        train={"checkpoint_every": 2, "keep_checkpoints": 2},
        eval={"latency_examples": 0},
    )
    path = tmp_path / "killed.toml"
    path.write_text(recipes.to_toml(recipe))
    reference = run_recipe(recipe, Path("reference.toml"))
    return path, rundir.read_jsonl(reference / "predictions.jsonl")


def test_sigkill_mid_epoch_then_resume_gives_the_uninterrupted_predictions(recipe_file, tmp_path):
    path, reference = recipe_file
    killed = ftrun(tmp_path, str(path), KILL_AT="2", KILL_MODE="after")  # after step 4 of 6 in epoch 1
    assert killed.returncode == -signal.SIGKILL
    folder = tmp_path / "outputs" / "killed"
    assert sorted(p.name for p in (folder / "checkpoint").iterdir()) == ["step-00000002", "step-00000004"]

    resumed = ftrun(tmp_path, "resume", str(folder))
    assert resumed.returncode == 0, resumed.stderr
    assert rundir.read_jsonl(folder / "predictions.jsonl") == reference
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["train"]["steps"] == 12 and metrics["train"]["examples_seen"] == 96
    log = rundir.read_jsonl(folder / "train_log.jsonl")
    assert [row["step"] for row in log if "loss" in row] == [2, 4, 6, 8, 10, 12]
    assert not (folder / "checkpoint").exists()


def test_sigkill_while_a_checkpoint_is_written_resumes_from_the_previous_one(recipe_file, tmp_path):
    path, reference = recipe_file
    killed = ftrun(tmp_path, str(path), KILL_AT="4", KILL_MODE="during")  # writing step 8's checkpoint
    assert killed.returncode == -signal.SIGKILL
    folder = tmp_path / "outputs" / "killed"
    names = sorted(p.name for p in (folder / "checkpoint").iterdir())
    assert names == ["step-00000004", "step-00000006", "step-00000008.partial"]

    resumed = ftrun(tmp_path, "resume", str(folder))
    assert resumed.returncode == 0, resumed.stderr
    assert rundir.read_jsonl(folder / "predictions.jsonl") == reference


def test_a_corrupt_checkpoint_is_named_and_the_one_before_it_used(recipe_file, tmp_path):
    path, reference = recipe_file
    ftrun(tmp_path, str(path), KILL_AT="3", KILL_MODE="after")
    folder = tmp_path / "outputs" / "killed"
    (folder / "checkpoint" / "step-00000006" / "optimizer.bin").write_bytes(b"")

    resumed = ftrun(tmp_path, "resume", str(folder))
    assert resumed.returncode == 0, resumed.stderr
    assert "step-00000006/optimizer.bin (0 bytes)" in resumed.stderr
    assert rundir.read_jsonl(folder / "predictions.jsonl") == reference


def test_with_no_readable_checkpoint_resume_is_one_line_naming_the_file(recipe_file, tmp_path):
    path, _ = recipe_file
    ftrun(tmp_path, str(path), KILL_AT="1", KILL_MODE="after")
    folder = tmp_path / "outputs" / "killed"
    (folder / "checkpoint" / "step-00000002" / "progress.json").write_text("{trunc")

    resumed = ftrun(tmp_path, "resume", str(folder))
    assert resumed.returncode == 2
    last = resumed.stderr.strip().splitlines()[-1]
    assert last.startswith("ftrun: error: --resume") and "corrupt checkpoint file" in last
    assert "step-00000002/progress.json" in resumed.stderr and "Traceback" not in resumed.stderr
