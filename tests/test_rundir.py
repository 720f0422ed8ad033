"""Run folders: names that stay inside output.dir, race-free creation, --overwrite that never loses a run."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from runner import rundir
from runner.errors import RunFolderError
from runner.rundir import folder as run_folder


def finished_run(folder: Path, accuracy: float = 0.5) -> Path:
    folder.mkdir(parents=True)
    (folder / "recipe.toml").write_text("# a run\n")
    rundir.write_json(folder / "metrics.json", {"accuracy": accuracy})
    return folder


@pytest.mark.parametrize("name", ["", "   ", ".", "..", "a/b", "../escaped", "a\\b", "/abs", "x\0y"])
def test_a_run_name_that_is_not_one_folder_name_is_refused(name):
    with pytest.raises(RunFolderError, match="output.run_name") as raised:
        rundir.check_run_name(name)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("name", ["lora", "lora-r8", "run.2", ".hidden", "with space"])
def test_a_plain_folder_name_is_accepted(name):
    rundir.check_run_name(name)


@pytest.mark.parametrize("name", [".", ".."])
def test_dot_names_with_overwrite_delete_nothing(name, tmp_path):
    outputs = tmp_path / "outputs"
    keep = finished_run(outputs / "keep")
    with pytest.raises(RunFolderError):
        rundir.new_run_folder(outputs, name, overwrite=True)
    assert (keep / "metrics.json").exists() and sorted(os.listdir(tmp_path)) == ["outputs"]


def test_an_existing_name_gets_the_next_free_suffix(tmp_path):
    names = [rundir.new_run_folder(tmp_path, "run", overwrite=False).name for _ in range(3)]
    assert names == ["run", "run-2", "run-3"]


def test_runs_started_together_get_distinct_folders(tmp_path):
    start = threading.Barrier(12)
    made: list[Path] = []

    def start_run() -> None:
        start.wait()
        made.append(rundir.new_run_folder(tmp_path, "race", overwrite=False))

    threads = [threading.Thread(target=start_run) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 12 and len(set(made)) == 12
    assert {p.name for p in tmp_path.iterdir()} == {"race"} | {f"race-{i}" for i in range(2, 13)}


def test_overwrite_builds_beside_the_old_run_and_replaces_it_only_when_finished(tmp_path):
    old = finished_run(tmp_path / "run", accuracy=0.1)
    neighbour = finished_run(tmp_path / "other")
    staged = rundir.new_run_folder(tmp_path, "run", overwrite=True)
    assert staged.name == "run" and staged.parent.parent == tmp_path and staged != old
    assert rundir.staged_for(staged) == old
    assert json.loads((old / "metrics.json").read_text())["accuracy"] == 0.1  # untouched while it runs

    rundir.write_json(staged / "metrics.json", {"accuracy": 0.9})
    assert rundir.finish_run_folder(staged) == old
    assert json.loads((old / "metrics.json").read_text())["accuracy"] == 0.9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "run"]  # staging folder gone
    assert (neighbour / "metrics.json").exists()


def test_a_staged_run_that_never_finishes_leaves_the_old_run_intact(tmp_path):
    old = finished_run(tmp_path / "run")
    before = (old / "metrics.json").read_bytes()
    staged = rundir.new_run_folder(tmp_path, "run", overwrite=True)
    (staged / "recipe.toml").write_text("# crashed before finishing\n")
    assert (old / "metrics.json").read_bytes() == before
    assert rundir.finish_run_folder(old) == old  # not staged: nothing moves


def test_overwrite_without_an_old_run_creates_the_folder_directly(tmp_path):
    folder = rundir.new_run_folder(tmp_path, "fresh", overwrite=True)
    assert folder == tmp_path / "fresh" and rundir.staged_for(folder) is None


def test_overwrite_refuses_to_replace_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "thesis.tex").write_text("precious")
    with pytest.raises(RunFolderError, match="not a run folder"):
        rundir.new_run_folder(tmp_path, "notes", overwrite=True)
    assert (tmp_path / "notes" / "thesis.tex").read_text() == "precious"


def test_overwriting_a_symlinked_run_removes_the_link_not_its_target(tmp_path):
    target = finished_run(tmp_path / "elsewhere" / "run")
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    (outputs / "run").symlink_to(target)
    staged = rundir.new_run_folder(outputs, "run", overwrite=True)
    rundir.finish_run_folder(staged)
    assert (target / "metrics.json").exists()
    assert not (outputs / "run").is_symlink() and (outputs / "run").is_dir()


def test_output_dir_that_is_a_file_is_one_line_naming_it(tmp_path):
    blocker = tmp_path / "outputs"
    blocker.write_text("")
    for parent in (blocker, blocker / "sub"):
        with pytest.raises(RunFolderError, match="output.dir") as raised:
            rundir.new_run_folder(parent, "run", overwrite=False)
        assert str(parent) in str(raised.value) and "\n" not in str(raised.value)


def test_output_dir_that_is_not_writable_is_one_line_naming_it(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setattr(run_folder.os, "access", lambda path, mode: Path(path) != locked)
    with pytest.raises(RunFolderError, match="not writable"):
        rundir.new_run_folder(locked, "run", overwrite=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_output_dir_under_a_read_only_folder_is_one_line(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(RunFolderError, match="output.dir"):
        rundir.new_run_folder(locked / "outputs", "run", overwrite=False)


def test_a_write_that_fails_halfway_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "predictions.jsonl"
    rundir.write_jsonl(path, [{"id": 0}])
    with pytest.raises(TypeError):
        rundir.write_jsonl(path, [{"id": 1}, {"id": object()}])
    assert rundir.read_jsonl(path) == [{"id": 0}]
    assert [p.name for p in tmp_path.iterdir()] == ["predictions.jsonl"]


def test_a_truncated_jsonl_file_is_a_run_folder_error_naming_the_line(tmp_path):
    path = tmp_path / "predictions.jsonl"
    path.write_text('{"id": 0}\n{"id": 1, "go')
    with pytest.raises(RunFolderError, match=r"predictions.jsonl line 2"):
        rundir.read_jsonl(path)


def test_a_run_with_overwrite_ends_in_the_old_folder_and_leaves_nothing_beside_it(
    tiny_bert, data_folder, tmp_path
):
    from runner.pipeline import run_recipe

    from .test_run import tiny_recipe

    outputs = tmp_path / "outputs"
    first = tiny_recipe(tiny_bert, data_folder, outputs, "linear", train={"epochs": 1, "seed": 1})
    folder = run_recipe(first, Path("same.toml"))
    second = tiny_recipe(tiny_bert, data_folder, outputs, "linear", train={"epochs": 1, "seed": 2})
    assert run_recipe(second, Path("same.toml"), overwrite=True) == folder
    assert [p.name for p in outputs.iterdir()] == ["same"]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["seed"] == 2 and metrics["run_name"] == "same"


def test_atomic_writes_leave_no_temporary_file_and_keep_the_users_umask(tmp_path):
    rundir.write_json(tmp_path / "a.json", {"x": 1})
    with rundir.replacing(tmp_path / "b.bin", "wb") as file:
        file.write(b"\x00\x01")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.bin"]
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_failed_atomic_write_leaves_the_old_file(tmp_path):
    rundir.write_text(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError), rundir.replacing(tmp_path / "a.txt") as file:
        file.write("half")
        raise RuntimeError("killed")
    assert (tmp_path / "a.txt").read_text() == "old" and len(list(tmp_path.iterdir())) == 1
