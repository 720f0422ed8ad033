"""`compare` with validation: each method chosen on validation, reported and tested on the test split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner import rundir
from runner.compare import comparison as comparing
from runner.compare import exports, selection
from runner.compare.report import write_report
from runner.recipe import reading as recipes
from runner.tasks.stats import mcnemar_p_value, wilson_interval

from .test_selection import NoTestFigures

TEST_SIZE = 40


def fake_run(
    root: Path,
    method: str,
    lr: float,
    seed: int,
    validation: float | None,
    right: set[int] | int,
) -> Path:
    """A finished run folder as the training side writes it, with the test answers `right` got right."""
    name = f"{method}-lr{lr}-seed{seed}"
    folder = root / name
    folder.mkdir(parents=True)
    recipe = recipes.build(
        {
            "method": {"name": method},
            "train": {"lr": lr, "seed": seed},
            "data": {"validation_size": 10} if validation is not None else {},
            "output": {"dir": str(root), "run_name": name},
        }
    )
    (folder / "recipe.toml").write_text(recipes.to_toml(recipe))
    right_ids = set(range(right)) if isinstance(right, int) else right
    rundir.write_jsonl(
        folder / "predictions.jsonl",
        [{"id": i, "gold": 1, "predicted": int(i in right_ids)} for i in range(TEST_SIZE)],
    )
    correct = len(right_ids)
    per_epoch = [{"epoch": 1, "step": 5, "accuracy": validation}] if validation is not None else []
    rundir.write_json(
        folder / "metrics.json",
        {
            "schema_version": rundir.SCHEMA_VERSION,
            "status": "finished",
            "method": method,
            "model": "embedded-minilm",
            "data": {"train_size": 100, "eval_size": TEST_SIZE, "eval_hash": "test-hash"},
            "accuracy": correct / TEST_SIZE,
            "accuracy_ci95": list(wilson_interval(correct, TEST_SIZE)),
            "correct": correct,
            "total": TEST_SIZE,
            "macro_f1": correct / TEST_SIZE,
            "latency": None,
            "params": {"trainable": 1, "trainable_fraction": 0.5},
            "train": {"seconds": 1.0},
            "seed": seed,
            "validation": None
            if validation is None
            else {
                "accuracy": validation,
                "correct": round(validation * 10),
                "total": 10,
                "accuracy_ci95": list(wilson_interval(round(validation * 10), 10)),
                "size": 10,
                "hash": "validation-hash",
                "best_epoch": None,
                "per_epoch": per_epoch,
            },
        },
    )
    log = [{"step": 5, "epoch": 1, "loss": 0.5}]
    log += [{"step": 5, "epoch": 1, "validation_accuracy": validation}] if validation is not None else []
    rundir.write_jsonl(folder / "train_log.jsonl", log)
    return folder


@pytest.fixture
def sweep_folder(tmp_path) -> Path:
    """lora at 1e-4 is best on validation but worse on test than lora at 1e-3: a trap for test selection."""
    root = tmp_path / "sweep"
    for seed in (1, 2):
        fake_run(root, "full", 2e-5, seed, 0.85, 30)
        fake_run(root, "lora", 1e-4, seed, 0.90, 24)
        fake_run(root, "lora", 1e-3, seed, 0.80, 38)
    return root


def test_each_method_is_selected_on_validation_even_where_test_accuracy_says_otherwise(sweep_folder):
    (chosen,) = comparing.compare([sweep_folder]).selections
    assert {method: c.label for method, c in chosen.selected.items()} == {
        "full": "as recipe",
        "lora": "train.lr=1e-4",
    }
    assert selection.reported(chosen.selected["lora"]).mean == pytest.approx(24 / TEST_SIZE)


def test_compares_selection_never_reads_the_test_figures(sweep_folder, monkeypatch):
    original = selection.run_result

    def blinded(name, record, recipe_text):
        result = original(name, record, recipe_text)
        return selection.RunResult(
            result.name, result.method, result.seed, result.settings, NoTestFigures(record)
        )

    monkeypatch.setattr(comparing.selection, "run_result", blinded)
    (chosen,) = comparing.compare([sweep_folder]).selections  # raises if choosing touched a test figure
    assert chosen.selected["lora"].label == "train.lr=1e-4"


def test_the_selected_configurations_are_tested_seed_by_seed_never_pooled(tmp_path):
    root = tmp_path / "runs"
    fake_run(root, "full", 2e-5, 1, 0.9, set(range(30)))
    fake_run(root, "lora", 1e-4, 1, 0.8, set(range(20)))  # full alone right on 10: significant
    fake_run(root, "full", 2e-5, 2, 0.9, set(range(24)))
    fake_run(root, "lora", 1e-4, 2, 0.8, set(range(4, 26)))  # 4 against 2: not significant
    fake_run(root, "lora", 1e-4, 3, 0.8, 20)  # no full run with seed 3: nothing to pair it with
    (test,) = comparing.compare([root]).selected_tests
    assert (test["a"], test["b"]) == ("full", "lora")
    assert [(s["seed"], s["only_a_right"], s["only_b_right"]) for s in test["per_seed"]] == [
        (1, 10, 0),
        (2, 4, 2),
    ]
    assert [s["p_value"] for s in test["per_seed"]] == [mcnemar_p_value(10, 0), mcnemar_p_value(4, 2)]
    assert test["significant_seeds"] == 1


def test_json_export_holds_the_selection_and_the_tests_between_selected_configurations(sweep_folder):
    exported = json.loads(exports.to_json(comparing.compare([sweep_folder])))
    (chosen,) = exported["selection"]
    lora = chosen["selected"]["lora"]
    assert chosen["metric"] == "accuracy"
    assert lora["configuration"] == "train.lr=1e-4" and lora["validation_mean"] == 0.9
    assert lora["test_mean"] == pytest.approx(0.6) and lora["test_std"] == 0.0
    assert len(chosen["configurations"]) == 3 and "validation accuracy" in chosen["chosen_on"]
    assert [t["b"] for t in exported["selected_mcnemar"]] == ["lora"]
    assert {row["validation_accuracy"] for row in exported["runs"]} == {0.8, 0.85, 0.9}


def test_markdown_puts_the_verdict_then_the_selection_first_and_says_which_split_is_which(sweep_folder):
    text = exports.to_markdown(comparing.compare([sweep_folder]))
    assert text.startswith("## The verdict")
    assert "## Selected per method (chosen on validation, reported on test)" in text
    assert text.index("## The verdict") < text.index("Selected per method")
    assert "| lora | train.lr=1e-4 | 2 | 90.0% | 60.0% ± 0.0% |" in text
    assert "### Paired McNemar tests between the selected configurations" in text
    assert "| accuracy (95% CI) | validation | F1 |" in text
    assert exports.VALIDATION_NOTE in text
    assert text.index("Selected per method") < text.index("**Eval set 1**")


def test_runs_without_validation_show_no_selection_and_no_validation_column(tmp_path):
    fake_run(tmp_path, "full", 2e-5, 1, None, 30)
    fake_run(tmp_path, "lora", 1e-4, 1, None, 20)
    result = comparing.compare([tmp_path])
    text = exports.to_markdown(result)
    assert "Selected per method" not in text and "| validation |" not in text
    assert exports.VALIDATION_NOTE not in text
    assert json.loads(exports.to_json(result))["selection"] == []


def test_a_run_with_a_malformed_validation_section_is_skipped_with_the_reason(sweep_folder):
    folder = sweep_folder / "full-lr2e-05-seed1"
    metrics = json.loads((folder / "metrics.json").read_text())
    rundir.write_json(folder / "metrics.json", {**metrics, "validation": {"acc": 0.9}})
    result = comparing.compare([sweep_folder])
    ((skipped, reason),) = result.skipped
    assert skipped == folder and "validation has no valid accuracy" in reason


def test_a_method_chosen_across_different_validation_sets_is_warned_about(sweep_folder):
    folder = sweep_folder / "lora-lr0.001-seed1"
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["validation"]["hash"] = "another-validation-hash"
    rundir.write_json(folder / "metrics.json", metrics)
    lines = exports.notes(comparing.compare([sweep_folder]))
    assert any(line.startswith("warning: lora's configurations were scored on 2 different") for line in lines)
    assert not any("full's configurations" in line for line in lines)


def test_the_report_has_the_selection_section_and_a_validation_curve(sweep_folder, tmp_path):
    written = write_report(comparing.compare([sweep_folder]), tmp_path / "report")
    assert {p.name for p in written} >= {"report.md", "validation.png", "loss.png"}
    report = (tmp_path / "report" / "report.md").read_text()
    assert "## Selected per method (chosen on validation, reported on test)" in report
    assert "![validation](validation.png)" in report


def test_sort_by_validation_orders_each_eval_set_by_validation_accuracy(sweep_folder):
    rows = comparing.compare([sweep_folder], sort="validation").rows
    accuracies = [row["validation_accuracy"] for row in rows]
    assert accuracies == sorted(accuracies, reverse=True)


def _set_latency(folder: Path, merged: float, apart: float | None) -> None:
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics["latency"] = {"batch1_ms_p50": merged, "batch1_ms_p95": merged + 1}
    metrics["latency_unmerged"] = None if apart is None else {"batch1_ms_p50": apart, "batch1_ms_p95": apart}
    rundir.write_json(folder / "metrics.json", metrics)


def test_the_selection_reports_latency_as_the_median_over_seeds_with_adapters_apart(sweep_folder):
    _set_latency(sweep_folder / "lora-lr0.0001-seed1", 30.0, 36.0)
    _set_latency(sweep_folder / "lora-lr0.0001-seed2", 34.0, 40.0)
    _set_latency(sweep_folder / "full-lr2e-05-seed1", 29.0, None)
    (chosen,) = comparing.compare([sweep_folder]).selections
    lora, full = selection.reported(chosen.selected["lora"]), selection.reported(chosen.selected["full"])
    assert (lora.latency_ms, lora.latency_unmerged_ms) == (32.0, 38.0)
    assert (full.latency_ms, full.latency_unmerged_ms) == (29.0, None)  # seed 2 has no latency: not a 0
    table = selection.selection_table(chosen)
    assert "| 32.0 (38.0) |" in table and "| 29.0 |" in table


def test_seed_lines_name_the_configuration_so_a_method_s_lines_differ(sweep_folder):
    lines = [line for line in exports.notes(comparing.compare([sweep_folder])) if "over seeds" in line]
    assert sorted(line.split(" on ")[0] for line in lines) == [
        "full",
        "lora (train.lr=1e-3)",
        "lora (train.lr=1e-4)",
    ]


def test_the_report_draws_the_selected_configurations_first(sweep_folder, tmp_path):
    _set_latency(sweep_folder / "lora-lr0.0001-seed1", 30.0, 36.0)
    written = write_report(comparing.compare([sweep_folder]), tmp_path / "report")
    assert [p.name for p in written[1:4]] == ["pareto.png", "selected_accuracy.png", "selected_latency.png"]
    assert all(p.stat().st_size > 1000 for p in written[1:4])
    report = (tmp_path / "report" / "report.md").read_text()
    assert report.index("selected_accuracy.png") < report.index("(accuracy.png)")
