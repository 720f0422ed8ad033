"""Compare finished runs honestly: rank within an eval set, test the differences, choose on validation.

Runs are ranked only against runs scored on the same eval set (same `eval_hash` and size); within
such a group, each run is tested against the group's best with an exact McNemar test on the saved
predictions. Runs of one recipe that differ only in `train.seed` are also summarised as mean ± std.
Where runs carry a validation split, each method's configuration is chosen on validation accuracy
(`runner.compare.selection`) and only then are the chosen configurations compared on the eval (test) split.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.compare import selection
from runner.errors import RunFolderError
from runner.recipe import identity
from runner.rundir.finished import Run, find_runs
from runner.scoring.stats import mcnemar_p_value

SIGNIFICANCE = 0.05
SORT_KEYS = {
    "accuracy": (lambda r: r.metrics["accuracy"], True),
    "validation": (lambda r: -1.0 if r.validation_accuracy is None else r.validation_accuracy, True),
    "f1": (lambda r: r.metrics["macro_f1"], True),
    "latency": (lambda r: (r.metrics.get("latency") or {}).get("batch1_ms_p50", float("inf")), False),
    "train_time": (lambda r: r.metrics["train"]["seconds"], False),
    "trainable": (lambda r: r.metrics["params"]["trainable"], False),
    "name": (lambda r: r.name, False),
}


@dataclass
class Comparison:
    groups: list[list[Run]]  # runs sharing one eval set, best first under the chosen sort
    skipped: list[tuple[Path, str]]
    rows: list[dict[str, Any]] = field(default_factory=list)
    seed_summaries: list[dict[str, Any]] = field(default_factory=list)
    pairwise: list[dict[str, Any]] = field(default_factory=list)
    selections: list[selection.Selection] = field(default_factory=list)  # one per group, same order
    selected_tests: list[dict[str, Any]] = field(default_factory=list)  # between selected configurations

    @property
    def run_notes(self) -> dict[str, list[str]]:
        """Each distinct run warning and the runs that recorded it, in table order."""
        by_note: dict[str, list[str]] = {}
        for group in self.groups:
            for run in group:
                for note in run.notes:
                    by_note.setdefault(note, []).append(run.name)
        return by_note

    @property
    def has_validation(self) -> bool:
        return any(run.validation_accuracy is not None for group in self.groups for run in group)


def compare(directories: list[Path], sort: str = "accuracy", methods: list[str] | None = None) -> Comparison:
    runs, skipped = find_runs(directories)
    where = ", ".join(map(str, directories))
    if methods:
        runs = _with_methods(runs, methods, where)
    if not runs:
        reason = f" ({len(skipped)} skipped: {skipped[0][1]})" if skipped else ""
        raise RunFolderError(f"no finished runs found in {where}{reason}")
    key, descending = SORT_KEYS[sort]
    by_eval: dict[tuple[str, int], list[Run]] = {}
    for run in runs:
        by_eval.setdefault(run.eval_key, []).append(run)
    groups = [sorted(group, key=key, reverse=descending) for group in by_eval.values()]
    groups.sort(key=lambda g: -len(g))
    result = Comparison(groups, skipped)
    for number, group in enumerate(groups, start=1):
        best = max(group, key=lambda r: r.metrics["accuracy"])
        tests = {run.name: _mcnemar(best, run) for run in group if run is not best}
        for run in group:
            result.rows.append(_row(run, number, best, tests.get(run.name)))
        result.pairwise += [
            {"group": number, "a": a.name, "b": b.name, **_mcnemar(a, b)}
            for i, a in enumerate(group)
            for b in group[i + 1 :]
        ]
        # Chosen within one eval set: a configuration is only compared on the test set it was scored on.
        chosen = selection.select([selection.run_result(r.name, r.metrics, r.recipe_text) for r in group])
        result.selections.append(chosen)
        result.selected_tests += _selected_tests(number, group, chosen)
    result.seed_summaries = _seed_summaries(runs)
    return result


def _selected_tests(number: int, group: list[Run], chosen: selection.Selection) -> list[dict[str, Any]]:
    """McNemar between each two methods' selected configurations, one test per shared training seed.

    Seeds are tested one by one, not pooled: every seed's run answers the same test examples, so
    summing discordant counts over seeds would count each hard example once per seed and overstate
    the evidence (as pooling would for the interval in `selection.reported`). A difference is
    reported with how many of the paired seeds find it significant.
    """
    by_name = {run.name: run for run in group}
    methods = list(chosen.selected)
    tests = []
    for i, method_a in enumerate(methods):
        for method_b in methods[i + 1 :]:
            a, b = chosen.selected[method_a], chosen.selected[method_b]
            per_seed = [
                {"seed": by_name[name_a].metrics["seed"], "a_run": name_a, "b_run": name_b}
                | _mcnemar(by_name[name_a], by_name[name_b])
                for name_a, name_b in selection.seed_pairs(a, b)
            ]
            tests.append(
                {
                    "group": number,
                    "a": method_a,
                    "a_configuration": a.label,
                    "b": method_b,
                    "b_configuration": b.label,
                    "per_seed": per_seed,
                    "significant_seeds": sum(t["significant"] for t in per_seed),
                }
            )
    return tests


def _with_methods(runs: list[Run], methods: list[str], where: str) -> list[Run]:
    chosen = [run for run in runs if run.metrics["method"] in methods]
    if runs and not chosen:
        found = sorted({run.metrics["method"] for run in runs})
        asked = ", ".join(repr(m) for m in methods)
        raise RunFolderError(
            f"--method: no run in {where} has method {asked}; the runs there have: {', '.join(found)}"
        )
    return chosen


def _mcnemar(a: Run, b: Run) -> dict[str, Any]:
    right_a, right_b = a.correct_by_id, b.correct_by_id
    shared = right_a.keys() & right_b.keys()
    only_a = sum(1 for i in shared if right_a[i] and not right_b[i])
    only_b = sum(1 for i in shared if right_b[i] and not right_a[i])
    p = mcnemar_p_value(only_a, only_b)
    return {"only_a_right": only_a, "only_b_right": only_b, "p_value": p, "significant": p < SIGNIFICANCE}


def _row(run: Run, group: int, best: Run, test: dict[str, Any] | None) -> dict[str, Any]:
    m = run.metrics
    latency = m.get("latency") or {}
    peak = m.get("peak_memory_mb", {})
    low, high = m["accuracy_ci95"]
    return {
        "group": group,
        "run": run.name,
        "method": m["method"],
        "model": m["model"],
        "train_size": m["data"]["train_size"],
        "eval_size": m["data"]["eval_size"],
        "accuracy": m["accuracy"],
        "accuracy_ci_low": low,
        "accuracy_ci_high": high,
        "validation_accuracy": run.validation_accuracy,
        "macro_f1": m["macro_f1"],
        "latency_p50_ms": latency.get("batch1_ms_p50"),
        "latency_p95_ms": latency.get("batch1_ms_p95"),
        "latency_unmerged_p50_ms": (m.get("latency_unmerged") or {}).get("batch1_ms_p50"),
        "throughput_per_s": latency.get("throughput_examples_per_s"),
        "trainable_params": m["params"]["trainable"],
        "trainable_fraction": m["params"]["trainable_fraction"],
        "train_seconds": m["train"]["seconds"],
        # GPU memory where there was a GPU, else the process's peak resident memory.
        "peak_memory_mb": peak.get("gpu", peak.get("process_rss")),
        "vs_best_p": None if test is None else test["p_value"],
        "vs_best": "best" if run is best else ("significant" if test and test["significant"] else "n.s."),
    }


def _seed_summaries(runs: list[Run]) -> list[dict[str, Any]]:
    """Mean ± std over runs whose resolved recipes differ only in the training seed and run name."""
    by_recipe: dict[str, list[Run]] = {}
    for run in runs:
        settings = identity.configuration(run.recipe_text, run.name)
        by_recipe.setdefault(identity.configuration_key(settings), []).append(run)
    summaries = []
    for group in by_recipe.values():
        seeds = {run.metrics["seed"] for run in group}
        if len(seeds) < 2:
            continue
        accuracies = [run.metrics["accuracy"] for run in group]
        summaries.append(
            {
                "method": group[0].metrics["method"],
                "model": group[0].metrics["model"],
                "runs": [run.name for run in group],
                "seeds": sorted(seeds),
                "accuracy_mean": statistics.fmean(accuracies),
                "accuracy_std": statistics.stdev(accuracies),
            }
        )
    return summaries
