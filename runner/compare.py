"""Read finished run folders and compare them honestly.

Runs are ranked only against runs scored on the same eval set (same `eval_hash` and size); within
such a group, each run is tested against the group's best with an exact McNemar test on the saved
predictions. Runs of one recipe that differ only in `train.seed` are also summarised as mean ± std.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner import rundir
from runner.errors import RunFolderError, first_line
from runner.stats import mcnemar_p_value

SIGNIFICANCE = 0.05
SORT_KEYS = {
    "accuracy": (lambda r: r.metrics["accuracy"], True),
    "f1": (lambda r: r.metrics["macro_f1"], True),
    "latency": (lambda r: (r.metrics.get("latency") or {}).get("batch1_ms_p50", float("inf")), False),
    "train_time": (lambda r: r.metrics["train"]["seconds"], False),
    "trainable": (lambda r: r.metrics["params"]["trainable"], False),
    "name": (lambda r: r.name, False),
}


# What the tables, tests and seed summaries read from metrics.json, with the type each must have.
_NUMBER = (int, float)
REQUIRED_METRICS: dict[str, Any] = {
    "method": str,
    "model": str,
    "accuracy": _NUMBER,
    "accuracy_ci95": list,
    "macro_f1": _NUMBER,
    "seed": int,
    "data.eval_hash": str,
    "data.eval_size": int,
    "data.train_size": int,
    "params.trainable": int,
    "params.trainable_fraction": _NUMBER,
    "train.seconds": _NUMBER,
}


@dataclass
class Run:
    folder: Path
    metrics: dict[str, Any]
    recipe_text: str
    correct_by_id: dict[Any, bool]  # read once: every pairwise test of a group needs it
    name: str = ""  # the folder relative to the directory it was found in

    @property
    def eval_key(self) -> tuple[str, int]:
        return (self.metrics["data"]["eval_hash"], self.metrics["data"]["eval_size"])

    @property
    def notes(self) -> list[str]:
        """The warnings the run recorded: data notes and a top-level `warnings` list, if any."""
        found = [self.metrics["data"].get("notes"), self.metrics.get("warnings")]
        return [note for notes in found if isinstance(notes, list) for note in notes if isinstance(note, str)]


@dataclass
class Comparison:
    groups: list[list[Run]]  # runs sharing one eval set, best first under the chosen sort
    skipped: list[tuple[Path, str]]
    rows: list[dict[str, Any]] = field(default_factory=list)
    seed_summaries: list[dict[str, Any]] = field(default_factory=list)
    pairwise: list[dict[str, Any]] = field(default_factory=list)

    @property
    def run_notes(self) -> dict[str, list[str]]:
        """Each distinct run warning and the runs that recorded it, in table order."""
        by_note: dict[str, list[str]] = {}
        for group in self.groups:
            for run in group:
                for note in run.notes:
                    by_note.setdefault(note, []).append(run.name)
        return by_note


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
    result.seed_summaries = _seed_summaries(runs)
    return result


def _with_methods(runs: list[Run], methods: list[str], where: str) -> list[Run]:
    chosen = [run for run in runs if run.metrics["method"] in methods]
    if runs and not chosen:
        found = sorted({run.metrics["method"] for run in runs})
        asked = ", ".join(repr(m) for m in methods)
        raise RunFolderError(
            f"--method: no run in {where} has method {asked}; the runs there have: {', '.join(found)}"
        )
    return chosen


def find_runs(directories: list[Path]) -> tuple[list[Run], list[tuple[Path, str]]]:
    """Every run folder under the directories; unreadable ones are listed with the reason, never fatal."""
    runs: list[Run] = []
    skipped: list[tuple[Path, str]] = []
    for directory in directories:
        if not directory.is_dir():
            raise RunFolderError(f"not a directory: {directory}")
        candidates = {p.parent for p in directory.rglob("recipe.toml")} | {
            p.parent for p in directory.rglob("metrics.json")
        }
        for folder in sorted(candidates):
            if folder.name == rundir.CHECKPOINT:
                continue
            try:
                run = _read_run(folder)
            except RunFolderError as error:
                skipped.append((folder, str(error)))
                continue
            run.name = str(folder.relative_to(directory)) if folder != directory else folder.name
            runs.append(run)
    return runs, skipped


def _read_run(folder: Path) -> Run:
    """A finished run, or a RunFolderError saying why the folder cannot be compared."""
    replaces = rundir.staged_for(folder)
    if replaces is not None:
        raise RunFolderError(f"an --overwrite run of {replaces} that has not finished moving into place")
    metrics = _read_metrics(folder / "metrics.json")
    correct = _read_correctness(folder / "predictions.jsonl", metrics["data"]["eval_size"])
    recipe_path = folder / "recipe.toml"
    try:
        recipe_text = recipe_path.read_text() if recipe_path.exists() else ""
    except (OSError, UnicodeDecodeError):
        recipe_text = ""  # only the seed summary reads it
    return Run(folder, metrics, recipe_text, correct)


def _read_metrics(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise RunFolderError("unfinished: no metrics.json")
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as error:
        raise RunFolderError(f"corrupt metrics.json: {first_line(error)}") from None
    if not isinstance(metrics, dict):
        raise RunFolderError("corrupt metrics.json: not an object")
    version = metrics.get("schema_version")
    if version != rundir.SCHEMA_VERSION:
        raise RunFolderError(
            f"metrics.json schema_version {version!r}, this ftrun reads {rundir.SCHEMA_VERSION}"
        )
    if metrics.get("status") != "finished":
        raise RunFolderError(f"status {metrics.get('status')!r}, not finished")
    _check_fields(metrics)
    return metrics


def _check_fields(metrics: dict[str, Any]) -> None:
    """Every value the tables read is there with its type: a hand-edited file is skipped, never a crash."""
    for key, kind in REQUIRED_METRICS.items():
        value: Any = metrics
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None or isinstance(value, bool) or not isinstance(value, kind):
            raise RunFolderError(f"metrics.json has no valid {key} (found {value!r})")
    interval = metrics["accuracy_ci95"]
    if len(interval) != 2 or not all(isinstance(v, _NUMBER) for v in interval):
        raise RunFolderError(f"metrics.json accuracy_ci95 is not [low, high]: {interval!r}")
    for key in ("latency", "peak_memory_mb"):  # optional sections, read with .get() when present
        if not isinstance(metrics.get(key) or {}, dict):
            raise RunFolderError(f"metrics.json {key} is not an object: {metrics[key]!r}")


def _read_correctness(path: Path, eval_size: int) -> dict[Any, bool]:
    """Whether each eval example was predicted right, by id: what McNemar's test compares."""
    if not path.exists():
        raise RunFolderError("no predictions.jsonl")
    rows = rundir.read_jsonl(path)
    if not rows:
        raise RunFolderError("predictions.jsonl is empty: nothing to test the run on")
    if len(rows) != eval_size:
        raise RunFolderError(
            f"predictions.jsonl has {len(rows)} rows but metrics.json has eval_size {eval_size}; truncated?"
        )
    correct = {}
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or not {"id", "gold", "predicted"} <= row.keys():
            raise RunFolderError(f"predictions.jsonl row {number} lacks id, gold or predicted")
        correct[row["id"]] = row["gold"] == row["predicted"]
    return correct


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
        "macro_f1": m["macro_f1"],
        "latency_p50_ms": latency.get("batch1_ms_p50"),
        "latency_p95_ms": latency.get("batch1_ms_p95"),
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
        by_recipe.setdefault(_recipe_without_seed(run.recipe_text), []).append(run)
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


def _recipe_without_seed(text: str) -> str:
    from runner.recipe import tomllib

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return text
    raw.get("train", {}).pop("seed", None)
    raw.get("output", {}).pop("run_name", None)
    return json.dumps(raw, sort_keys=True)


# --- export formats -------------------------------------------------------------------------------

COLUMNS = [
    "run",
    "method",
    "model",
    "train/eval",
    "accuracy (95% CI)",
    "F1",
    "p50/p95 ms",
    "ex/s",
    "trainable",
    "train s",
    "peak MB",
    "vs best (McNemar)",
]


def display_cells(row: dict[str, Any]) -> list[str]:
    def number(value: Any, spec: str) -> str:
        return "–" if value is None else format(value, spec)

    vs_best = row["vs_best"] if row["vs_best_p"] is None else f"{row['vs_best']} (p={row['vs_best_p']:.3g})"
    return [
        row["run"],
        row["method"],
        row["model"],
        f"{row['train_size']}/{row['eval_size']}",
        f"{row['accuracy']:.1%} ({row['accuracy_ci_low']:.1%}–{row['accuracy_ci_high']:.1%})",
        f"{row['macro_f1']:.3f}",
        f"{number(row['latency_p50_ms'], '.1f')}/{number(row['latency_p95_ms'], '.1f')}",
        number(row["throughput_per_s"], ".1f"),
        f"{row['trainable_params']:,} ({100 * row['trainable_fraction']:.3g}%)",
        number(row["train_seconds"], ".1f"),
        number(row["peak_memory_mb"], ".0f"),
        vs_best,
    ]


def to_markdown(comparison: Comparison) -> str:
    lines = []
    for number, group in enumerate(comparison.groups, start=1):
        size = group[0].metrics["data"]["eval_size"]
        lines.append(f"**Eval set {number}** ({size} examples, hash `{group[0].eval_key[0]}`)\n")
        lines.append("| " + " | ".join(COLUMNS) + " |")
        lines.append("|" + "---|" * len(COLUMNS))
        for row in comparison.rows:
            if row["group"] == number:
                lines.append("| " + " | ".join(display_cells(row)) + " |")
        lines.append("")
    lines += [f"- {note}" for note in notes(comparison)]
    return "\n".join(lines).rstrip() + "\n"


def notes(comparison: Comparison) -> list[str]:
    """What the tables do not show: the grouping rule, seed aggregates, runs' warnings, skipped folders."""
    lines = []
    if len(comparison.groups) > 1:
        lines.append("Runs on different eval sets (size or hash) are not ranked against each other.")
    lines += [
        f"{s['method']} on {s['model']} over seeds {s['seeds']}: accuracy "
        f"{s['accuracy_mean']:.1%} ± {s['accuracy_std']:.1%} (mean ± std)"
        for s in comparison.seed_summaries
    ]
    lines += [f"{', '.join(runs)}: {note}" for note, runs in comparison.run_notes.items()]
    lines += [f"skipped {folder}: {reason}" for folder, reason in comparison.skipped]
    return lines


def print_tables(comparison: Comparison) -> None:
    """One rich table per eval set, then the notes."""
    import sys

    from rich.console import Console
    from rich.table import Table

    # Piped output is not squeezed to 80 columns: the table is meant to be read whole.
    console = Console(width=None if sys.stdout.isatty() else 200)
    for number, group in enumerate(comparison.groups, start=1):
        size = group[0].metrics["data"]["eval_size"]
        table = Table(title=f"eval set {number}: {size} examples (hash {group[0].eval_key[0]})")
        for name in COLUMNS:
            table.add_column(name, justify="left" if name in ("run", "method", "model") else "right")
        for row in comparison.rows:
            if row["group"] == number:
                table.add_row(*display_cells(row))
        console.print(table)
    for note in notes(comparison):
        console.print(note, markup=False)


def check_export_file(path: Path) -> None:
    """--out must name a file in an existing folder: checked before any comparing."""
    if path.is_dir():
        raise RunFolderError(f"--out {path}: is a folder; give a file name, e.g. {path / 'runs.csv'}")
    if not path.parent.is_dir():
        raise RunFolderError(f"--out {path}: folder {path.parent} does not exist")


def write_export(path: Path, text: str) -> None:
    try:
        rundir.write_text(path, text)
    except OSError as error:
        raise RunFolderError(f"--out {path}: cannot write it: {error.strerror}") from None


def to_csv(comparison: Comparison) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(comparison.rows[0]))
    writer.writeheader()
    writer.writerows(comparison.rows)
    return buffer.getvalue()


def to_json(comparison: Comparison) -> str:
    return json.dumps(
        {
            "runs": comparison.rows,
            "pairwise_mcnemar": comparison.pairwise,
            "seed_summaries": comparison.seed_summaries,
            "run_notes": [{"note": note, "runs": runs} for note, runs in comparison.run_notes.items()],
            "skipped": [{"folder": str(f), "reason": r} for f, r in comparison.skipped],
        },
        indent=2,
    )
