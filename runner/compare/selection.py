"""Pick each method's configuration on validation accuracy, then report it on the test split.

A configuration is a resolved recipe without `train.seed` and `output.*`: its runs are the seeds.
Choosing reads only `metrics["validation"]["accuracy"]`; the test figures (`metrics["accuracy"]`,
`correct`, `total`) are read after the choice, to report it. Choosing on the reported split would
leak the choice into the number reported. Pure functions over run metrics; no files, no torch.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from typing import Any

from runner.recipe import identity
from runner.scoring.stats import wilson_interval
from runner.sweep.grid import compact_number

# The seed experiment's order; other methods follow alphabetically.
METHOD_ORDER = ("full", "lora", "linear", "prompt-linear")
# Keys that name a run rather than configure it.


@dataclass(frozen=True)
class RunResult:
    name: str
    method: str
    seed: Any
    settings: dict[str, Any]  # the resolved recipe flattened to "section.key", minus seed and output
    metrics: dict[str, Any]

    @property
    def configuration(self) -> str:
        return identity.configuration_key(self.settings)

    @property
    def validation_accuracy(self) -> float | None:
        validation = self.metrics.get("validation")
        return validation.get("accuracy") if isinstance(validation, dict) else None


@dataclass
class Configuration:
    method: str
    runs: list[RunResult]
    label: str = ""  # what sets it apart from the method's other configurations, e.g. train.lr=3e-4

    @property
    def validation_accuracies(self) -> list[float]:
        return [a for a in (run.validation_accuracy for run in self.runs) if a is not None]

    @property
    def validation_mean(self) -> float | None:
        accuracies = self.validation_accuracies
        return statistics.fmean(accuracies) if accuracies else None


@dataclass
class Reported:
    """A configuration's test figures over its seeds, read only once it has been chosen or listed."""

    accuracies: list[float]
    mean: float
    std: float | None  # None with a single seed
    ci95: tuple[float, float] | None
    latency_ms: float | None = None  # batch-1 p50 as served (adapters merged), median over seeds
    latency_unmerged_ms: float | None = None  # adapter methods: adapters kept apart from the base


@dataclass
class Selection:
    selected: dict[str, Configuration]  # method -> its configuration chosen on validation
    configurations: list[Configuration]  # every configuration, methods in order, best validation first
    unselectable: list[str] = field(default_factory=list)  # methods with no validation accuracy


def run_result(name: str, metrics: dict[str, Any], recipe_text: str) -> RunResult:
    """A run as selection sees it, from its metrics.json and resolved recipe.toml."""
    settings = identity.configuration(recipe_text, name)
    seed = metrics.get("seed", (identity.settings(recipe_text) or {}).get("train.seed"))
    return RunResult(
        name, str(metrics.get("method", settings.get("method.name", "?"))), seed, settings, metrics
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


def choose(found: list[Configuration]) -> dict[str, Configuration]:
    """Per method, the configuration with the best mean validation accuracy over its seeds.

    Ties go to more seeds, then to the label's alphabetical order, so the choice never depends on
    the order runs were found in. Test accuracy is not an input: it cannot sway the choice.
    """
    chosen: dict[str, Configuration] = {}
    for configuration in found:
        if configuration.validation_mean is None:
            continue
        best = chosen.get(configuration.method)
        if best is None or _choice_key(configuration) < _choice_key(best):
            chosen[configuration.method] = configuration
    return chosen


def select(runs: list[RunResult]) -> Selection:
    found = configurations(runs)
    selected = choose(found)
    methods = _ordered({c.method for c in found})
    return Selection(
        {m: selected[m] for m in methods if m in selected},
        found,
        [m for m in methods if m not in selected],
    )


def reported(configuration: Configuration) -> Reported:
    """Test accuracy over seeds: mean ± std, and a 95% Wilson interval at the mean.

    The interval is the test set's sampling error for a model as accurate as the seeds' mean (the
    seeds share one test set, so pooling their examples would overstate the evidence); the seed
    spread is the std beside it.
    """
    accuracies = [run.metrics["accuracy"] for run in configuration.runs]
    mean = statistics.fmean(accuracies)
    totals = [run.metrics.get("total") for run in configuration.runs]
    ci = None
    if all(isinstance(t, int) and t > 0 for t in totals):
        total = round(statistics.fmean(t for t in totals if t))
        ci = wilson_interval(round(mean * total), total)
    std = statistics.stdev(accuracies) if len(accuracies) > 1 else None
    return Reported(
        accuracies,
        mean,
        std,
        ci,
        _median_p50(configuration, "latency"),
        _median_p50(configuration, "latency_unmerged"),
    )


def _median_p50(configuration: Configuration, key: str) -> float | None:
    values = [
        latency["batch1_ms_p50"]
        for latency in (run.metrics.get(key) for run in configuration.runs)
        if isinstance(latency, dict) and isinstance(latency.get("batch1_ms_p50"), (int, float))
    ]
    return statistics.median(values) if values else None


def seed_pairs(a: Configuration, b: Configuration) -> list[tuple[str, str]]:
    """Run names of `a` and `b` with the same training seed: the pairs a paired test compares."""
    by_seed = {run.seed: run.name for run in b.runs}
    return [(run.name, by_seed[run.seed]) for run in a.runs if run.seed in by_seed]


def to_markdown(selection: Selection) -> str:
    lines = [
        "## Selected per method (chosen on validation, reported on test)",
        "",
        "Each method's configuration with the best mean validation accuracy over seeds; the test split "
        "was not used to choose. Test 95% CI: Wilson interval at the mean over seeds (test-set sampling); "
        "the seed spread is the ± std. Latency: median over seeds of each run's batch-1 p50, the model "
        "as served (adapters merged), in brackets with adapters kept apart from the base.",
        "",
        "| method | selected configuration | seeds | validation accuracy (mean) | test accuracy (mean ± std) "
        "| test 95% CI | test per seed | batch-1 p50 ms (adapters apart) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for method, configuration in selection.selected.items():
        test = reported(configuration)
        ci = "–" if test.ci95 is None else f"{test.ci95[0]:.1%}–{test.ci95[1]:.1%}"
        lines.append(
            f"| {method} | {configuration.label} | {len(configuration.runs)} | "
            f"{_percent(configuration.validation_mean)} | {_mean_std(test)} | {ci} | "
            f"{', '.join(f'{a:.1%}' for a in test.accuracies)} | {_latency(test)} |"
        )
    if selection.unselectable:
        lines += [
            "",
            f"Not selected (no validation accuracy; set `data.validation_size` or `data.validation_split`): "
            f"{', '.join(selection.unselectable)}.",
        ]
    lines += [
        "",
        "### Every configuration",
        "",
        "| method | configuration | seeds | validation accuracy (mean) | test accuracy (mean ± std) "
        "| selected |",
        "|---|---|---|---|---|---|",
    ]
    for configuration in selection.configurations:
        chosen = selection.selected.get(configuration.method) is configuration
        lines.append(
            f"| {configuration.method} | {configuration.label} | {len(configuration.runs)} | "
            f"{_percent(configuration.validation_mean)} | {_mean_std(reported(configuration))} | "
            f"{'yes' if chosen else ''} |"
        )
    return "\n".join(lines) + "\n"


def _choice_key(configuration: Configuration) -> tuple[float, int, str]:
    return (
        -(configuration.validation_mean or 0.0),
        -len(configuration.validation_accuracies),
        configuration.label,
    )


def _listing_order(configuration: Configuration) -> tuple[int, str, float, str]:
    return (
        _method_rank(configuration.method),
        configuration.method,
        -(configuration.validation_mean if configuration.validation_mean is not None else -1.0),
        configuration.label,
    )


def _ordered(methods: set[str]) -> list[str]:
    return sorted(methods, key=lambda m: (_method_rank(m), m))


def _method_rank(method: str) -> int:
    return METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)


def _varying_keys(settings: list[dict[str, Any]]) -> list[str]:
    keys = sorted({k for s in settings for k in s})
    return [k for k in keys if len({json.dumps(s.get(k), default=str) for s in settings}) > 1]


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return compact_number(value)
    return json.dumps(value) if not isinstance(value, (int, str)) else str(value)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _latency(test: Reported) -> str:
    if test.latency_ms is None:
        return "–"
    apart = "" if test.latency_unmerged_ms is None else f" ({test.latency_unmerged_ms:.1f})"
    return f"{test.latency_ms:.1f}{apart}"


def _mean_std(test: Reported) -> str:
    return f"{test.mean:.1%}" + ("" if test.std is None else f" ± {test.std:.1%}")
