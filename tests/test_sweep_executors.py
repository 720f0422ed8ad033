"""A sweep executor is one module and one registry line: an engine written here, outside ftrun, with a
key of its own, registered at run time and used by a sweep end to end (the fake worker of
`tests/sweep_fakes.py` stands in for training)."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass

import pytest

from runner.compare import write_runs_report
from runner.errors import RecipeError
from runner.recipe.fields import option
from runner.sweep import claims, execution, executors, placement
from runner.sweep import combinations as sweeps
from runner.sweep.executors.base import Executor, Launch
from runner.sweep.outcomes import Outcome, ended
from runner.sweep.settings import ExecutorSettings

from . import sweep_fakes
from .test_sweep_running import FAKE_WORKER, GRID, NAMES


@dataclass
class SerialSettings(ExecutorSettings):
    order: str = option(
        "written", "Serial: the order the combinations run in.", choices=("written", "reversed")
    )


class SerialExecutor(Executor):
    """Every combination in turn, each through the same worker command as any engine's."""

    settings_class = SerialSettings
    settings: SerialSettings

    def run(self, launch: Launch) -> dict[str, Outcome]:
        names = launch.names[::-1] if self.settings.order == "reversed" else launch.names
        slot = placement.Slot("serial", {}, placement.python_prefix())
        outcomes = {}
        for name in names:
            since = time.time()
            code = subprocess.call(
                launch.command(slot, name), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            outcomes[name] = ended(launch.folder, name, code, since)
            launch.say(f"serial: {name} {outcomes[name].status}")
        return outcomes


@pytest.fixture
def serial(monkeypatch):
    monkeypatch.setitem(executors.REGISTRY, "serial", f"{__name__}:SerialExecutor")


@pytest.fixture
def grid(tmp_path, monkeypatch):
    path = tmp_path / "grid.toml"
    serial = '[sweep.executor]\nengine = "serial"\norder = "reversed"\n'
    path.write_text(GRID.format(out=tmp_path / "outputs") + serial)
    monkeypatch.setenv("FAKE_CALLS", str(tmp_path / "calls.jsonl"))
    monkeypatch.setenv("FTRUN_PROGRESS_SECONDS", "3600")
    return path


def written_order(path):
    return [c.name for c in sweeps.load_combinations(path).combinations]


def ran_in_order(tmp_path):
    return [call["name"] for call in sweep_fakes.calls(tmp_path / "calls.jsonl")]


def test_an_engine_registered_at_run_time_runs_a_sweep_with_its_own_key(serial, grid, tmp_path):
    lines: list[str] = []
    assert execution.run_sweep(grid, [], write_runs_report, echo=lines.append, worker=FAKE_WORKER) == 0
    backwards = written_order(grid)[::-1]
    assert sorted(backwards) == sorted(NAMES) and ran_in_order(tmp_path) == backwards
    said = [line for line in lines if line.startswith("serial:")]
    assert said == [f"serial: {name} finished" for name in backwards]
    folder = tmp_path / "outputs" / "grid"
    assert (folder / "report" / "report.md").is_file()  # written by the launcher: this engine waits
    outcome = json.loads((claims.state_folder(folder) / f"{NAMES[0]}.json").read_text())
    assert outcome["status"] == "finished"


def test_the_new_engine_is_a_choice_of_the_flag_too(serial, tmp_path, monkeypatch):
    path = tmp_path / "local.toml"
    path.write_text(GRID.format(out=tmp_path / "outputs"))
    monkeypatch.setenv("FAKE_CALLS", str(tmp_path / "calls.jsonl"))
    quiet = lambda line: None  # noqa: E731
    assert (
        execution.run_sweep(path, [], write_runs_report, {"engine": "serial"}, echo=quiet, worker=FAKE_WORKER)
        == 0
    )
    assert ran_in_order(tmp_path) == written_order(path)  # the engine's default order


def test_an_engines_keys_are_checked_by_it_and_a_misspelt_one_is_named(serial, grid):
    text = grid.read_text()
    grid.write_text(text.replace('order = "reversed"', 'ordre = "reversed"'))
    with pytest.raises(
        RecipeError, match=r"unknown key sweep.executor.ordre \(did you mean sweep.executor.order\?\)"
    ):
        sweeps.load_combinations(grid)
    grid.write_text(text.replace('order = "reversed"', 'order = "sideways"'))
    with pytest.raises(RecipeError, match="sweep.executor.order = 'sideways' is not allowed"):
        sweeps.load_combinations(grid)


def test_a_key_of_another_engine_is_checked_but_not_used(serial, grid):
    grid.write_text(grid.read_text().replace('engine = "serial"', 'engine = "local"'))
    settings = sweeps.load_combinations(grid).executor
    assert settings.engine == "local" and not hasattr(settings, "order")


def test_an_unregistered_engine_is_one_line(grid):
    with pytest.raises(RecipeError, match="sweep.executor.engine = 'serial' is not allowed"):
        sweeps.load_combinations(grid)
    local_grid = grid.with_name("local.toml")
    local_grid.write_text(GRID.format(out=grid.parent / "outputs"))
    with pytest.raises(RecipeError, match="--executor 'ray': choose one of local, slurm, submitit-local"):
        execution.run_sweep(local_grid, [], write_runs_report, {"engine": "ray"})
