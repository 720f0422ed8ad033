"""What selection compares: runs as it sees them (`RunResult`), grouped into configurations (a resolved
recipe without `train.seed` and `output.*`: its runs are the seeds), and a configuration's test figures
over its seeds (`reported`), read only once it has been chosen or listed.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from typing import Any

from runner.recipe import identity
from runner.recipe.spelling import compact_number
from runner.rundir.record import RunRecord
from runner.tasks.stats import wilson_interval

# The seed experiment's order; other methods follow alphabetically.
METHOD_ORDER = ("full", "lora", "linear", "prompt-linear")
# How run_results words a model that predicts (nearly) one class for everything.
ONE_CLASS_WARNING = "warning: the model predicts"
ONE_CLASS_FLAG = "⚠ one-class"


@dataclass(frozen=True)
class RunResult:
    name: str
    method: str
    seed: Any
    settings: dict[str, Any]  # the resolved recipe flattened to "section.key", minus seed and output
    record: RunRecord

    @property
    def configuration(self) -> str:
        return identity.configuration_key(self.settings)

    @property
    def metric(self) -> str:
        return self.record.metric

    @property
    def validation_score(self) -> float | None:
        return self.record.validation_score

    @property
    def predicts_one_class(self) -> bool:
        warnings = self.record.warnings
        return isinstance(warnings, list) and any(
            isinstance(w, str) and w.startswith(ONE_CLASS_WARNING) for w in warnings
        )


@dataclass
class Configuration:
    method: str
    runs: list[RunResult]
    label: str = ""  # what sets it apart from the method's other configurations, e.g. train.lr=3e-4

    @property
    def metric(self) -> str:
        return self.runs[0].metric

    @property
    def validation_scores(self) -> list[float]:
        return [s for s in (run.validation_score for run in self.runs) if s is not None]

    @property
    def validation_mean(self) -> float | None:
        scores = self.validation_scores
        return statistics.fmean(scores) if scores else None

    @property
    def shown_label(self) -> str:
        """The label, flagged where a seed's model predicts one class for (nearly) everything."""
        flagged = any(run.predicts_one_class for run in self.runs)
        return f"{self.label} {ONE_CLASS_FLAG}" if flagged else self.label


@dataclass
class Reported:
    """A configuration's test figures over its seeds, read only once it has been chosen or listed."""

    metric: str
    scores: list[float]  # the headline score per seed
    mean: float
    std: float | None  # None with a single seed
    ci95: tuple[float, float] | None
    latency_ms: float | None = None  # batch-1 p50 as served (adapters merged), median over seeds
    latency_unmerged_ms: float | None = None  # adapter methods: adapters kept apart from the base


def run_result(name: str, record: RunRecord, recipe_text: str) -> RunResult:
    """A run as selection sees it, from its record and resolved recipe.toml."""
    settings = identity.configuration(recipe_text, name)
    return RunResult(
        name, record.method or str(settings.get("method.name", "?")), record.seed, settings, record
    )


def configurations(runs: list[RunResult]) -> list[Configuration]:
    """Runs grouped by method and configuration; each labelled by the keys its method's configs vary in."""
    grouped: dict[tuple[str, str], list[RunResult]] = {}
    for run in sorted(runs, key=lambda r: r.name):
        grouped.setdefault((run.method, run.configuration), []).append(run)
    found = [Configuration(method, group) for (method, _), group in grouped.items()]
    for method in {c.method for c in found}:
        of_method = [c for c in found if c.method == method]
        varying = _varying_keys([c.runs[0].settings for c in of_method])
        for configuration in of_method:
            settings = configuration.runs[0].settings
            configuration.label = ", ".join(f"{k}={_shown(settings.get(k))}" for k in varying) or "as recipe"
    return sorted(found, key=_listing_order)


def reported(configuration: Configuration) -> Reported:
    """The test score over seeds: mean ± std, and a 95% interval for the test set's sampling error.

    Accuracy: Wilson's interval at the mean, for a model as accurate as the seeds' mean. Other metrics
    have no closed form; the interval is the mean of the seeds' own bootstrap intervals (`score_ci95`),
    the sampling error of a typical seed's model, centred near the mean. Either way the seeds share one
    test set, so pooling their examples would overstate the evidence; the seed spread is the std.
    """
    metric = configuration.metric
    scores = [run.record.score for run in configuration.runs]
    mean = statistics.fmean(scores)
    ci = None
    if metric == "accuracy":
        totals = [run.record.scores.get("total") for run in configuration.runs]
        if all(isinstance(t, int) and t > 0 for t in totals):
            total = round(statistics.fmean(t for t in totals if t))
            ci = wilson_interval(round(mean * total), total)
    else:
        intervals = [run.record.scores.score_ci95 for run in configuration.runs]
        if all(intervals):
            ci = (
                statistics.fmean(i[0] for i in intervals if i),
                statistics.fmean(i[1] for i in intervals if i),
            )
    std = statistics.stdev(scores) if len(scores) > 1 else None
    return Reported(
        metric,
        scores,
        mean,
        std,
        ci,
        _median_p50(configuration, "latency"),
        _median_p50(configuration, "latency_unmerged"),
    )


def _median_p50(configuration: Configuration, key: str) -> float | None:
    values = [
        latency["batch1_ms_p50"]
        for latency in (getattr(run.record, key) for run in configuration.runs)
        if isinstance(latency, dict) and isinstance(latency.get("batch1_ms_p50"), (int, float))
    ]
    return statistics.median(values) if values else None


def seed_pairs(a: Configuration, b: Configuration) -> list[tuple[str, str]]:
    """Run names of `a` and `b` with the same training seed: the pairs a paired test compares."""
    by_seed = {run.seed: run.name for run in b.runs}
    return [(run.name, by_seed[run.seed]) for run in a.runs if run.seed in by_seed]


def ordered_methods(methods: set[str]) -> list[str]:
    return sorted(methods, key=lambda m: (_method_rank(m), m))


def _listing_order(configuration: Configuration) -> tuple[int, str, float, str]:
    return (
        _method_rank(configuration.method),
        configuration.method,
        # scores can be negative (MCC, correlations): a configuration without one sorts last
        -(configuration.validation_mean if configuration.validation_mean is not None else float("-inf")),
        configuration.label,
    )


def _method_rank(method: str) -> int:
    return METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)


def _varying_keys(settings: list[dict[str, Any]]) -> list[str]:
    keys = sorted({k for s in settings for k in s})
    return [k for k in keys if len({json.dumps(s.get(k), default=str) for s in settings}) > 1]


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return compact_number(value)
    return json.dumps(value) if not isinstance(value, (int, str)) else str(value)
