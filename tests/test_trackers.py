"""Trackers: every run of a project in one tracker project, named after its run folder, recipe as config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from runner.pipeline import run_recipe
from runner.training.trackers import tracker_config

from .test_run import tiny_recipe


def test_runs_of_one_project_log_side_by_side_under_their_run_folder_names(tiny_bert, data_folder, tmp_path):
    pytest.importorskip("tensorboard")
    train = {"epochs": 1, "log_with": "tensorboard", "tracker_project": "sentiment"}
    first = run_recipe(tiny_recipe(tiny_bert, data_folder, tmp_path, "linear", train=train), Path("a.toml"))
    second = run_recipe(tiny_recipe(tiny_bert, data_folder, tmp_path, "linear", train=train), Path("b.toml"))
    project = tmp_path / "tensorboard" / "sentiment"
    assert sorted(p.name for p in project.iterdir()) == sorted([first.name, second.name]) == ["a", "b"]
    for run in (first, second):
        assert list((project / run.name).glob("events.out.tfevents.*"))
        (hparams,) = (project / run.name).rglob("hparams.yml")
        config = yaml.safe_load(hparams.read_text())
        assert config["model.name"] == str(tiny_bert) and config["method.name"] == "linear"
        assert config["train.tracker_project"] == "sentiment"


def test_the_tracker_config_is_the_flat_resolved_recipe_with_method_options(tiny_bert, data_folder, tmp_path):
    recipe = tiny_recipe(tiny_bert, data_folder, tmp_path, "lora")
    config = tracker_config(recipe)
    assert config["method.lora_r"] == 8 and config["data.labels"] == "['negative', 'positive']"
    assert all(isinstance(value, (str, int, float, bool)) for value in config.values())
