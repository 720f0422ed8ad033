"""`accelerate launch` with 2 CPU processes (gloo): one run folder, every eval example counted once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from runner import rundir

from .conftest import REPO, reload_probabilities

RECIPE = """
[model]
name = "{model}"
max_length = 48

[data]
source = "{data}"

[method]
name = "{method}"
head_hidden = 16

[train]
epochs = 2
batch_size = 4
lr = 1e-3
precision = "fp32"
log_every = 1

[eval]
batch_size = 4
latency_examples = 3

[output]
dir = "{out}"
"""


def launch(recipe_path: Path, *entry: str) -> subprocess.CompletedProcess:
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or "accelerate"
    command = [
        accelerate,
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        *entry,
        str(recipe_path),
    ]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize("method, entry", [("lora", ("-m", "runner")), ("linear", ("ftrun-script",))])
def test_two_process_launch_counts_every_eval_example_once(method, entry, tiny_bert, data_folder, tmp_path):
    out = tmp_path / "outputs"
    recipe_path = tmp_path / f"{method}.toml"
    recipe_path.write_text(RECIPE.format(model=tiny_bert, data=data_folder, method=method, out=out))
    if entry == ("ftrun-script",):  # `accelerate launch` of the installed `ftrun` script
        entry = (shutil.which("ftrun", path=str(Path(sys.executable).parent)),)
    done = launch(recipe_path, *entry)
    assert done.returncode == 0, done.stderr[-3000:]

    assert [p.name for p in out.iterdir()] == [method]  # the main process alone made a folder
    folder = out / method
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["train"]["num_processes"] == 2 and metrics["train"]["effective_batch_size"] == 8
    # 48 train examples, 4 per process step, 2 processes: 6 steps per epoch, not 12.
    assert metrics["train"]["steps"] == 12
    steps = [row["step"] for row in rundir.read_jsonl(folder / "train_log.jsonl") if "loss" in row]
    assert steps == list(range(1, 13))  # one writer: no step logged twice

    predictions = rundir.read_jsonl(folder / "predictions.jsonl")
    assert sorted(p["id"] for p in predictions) == list(range(21))  # 21 is not a multiple of 2 x 4
    expected = reload_probabilities(folder)
    assert [p["predicted"] for p in predictions] == expected.argmax(-1).tolist()
    torch.testing.assert_close(
        torch.tensor([p["probability"] for p in predictions]), expected.max(-1).values, atol=1e-5, rtol=1e-5
    )
    correct = sum(p["gold"] == p["predicted"] for p in predictions)
    assert metrics["accuracy"] == correct / 21 and metrics["total"] == 21
