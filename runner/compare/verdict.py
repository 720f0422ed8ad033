"""The verdict of a group of like runs: which method is worth it, against the best one.

The best method is the one whose selected configuration scores highest on validation, among those
not flagged as under-tuned (`runner.compare.undertuned`); the test split never chooses. Every other
method's test difference from it, with a 95% interval over seeds and examples, is read against the
margin (`runner.compare.equivalence`); its costs are shown as ratios to the best's; the Pareto front
says which methods no other beats on score and every cost at once; and the recommendation is the
cheapest method equivalent to the best (or better), or the best itself with the reason. The words are
`runner.compare.verdict_text`'s.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from runner.compare import equivalence
from runner.compare.configurations import Configuration, seed_pairs
from runner.compare.equivalence import Difference
from runner.compare.undertuned import NOT_TUNED, Flag
from runner.errors import RecipeError
from runner.recipe import identity, margins
from runner.rundir.finished import Run
from runner.scoring.task_metrics import as_arrays, metric_value

BEST = "best"
NO_PAIR = "no shared seed"
# (key, what it is, lower is better): each selected configuration's median over its seeds.
COSTS = (
    ("train_seconds", "training time", True),
    ("peak_memory_mb", "peak memory", True),
    ("latency_ms", "batch-1 latency", True),
    ("throughput", "throughput", False),
    ("trainable", "trainable parameters", True),
    ("stored_mb", "stored per task", True),
)
PARETO_COSTS = tuple(key for key, _, lower in COSTS if lower)


@dataclass
class MethodVerdict:
    method: str
    configuration: str
    seeds: int
    validation: float | None
    test_mean: float
    reading: str  # best, equivalent, better, worse, inconclusive, no shared seed, not tuned enough
    difference: Difference | None = None
    costs: dict[str, float | None] = field(default_factory=dict)
    flags: list[Flag] = field(default_factory=list)
    dominated: bool = False

    @property
    def ranked(self) -> bool:
        return self.reading != NOT_TUNED


@dataclass
class Verdict:
    group: int
    metric: str
    margin: float
    margin_source: str  # how the margin was set, in words
    methods: list[MethodVerdict]  # the best first, then as selection lists them
    best: str | None = None
    recommended: str | None = None

    def ratio(self, method: MethodVerdict, key: str) -> float | None:
        """The method's cost as a multiple of the best's."""
        best = next((m for m in self.methods if m.method == self.best), None)
        mine, theirs = method.costs.get(key), None if best is None else best.costs.get(key)
        return None if mine is None or not theirs else mine / theirs


def check_margin(margin: float | None, metrics: list[str]) -> None:
    """`--margin` must fit every headline metric compared: a user error before any work."""
    if margin is None:
        return
    for metric in metrics:
        problem = margins.margin_problem(metric, margin, "--margin")
        if problem:
            raise RecipeError(problem)


def judge(
    number: int,
    runs: list[Run],
    selected: dict[str, Configuration],
    flagged: dict[str, list[Flag]],
    margin: float | None = None,
    may_improve: dict[str, list[Flag]] | None = None,
) -> Verdict | None:
    """The verdict on one group's selected configurations; None where nothing was selected.
    `flagged`: methods not tuned enough, not ranked; `may_improve`: ranked, their signs kept as a note."""
    if not selected:
        return None
    by_name = {run.name: run for run in runs}
    metric = next(iter(selected.values())).metric
    ranked = {m: c for m, c in selected.items() if m not in flagged}
    best = max(ranked, key=lambda m: ranked[m].validation_mean or -math.inf) if ranked else None
    value, source = margin_given(metric, margin, [by_name[r.name] for c in selected.values() for r in c.runs])
    # Test figures are read from the runs, after the choice (selection's own records may be blinded).
    test_mean = {m: statistics.fmean(by_name[r.name].score for r in c.runs) for m, c in selected.items()}
    if best is not None and margins.is_error(metric) and not value:
        value = margins.default_margin(metric, test_mean[best])
    differences = _Differences(runs, metric)
    found = []
    for method, chosen in selected.items():
        verdict = MethodVerdict(
            method,
            chosen.label,
            len(chosen.runs),
            chosen.validation_mean,
            test_mean[method],
            NOT_TUNED if method in flagged else BEST,
            costs=_costs(chosen, by_name),
            flags=flagged.get(method) or (may_improve or {}).get(method, []),
        )
        if verdict.ranked and method != best and best is not None:
            pairs = seed_pairs(chosen, selected[best])
            if pairs:
                verdict.difference = differences(pairs)
                verdict.reading = equivalence.reading(verdict.difference, value)
            else:
                verdict.reading = NO_PAIR
        found.append(verdict)
    found.sort(key=lambda v: v.method != best)
    mark_dominated([v for v in found if v.ranked])
    result = Verdict(number, metric, value, source, found, best)
    result.recommended = recommended(result)
    return result


def recommended(verdict: Verdict) -> str | None:
    """The cheapest method at least as good as the best (equivalent or better): the lowest geometric
    mean of its cost ratios to the best's, each cost counted once; the best where none is."""
    if verdict.best is None:
        return None
    good = [m for m in verdict.methods if m.reading in (BEST, equivalence.EQUIVALENT, equivalence.BETTER)]

    def cost(method: MethodVerdict) -> float:
        ratios = [r for key in PARETO_COSTS if (r := verdict.ratio(method, key))]
        return math.exp(statistics.fmean(math.log(r) for r in ratios)) if ratios else 1.0

    return min(good, key=lambda m: (cost(m), m.reading != BEST)).method


def mark_dominated(methods: list[MethodVerdict]) -> None:
    """A method is dominated where another scores at least as well on test and costs no more on every
    cost both measured, and is strictly better on one of them."""
    for method in methods:
        method.dominated = any(dominates(other, method) for other in methods if other is not method)


def dominates(a: MethodVerdict, b: MethodVerdict) -> bool:
    shared = [k for k in PARETO_COSTS if a.costs.get(k) is not None and b.costs.get(k) is not None]
    if a.test_mean < b.test_mean or any(a.costs[k] > b.costs[k] for k in shared):  # type: ignore[operator]
        return False
    return a.test_mean > b.test_mean or any(a.costs[k] < b.costs[k] for k in shared)  # type: ignore[operator]


def stored_mb(folder: Path) -> float | None:
    """What a task needs on disk beyond the shared base: an adapter's folder (`model/adapter/`, without
    the base saved beside it), or else the whole saved model; None where no model was saved."""
    model = folder / "model"
    adapter = model / "adapter"
    if adapter.is_dir():
        files = [p for p in adapter.rglob("*") if p.is_file() and "base" not in p.relative_to(adapter).parts]
    elif model.is_dir():
        files = [p for p in model.rglob("*") if p.is_file()]
    else:
        return None
    return sum(p.stat().st_size for p in files) / 1e6


def margin_given(metric: str, given: float | None, runs: list[Run]) -> tuple[float, str]:
    """The margin and how it was set: `--margin`, else the runs' `compare.margin`, else the metric's
    default (0 for an error metric, whose default depends on the best method's score)."""
    if given is not None:
        return given, "set by --margin"
    recorded = sorted(
        {
            value
            for run in runs
            if isinstance(value := (identity.settings(run.recipe_text) or {}).get("compare.margin"), float)
            and value > 0
        }
    )
    if recorded:
        several = f"; the runs' recipes also give {', '.join(map(str, recorded[1:]))}" if recorded[1:] else ""
        return recorded[0], f"compare.margin in the runs' recipes{several}"
    return margins.default_margin(metric), margins.why_default(metric)


def _costs(chosen: Configuration, by_name: dict[str, Run]) -> dict[str, float | None]:
    runs = [by_name[r.name] for r in chosen.runs]

    def median(values: list[Any]) -> float | None:
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return float(statistics.median(numbers)) if numbers else None

    latencies = [run.record.latency or {} for run in runs]
    peaks = [run.record.environment.peak_memory_mb or {} for run in runs]
    return {
        "train_seconds": median([run.record.train.seconds for run in runs]),
        "peak_memory_mb": median([p.get("gpu", p.get("process_rss")) for p in peaks]),
        "latency_ms": median([lat.get("batch1_ms_p50") for lat in latencies]),
        "throughput": median([lat.get("throughput_examples_per_s") for lat in latencies]),
        "trainable": median([run.record.params.trainable for run in runs]),
        "stored_mb": median([stored_mb(run.folder) for run in runs]),
    }


class _Differences:
    """The hierarchical bootstrap of one group: one draw of the test examples shared by every run,
    each run's resampled scores computed once."""

    def __init__(self, runs: list[Run], metric: str):
        self.runs = {run.name: run for run in runs}
        self.metric, self.task = metric, runs[0].task
        labels = [run.num_labels for run in runs if run.num_labels is not None]
        self.num_labels = max(labels) if labels else None
        shared = set.intersection(*(set(run.outputs_by_id) for run in runs))
        self.order = [key for key in runs[0].outputs_by_id if key in shared]
        self.draws = equivalence.example_draws(len(self.order))
        self.cache: dict[str, tuple[float, np.ndarray]] = {}

    def __call__(self, pairs: list[tuple[str, str]]) -> Difference:
        scored = [(self._scores(a), self._scores(b)) for a, b in pairs]
        per_pair = np.array([a[1] - b[1] for a, b in scored])
        return equivalence.combined([a[0] - b[0] for a, b in scored], per_pair, len(self.order))

    def _scores(self, name: str) -> tuple[float, np.ndarray]:
        if name not in self.cache:
            outputs = self.runs[name].outputs_by_id
            gold, predicted = as_arrays(
                self.task,
                [outputs[k][0] for k in self.order],
                [outputs[k][1] for k in self.order],
                self.num_labels,
            )

            def score(indices: np.ndarray) -> float:
                return metric_value(
                    self.task, self.metric, gold[indices], predicted[indices], self.num_labels
                )

            self.cache[name] = (score(np.arange(len(self.order))), np.array([score(d) for d in self.draws]))
        return self.cache[name]
