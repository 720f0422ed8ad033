"""A run's record (metrics.json) is built by pure functions of what the run produced."""

from __future__ import annotations

from pathlib import Path

from runner.recipe import reading as recipes
from runner.rundir.record import Environment
from runner.scoring.run_results import parameters, prediction_warnings, run_record, training_cost
from runner.scoring.task_metrics import task_metrics
from runner.training.checkpoints import TrainingState

LABELS = ["negative", "positive"]
ENVIRONMENT = Environment(
    precision="bf16",
    dropout_kernel="ftrun-cpu",
    attention={"training": "ftrun_eager", "serving": "sdpa"},
    device="cpu (test, 2 cores)",
    peak_memory_mb={"process_rss": 100.0},
)


def metrics(predicted, gold=(0, 1, 0, 1), notes=()):
    recipe = recipes.build({"train": {"batch_size": 4, "gradient_accumulation": 3}})
    state = TrainingState(steps=5, epoch=2, examples=40, tokens=400, seconds=4.0)
    return run_record(
        recipe=recipe,
        recipe_path=Path("r.toml"),
        run_name="r",
        model_path="m",
        pooling="mean",
        data_description={"notes": list(notes), "eval_size": len(gold)},
        scored={
            **task_metrics("single_label", "accuracy", list(gold), list(predicted), LABELS),
            "prediction_warnings": prediction_warnings(list(gold), list(predicted), LABELS),
        },
        validation=None,
        latencies=(None, None),
        train=training_cost(recipe, state, feature_seconds=1.0, processes=2),
        params=parameters(10, 40),
        environment=ENVIRONMENT,
    ).to_json()


def test_metrics_count_training_cost_with_feature_extraction_and_processes():
    m = metrics([0, 1, 1, 1])
    assert m["accuracy"] == 0.75 and m["confusion_matrix"] == [[1, 1], [0, 2]]
    assert m["train"]["seconds"] == 5.0 and m["train"]["examples_per_s"] == 10.0
    assert m["train"]["effective_batch_size"] == 4 * 2 * 3
    assert m["params"]["trainable_fraction"] == 0.25


def test_a_model_predicting_one_class_for_everything_is_warned_about():
    assert metrics([1, 1, 1, 1])["warnings"][0].startswith("warning: the model predicts 'positive' for 100%")
    assert metrics([0, 1, 0, 1])["warnings"] == []


def test_one_class_predictions_on_a_one_class_eval_set_are_not_a_warning():
    assert prediction_warnings([1, 1, 1], [1, 1, 1], LABELS) == []


def test_data_warnings_are_carried_into_the_runs_warnings():
    m = metrics([0, 1, 0, 1], notes=["warning: 3 eval texts also appear in the train split", "embedded IMDb"])
    assert m["warnings"] == ["warning: 3 eval texts also appear in the train split"]


def test_metrics_record_the_dropout_and_attention_kernels_the_run_used():
    m = metrics([0, 1, 0, 1])
    assert m["dropout_kernel"] == "ftrun-cpu"
    assert m["attention"] == {"training": "ftrun_eager", "serving": "sdpa"}
