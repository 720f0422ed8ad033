"""`ftrun compare`: tables, exports, eval-set grouping, McNemar significance, seeds, reports, bad folders."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from runner import rundir
from runner.compare import comparison as comparing
from runner.compare import exports
from runner.errors import RunFolderError
from runner.pipeline import run_recipe
from runner.recipe import reading as recipes
from runner.tasks.stats import mcnemar_p_value, wilson_interval

from .conftest import ftrun_in_process, sentiment_rows, write_jsonl


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, tiny_bert) -> Path:
    """Real short runs: linear with two seeds and full on one eval set, linear on another eval set."""
    root = tmp_path_factory.mktemp("compare")
    data = root / "data"
    data.mkdir()
    write_jsonl(data / "train.jsonl", sentiment_rows(40, seed=1))
    write_jsonl(data / "test.jsonl", sentiment_rows(30, seed=2))
    out = root / "outputs"

    def run(name: str, method: str, seed: int, eval_split: str = "test") -> None:
        recipe = recipes.build(
            {
                "model": {"name": str(tiny_bert), "max_length": 48},
                "data": {"source": str(data), "eval_split": eval_split},
                "method": {"name": method, "head_hidden": 0},
                "train": {"epochs": 1, "lr": 1e-3, "precision": "fp32", "seed": seed},
                "eval": {"latency_examples": 3, "latency_warmup": 1, "every_epoch": False},
                "output": {"dir": str(out), "run_name": name},
            }
        )
        run_recipe(recipe, Path(f"{name}.toml"))

    run("linear-s1", "linear", 1)
    run("linear-s2", "linear", 2)
    run("full", "full", 1)
    run("other-eval", "linear", 1, eval_split="test[:20]")
    return out


def test_runs_are_grouped_by_eval_set_and_never_ranked_across(outputs):
    result = comparing.compare([outputs])
    assert [len(group) for group in result.groups] == [3, 1]
    assert {run.name for run in result.groups[1]} == {"other-eval"}
    assert [row["vs_best"] for row in result.rows].count("best") == 2  # one per eval set
    accuracies = [row["accuracy"] for row in result.rows if row["group"] == 1]
    assert accuracies == sorted(accuracies, reverse=True)


def test_filter_by_method_and_sort_by_latency(outputs):
    result = comparing.compare([outputs], sort="latency", methods=["linear"])
    assert {row["method"] for row in result.rows} == {"linear"}
    first_group = [row["latency_p50_ms"] for row in result.rows if row["group"] == 1]
    assert first_group == sorted(first_group)


def test_seed_runs_of_one_recipe_are_aggregated_as_mean_and_std(outputs):
    (summary,) = comparing.compare([outputs]).seed_summaries
    assert summary["seeds"] == [1, 2] and summary["method"] == "linear"
    accuracies = [
        json.loads((outputs / n / "metrics.json").read_text())["accuracy"] for n in ("linear-s1", "linear-s2")
    ]
    assert summary["metric"] == "accuracy" and summary["score_mean"] == pytest.approx(sum(accuracies) / 2)


def test_table_output_lists_every_run_and_the_grouping(outputs, monkeypatch, capsys):
    code, out, _ = ftrun_in_process(monkeypatch, capsys, "compare", str(outputs))
    assert code == 0
    for name in ("linear-s1", "linear-s2", "full", "other-eval", "accuracy (95% CI)", "McNemar"):
        assert name in out
    assert "not ranked against each other" in out
    assert "mean ± std" in out


def test_markdown_csv_and_json_exports(outputs, monkeypatch, capsys, tmp_path):
    _, markdown, _ = ftrun_in_process(monkeypatch, capsys, "compare", str(outputs), "--format", "markdown")
    assert markdown.count("| linear-s") == 2 and "**Eval set 2**" in markdown
    _, text, _ = ftrun_in_process(monkeypatch, capsys, "compare", str(outputs), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 4 and {"accuracy", "accuracy_ci_low", "latency_p50_ms", "vs_best_p"} <= set(rows[0])
    target = tmp_path / "runs.json"
    code, _, _ = ftrun_in_process(
        monkeypatch, capsys, "compare", str(outputs), "--format", "json", "--out", str(target)
    )
    exported = json.loads(target.read_text())
    assert code == 0 and len(exported["runs"]) == 4
    assert len(exported["pairwise_mcnemar"]) == 3  # the three pairs in the shared eval set only


def test_report_writes_markdown_and_valid_pngs(outputs, tmp_path, monkeypatch, capsys):
    from PIL import Image

    code, _, err = ftrun_in_process(
        monkeypatch, capsys, "compare", str(outputs), "--report", str(tmp_path / "report")
    )
    assert code == 0
    report = (tmp_path / "report" / "report.md").read_text()
    for plot in ("accuracy.png", "latency.png", "accuracy_vs_trainable.png", "loss.png"):
        assert f"({plot})" in report
        with Image.open(tmp_path / "report" / plot) as image:
            image.verify()
            assert image.format == "PNG" and image.size[0] > 500


def constructed_pair(outputs: Path, tmp_path: Path, only_a: int, only_b: int, both: int) -> Path:
    """Two copies of a real run whose predictions disagree in a known way."""
    root = tmp_path / "constructed"
    for name, a_right in (("a", True), ("b", False)):
        folder = root / name
        shutil.copytree(outputs / "full", folder)
        rows = []
        for i in range(only_a + only_b + both):
            if i < only_a:
                right = a_right
            elif i < only_a + only_b:
                right = not a_right
            else:
                right = True
            rows.append({"id": i, "gold": 1, "predicted": 1 if right else 0})
        rundir.write_jsonl(folder / "predictions.jsonl", rows)
        metrics = json.loads((folder / "metrics.json").read_text())
        correct = sum(r["gold"] == r["predicted"] for r in rows)
        metrics.update(accuracy=correct / len(rows), accuracy_ci95=list(wilson_interval(correct, len(rows))))
        rundir.write_json(folder / "metrics.json", metrics)
    return root


def test_mcnemar_marks_a_one_sided_disagreement_as_significant(outputs, tmp_path):
    result = comparing.compare([constructed_pair(outputs, tmp_path, only_a=10, only_b=0, both=20)])
    (test,) = result.pairwise
    assert test["p_value"] == pytest.approx(2 / 2**10) and test["significant"]
    assert {row["run"]: row["vs_best"] for row in result.rows} == {"a": "best", "b": "significant"}


def test_mcnemar_calls_a_balanced_disagreement_not_significant(outputs, tmp_path):
    result = comparing.compare([constructed_pair(outputs, tmp_path, only_a=6, only_b=4, both=20)])
    (test,) = result.pairwise
    assert test["p_value"] == pytest.approx(mcnemar_p_value(6, 4)) and test["p_value"] > 0.5
    assert not test["significant"]


def test_exact_mcnemar_and_wilson_match_known_values():
    assert mcnemar_p_value(0, 0) == 1.0
    assert mcnemar_p_value(1, 9) == pytest.approx(0.021484375)  # 2 * (1 + 10) / 1024
    low, high = wilson_interval(80, 100)
    assert (round(low, 4), round(high, 4)) == (0.7112, 0.8666)


def test_broken_run_folders_are_skipped_with_a_reason(outputs, tmp_path, monkeypatch, capsys):
    root = tmp_path / "mixed"
    shutil.copytree(outputs / "full", root / "good")
    shutil.copytree(outputs / "full", root / "corrupt")
    (root / "corrupt" / "metrics.json").write_text("{not json")
    shutil.copytree(outputs / "full", root / "old")
    metrics = json.loads((root / "old" / "metrics.json").read_text())
    rundir.write_json(root / "old" / "metrics.json", {**metrics, "schema_version": 0})
    shutil.copytree(outputs / "full", root / "unfinished")
    (root / "unfinished" / "metrics.json").unlink()
    result = comparing.compare([root])
    assert [run.name for group in result.groups for run in group] == ["good"]
    reasons = {folder.name: reason for folder, reason in result.skipped}
    assert "corrupt" in reasons["corrupt"] and "schema_version 0" in reasons["old"]
    assert "unfinished" in reasons["unfinished"]
    code, out, _ = ftrun_in_process(monkeypatch, capsys, "compare", str(root))
    assert code == 0 and "skipped" in out and "good" in out


def test_a_directory_without_runs_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    code, _, err = ftrun_in_process(monkeypatch, capsys, "compare", str(tmp_path))
    assert code == 2 and "no finished runs" in err and err.count("\n") == 1
    with pytest.raises(RunFolderError):
        comparing.compare([tmp_path / "missing"])


def damage_truncated_mid_line(folder: Path) -> None:
    text = (folder / "predictions.jsonl").read_text()
    (folder / "predictions.jsonl").write_text(text[: len(text) // 2])


def damage_truncated_at_a_line_end(folder: Path) -> None:
    lines = (folder / "predictions.jsonl").read_text().splitlines(keepends=True)
    (folder / "predictions.jsonl").write_text("".join(lines[:5]))


def damage_without_key(key: str):
    def damage(folder: Path) -> None:
        metrics = json.loads((folder / "metrics.json").read_text())
        del metrics[key]
        rundir.write_json(folder / "metrics.json", metrics)

    return damage


def damage_setting(key: str, value):
    def damage(folder: Path) -> None:
        metrics = json.loads((folder / "metrics.json").read_text())
        rundir.write_json(folder / "metrics.json", {**metrics, key: value})

    return damage


DAMAGES = {
    "predictions cut mid-line": (damage_truncated_mid_line, "not valid JSON"),
    "predictions cut at a line end": (damage_truncated_at_a_line_end, "truncated?"),
    "empty predictions": (lambda f: (f / "predictions.jsonl").write_text(""), "empty"),
    "predictions not utf-8": (lambda f: (f / "predictions.jsonl").write_bytes(b"\xff\xfe"), "UTF-8"),
    "prediction rows without gold": (
        lambda f: rundir.write_jsonl(f / "predictions.jsonl", [{"id": i} for i in range(30)]),
        "lacks id, gold",
    ),
    "metrics without accuracy": (damage_without_key("accuracy"), "accuracy"),
    "metrics without data": (damage_without_key("data"), "data.eval_hash"),
    "metrics without method": (damage_without_key("method"), "method"),
    "metrics a list": (lambda f: (f / "metrics.json").write_text("[]"), "not an object"),
    "latency a string": (damage_setting("latency", "fast"), "latency is not an object"),
    "interval of strings": (damage_setting("accuracy_ci95", ["low", "high"]), "accuracy_ci95"),
}


@pytest.mark.parametrize("case", sorted(DAMAGES))
def test_a_damaged_run_is_skipped_with_a_reason_and_never_ranked(
    case, outputs, tmp_path, monkeypatch, capsys
):
    damage, reason = DAMAGES[case]
    root = tmp_path / "mixed"
    shutil.copytree(outputs / "full", root / "good")
    shutil.copytree(outputs / "full", root / "damaged")
    damage(root / "damaged")
    result = comparing.compare([root])
    assert [row["run"] for row in result.rows] == ["good"]
    ((folder, why),) = result.skipped
    assert folder.name == "damaged" and reason in why
    code, out, err = ftrun_in_process(monkeypatch, capsys, "compare", str(root))
    assert code == 0 and f"skipped {root / 'damaged'}" in out and "Traceback" not in err


def test_an_unfinished_overwrite_run_is_skipped_not_compared(outputs, tmp_path):
    shutil.copytree(outputs / "full", tmp_path / "full")
    staged = rundir.new_run_folder(tmp_path, "full", overwrite=True)
    shutil.copytree(outputs / "full", staged, dirs_exist_ok=True)
    result = comparing.compare([tmp_path])
    assert [row["run"] for row in result.rows] == ["full"]
    assert "--overwrite" in result.skipped[0][1]


def test_each_runs_warnings_are_listed_once_with_the_runs_that_recorded_them(outputs, tmp_path):
    for name in ("a", "b"):
        shutil.copytree(outputs / "full", tmp_path / name)
        metrics = json.loads((tmp_path / name / "metrics.json").read_text())
        metrics["data"]["notes"] = ["warning: data.eval_split: no eval examples of label 'positive'"]
        metrics["warnings"] = [f"warning: {name} predicted one class for every eval example"]
        rundir.write_json(tmp_path / name / "metrics.json", metrics)
    lines = exports.notes(comparing.compare([tmp_path], sort="name"))
    assert "a, b: warning: data.eval_split: no eval examples of label 'positive'" in lines
    assert "a: warning: a predicted one class for every eval example" in lines


def test_an_unknown_method_filter_lists_the_methods_found(outputs, monkeypatch, capsys):
    code, _, err = ftrun_in_process(monkeypatch, capsys, "compare", str(outputs), "--method", "nosuch")
    assert code == 2 and err.count("\n") == 1
    assert "no run" in err and "'nosuch'" in err and "full, linear" in err


@pytest.mark.parametrize(
    "option, target, named",
    [
        ("--report", "a-file", "is a file"),
        ("--report", "a-file/sub", "cannot create"),
        ("--out", "a-folder", "is a folder"),
        ("--out", "missing/runs.csv", "does not exist"),
    ],
)
def test_report_and_out_paths_that_cannot_be_written_are_one_line(
    option, target, named, outputs, tmp_path, monkeypatch, capsys
):
    (tmp_path / "a-file").write_text("keep me")
    (tmp_path / "a-folder").mkdir()
    path = tmp_path / target
    code, _, err = ftrun_in_process(
        monkeypatch, capsys, "compare", str(outputs), "--format", "csv", option, str(path)
    )
    assert code == 2 and err.count("\n") == 1 and str(path) in err and named in err
    assert (tmp_path / "a-file").read_text() == "keep me"


def test_out_without_an_export_format_is_refused(outputs, tmp_path, monkeypatch, capsys):
    code, _, err = ftrun_in_process(
        monkeypatch, capsys, "compare", str(outputs), "--out", str(tmp_path / "x")
    )
    assert code == 2 and "--format" in err and not (tmp_path / "x").exists()


def test_a_damaged_train_log_only_leaves_its_loss_curve_out(outputs, tmp_path):
    from runner.compare.report import write_report

    shutil.copytree(outputs / "full", tmp_path / "runs" / "full")
    (tmp_path / "runs" / "full" / "train_log.jsonl").write_text('{"step": 1, "lo')
    written = write_report(comparing.compare([tmp_path / "runs"]), tmp_path / "report")
    assert {p.name for p in written} == {
        "report.md",
        "accuracy.png",
        "latency.png",
        "accuracy_vs_trainable.png",
    }
