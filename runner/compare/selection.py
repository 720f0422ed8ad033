"""Pick each method's configuration on its validation score, then report it on the test split.

A configuration is a resolved recipe without `train.seed` and `output.*`: its runs are the seeds
(`runner.compare.configurations`, whose names are re-exported here). Choosing reads only the validation
score (`RunRecord.validation_score`: the validation accuracy for runs written before task types); the
test figures (the record's `scores`) are read after the choice, to report it. Choosing on the reported
split would leak the choice into the number reported. Pure functions over run records;
no files, no torch: whether a choice was a tie is asked of a `paired_test` the caller passes, which
compares two runs' validation predictions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runner.compare.configurations import (
    METHOD_ORDER,
    ONE_CLASS_FLAG,
    Configuration,
    Reported,
    RunResult,
    configurations,
    ordered_methods,
    reported,
    run_result,
    seed_pairs,
)
from runner.compare.undertuned import NOT_TUNED, Flag
from runner.formatting import interval_text, mean_std_text, score_text

__all__ = [
    "METHOD_ORDER",
    "Configuration",
    "PairedTest",
    "Reported",
    "RunResult",
    "Selection",
    "choice",
    "choose",
    "configurations",
    "reported",
    "run_result",
    "runner_up",
    "seed_pairs",
    "select",
    "selection_table",
]

# Tests two runs by name on their validation predictions: {"p_value", "significant"}, or None if it cannot.
PairedTest = Callable[[str, str], "dict[str, Any] | None"]


@dataclass
class Selection:
    selected: dict[str, Configuration]  # method -> its configuration chosen on validation
    configurations: list[Configuration]  # every configuration, methods in order, best validation first
    unselectable: list[str] = field(default_factory=list)  # methods with no validation score
    metric: str = "accuracy"  # what the validation and test scores measure
    # method -> "clear", "tie (p=…)" or "–": does the validation split tell the choice from the runner-up?
    choice: dict[str, str] = field(default_factory=dict)
    # method -> why its search was not enough (`runner.compare.undertuned`): shown, not ranked
    undertuned: dict[str, list[Flag]] = field(default_factory=dict)
    # method -> the same signs for a method ranked anyway: it leads on validation already
    may_improve: dict[str, list[Flag]] = field(default_factory=dict)


def choose(found: list[Configuration]) -> dict[str, Configuration]:
    """Per method, the configuration with the best mean validation score over its seeds (every
    headline metric is higher-is-better).

    Ties go to more seeds, then to the label's alphabetical order, so the choice never depends on
    the order runs were found in. Test scores are not an input: they cannot sway the choice.
    """
    chosen: dict[str, Configuration] = {}
    for configuration in found:
        if configuration.validation_mean is None:
            continue
        best = chosen.get(configuration.method)
        if best is None or _choice_key(configuration) < _choice_key(best):
            chosen[configuration.method] = configuration
    return chosen


def select(runs: list[RunResult], paired_test: PairedTest | None = None) -> Selection:
    """Each method's configuration chosen on validation; with `paired_test`, whether each choice was a tie."""
    found = configurations(runs)
    selected = choose(found)
    methods = ordered_methods({c.method for c in found})
    return Selection(
        {m: selected[m] for m in methods if m in selected},
        found,
        [m for m in methods if m not in selected],
        found[0].metric if found else "accuracy",
        {m: choice(found, selected[m], paired_test) for m in methods if m in selected},
    )


def runner_up(found: list[Configuration], selected: Configuration) -> Configuration | None:
    """The method's next configuration by the same rule that chose `selected`."""
    rivals = [
        c
        for c in found
        if c.method == selected.method and c is not selected and c.validation_mean is not None
    ]
    return min(rivals, key=_choice_key) if rivals else None


def choice(found: list[Configuration], selected: Configuration, paired_test: PairedTest | None) -> str:
    """Whether validation tells `selected` from the method's runner-up: "clear" where the paired test of
    their validation predictions is significant on most seeds they share, "tie (p=…)" where it is not,
    "–" where nothing can be tested (no runner-up, no shared seed, no validation predictions)."""
    rival = runner_up(found, selected)
    if rival is None or paired_test is None:
        return "–"
    tests = [t for t in (paired_test(a, b) for a, b in seed_pairs(selected, rival)) if t is not None]
    if not tests:
        return "–"
    if 2 * sum(bool(t["significant"]) for t in tests) > len(tests):
        return "clear"
    return f"tie (p={', '.join(format(t['p_value'], '.2g') for t in tests)})"


def selection_table(selection: Selection) -> str:
    metric = selection.metric
    interval = (
        "Wilson interval at the mean over seeds"
        if metric == "accuracy"
        else "mean of the seeds' bootstrap intervals"
    )
    lines = [
        "## Selected per method (chosen on validation, reported on test)",
        "",
        f"Each method's configuration with the best mean validation {metric} over seeds; the test split "
        f"was not used to choose. Test 95% CI: {interval} (test-set sampling); "
        "the seed spread is the ± std. Latency: median over seeds of each run's batch-1 p50, the model "
        "as served (adapters merged), in brackets with adapters kept apart from the base. Choice: whether "
        "the validation predictions tell the selected configuration from the method's runner-up (a paired "
        "test per shared seed, significant at 5% on most: clear; otherwise a tie, with its p-values; "
        "– where it cannot be tested)."
        + (
            f" {ONE_CLASS_FLAG}: a seed's model predicts one class for (nearly) every test example."
            if any(ONE_CLASS_FLAG in c.shown_label for c in selection.configurations)
            else ""
        ),
        "",
        f"| method | selected configuration | seeds | validation {metric} (mean) "
        f"| test {metric} (mean ± std) | test 95% CI | test per seed "
        "| batch-1 p50 ms (adapters apart) | choice |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for method, configuration in selection.selected.items():
        test = reported(configuration)
        lines.append(
            f"| {method} | {configuration.shown_label} | {len(configuration.runs)} | "
            f"{score_text(metric, configuration.validation_mean)} | "
            f"{mean_std_text(metric, test.mean, test.std)} | {interval_text(metric, test.ci95)} | "
            f"{', '.join(score_text(metric, s) for s in test.scores)} | "
            f"{_latency(test)} | {selection.choice.get(method, '–')}"
            + (f" ⚠ {NOT_TUNED}" if method in selection.undertuned else "")
            + " |"
        )
    for method, signs in selection.undertuned.items():
        lines.append(
            f"\n⚠ {method} is {NOT_TUNED} and is not ranked or tested: "
            + "; ".join(flag.text() for flag in signs)
            + "."
        )
    if selection.unselectable:
        lines += [
            "",
            f"Not selected (no validation {metric}; set `data.validation_size` or `data.validation_split`): "
            f"{', '.join(selection.unselectable)}.",
        ]
    lines += [
        "",
        "### Every configuration",
        "",
        f"| method | configuration | seeds | validation {metric} (mean) | test {metric} (mean ± std) "
        "| selected |",
        "|---|---|---|---|---|---|",
    ]
    for configuration in selection.configurations:
        chosen = selection.selected.get(configuration.method) is configuration
        test = reported(configuration)
        lines.append(
            f"| {configuration.method} | {configuration.shown_label} | {len(configuration.runs)} | "
            f"{score_text(metric, configuration.validation_mean)} | "
            f"{mean_std_text(metric, test.mean, test.std)} | {'yes' if chosen else ''} |"
        )
    return "\n".join(lines) + "\n"


def _choice_key(configuration: Configuration) -> tuple[float, int, str]:
    return (
        -(configuration.validation_mean or 0.0),
        -len(configuration.validation_scores),
        configuration.label,
    )


def _latency(test: Reported) -> str:
    if test.latency_ms is None:
        return "–"
    apart = "" if test.latency_unmerged_ms is None else f" ({test.latency_unmerged_ms:.1f})"
    return f"{test.latency_ms:.1f}{apart}"
