"""Selection: chosen on validation accuracy over seeds, reported on test, never chosen on test."""

from __future__ import annotations

import dataclasses

import pytest

from runner import registry
from runner.compare import selection
from runner.rundir.record import RunRecord

TASKS = tuple(registry.TASKS)
TASK_METRICS = {task: registry.task(task).metrics for task in TASKS}


def run(
    method: str, lr: float, seed: int, validation: float | None, test: float, total: int = 1000
) -> selection.RunResult:
    recipe = (
        f'[method]\nname = "{method}"\n[train]\nlr = {lr}\nseed = {seed}\n'
        f'[output]\ndir = "outputs/sweep"\nrun_name = "{method}-{lr}-{seed}"\n'
    )
    metrics = {
        "method": method,
        "seed": seed,
        "accuracy": test,
        "correct": round(test * total),
        "total": total,
    }
    if validation is not None:
        metrics["validation"] = {"accuracy": validation}
    return selection.run_result(f"{method}-lr{lr}-seed{seed}", RunRecord.from_json(metrics), recipe)


EVERY_METRIC = [(task, metric) for task in TASKS for metric in TASK_METRICS[task]]


class BlindScores:
    """Scores whose test figures cannot be read: a chooser that touched them would fail. Which task and
    metric a run is scored by are not test figures."""

    def __init__(self, scores):
        self.task, self.metric = scores.task, scores.metric

    def __getattr__(self, name):
        raise AssertionError(f"selection read the test figure {name!r}")

    def get(self, name, default=None):
        raise AssertionError(f"selection read the test figure {name!r}")


def NoTestFigures(record):  # noqa: N802 - reads as the wrapper it replaces
    """The record with its test scores blinded."""
    return dataclasses.replace(record, scores=BlindScores(record.scores))


def test_runs_differing_only_in_seed_and_output_form_one_configuration():
    runs = [run("lora", 1e-4, seed, 0.8, 0.8) for seed in (1, 2, 3)] + [run("lora", 1e-3, 1, 0.8, 0.8)]
    found = selection.configurations(runs)
    assert sorted(len(c.runs) for c in found) == [1, 3]
    assert {c.label for c in found} == {"train.lr=1e-4", "train.lr=1e-3"}


def test_the_configuration_with_the_best_mean_validation_accuracy_is_selected():
    runs = [
        run("lora", 1e-4, 1, 0.80, 0.80),
        run("lora", 1e-4, 2, 0.90, 0.80),  # mean 0.85
        run("lora", 1e-3, 1, 0.88, 0.80),
        run("lora", 1e-3, 2, 0.86, 0.80),  # mean 0.87: best on average, though not the best single run
    ]
    assert selection.select(runs).selected["lora"].label == "train.lr=1e-3"


def test_higher_test_accuracy_with_lower_validation_accuracy_is_not_selected():
    runs = [run("full", 2e-5, s, 0.90, 0.80) for s in (1, 2)] + [
        run("full", 5e-5, s, 0.85, 0.95) for s in (1, 2)
    ]
    chosen = selection.select(runs).selected["full"]
    assert chosen.label == "train.lr=2e-5"
    assert selection.reported(chosen).mean == pytest.approx(0.80)


def test_choosing_never_reads_the_test_figures():
    runs = [run("linear", lr, 1, 0.7 + lr, 0.5) for lr in (1e-3, 1e-2)]
    blinded = [
        selection.RunResult(r.name, r.method, r.seed, r.settings, NoTestFigures(r.record)) for r in runs
    ]
    assert selection.choose(selection.configurations(blinded))["linear"].label == "train.lr=1e-2"


def test_ties_are_broken_by_more_seeds_then_by_label_whatever_the_order_runs_come_in():
    runs = [run("lora", 1e-3, 1, 0.8, 0.5), run("lora", 1e-4, 1, 0.8, 0.5), run("lora", 1e-4, 2, 0.8, 0.5)]
    assert selection.select(runs).selected["lora"].label == "train.lr=1e-4"
    assert selection.select(runs[::-1]).selected["lora"].label == "train.lr=1e-4"
    even = [run("lora", 1e-3, 1, 0.8, 0.5), run("lora", 1e-4, 1, 0.8, 0.5)]
    assert (
        selection.select(even).selected["lora"].label == selection.select(even[::-1]).selected["lora"].label
    )


def test_each_method_is_selected_separately():
    runs = [
        run("full", 2e-5, 1, 0.9, 0.9),
        run("linear", 1e-3, 1, 0.7, 0.7),
        run("linear", 1e-2, 1, 0.75, 0.7),
    ]
    selected = selection.select(runs).selected
    assert list(selected) == ["full", "linear"] and selected["linear"].label == "train.lr=1e-2"


def test_a_method_without_validation_accuracy_is_not_selected_and_said_so():
    chosen = selection.select([run("full", 2e-5, 1, None, 0.9), run("lora", 1e-4, 1, 0.8, 0.8)])
    assert list(chosen.selected) == ["lora"] and chosen.unselectable == ["full"]
    assert "Not selected (no validation accuracy" in selection.selection_table(chosen)


def test_the_report_gives_test_mean_std_over_seeds_and_a_wilson_interval():
    runs = [run("lora", 1e-4, s, 0.8, test) for s, test in ((1, 0.80), (2, 0.84), (3, 0.82))]
    reported = selection.reported(selection.select(runs).selected["lora"])
    assert reported.mean == pytest.approx(0.82) and reported.std == pytest.approx(0.02)
    low, high = reported.ci95
    assert low < 0.82 < high and high - low == pytest.approx(0.0476, abs=0.002)  # 1,000 test examples


def test_a_single_seed_has_no_std():
    reported = selection.reported(selection.select([run("lora", 1e-4, 1, 0.8, 0.8)]).selected["lora"])
    assert reported.std is None


def test_seed_pairs_match_runs_of_two_configurations_by_training_seed():
    runs = [run("full", 2e-5, s, 0.9, 0.9) for s in (1, 2)] + [run("lora", 1e-4, s, 0.8, 0.8) for s in (2, 3)]
    chosen = selection.select(runs).selected
    assert selection.seed_pairs(chosen["full"], chosen["lora"]) == [
        ("full-lr2e-05-seed2", "lora-lr0.0001-seed2")
    ]


def test_the_markdown_section_says_it_chose_on_validation_and_lists_every_configuration():
    runs = [run("full", lr, s, 0.8 + lr, 0.7) for lr in (2e-5, 5e-5) for s in (1, 2)]
    text = selection.selection_table(selection.select(runs))
    assert text.startswith("## Selected per method (chosen on validation, reported on test)")
    assert "the test split was not used to choose" in text
    assert "| full | train.lr=5e-5 | 2 | 80.0% | 70.0% ± 0.0% |" in text
    grid = text.split("### Every configuration")[1]
    assert grid.count("| full |") == 2 and grid.count("| yes |") == 1


def scored_run(task: str, metric: str, lr: float, validation: float, test: float) -> selection.RunResult:
    """A run written with a headline score: `test` on the test split, `validation` on validation."""
    recipe = f'[method]\nname = "linear"\n[train]\nlr = {lr}\nseed = 1\n'
    metrics = {
        "method": "linear",
        "seed": 1,
        "task": task,
        "metric": metric,
        "score": test,
        "score_ci95": [test - 0.05, test + 0.05],
        metric: test,
        "validation": {"metric": metric, "score": validation},
    }
    return selection.run_result(f"linear-lr{lr}", RunRecord.from_json(metrics), recipe)


@pytest.mark.parametrize("task, metric", EVERY_METRIC)
def test_choosing_never_reads_the_test_figures_whatever_the_metric(task, metric):
    runs = [scored_run(task, metric, 1e-3, 0.6, 0.9), scored_run(task, metric, 1e-2, 0.7, 0.1)]
    blinded = [
        selection.RunResult(r.name, r.method, r.seed, r.settings, NoTestFigures(r.record)) for r in runs
    ]
    chosen = selection.select(blinded, paired_test=lambda a, b: None)
    assert chosen.selected["linear"].label == "train.lr=1e-2" and chosen.metric == metric
    reported = selection.reported(selection.select(runs).selected["linear"])
    assert reported.mean == pytest.approx(0.1)


def test_negative_validation_scores_are_chosen_by_the_highest_and_missing_ones_never():
    runs = [
        scored_run("single_label", "mcc", 1e-3, -0.30, 0.0),
        scored_run("single_label", "mcc", 1e-2, -0.10, 0.0),
        selection.run_result(
            "linear-none",
            RunRecord.from_json(
                {
                    "method": "linear",
                    "seed": 1,
                    "task": "single_label",
                    "metric": "mcc",
                    "score": 0.0,
                    "validation": None,
                }
            ),
            '[method]\nname = "linear"\n[train]\nlr = 0.1\n',
        ),
    ]
    chosen = selection.select(runs)
    assert chosen.selected["linear"].label == "train.lr=1e-2"
    assert [c.label for c in chosen.configurations][-1] == "train.lr=0.1"


def test_a_non_accuracy_test_interval_is_the_mean_of_the_seeds_bootstrap_intervals():
    runs = [scored_run("multi_label", "macro_f1", 1e-3, 0.6, test) for test in (0.5, 0.7)]
    runs[1] = selection.RunResult(runs[1].name, runs[1].method, 2, runs[1].settings, runs[1].record)
    reported = selection.reported(selection.select(runs).selected["linear"])
    assert reported.ci95 == pytest.approx((0.55, 0.65)) and reported.metric == "macro_f1"


def test_the_choice_is_a_tie_unless_most_paired_seeds_find_the_runner_up_significantly_worse():
    runs = [
        run("lora", lr, seed, validation, 0.8)
        for lr, validation in ((1e-4, 0.9), (1e-3, 0.8))
        for seed in (1, 2, 3)
    ]
    significant = {"lora-lr0.0001-seed1", "lora-lr0.0001-seed2"}

    def paired_test(a, b):
        return {"p_value": 0.01 if a in significant else 0.3, "significant": a in significant}

    assert selection.select(runs, paired_test).choice["lora"] == "clear"
    significant.discard("lora-lr0.0001-seed2")
    assert selection.select(runs, paired_test).choice["lora"] == "tie (p=0.01, 0.3, 0.3)"
    assert selection.select(runs).choice["lora"] == "–"  # nothing to test with
