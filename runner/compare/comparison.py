"""Compare finished runs honestly: rank within a group of like runs, test the differences, choose on
validation.

Runs are ranked only against runs scored on the same eval set (same `eval_hash` and size) for the same
task by the same headline metric: a macro F1 and an accuracy measure different things, even on one eval
set. Within such a group, each run is tested against the group's best on the saved predictions
(`runner.compare.paired`: exact McNemar for accuracy, the paired bootstrap otherwise). Runs of one recipe
that differ only in `train.seed` are also summarised as mean ± std. Where runs carry a validation split,
each method's configuration is chosen on its validation score (`runner.compare.selection`) and only then
are the chosen configurations compared on the eval (test) split.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner import registry
from runner.compare import selection, undertuned, verdict
from runner.compare.paired import PairedTests
from runner.compare.shipping import export_fields
from runner.errors import RunFolderError
from runner.recipe import identity
from runner.rundir.finished import Run, find_runs
from runner.sweep import claims


def _figure(key: str) -> Any:
    """A figure of the run's metrics for sorting; runs without it (another task's) sort last."""
    return lambda r: value if isinstance(value := r.record.scores.get(key), (int, float)) else float("-inf")


SORT_KEYS = {
    "score": (lambda r: r.score, True),
    "accuracy": (lambda r: r.score, True),  # the headline score: accuracy for runs scored by accuracy
    "validation": (lambda r: float("-inf") if r.validation_score is None else r.validation_score, True),
    "f1": (_figure("macro_f1"), True),
    "latency": (lambda r: (r.record.latency or {}).get("batch1_ms_p50", float("inf")), False),
    "train_time": (lambda r: r.record.train.seconds, False),
    "trainable": (lambda r: r.record.params.trainable, False),
    "name": (lambda r: r.name, False),
}


@dataclass
class Comparison:
    groups: list[list[Run]]  # runs sharing one eval set, task and metric, best first under the chosen sort
    skipped: list[tuple[Path, str]]
    rows: list[dict[str, Any]] = field(default_factory=list)
    seed_summaries: list[dict[str, Any]] = field(default_factory=list)
    pairwise: list[dict[str, Any]] = field(default_factory=list)
    selections: list[selection.Selection] = field(default_factory=list)  # one per group, same order
    selected_tests: list[dict[str, Any]] = field(default_factory=list)  # between selected configurations
    verdicts: list[verdict.Verdict] = field(default_factory=list)  # per group with a selection

    @property
    def run_notes(self) -> dict[str, list[str]]:
        """Each distinct run warning and the runs that recorded it, each run once, in table order."""
        by_note: dict[str, list[str]] = {}
        for group in self.groups:
            for run in group:
                for note in run.notes:
                    runs = by_note.setdefault(note, [])
                    if run.name not in runs:
                        runs.append(run.name)
        return by_note

    @property
    def has_validation(self) -> bool:
        return any(run.validation_score is not None for group in self.groups for run in group)

    @property
    def metrics(self) -> list[str]:
        """The headline metrics of the groups, each once, in group order."""
        return list(dict.fromkeys(group[0].metric for group in self.groups))

    @property
    def apart_notes(self) -> list[str]:
        """Why runs of one eval set sit in separate groups: they differ in task or metric."""
        notes = []
        for eval_key in dict.fromkeys(group[0].eval_key for group in self.groups):
            kinds = [g for g in self.groups if g[0].eval_key == eval_key]
            for i, a in enumerate(kinds):
                for b in kinds[i + 1 :]:
                    what = "task" if a[0].task != b[0].task else "metric"
                    notes.append(
                        f"runs {_names(a)} of {what} {_kind(a[0], what)} and runs {_names(b)} of {what} "
                        f"{_kind(b[0], what)} are not ranked against each other: their scores measure "
                        "different things"
                    )
        return notes


def compare(
    directories: list[Path],
    sort: str = "accuracy",
    methods: list[str] | None = None,
    margin: float | None = None,
) -> Comparison:
    """`margin`: the difference of the headline metric that matters (None: as `verdict.judge` says)."""
    runs, skipped = find_runs(directories)
    skipped += claims.unstarted(directories)  # a sweep's combinations that have no folder yet
    where = ", ".join(map(str, directories))
    if methods:
        runs = _with_methods(runs, methods, where)
    if not runs:
        reason = f" ({len(skipped)} skipped: {skipped[0][1]})" if skipped else ""
        raise RunFolderError(f"no finished runs found in {where}{reason}")
    key, descending = SORT_KEYS[sort]
    by_kind: dict[tuple[str, int, str, str], list[Run]] = {}
    for run in runs:
        by_kind.setdefault((*run.eval_key, run.task, run.metric), []).append(run)
    groups = [sorted(group, key=key, reverse=descending) for group in by_kind.values()]
    groups.sort(key=lambda g: -len(g))
    verdict.check_margin(margin, list(dict.fromkeys(group[0].metric for group in groups)))
    result = Comparison(groups, skipped)
    for number, group in enumerate(groups, start=1):
        _compare_group(result, number, group, margin)
    result.seed_summaries = _seed_summaries(runs)
    return result


def _compare_group(result: Comparison, number: int, group: list[Run], margin: float | None) -> None:
    """The selection, rows, pairwise tests and verdict of one group. A method not tuned enough is shown
    but not ranked: no run of it is the best, and it is in no test between selected configurations."""
    # Chosen within one group: a configuration is only compared on the test set it was scored on.
    chosen = selection.select(
        [selection.run_result(r.name, r.record, r.recipe_text) for r in group], _validation_test(group)
    )
    flags = undertuned.flags(
        chosen.configurations,
        chosen.selected,
        {run.name: run.validation_outputs for run in group},
        verdict.margin_given(group[0].metric, margin, group)[0],
    )
    chosen.may_improve = undertuned.ahead_anyway(flags, chosen.selected)
    chosen.undertuned = {m: signs for m, signs in flags.items() if m not in chosen.may_improve}
    tests = _tests(group, {run.name: run.outputs_by_id for run in group})
    ranked = [run for run in group if run.record.method not in chosen.undertuned] or group
    best = max(ranked, key=lambda r: r.score)
    against_best = {run.name: tests(best.name, run.name) for run in group if run is not best}
    for run in group:
        row = _row(run, number, best, against_best.get(run.name))
        if run.record.method in chosen.undertuned:
            row["vs_best"] = undertuned.NOT_TUNED
        result.rows.append(row)
    result.pairwise += [
        {"group": number, "a": a.name, "b": b.name, **tests(a.name, b.name)}
        for i, a in enumerate(group)
        for b in group[i + 1 :]
    ]
    result.selections.append(chosen)
    result.selected_tests += _selected_tests(number, group, chosen, tests)
    found = verdict.judge(number, group, chosen.selected, chosen.undertuned, margin, chosen.may_improve)
    if found is not None:
        result.verdicts.append(found)


def _tests(group: list[Run], outputs: dict[str, Any]) -> PairedTests:
    labels = [run.num_labels for run in group if run.num_labels is not None]
    return PairedTests(group[0].task, group[0].metric, outputs, max(labels) if labels else None)


def _validation_test(group: list[Run]) -> selection.PairedTest:
    """The paired test of two runs on their validation predictions, for runs scored on one validation
    set; None where either saved none. Only validation predictions: selection never sees the test split."""
    saved = {run.name: run for run in group if run.validation_outputs is not None}
    tests = _tests(group, {name: run.validation_outputs for name, run in saved.items()})

    def test(a: str, b: str) -> dict[str, Any] | None:
        if a not in saved or b not in saved:
            return None
        if (saved[a].record.validation or {}).get("hash") != (saved[b].record.validation or {}).get("hash"):
            return None
        return tests(a, b)

    return test


def _selected_tests(
    number: int, group: list[Run], chosen: selection.Selection, tests: PairedTests
) -> list[dict[str, Any]]:
    """The paired test between each two methods' selected configurations, one per shared training seed.

    Seeds are tested one by one, not pooled: every seed's run answers the same test examples, so
    pooling seeds would count each hard example once per seed and overstate the evidence (as pooling
    would for the interval in `selection.reported`). A difference is reported with how many of the
    paired seeds find it significant.
    """
    by_name = {run.name: run for run in group}
    methods = [method for method in chosen.selected if method not in chosen.undertuned]
    found = []
    for i, method_a in enumerate(methods):
        for method_b in methods[i + 1 :]:
            a, b = chosen.selected[method_a], chosen.selected[method_b]
            per_seed: list[dict[str, Any]] = [
                {"seed": by_name[name_a].record.seed, "a_run": name_a, "b_run": name_b}
                | tests(name_a, name_b)
                for name_a, name_b in selection.seed_pairs(a, b)
            ]
            found.append(
                {
                    "group": number,
                    "metric": chosen.metric,
                    "a": method_a,
                    "a_configuration": a.label,
                    "b": method_b,
                    "b_configuration": b.label,
                    "per_seed": per_seed,
                    "significant_seeds": sum(t["significant"] for t in per_seed),
                }
            )
    return found


def _with_methods(runs: list[Run], methods: list[str], where: str) -> list[Run]:
    chosen = [run for run in runs if run.record.method in methods]
    if runs and not chosen:
        found = sorted({run.record.method for run in runs})
        asked = ", ".join(repr(m) for m in methods)
        raise RunFolderError(
            f"--method: no run in {where} has method {asked}; the runs there have: {', '.join(found)}"
        )
    return chosen


def _row(run: Run, group: int, best: Run, test: dict[str, Any] | None) -> dict[str, Any]:
    record, figures = run.record, run.record.scores
    latency = record.latency or {}
    peak = record.environment.peak_memory_mb or {}
    low, high = run.score_ci95
    accuracy_low, accuracy_high = figures.get("accuracy_ci95") or (None, None)
    return {
        "group": group,
        "run": run.name,
        "method": record.method,
        "model": record.model,
        "train_size": record.data["train_size"],
        "eval_size": record.data["eval_size"],
        "task": run.task,
        "metric": run.metric,
        "score": run.score,
        "score_ci_low": low,
        "score_ci_high": high,
        "validation_score": run.validation_score,
        # The task's own figures, where it has them (None for another task's runs).
        "accuracy": figures.get("accuracy"),
        "accuracy_ci_low": accuracy_low,
        "accuracy_ci_high": accuracy_high,
        "validation_accuracy": run.validation_accuracy,
        "macro_f1": figures.get("macro_f1"),
        "micro_f1": figures.get("micro_f1"),
        "rmse": figures.get("rmse"),
        # The figure shown beside the headline, whichever the task names (its key may be none above).
        "second_figure": figures.get(registry.task(run.task).second_figure(run.metric)[1]),
        "latency_p50_ms": latency.get("batch1_ms_p50"),
        "latency_p95_ms": latency.get("batch1_ms_p95"),
        "latency_unmerged_p50_ms": (record.latency_unmerged or {}).get("batch1_ms_p50"),
        "throughput_per_s": latency.get("throughput_examples_per_s"),
        # Of the probabilities the run ships (calibrated where a temperature was fitted); None: no figure.
        "ece": (figures.get("calibration") or {}).get("ece"),
        "brier": (figures.get("calibration") or {}).get("brier"),
        "trainable_params": record.params.trainable,
        "trainable_fraction": record.params.trainable_fraction,
        "train_seconds": record.train.seconds,
        # GPU memory where there was a GPU, else the process's peak resident memory.
        "peak_memory_mb": peak.get("gpu", peak.get("process_rss")),
        "vs_best_test": None if test is None else test["test"],
        "vs_best_p": None if test is None else test["p_value"],
        "vs_best": "best" if run is best else ("significant" if test and test["significant"] else "n.s."),
        **export_fields(run.folder),  # None for a run without an export
    }


def _seed_summaries(runs: list[Run]) -> list[dict[str, Any]]:
    """Mean ± std of the headline score over runs whose resolved recipes differ only in the training seed
    and run name (and that are scored by the same metric)."""
    by_recipe: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        settings = identity.configuration(run.recipe_text, run.name)
        by_recipe.setdefault((identity.configuration_key(settings), run.metric), []).append(run)
    summaries = []
    for group in by_recipe.values():
        seeds = {run.record.seed for run in group}
        if len(seeds) < 2:
            continue
        scores = [run.score for run in group]
        summaries.append(
            {
                "method": group[0].record.method,
                "model": group[0].record.model,
                "runs": [run.name for run in group],
                "seeds": sorted(seeds),
                "metric": group[0].metric,
                "score_mean": statistics.fmean(scores),
                "score_std": statistics.stdev(scores),
            }
        )
    return summaries


def _names(group: list[Run]) -> str:
    return ", ".join(run.name for run in group)


def _kind(run: Run, what: str) -> str:
    return run.task if what == "task" else run.metric
