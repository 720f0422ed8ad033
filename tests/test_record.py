"""metrics.json as one typed record: what this release writes loads back the same, folders written by
earlier releases keep loading, and `ftrun eval` replaces a record's scores wholesale."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from runner import rundir
from runner.errors import RunFolderError
from runner.rundir.finished import find_runs
from runner.rundir.record import RunRecord, Scores

SAVED = Path(__file__).parent / "saved_runs"  # run folders as this release wrote them, one per task type
TASK_FOLDERS = sorted(p.name for p in SAVED.iterdir())


def test_there_is_a_saved_folder_of_each_task_type():
    assert TASK_FOLDERS == ["multi_label", "pairs", "regression", "single_label"]


@pytest.mark.parametrize("name", TASK_FOLDERS)
def test_a_saved_record_reads_back_to_the_same_json(name):
    written = json.loads((SAVED / name / "metrics.json").read_text())
    record = rundir.read_record(SAVED / name)
    assert record.to_json() == written
    assert RunRecord.from_json(record.to_json()) == record


@pytest.mark.parametrize("name", TASK_FOLDERS)
def test_a_saved_folder_of_each_task_type_is_compared(name, tmp_path):
    shutil.copytree(SAVED / name, tmp_path / name)
    runs, skipped = find_runs([tmp_path])
    assert skipped == [] and len(runs) == 1
    (run,) = runs
    written = json.loads((SAVED / name / "metrics.json").read_text())
    assert (run.task, run.metric, run.score) == (written["task"], written["metric"], written["score"])
    assert run.score_ci95 == tuple(written["score_ci95"])
    assert run.validation_score == written["validation"]["score"]
    assert run.record.train.seconds == written["train"]["seconds"]
    assert run.record.environment.versions == written["versions"]


def test_the_scores_stand_apart_from_everything_else():
    written = json.loads((SAVED / "regression" / "metrics.json").read_text())
    record = RunRecord.from_json(written)
    assert {"pearson", "spearman", "rmse", "mae"} <= record.scores.figures.keys()
    assert "train" not in record.scores.figures and "seed" not in record.scores.figures
    assert record.params.trainable == written["params"]["trainable"]


def test_a_record_written_before_task_types_is_a_single_label_run_ranked_by_accuracy():
    old = json.loads((SAVED / "single_label" / "metrics.json").read_text())
    for key in ("task", "metric", "score", "score_ci95"):
        del old[key]
    old["validation"] = {"accuracy": 0.7, "size": 10}
    record = RunRecord.from_json(old)
    assert (record.task, record.metric, record.score) == ("single_label", "accuracy", old["accuracy"])
    assert record.scores.score_ci95 == tuple(old["accuracy_ci95"])
    assert record.validation_score == 0.7


def test_new_scores_replace_every_old_one():
    record = RunRecord.from_json(json.loads((SAVED / "single_label" / "metrics.json").read_text()))
    assert "confusion_matrix" in record.scores.figures
    new = Scores.from_json(
        {"task": "single_label", "metric": "accuracy", "score": 0.5, "score_ci95": [0.4, 0.6]}
    )
    rescored = record.with_scores(new).to_json()
    assert rescored["score"] == 0.5 and "confusion_matrix" not in rescored and "macro_f1" not in rescored
    assert rescored["train"] == record.to_json()["train"]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda m: m.pop("train"), "no valid train.seconds"),
        (lambda m: m.update(status="running"), "not finished"),
        (lambda m: m.update(schema_version=99), "schema_version 99"),
        (lambda m: m.update(score_ci95=[0.1]), "score_ci95 is not [low, high]"),
        (lambda m: m.update(latency=[1, 2]), "latency is not an object"),
    ],
)
def test_a_broken_record_is_refused_with_the_reason(change, says, tmp_path):
    values = json.loads((SAVED / "single_label" / "metrics.json").read_text())
    change(values)
    (tmp_path / "metrics.json").write_text(json.dumps(values))
    with pytest.raises(RunFolderError, match=says.replace("[", r"\[").replace("]", r"\]")):
        rundir.read_record(tmp_path)
