"""Each task's metrics against small cases worked out by hand, and the headline score every table ranks by."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from runner import registry
from runner.scoring.task_metrics import as_arrays, metric_value, task_metrics
from runner.tasks.scores import classification_metrics, multi_label_metrics, regression_metrics
from runner.tasks.stats import wilson_interval

TASKS = tuple(registry.TASKS)
TASK_METRICS = {task: registry.task(task).metrics for task in TASKS}
DEFAULT_METRIC = {task: metrics[0] for task, metrics in TASK_METRICS.items()}

# gold by row, predicted by column: [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
SINGLE_GOLD = [0, 0, 1, 1, 2, 2]
SINGLE_PREDICTED = [0, 1, 1, 1, 2, 0]
# labels a, b, c: a exact; b found once of twice; c predicted once wrongly
MULTI_GOLD = [[0, 1], [1], [], [2]]
MULTI_PREDICTED = [[0], [1, 2], [], [2]]
REGRESSION_GOLD = [1.0, 2.0, 3.0, 4.0]
REGRESSION_PREDICTED = [2.0, 4.0, 5.0, 4.0]


def test_the_tasks_and_their_default_metrics():
    assert TASKS == ("single_label", "multi_label", "regression")
    assert DEFAULT_METRIC == {"single_label": "accuracy", "multi_label": "macro_f1", "regression": "pearson"}
    assert set(TASK_METRICS["single_label"]) == {"accuracy", "macro_f1", "mcc", "balanced_accuracy"}
    assert set(TASK_METRICS["multi_label"]) == {"macro_f1", "micro_f1"}


def test_single_label_metrics_match_a_hand_count():
    m = classification_metrics(SINGLE_GOLD, SINGLE_PREDICTED, 3)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert (m["correct"], m["total"], m["accuracy"]) == (4, 6, pytest.approx(4 / 6))
    assert m["accuracy_ci95"] == pytest.approx(list(wilson_interval(4, 6)))
    # precision/recall per class: 0: 1/2, 1/2; 1: 2/3, 1; 2: 1, 1/2 -> F1 1/2, 4/5, 2/3
    assert [c["f1"] for c in m["per_class"]] == pytest.approx([0.5, 0.8, 2 / 3])
    assert [c["support"] for c in m["per_class"]] == [2, 2, 2] and m["per_class"][1]["label"] == 1
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert m["macro_precision"] == pytest.approx((0.5 + 2 / 3 + 1) / 3)
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    # Gorodkin: (c·s - Σ t_k p_k) / sqrt((s² - Σ p_k²)(s² - Σ t_k²)), t = (2, 2, 2), p = (2, 3, 1)
    assert m["mcc"] == pytest.approx((4 * 6 - (4 + 6 + 2)) / math.sqrt((36 - 14) * (36 - 12)))


def test_two_class_mcc_is_the_textbook_formula():
    gold = [1] * 10 + [0] * 10
    predicted = [1] * 8 + [0] * 2 + [1] * 3 + [0] * 7  # tp 8, fn 2, fp 3, tn 7
    expected = (8 * 7 - 3 * 2) / math.sqrt((8 + 3) * (8 + 2) * (7 + 3) * (7 + 2))
    assert classification_metrics(gold, predicted, 2)["mcc"] == pytest.approx(expected)


def test_balanced_accuracy_averages_only_the_classes_in_the_gold_answers():
    m = classification_metrics([0, 0, 1], [0, 2, 1], 3)
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1.0) / 2)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)  # the macro averages keep every label


def test_mcc_of_a_model_that_predicts_one_class_is_0_not_nan():
    assert classification_metrics([0, 1, 1, 0], [1, 1, 1, 1], 2)["mcc"] == 0.0


def test_multi_label_metrics_match_a_hand_count():
    m = multi_label_metrics(MULTI_GOLD, MULTI_PREDICTED, ["a", "b", "c"])
    assert [(c["label"], c["precision"], c["recall"], c["support"]) for c in m["per_label"]] == [
        ("a", 1.0, 1.0, 1),
        ("b", 1.0, 0.5, 2),
        ("c", 0.5, 1.0, 1),
    ]
    assert [c["f1"] for c in m["per_label"]] == pytest.approx([1, 2 / 3, 2 / 3])
    # pooled: 3 true positives of 4 predicted and 4 gold
    assert (m["micro_precision"], m["micro_recall"], m["micro_f1"]) == pytest.approx((0.75, 0.75, 0.75))
    assert m["macro_f1"] == pytest.approx(7 / 9) and m["macro_recall"] == pytest.approx(2.5 / 3)
    assert m["subset_accuracy"] == 0.5 and m["hamming_loss"] == pytest.approx(2 / 12) and m["total"] == 4


def test_multi_label_metrics_take_0_1_arrays_as_well_as_id_lists():
    gold, predicted = as_arrays("multi_label", MULTI_GOLD, MULTI_PREDICTED, 3)
    assert gold.tolist()[0] == [True, True, False]
    from_arrays = multi_label_metrics(gold.astype(int), predicted.astype(int), ["a", "b", "c"])
    assert from_arrays == multi_label_metrics(MULTI_GOLD, MULTI_PREDICTED, ["a", "b", "c"])


def test_a_multi_label_id_outside_the_labels_is_refused():
    with pytest.raises(ValueError, match="row 1"):
        multi_label_metrics([[0], [3]], [[0], [1]], ["a", "b"])


def test_regression_metrics_match_a_hand_count():
    m = regression_metrics(REGRESSION_GOLD, REGRESSION_PREDICTED)
    # deviations x (-1.5, -.5, .5, 1.5), y (-1.75, .25, 1.25, .25): Σxy 3.5, Σx² 5, Σy² 4.75
    assert m["pearson"] == pytest.approx(3.5 / math.sqrt(5 * 4.75))
    # ranks of y (1, 2.5, 4, 2.5), the tie sharing its mean rank: Σxy 3, Σy² 4.5
    assert m["spearman"] == pytest.approx(3 / math.sqrt(5 * 4.5))
    assert (m["rmse"], m["mae"], m["total"]) == (1.5, 1.25, 4)


def test_constant_predictions_have_correlation_0_not_nan():
    m = regression_metrics(REGRESSION_GOLD, [3.0] * 4)
    assert (m["pearson"], m["spearman"]) == (0.0, 0.0)


CASES = {
    "single_label": (SINGLE_GOLD, SINGLE_PREDICTED, ["x", "y", "z"]),
    "multi_label": (MULTI_GOLD, MULTI_PREDICTED, ["a", "b", "c"]),
    "regression": (REGRESSION_GOLD, REGRESSION_PREDICTED, None),
}
EVERY_METRIC = [(task, metric) for task in TASKS for metric in TASK_METRICS[task]]


@pytest.mark.parametrize("task, metric", EVERY_METRIC)
def test_the_headline_score_is_the_full_metrics_value_with_an_interval_around_it(task, metric):
    gold, predicted, labels = CASES[task]
    m = task_metrics(task, metric, gold, predicted, labels)
    assert (m["metric"], m["score"]) == (metric, m[metric])
    gold_array, predicted_array = as_arrays(task, gold, predicted, None if labels is None else len(labels))
    assert metric_value(task, metric, gold_array, predicted_array, None if labels is None else 3) == (
        pytest.approx(m[metric])
    )
    low, high = m["score_ci95"]
    assert low <= m["score"] <= high


def test_accuracy_s_interval_is_wilson_and_the_others_are_a_seeded_bootstrap():
    gold, predicted, labels = CASES["single_label"]
    assert task_metrics("single_label", "accuracy", gold, predicted, labels)["score_ci95"] == list(
        wilson_interval(4, 6)
    )
    first = task_metrics("single_label", "macro_f1", gold * 20, predicted * 20, labels)["score_ci95"]
    assert first == task_metrics("single_label", "macro_f1", gold * 20, predicted * 20, labels)["score_ci95"]
    assert first[1] - first[0] > 0.05


def test_a_metric_of_another_task_is_refused():
    with pytest.raises(ValueError, match="not one of regression's"):
        task_metrics("regression", "accuracy", REGRESSION_GOLD, REGRESSION_PREDICTED, None)


def test_a_single_label_macro_f1_on_a_resample_counts_every_label():
    gold, predicted = np.array([0, 0, 1]), np.array([0, 0, 1])
    assert metric_value("single_label", "macro_f1", gold, predicted) == 1.0
    assert metric_value("single_label", "macro_f1", gold, predicted, num_labels=4) == 0.5


def test_a_thousand_multi_label_scores_of_five_thousand_examples_take_a_couple_of_seconds():
    rng = np.random.default_rng(0)
    gold, predicted = rng.random((5000, 28)) < 0.1, rng.random((5000, 28)) < 0.1
    draws = rng.integers(0, 5000, size=(1000, 5000))
    started = time.perf_counter()
    for indices in draws:
        metric_value("multi_label", "macro_f1", gold[indices], predicted[indices])
    assert time.perf_counter() - started < 4.0  # ~0.7 s alone; the margin is for a busy machine
