"""`compare` across task types: multi-label and regression runs (the run folder contract), headline metrics
other than accuracy, groups by task and metric, the paired bootstrap, ties on validation, one-class flags."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from runner import rundir
from runner.compare import comparison as comparing
from runner.compare import exports, selection
from runner.compare.report import write_report
from runner.rundir.finished import find_runs
from runner.scoring.task_metrics import as_arrays, metric_value, task_metrics
from runner.tasks import stats

from .test_compare_selection import fake_run
from .test_selection import NoTestFigures

LABELS = ["sports", "politics", "science"]
ONE_CLASS = "warning: the model predicts 'sports' for 97% of the eval examples (the eval set has 40% of them)"


def prediction_rows(task: str, gold: list, predicted: list) -> list[dict]:
    """predictions.jsonl rows in the contract's form for `task`."""
    if task == "regression":
        return [
            {"id": i, "gold": g, "predicted": p} for i, (g, p) in enumerate(zip(gold, predicted, strict=True))
        ]
    if task == "multi_label":
        return [
            {
                "id": i,
                "gold": g,
                "predicted": p,
                "gold_labels": [LABELS[j] for j in g],
                "predicted_labels": [LABELS[j] for j in p],
                "probabilities": [0.9 if j in p else 0.1 for j in range(len(LABELS))],
            }
            for i, (g, p) in enumerate(zip(gold, predicted, strict=True))
        ]
    return [
        {"id": i, "gold": g, "predicted": p, "gold_label": LABELS[g], "predicted_label": LABELS[p]}
        for i, (g, p) in enumerate(zip(gold, predicted, strict=True))
    ]


def contract_run(
    root: Path,
    name: str,
    task: str,
    metric: str,
    gold: list,
    predicted: list,
    *,
    method: str = "lora",
    lr: float = 1e-4,
    seed: int = 1,
    validation: tuple[list, list] | None = None,
    save_validation_predictions: bool = True,
    warnings: tuple[str, ...] = (),
    eval_hash: str = "test-hash",
) -> Path:
    """A finished run folder in the format the training side writes for task types."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "recipe.toml").write_text(
        f'[method]\nname = "{method}"\n[train]\nlr = {lr}\nseed = {seed}\n'
        f'[output]\ndir = "{root}"\nrun_name = "{name}"\n'
    )
    labels = None if task == "regression" else LABELS
    rundir.write_jsonl(folder / "predictions.jsonl", prediction_rows(task, gold, predicted))
    scored = task_metrics(task, metric, gold, predicted, labels)
    validation_section = None
    if validation is not None:
        on_validation = task_metrics(task, metric, *validation, labels)
        validation_section = {
            "metric": metric,
            "score": on_validation["score"],
            "score_ci95": on_validation["score_ci95"],
            "size": len(validation[0]),
            "hash": "validation-hash",
            "best_epoch": 1,
            "per_epoch": [{"epoch": 1, "step": 5, "score": on_validation["score"]}],
        }
        if save_validation_predictions:
            rundir.write_jsonl(folder / "validation_predictions.jsonl", prediction_rows(task, *validation))
    rundir.write_json(
        folder / "metrics.json",
        {
            "schema_version": rundir.SCHEMA_VERSION,
            "status": "finished",
            "method": method,
            "model": "embedded-minilm",
            "data": {"train_size": 100, "eval_size": len(gold), "eval_hash": eval_hash},
            "task": task,
            **scored,
            "validation": validation_section,
            "warnings": list(warnings),
            "latency": None,
            "params": {"trainable": 1, "trainable_fraction": 0.5},
            "train": {"seconds": 1.0},
            "seed": seed,
            **({"thresholds": [0.5] * len(LABELS)} if task == "multi_label" else {}),
        },
    )
    log = [{"step": 5, "epoch": 1, "loss": 0.5}]
    if validation_section:
        log.append({"step": 5, "epoch": 1, f"validation_{metric}": validation_section["score"]})
    rundir.write_jsonl(folder / "train_log.jsonl", log)
    return folder


def multi_label_answers(n: int, right: int, seed: int = 0) -> tuple[list, list]:
    """Gold label sets and predictions that get the first `right` examples exactly right, the rest empty."""
    rng = np.random.default_rng(seed)
    gold = [sorted({int(j) for j in rng.choice(3, size=rng.integers(1, 3), replace=False)}) for _ in range(n)]
    return gold, [g if i < right else [] for i, g in enumerate(gold)]


def regression_answers(n: int, noise: float, seed: int = 0) -> tuple[list, list]:
    rng = np.random.default_rng(seed)
    gold = rng.normal(size=n)
    return gold.tolist(), (gold + noise * rng.normal(size=n)).tolist()


def single_label_answers(n: int, right: set[int] | int) -> tuple[list, list]:
    right_ids = set(range(right)) if isinstance(right, int) else right
    gold = [i % 3 for i in range(n)]
    return gold, [g if i in right_ids else (g + 1) % 3 for i, g in enumerate(gold)]


# --- reading runs of every task ------------------------------------------------------------------------


def test_multi_label_and_regression_runs_are_read_with_their_headline_scores(tmp_path):
    contract_run(tmp_path, "tags", "multi_label", "micro_f1", *multi_label_answers(30, 20))
    contract_run(tmp_path, "stars", "regression", "spearman", *regression_answers(30, 0.5))
    runs, skipped = find_runs([tmp_path])
    assert skipped == []
    by_name = {run.name: run for run in runs}
    tags, stars = by_name["tags"], by_name["stars"]
    assert (tags.task, tags.metric, tags.score) == (
        "multi_label",
        "micro_f1",
        tags.record.scores.get("micro_f1"),
    )
    assert (stars.task, stars.metric, stars.score) == (
        "regression",
        "spearman",
        stars.record.scores.get("spearman"),
    )
    assert (
        "accuracy" not in stars.record.scores.figures
        and stars.score_ci95[0] < stars.score < stars.score_ci95[1]
    )
    assert tags.outputs_by_id[25] == (tuple(tags.outputs_by_id[25][0]), ())  # label sets, as sorted tuples
    assert tags.num_labels == 3 and tags.validation_outputs is None


def test_an_old_run_reads_as_single_label_scored_by_accuracy(tmp_path):
    fake_run(tmp_path, "full", 2e-5, 1, 0.8, 30)
    ((run,), _) = find_runs([tmp_path])
    assert (run.task, run.metric, run.score) == (
        "single_label",
        "accuracy",
        run.record.scores.get("accuracy"),
    )
    assert run.score_ci95 == tuple(run.record.scores.get("accuracy_ci95"))
    assert run.validation_score == run.validation_accuracy == 0.8 and run.validation_outputs is None


def rewrite_metrics(folder: Path, change) -> None:
    metrics = json.loads((folder / "metrics.json").read_text())
    change(metrics)
    rundir.write_json(folder / "metrics.json", metrics)


DAMAGES = {
    "no score": (lambda m: m.pop("score"), "no valid score"),
    "an interval of one value": (lambda m: m.update(score_ci95=[0.5]), "score_ci95 is not [low, high]"),
    "another task's metric": (lambda m: m.update(metric="accuracy"), "not one of multi_label's"),
    "an unknown task": (lambda m: m.update(task="ranking"), "task 'ranking'"),
    "a validation without score": (
        lambda m: m.update(validation={"accuracy": 0.5}),
        "validation has no valid score",
    ),
    "a validation of another metric": (
        lambda m: m["validation"].update(metric="micro_f1"),
        "validation is scored by 'micro_f1'",
    ),
}


@pytest.mark.parametrize("case", sorted(DAMAGES))
def test_a_damaged_task_run_is_skipped_with_the_reason(case, tmp_path):
    change, reason = DAMAGES[case]
    folder = contract_run(
        tmp_path,
        "tags",
        "multi_label",
        "macro_f1",
        *multi_label_answers(20, 10),
        validation=multi_label_answers(8, 4),
    )
    rewrite_metrics(folder, change)
    runs, ((skipped, why),) = find_runs([tmp_path])
    assert runs == [] and skipped == folder and reason in why


@pytest.mark.parametrize(
    "task, rows, form",
    [
        ("multi_label", [{"id": 0, "gold": 1, "predicted": [1]}], "lists of label ids"),
        ("regression", [{"id": 0, "gold": "high", "predicted": 0.5}], "numbers"),
        ("single_label", [{"id": 0, "gold": [1], "predicted": 1}], "label ids"),
    ],
)
def test_prediction_rows_not_of_the_runs_task_are_a_reason_to_skip_it(task, rows, form, tmp_path):
    metric = {"multi_label": "macro_f1", "regression": "pearson", "single_label": "accuracy"}[task]
    answers = {"multi_label": ([[0]], [[0]]), "regression": ([1.0], [1.0]), "single_label": ([0], [0])}[task]
    folder = contract_run(tmp_path, "run", task, metric, *answers)
    rundir.write_jsonl(folder / "predictions.jsonl", rows)
    _, ((_, why),) = find_runs([tmp_path])
    assert f"row 1: gold and predicted are not {form} (found" in why


def test_prediction_rows_with_a_repeated_id_are_refused(tmp_path):
    folder = contract_run(tmp_path, "run", "regression", "pearson", [1.0, 2.0], [1.0, 2.5])
    rundir.write_jsonl(folder / "predictions.jsonl", [{"id": 7, "gold": 1.0, "predicted": 1.0}] * 2)
    _, ((_, why),) = find_runs([tmp_path])
    assert "row 2: id 7 is not a unique" in why


# --- grouping and ranking ------------------------------------------------------------------------------


def test_runs_of_one_eval_set_of_different_tasks_or_metrics_are_grouped_apart_and_said_why(tmp_path):
    fake_run(tmp_path, "full", 2e-5, 1, None, 30)  # single_label by accuracy, eval set "test-hash" of 40
    contract_run(tmp_path, "tags", "multi_label", "macro_f1", *multi_label_answers(40, 30))
    contract_run(tmp_path, "f1", "single_label", "macro_f1", *single_label_answers(40, 30))
    result = comparing.compare([tmp_path])
    assert sorted(sorted(run.name for run in group) for group in result.groups) == [
        ["f1"],
        ["full-lr2e-05-seed1"],
        ["tags"],
    ]
    assert [row["vs_best"] for row in result.rows] == ["best"] * 3 and result.pairwise == []
    lines = exports.notes(result)
    assert (
        "runs full-lr2e-05-seed1 of task single_label and runs tags of task multi_label are not ranked "
        "against each other: their scores measure different things" in lines
    )
    assert (
        "runs f1 of metric macro_f1 and runs full-lr2e-05-seed1 of metric accuracy are not ranked against "
        "each other: their scores measure different things" in lines
    )
    assert not any("different eval sets" in line for line in lines)  # one eval set, three kinds


def test_a_group_scored_by_macro_f1_is_ranked_and_tested_by_it_with_the_paired_bootstrap(tmp_path):
    gold, good = multi_label_answers(200, 180)
    _, poor = multi_label_answers(200, 100)
    contract_run(tmp_path, "good", "multi_label", "macro_f1", gold, good)
    contract_run(tmp_path, "poor", "multi_label", "macro_f1", gold, poor)
    result = comparing.compare([tmp_path], sort="name")
    (test,) = result.pairwise
    assert test["test"] == "paired bootstrap" and test["significant"] and test["p_value"] < 0.01
    # The group's cached resamples give what a direct paired bootstrap of the two runs gives.
    g, p_good = as_arrays("multi_label", gold, good, 3)
    _, p_poor = as_arrays("multi_label", gold, poor, 3)
    direct = stats.paired_bootstrap(
        lambda i: metric_value("multi_label", "macro_f1", g[i], p_good[i]),
        lambda i: metric_value("multi_label", "macro_f1", g[i], p_poor[i]),
        200,
    )
    assert test["difference"] == pytest.approx(direct["difference"]) and test["ci95"] == pytest.approx(
        direct["ci95"]
    )
    assert test["p_value"] == direct["p_value"]
    rows = {row["run"]: row for row in result.rows}
    assert rows["good"]["vs_best"] == "best" and rows["poor"]["vs_best"] == "significant"
    text = exports.to_markdown(result)
    assert "| macro_f1 (95% CI) | micro F1 |" in text and "vs best (paired bootstrap)" in text
    assert "multi_label by macro_f1" in text


def test_identical_runs_of_a_bootstrap_metric_are_not_significant(tmp_path):
    answers = regression_answers(100, 0.5)
    contract_run(tmp_path, "a", "regression", "pearson", *answers)
    contract_run(tmp_path, "b", "regression", "pearson", *answers)
    (test,) = comparing.compare([tmp_path]).pairwise
    assert (test["difference"], test["p_value"], test["significant"]) == (0.0, 1.0, False)


def test_regression_runs_are_ranked_by_their_correlation_not_their_error(tmp_path):
    gold, close = regression_answers(60, 0.3)
    far = [2 * g + 5 for g in gold]  # perfectly correlated, far off: pearson 1, large RMSE
    contract_run(tmp_path, "close", "regression", "pearson", gold, close)
    contract_run(tmp_path, "correlated", "regression", "pearson", gold, far)
    result = comparing.compare([tmp_path])
    assert [row["run"] for row in result.rows] == ["correlated", "close"]
    assert result.rows[0]["score"] == pytest.approx(1.0) and result.rows[0]["rmse"] > result.rows[1]["rmse"]
    assert "| pearson (95% CI) | RMSE |" in exports.to_markdown(result)


def test_old_and_new_single_label_accuracy_runs_share_a_group_and_mcnemar(tmp_path):
    fake_run(tmp_path, "full", 2e-5, 1, None, set(range(30)))
    contract_run(tmp_path, "new", "single_label", "accuracy", *single_label_answers(40, set(range(20))))
    (group,) = comparing.compare([tmp_path]).groups
    (test,) = comparing.compare([tmp_path]).pairwise
    assert len(group) == 2 and test["test"] == "McNemar"
    assert (test["only_a_right"], test["only_b_right"]) == (10, 0)


# --- selection on validation ---------------------------------------------------------------------------


def sweep(root: Path, task: str, metric: str, validation_right: dict[float, int], save: bool = True) -> None:
    """Two lora configurations (by lr) over two seeds, test answers equal, validation answers by lr."""
    answers = {
        "multi_label": multi_label_answers,
        "single_label": lambda n, right: single_label_answers(n, right),
    }[task]
    for seed in (1, 2):
        for lr, right in validation_right.items():
            contract_run(
                root,
                f"lora-lr{lr}-seed{seed}",
                task,
                metric,
                *answers(60, 40),
                lr=lr,
                seed=seed,
                validation=answers(200, right),
                save_validation_predictions=save,
            )


@pytest.mark.parametrize("task, metric", [("single_label", "accuracy"), ("multi_label", "macro_f1")])
def test_a_choice_the_validation_set_cannot_tell_apart_is_called_a_tie(task, metric, tmp_path):
    sweep(tmp_path, task, metric, {1e-4: 150, 1e-3: 148})
    (chosen,) = comparing.compare([tmp_path]).selections
    assert chosen.selected["lora"].label == "train.lr=1e-4"
    assert chosen.choice["lora"].startswith("tie (p=") and chosen.choice["lora"].count(",") == 1  # 2 seeds
    assert "| tie (p=" in selection.selection_table(chosen)


@pytest.mark.parametrize("task, metric", [("single_label", "accuracy"), ("multi_label", "macro_f1")])
def test_a_choice_the_validation_set_tells_apart_is_called_clear(task, metric, tmp_path):
    sweep(tmp_path, task, metric, {1e-4: 190, 1e-3: 100})
    (chosen,) = comparing.compare([tmp_path]).selections
    assert chosen.choice["lora"] == "clear" and "| clear |" in selection.selection_table(chosen)


def test_a_choice_without_validation_predictions_or_a_runner_up_cannot_be_tested(tmp_path):
    sweep(tmp_path / "unsaved", "multi_label", "macro_f1", {1e-4: 190, 1e-3: 100}, save=False)
    sweep(tmp_path / "alone", "multi_label", "macro_f1", {1e-4: 190})
    for folder in ("unsaved", "alone"):
        (chosen,) = comparing.compare([tmp_path / folder]).selections
        assert chosen.choice["lora"] == "–"


def test_the_tie_is_judged_on_validation_predictions_never_on_test_predictions(tmp_path):
    sweep(tmp_path, "single_label", "accuracy", {1e-4: 150, 1e-3: 150})
    for seed in (1, 2):  # the runner-up is far worse on test: a test-split judge would call it clear
        folder = tmp_path / f"lora-lr0.001-seed{seed}"
        rundir.write_jsonl(
            folder / "predictions.jsonl", prediction_rows("single_label", *single_label_answers(60, 0))
        )
    (chosen,) = comparing.compare([tmp_path]).selections
    assert chosen.choice["lora"] == "tie (p=1, 1)"


@pytest.mark.parametrize("task, metric", [("multi_label", "macro_f1"), ("single_label", "mcc")])
def test_compares_selection_never_reads_the_test_figures_whatever_the_metric(
    task, metric, tmp_path, monkeypatch
):
    sweep(tmp_path, task, metric, {1e-4: 120, 1e-3: 190})
    original = selection.run_result

    def blinded(name, record, recipe_text):
        result = original(name, record, recipe_text)
        return selection.RunResult(
            result.name, result.method, result.seed, result.settings, NoTestFigures(record)
        )

    monkeypatch.setattr(comparing.selection, "run_result", blinded)
    (chosen,) = comparing.compare([tmp_path]).selections  # raises if choosing touched a test figure
    assert chosen.selected["lora"].label == "train.lr=1e-3" and chosen.metric == metric


def test_a_selected_configuration_whose_model_predicts_one_class_is_flagged_in_its_row(tmp_path):
    answers = single_label_answers(40, 30)
    contract_run(tmp_path, "full-1", "single_label", "accuracy", *answers, method="full", validation=answers)
    contract_run(
        tmp_path, "lora-1", "single_label", "accuracy", *answers, validation=answers, warnings=(ONE_CLASS,)
    )
    result = comparing.compare([tmp_path])
    table = selection.selection_table(result.selections[0])
    selected_rows = table.split("### Every configuration")[0].splitlines()
    (lora_row,) = [row for row in selected_rows if row.startswith("| lora |")]
    (full_row,) = [row for row in selected_rows if row.startswith("| full |")]
    assert "⚠ one-class" in lora_row and "⚠ one-class" not in full_row
    assert json.loads(exports.to_json(result))["selection"][0]["selected"]["lora"]["predicts_one_class"]


# --- notes, summaries, exports and the report ----------------------------------------------------------


def test_a_warning_recorded_in_data_notes_and_warnings_lists_each_run_once(tmp_path):
    # A run copies its data warnings into `warnings`, so the same note sits in both lists.
    note = "warning: data.eval_split: no eval examples of label 'science'"
    for seed in (1, 2):
        folder = fake_run(tmp_path, "lora", 1e-4, seed, 0.8, 30)
        rewrite_metrics(
            folder, lambda m: m.update(data={**m["data"], "notes": [note]}, warnings=[note, ONE_CLASS])
        )
    lines = exports.notes(comparing.compare([tmp_path], sort="name"))
    assert f"lora-lr0.0001-seed1, lora-lr0.0001-seed2: {note}" in lines
    assert sum(note in line for line in lines) == 1


def test_seed_summaries_give_the_mean_and_std_of_the_headline_score_naming_the_metric(tmp_path):
    sweep(tmp_path, "multi_label", "macro_f1", {1e-4: 150})
    (summary,) = comparing.compare([tmp_path]).seed_summaries
    assert summary["metric"] == "macro_f1" and summary["seeds"] == [1, 2] and summary["score_std"] == 0.0
    (line,) = [line for line in exports.notes(comparing.compare([tmp_path])) if "over seeds" in line]
    assert line.endswith(f"macro_f1 {summary['score_mean']:.3f} ± 0.000 (mean ± std)")


def test_the_json_export_keeps_bootstrap_tests_out_of_the_mcnemar_lists(tmp_path):
    sweep(tmp_path, "multi_label", "macro_f1", {1e-4: 150, 1e-3: 100})
    contract_run(
        tmp_path,
        "full-1",
        "multi_label",
        "macro_f1",
        *multi_label_answers(60, 50),
        method="full",
        validation=multi_label_answers(200, 150),
    )
    exported = json.loads(exports.to_json(comparing.compare([tmp_path])))
    assert exported["pairwise_mcnemar"] == [] and exported["selected_mcnemar"] == []
    assert {t["test"] for t in exported["pairwise_tests"]} == {"paired bootstrap"}
    (test,) = exported["selected_tests"]
    assert [s["seed"] for s in test["per_seed"]] == [1] and {"difference", "ci95"} <= test["per_seed"][
        0
    ].keys()
    assert exported["selection"][0]["metric"] == "macro_f1"


def test_a_report_of_two_metrics_draws_a_chart_per_metric_and_a_panel_per_validation_metric(tmp_path):
    sweep(tmp_path / "runs", "multi_label", "macro_f1", {1e-4: 150, 1e-3: 100})
    answers, on_validation = multi_label_answers(60, 50), multi_label_answers(200, 150)
    contract_run(
        tmp_path / "runs",
        "full-1",
        "multi_label",
        "macro_f1",
        *answers,
        method="full",
        validation=on_validation,
    )
    fake_run(tmp_path / "runs", "full", 2e-5, 1, 0.8, 30)
    written = write_report(comparing.compare([tmp_path / "runs"]), tmp_path / "report")
    names = {p.name for p in written}
    assert {"macro_f1.png", "accuracy.png", "selected_macro_f1.png", "selected_accuracy.png"} <= names
    assert {"macro_f1_vs_trainable.png", "validation.png"} <= names
    report = (tmp_path / "report" / "report.md").read_text()
    assert "## Pairwise paired-bootstrap tests (same eval set, task and metric)" in report
    assert "### Paired bootstrap tests of macro_f1 between the selected configurations" in report
