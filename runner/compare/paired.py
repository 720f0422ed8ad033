"""Is run a better than run b on the examples both answered? The test fits the metric.

A metric that counts right answers (the task's `exact_match_metrics`: accuracy): the exact McNemar
test on paired correctness (which examples only a, or only b, got right). Every other metric is not a
sum over examples, so the paired bootstrap of the metric's difference takes
its place (1000 resamples, seed 0): both runs are scored on the same resampled examples each time.
Either way the result carries `p_value` and `significant`, which the tables read alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from runner import registry
from runner.rundir.finished import Outputs
from runner.scoring.task_metrics import as_arrays, metric_value
from runner.tasks import stats

SIGNIFICANCE = 0.05
MCNEMAR = "McNemar"
BOOTSTRAP = "paired bootstrap"


def paired_test_name(task: str, metric: str) -> str:
    """The test that compares two runs of `task` scored by `metric`."""
    return MCNEMAR if metric in registry.task(task).exact_match_metrics else BOOTSTRAP


class PairedTests:
    """Tests between runs of one task and metric on one split: `tests(a, b)` by run name.

    A group of runs answers the same examples, and the bootstrap's draws depend only on their number
    and the seed, so each run's resampled scores are computed once and reused by every pair it is in:
    all pairs of a group cost one bootstrap per run, not one per pair.
    """

    def __init__(self, task: str, metric: str, outputs: dict[str, Outputs], num_labels: int | None = None):
        self.task, self.metric, self.outputs = task, metric, outputs
        # As many labels as the runs record, or more where an answer names a higher label id.
        seen = _labels_seen(outputs.values()) if registry.task(task).has_classes else None
        self.num_labels = None if seen is None else max(num_labels or 0, seen)
        first = next(iter(outputs.values()), {})
        self.order = list(first)  # the examples in one fixed order, for runs that answered all of them
        self._resampled: dict[str, tuple[float, np.ndarray]] = {}
        self._right: dict[str, dict[Any, bool]] = {}

    def __call__(self, a: str, b: str) -> dict[str, Any]:
        """a against b, on the examples both answered (none shared: no evidence, p = 1)."""
        shared = [key for key in self.outputs[a] if key in self.outputs[b]]
        if paired_test_name(self.task, self.metric) == MCNEMAR:
            return self._mcnemar(a, b, shared)
        if not shared:
            found = stats.paired_difference(0.0, np.array([]))
        elif self._answers_all(a) and self._answers_all(b):
            score_a, resampled_a = self._resampled_scores(a)
            score_b, resampled_b = self._resampled_scores(b)
            found = stats.paired_difference(score_a - score_b, resampled_a - resampled_b)
        else:
            found = stats.paired_bootstrap(
                self._statistic(a, shared), self._statistic(b, shared), len(shared)
            )
        return {
            "test": BOOTSTRAP,
            "metric": self.metric,
            **found,
            "examples": len(shared),
            "significant": found["p_value"] < SIGNIFICANCE,
        }

    def _mcnemar(self, a: str, b: str, shared: list[Any]) -> dict[str, Any]:
        right_a, right_b = self._correct(a), self._correct(b)
        only_a = sum(1 for i in shared if right_a[i] and not right_b[i])
        only_b = sum(1 for i in shared if right_b[i] and not right_a[i])
        p = stats.mcnemar_p_value(only_a, only_b)
        return {
            "test": MCNEMAR,
            "only_a_right": only_a,
            "only_b_right": only_b,
            "p_value": p,
            "significant": p < SIGNIFICANCE,
        }

    def _correct(self, name: str) -> dict[Any, bool]:
        if name not in self._right:
            self._right[name] = {key: gold == pred for key, (gold, pred) in self.outputs[name].items()}
        return self._right[name]

    def _answers_all(self, name: str) -> bool:
        outputs = self.outputs[name]
        return len(outputs) == len(self.order) and all(key in outputs for key in self.order)

    def _statistic(self, name: str, keys: list[Any]) -> stats.Statistic:
        outputs = self.outputs[name]
        gold, predicted = as_arrays(
            self.task, [outputs[k][0] for k in keys], [outputs[k][1] for k in keys], self.num_labels
        )

        def statistic(indices: np.ndarray) -> float:
            return metric_value(self.task, self.metric, gold[indices], predicted[indices], self.num_labels)

        return statistic

    def _resampled_scores(self, name: str) -> tuple[float, np.ndarray]:
        """The run's score on all the group's examples, and on each resample of them."""
        if name not in self._resampled:
            statistic = self._statistic(name, self.order)
            draws = stats.resample_indices(len(self.order))
            resampled = np.array([statistic(indices) for indices in draws])
            self._resampled[name] = (statistic(np.arange(len(self.order))), resampled)
        return self._resampled[name]


def _labels_seen(runs: Any) -> int:
    """One more than the highest label id any run answered or was asked: the labels a classification
    run's metrics count, where its metrics.json does not say."""
    highest = 0
    for outputs in runs:
        for gold, predicted in outputs.values():
            answers = [*gold, *predicted] if isinstance(gold, tuple) else [gold, predicted]  # label sets
            highest = max(highest, *answers) if answers else highest
    return highest + 1
