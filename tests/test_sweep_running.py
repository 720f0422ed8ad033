"""Running a sweep: each combination in its own process, in parallel, claimed once, resumed, reported.

The launcher and its processes are real; each combination's training is `tests/sweep_fakes.py`'s fake
run (a finished run folder written in a blink), except in the slow tests at the end, which train a
tiny model and compare a parallel sweep with a serial one prediction by prediction.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from runner import rundir
from runner.compare import write_runs_report
from runner.errors import RecipeError, RunFolderError
from runner.recipe import reading as recipes
from runner.sweep import claims, execution, outcomes, placement, worker
from runner.sweep import combinations as sweeps
from runner.sweep.executors import local
from runner.sweep.settings import ExecutorSettings

from . import sweep_fakes
from .conftest import ftrun_in_process

FAKE_WORKER = (sys.executable, str(Path(__file__).with_name("sweep_fakes.py")))

GRID = """
[train]
epochs = 1
[output]
dir = "{out}"
[sweep]
"method.name" = ["full", "linear"]
"train.seed" = [1, 2]
[sweep.linear]
"train.lr" = [1e-3, 1e-2]
"""
NAMES = [
    "full-seed1",
    "full-seed2",
    "linear-lr1e-3-seed1",
    "linear-lr1e-3-seed2",
    "linear-lr1e-2-seed1",
    "linear-lr1e-2-seed2",
]


@pytest.fixture
def grid(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "grid.toml"
    path.write_text(GRID.format(out=tmp_path / "outputs"))
    monkeypatch.setenv("FAKE_CALLS", str(tmp_path / "calls.jsonl"))
    monkeypatch.setenv("FTRUN_PROGRESS_SECONDS", "3600")
    return path


def sweep(path: Path, *overrides: str, lines: list[str] | None = None, **flags) -> int:
    said = lines if lines is not None else []
    return execution.run_sweep(
        path, list(overrides), write_runs_report, flags, echo=said.append, worker=FAKE_WORKER
    )


def ran(tmp_path: Path) -> list[str]:
    return sorted(call["name"] for call in sweep_fakes.calls(tmp_path / "calls.jsonl"))


# --- one combination: the worker -------------------------------------------------------------------


def test_a_worker_runs_its_combination_and_records_the_outcome(grid):
    outcome = worker.run_combination(grid, [], "full-seed2", sweep_fakes.fake_run, say=lambda line: None)
    folder = sweeps.load_combinations(grid).folder
    assert outcome.status == "finished"
    assert (folder / "full-seed2" / "metrics.json").is_file()
    assert outcomes.read_outcome(folder, "full-seed2", since=0).status == "finished"


def test_a_worker_builds_only_its_own_combinations_recipe(grid, monkeypatch):
    built: list[str] = []
    real_build = recipes.build

    def counting_build(raw, origin="recipe"):
        built.append(origin)
        return real_build(raw, origin)

    monkeypatch.setattr(recipes, "build", counting_build)
    outcome = worker.run_combination(grid, [], "linear-lr1e-2-seed1", sweep_fakes.fake_run, say=print)
    assert outcome.status == "finished"
    assert built == ["sweep combination linear-lr1e-2-seed1"]  # not the sweep's six


def test_a_worker_refuses_a_combination_that_is_not_what_its_launcher_checked(grid):
    folder = sweeps.load_combinations(grid).folder
    claims.check_sweep_folder(folder, grid, {"full-seed1": "0" * 16}, take_over=True)
    with pytest.raises(RecipeError, match="combination full-seed1 is not the one its launcher checked"):
        worker.run_combination(grid, [], "full-seed1", sweep_fakes.fake_run)
    with pytest.raises(RecipeError, match="no combination named full-seed9"):
        worker.run_combination(grid, [], "full-seed9", sweep_fakes.fake_run)
    assert ran(grid.parent) == []


def test_a_combination_another_process_holds_is_left_to_it(grid):
    folder = sweeps.load_combinations(grid).folder
    held = claims.claim(folder, "full-seed1")  # flock: a second open of the file conflicts, even here
    assert held is not None
    try:
        outcome = worker.run_combination(grid, [], "full-seed1", sweep_fakes.fake_run)
    finally:
        held.release()
    assert outcome.status == "busy" and not (folder / "full-seed1").exists()


def test_a_claim_dies_with_its_process(grid):
    folder = sweeps.load_combinations(grid).folder
    code = (
        f"from runner.sweep import claims; from pathlib import Path; claims.claim(Path({str(folder)!r}), 'x')"
    )
    subprocess.run([sys.executable, "-c", code + "; import os, signal; os.kill(os.getpid(), signal.SIGKILL)"])
    assert not claims.is_claimed(folder, "x")


def test_an_interrupted_combination_resumes_from_its_checkpoint_and_says_so(grid):
    planned = sweeps.load_combinations(grid)
    folder = planned.folder / "full-seed1"
    (folder / rundir.CHECKPOINT / "step-00000002").mkdir(parents=True)
    (folder / "recipe.toml").write_text(recipes.to_toml(planned.recipes[0]))
    options, why = worker.restart_options(folder, planned.recipes[0], rerun=False)
    assert options == {"resume": folder} and why == "resuming from its checkpoint at step 2"


@pytest.mark.parametrize(
    ("checkpoint", "same_recipe", "why"),
    [
        (False, True, "interrupted before its first complete checkpoint: starting again"),
        (True, False, "its recipe changed since it started: starting again"),
    ],
)
def test_a_combination_that_cannot_resume_starts_again_in_place_and_says_why(
    grid, checkpoint, same_recipe, why
):
    planned = sweeps.load_combinations(grid)
    folder = planned.folder / "full-seed1"
    folder.mkdir(parents=True)
    if checkpoint:
        (folder / rundir.CHECKPOINT / "step-00000004").mkdir(parents=True)
    (folder / "recipe.toml").write_text(recipes.to_toml(planned.recipes[0 if same_recipe else 1]))
    assert worker.restart_options(folder, planned.recipes[0], rerun=False) == ({"overwrite": True}, why)


# --- the launcher: processes, parallel, failures ---------------------------------------------------


def test_a_sweep_runs_every_combination_once_in_its_own_process_and_ends_with_the_report(grid, tmp_path):
    assert sweep(grid) == 0
    folder = tmp_path / "outputs" / "grid"
    assert ran(tmp_path) == sorted(NAMES)
    assert "Selected per method" in (folder / "report" / "report.md").read_text()
    assert (claims.log_file(folder, "full-seed1")).is_file()


def test_parallel_runs_combinations_at_the_same_time(grid, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_SECONDS", "1.5")
    assert sweep(grid, parallel=2) == 0
    calls = sweep_fakes.calls(tmp_path / "calls.jsonl")
    overlapping = [
        (a["name"], b["name"])
        for a in calls
        for b in calls
        if a is not b and a["start"] < b["start"] < a["end"]
    ]
    assert sorted(c["name"] for c in calls) == sorted(NAMES) and overlapping


def test_a_restarted_sweep_runs_only_what_is_missing(grid, tmp_path):
    (tmp_path / "outputs").mkdir()
    sweep(grid)
    (tmp_path / "calls.jsonl").unlink()
    lines: list[str] = []
    assert sweep(grid, lines=lines) == 0
    assert ran(tmp_path) == [] and sum("finished already, skipped" in line for line in lines) == 6
    assert any(line.startswith("report up to date") for line in lines)


def test_a_failed_and_a_killed_combination_are_listed_and_the_next_start_runs_only_them(
    grid, tmp_path, monkeypatch
):
    monkeypatch.setenv("FAKE_FAIL", "full-seed2")
    monkeypatch.setenv("FAKE_KILL", "linear-lr1e-3-seed1")
    lines: list[str] = []
    assert sweep(grid, lines=lines, parallel=2) == 1
    assert "failed full-seed2: disk full" in lines
    assert (
        claims.log_file(tmp_path / "outputs" / "grid", "full-seed2")
        .read_text()
        .endswith("ftrun: error: disk full\n")
    )
    killed = next(line for line in lines if line.startswith("failed linear-lr1e-3-seed1: "))
    assert "killed by SIGKILL" in killed
    assert lines[-1] == "2 of 6 combinations failed; run the sweep again to retry them"
    assert not (tmp_path / "outputs" / "grid" / "report").exists()  # written once, when all are done
    monkeypatch.delenv("FAKE_FAIL")
    monkeypatch.delenv("FAKE_KILL")
    (tmp_path / "calls.jsonl").unlink()
    assert sweep(grid) == 0
    assert ran(tmp_path) == ["full-seed2", "linear-lr1e-3-seed1"]
    assert (tmp_path / "outputs" / "grid" / "report" / "report.md").is_file()


def test_a_hanging_combination_is_stopped_at_its_time_limit_and_the_next_start_reruns_only_it(
    grid, tmp_path, monkeypatch
):
    monkeypatch.setenv("FAKE_HANG", "linear-lr1e-2-seed1")
    lines: list[str] = []
    started = time.monotonic()
    assert sweep(grid, lines=lines, parallel=2, time_minutes=0.05) == 1  # 3 seconds each
    # Not the ten minutes of the hang, nor the kill a minute after the stop: a stop that reached the
    # worker while it was still starting (under load) is repeated until it exits.
    assert time.monotonic() - started < 45
    assert (
        "failed linear-lr1e-2-seed1: stopped after 0.05 minutes (sweep.executor.time_minutes); "
        "the next start resumes it from its last checkpoint"
    ) in lines
    assert sorted(ran(tmp_path)) == sorted(n for n in NAMES if n != "linear-lr1e-2-seed1")
    monkeypatch.delenv("FAKE_HANG")
    (tmp_path / "calls.jsonl").unlink()
    assert sweep(grid) == 0
    assert ran(tmp_path) == ["linear-lr1e-2-seed1"]


def test_a_stop_that_goes_unheeded_is_repeated_until_the_combination_ends(grid, tmp_path, monkeypatch):
    monkeypatch.setattr(local, "STOP_REPEAT_SECONDS", 1)
    monkeypatch.setenv("FAKE_DEAF", "full-seed1")
    lines: list[str] = []
    started = time.monotonic()
    assert sweep(grid, 'method.name="full"', lines=lines, parallel=2, time_minutes=0.05) == 1
    assert time.monotonic() - started < local.STOP_GRACE_SECONDS  # ended by the second Ctrl-C, not the kill
    assert any(line.startswith("failed full-seed1: stopped after 0.05 minutes") for line in lines)
    assert ran(tmp_path) == ["full-seed2"]


def test_a_combination_stopped_while_its_process_starts_is_listed_as_out_of_time_and_runs_next_time(
    grid, tmp_path, monkeypatch
):
    monkeypatch.setenv("FAKE_START_SECONDS", "5")  # the stop lands before ftrun's code is imported
    lines: list[str] = []
    started = time.monotonic()
    assert sweep(grid, 'method.name="full"', lines=lines, parallel=2, time_minutes=0.01) == 1
    assert time.monotonic() - started < local.STOP_GRACE_SECONDS
    for name in ("full-seed1", "full-seed2"):
        assert any(line.startswith(f"failed {name}: stopped after 0.01 minutes") for line in lines), lines
    assert ran(tmp_path) == []
    monkeypatch.delenv("FAKE_START_SECONDS")
    assert sweep(grid, 'method.name="full"') == 0
    assert ran(tmp_path) == ["full-seed1", "full-seed2"]


def test_two_launchers_on_one_sweep_never_run_a_combination_twice(grid, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_SECONDS", "0.5")
    codes: list[int] = []
    launchers = [threading.Thread(target=lambda: codes.append(sweep(grid))) for _ in range(2)]
    for launcher in launchers:
        launcher.start()
    for launcher in launchers:
        launcher.join()
    assert codes == [0, 0]
    assert ran(tmp_path) == sorted(NAMES)  # each exactly once


def test_another_sweep_on_the_same_folder_is_refused(grid, tmp_path):
    sweep(grid)
    other = tmp_path / "other.toml"
    named = GRID.format(out=tmp_path / "outputs").replace('dir = "', 'run_name = "grid"\ndir = "')
    other.write_text(named.replace("epochs = 1", "epochs = 2"))
    with pytest.raises(RunFolderError, match="holds the runs of the sweep .*grid.toml.*full-seed1 differs"):
        sweep(other)


def test_a_file_extending_the_sweep_with_other_executor_settings_continues_it(grid, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_FAIL", ",".join(name for name in NAMES if name.endswith("seed2")))
    sweep(grid)
    monkeypatch.delenv("FAKE_FAIL")
    other = tmp_path / "grid-elsewhere.toml"
    other.write_text('extends = "grid.toml"\n[output]\nrun_name = "grid"\n[sweep.executor]\nparallel = 2\n')
    (tmp_path / "calls.jsonl").unlink()
    assert sweep(other) == 0
    assert ran(tmp_path) == ["full-seed2", "linear-lr1e-2-seed2", "linear-lr1e-3-seed2"]


def test_a_folder_whose_renames_fail_is_named_in_one_line(grid, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(claims.os, "replace", refuse)
    with pytest.raises(RunFolderError, match="files cannot be renamed into place there"):
        sweep(grid)


def test_a_folder_without_file_locks_is_named_in_one_line(grid, monkeypatch):
    def no_locks(*args, **kwargs):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(claims.fcntl, "flock", no_locks)
    with pytest.raises(
        RunFolderError, match=r"its filesystem has no file locks \(No locks available\).*-o flock"
    ):
        sweep(grid)
    assert ran(grid.parent) == []  # refused before any combination started


def test_a_sweep_under_a_multi_process_launcher_is_refused(grid, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RecipeError, match="starts its own processes"):
        sweep(grid)


# --- where combinations run -------------------------------------------------------------------------


def test_on_a_cpu_the_cores_are_divided_between_the_running_combinations(monkeypatch):
    monkeypatch.setattr(placement, "cores", lambda: 8)
    slots = placement.plan_slots(ExecutorSettings(parallel=4), print, gpus=0)
    assert len(slots) == 4 and {s.env["OMP_NUM_THREADS"] for s in slots} == {"2"}
    said: list[str] = []
    slots = placement.plan_slots(ExecutorSettings(parallel=4, threads=4), said.append, gpus=0)
    assert said and "share cores" in said[0]


def test_each_combination_gets_its_own_gpu_and_parallel_beyond_the_gpus_is_capped(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    said: list[str] = []
    slots = placement.plan_slots(ExecutorSettings(parallel=8), said.append, gpus=2)
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in slots] == ["0", "1"]
    assert said == ["--parallel 8: 2 GPU(s) hold 2 combination(s) of 1 GPU(s); running 2 at once"]
    pairs = placement.plan_slots(ExecutorSettings(parallel=2, gpus_per_run=2), print, gpus=4)
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in pairs] == ["0,1", "2,3"]
    assert "accelerate.commands.launch" in pairs[1].prefix and "29501" in pairs[1].prefix


def test_slots_follow_the_users_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    slots = placement.plan_slots(ExecutorSettings(parallel=2), print, gpus=2)
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in slots] == ["4", "6"]


# --- settings and the command line ----------------------------------------------------------------


def test_the_executor_table_is_checked_like_a_recipe_section(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[sweep]\n"train.seed" = [1, 2]\n[sweep.executor]\nparalel = 2\nengine = "ray"\n')
    with pytest.raises(RecipeError) as error:
        sweeps.load_combinations(path)
    assert "unknown key sweep.executor.paralel (did you mean sweep.executor.parallel?)" in str(error.value)
    assert "sweep.executor.engine = 'ray' is not allowed" in "\n".join(error.value.problems)


def test_the_executor_table_is_not_taken_for_a_method(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[sweep]\n"train.seed" = [1, 2]\n[sweep.executor]\nparallel = 2\n')
    planned = sweeps.load_combinations(path)
    assert [c.name for c in planned.combinations] == ["full-seed1", "full-seed2"]
    assert planned.executor.parallel == 2


def test_sweep_flags_on_a_plain_recipe_are_one_line(tmp_path, monkeypatch, capsys):
    recipe = Path(__file__).parents[1] / "recipes" / "lora.toml"
    code, _, err = ftrun_in_process(monkeypatch, capsys, str(recipe), "--parallel", "2")
    assert code == 2 and "--parallel: for a recipe with a [sweep] table" in err


def test_slurm_on_a_machine_without_slurm_is_one_line(grid, monkeypatch, capsys):
    pytest.importorskip("submitit")
    monkeypatch.setenv("PATH", "/nonexistent")
    code, _, err = ftrun_in_process(monkeypatch, capsys, str(grid), "--executor", "slurm")
    assert code == 2 and "no SLURM on this machine (sbatch is not on PATH)" in err


def test_submitits_local_executor_runs_the_sweep_and_the_last_task_writes_the_report(grid, tmp_path):
    pytest.importorskip("submitit")
    assert sweep(grid, 'method.name="full"', engine="submitit-local") == 0
    assert ran(tmp_path) == ["full-seed1", "full-seed2"]
    assert (tmp_path / "outputs" / "grid" / "report" / "report.md").is_file()
    assert os.listdir(tmp_path / "outputs" / "grid" / claims.STATE / "submitit")


# --- real runs: parallel against serial, and a worker killed mid-run --------------------------------

# `python -m runner` that SIGKILLs itself after its first checkpoint when it runs KILL_NAME.
KILLING_WORKER = """
import os, signal, sys
from runner.training.checkpoints import Checkpoints

if os.environ.get("KILL_NAME") in sys.argv:
    real_save = Checkpoints.save

    def save(self, accelerator, progress):
        real_save(self, accelerator, progress)
        os.kill(os.getpid(), signal.SIGKILL)

    Checkpoints.save = save
from runner.cli import main
sys.argv = ["ftrun", *sys.argv[1:]]
main()
"""

# What may differ between two sweeps of the same combinations: times, memory and latency.
VARYING = ("seconds", "time", "latency", "memory", "peak", "ms", "per_second", "throughput")
# The verdict's costs, and what weighs them (the recommendation, its sentences, the Pareto front), are
# timings too; its readings and differences are compared.
VARYING += ("cost", "recommend", "sentences", "pareto")


def comparable(value):
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if not any(word in k for word in VARYING)}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


@pytest.mark.slow
def test_a_parallel_sweep_gives_the_serial_sweeps_predictions_and_a_killed_worker_resumes(
    tiny_bert, data_folder, tmp_path, monkeypatch
):
    from runner.compare import comparison, exports

    monkeypatch.setenv("FTRUN_PROGRESS_SECONDS", "3600")
    path = tmp_path / "six.toml"
    path.write_text(
        f"""
[model]
name = "{tiny_bert}"
max_length = 48
[data]
source = "{data_folder}"
validation_size = 12
[method]
head_hidden = 16
[train]
epochs = 2
lr = 1e-3
precision = "fp32"
checkpoint_every = 2
[eval]
latency_examples = 0
[output]
dir = "{tmp_path / "outputs"}"
[sweep]
"method.name" = ["full", "lora"]
"train.seed" = [1, 2, 3]
"""
    )
    killer = tmp_path / "killing_worker.py"
    killer.write_text(KILLING_WORKER)
    monkeypatch.setenv("KILL_NAME", "lora-seed2")
    lines: list[str] = []
    killing = (sys.executable, str(killer))
    code = execution.run_sweep(path, [], write_runs_report, {"threads": 1}, echo=lines.append, worker=killing)
    assert code == 1 and any(
        line.startswith("failed lora-seed2: its process was killed by SIGKILL") for line in lines
    )

    folder = tmp_path / "outputs" / "six"
    finished = {
        name: (folder / name / "metrics.json").stat().st_mtime for name in NAMES_SIX if name != "lora-seed2"
    }
    monkeypatch.delenv("KILL_NAME")
    assert execution.run_sweep(path, [], write_runs_report, {"threads": 1}, echo=lines.append) == 0
    assert "resuming from its checkpoint at step 2" in claims.log_file(folder, "lora-seed2").read_text()
    assert all((folder / n / "metrics.json").stat().st_mtime == t for n, t in finished.items())  # untouched
    serial = {name: rundir.read_jsonl(folder / name / "predictions.jsonl") for name in NAMES_SIX}
    serial_report = comparable(json.loads(exports.to_json(comparison.compare([folder]))))

    assert (
        execution.run_sweep(
            path, [], write_runs_report, {"threads": 1, "parallel": 2}, rerun=True, echo=lines.append
        )
        == 0
    )
    for name in NAMES_SIX:
        assert rundir.read_jsonl(folder / name / "predictions.jsonl") == serial[name], name
    assert comparable(json.loads(exports.to_json(comparison.compare([folder])))) == serial_report
    # Each run in a process of its own, so the peak memory its metrics.json reports is its own.
    outcomes = [json.loads((folder / ".sweep" / f"{n}.json").read_text()) for n in NAMES_SIX]
    assert len({o["pid"] for o in outcomes} | {os.getpid()}) == len(NAMES_SIX) + 1


NAMES_SIX = ["full-seed1", "full-seed2", "full-seed3", "lora-seed1", "lora-seed2", "lora-seed3"]


def test_compare_names_the_combinations_not_started_yet(grid, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_FAIL", ",".join(NAMES[2:]))
    sweep(grid)
    folder = tmp_path / "outputs" / "grid"
    for name in NAMES[2:]:  # as if the sweep had been stopped before they began
        if (folder / name).exists():
            shutil.rmtree(folder / name)
    code, out, _ = ftrun_in_process(monkeypatch, capsys, "compare", str(folder))
    assert code == 0
    for name in NAMES[2:]:
        assert f"skipped {folder / name}: not started yet (sweep {grid})" in out
