"""How `ftrun compare` shows a comparison: terminal tables, markdown, csv and json, and --out files."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from runner import registry, rundir
from runner.compare import selection, verdict_text
from runner.compare.comparison import Comparison
from runner.compare.notes import VALIDATION_NOTE, notes, selection_lines
from runner.compare.paired import MCNEMAR, paired_test_name
from runner.errors import RunFolderError
from runner.formatting import interval_text, score_text

__all__ = [
    "VALIDATION_NOTE",
    "check_export_file",
    "columns",
    "display_cells",
    "notes",
    "print_tables",
    "selection_lines",
    "selection_markdown",
    "to_csv",
    "to_json",
    "to_markdown",
    "write_export",
]

VALIDATION_COLUMN = "validation"  # shown after the score when any run has a validation split


def second_figure(task: str, metric: str) -> tuple[str, str]:
    """The column title and row key of the figure shown beside a group's headline score: the task's
    other main figure."""
    return registry.task(task).second_figure(metric)  # type: ignore[no-any-return]


def columns(row: dict[str, Any], validation: bool) -> list[str]:
    """The table's columns for a group, named after its metric, from one of its rows."""
    return [
        "run",
        "method",
        "model",
        "train/eval",
        f"{row['metric']} (95% CI)",
        *([VALIDATION_COLUMN] if validation else []),
        second_figure(row["task"], row["metric"])[0],
        "p50/p95 ms",
        "ex/s",
        "trainable",
        "train s",
        "peak MB",
        f"vs best ({paired_test_name(row['task'], row['metric'])})",
    ]


def display_cells(row: dict[str, Any], validation: bool = False) -> list[str]:
    def number(value: Any, spec: str) -> str:
        return "–" if value is None else format(value, spec)

    metric = row["metric"]
    vs_best = row["vs_best"] if row["vs_best_p"] is None else f"{row['vs_best']} (p={row['vs_best_p']:.3g})"
    interval = interval_text(metric, (row["score_ci_low"], row["score_ci_high"]))
    title, key = second_figure(row["task"], metric)
    value = row.get(key, row.get("second_figure"))
    second = (
        score_text("accuracy", value)
        if key == "accuracy"
        else number(value, ".3f" if title != "RMSE" else ".3g")
    )
    return [
        row["run"],
        row["method"],
        row["model"],
        f"{row['train_size']}/{row['eval_size']}",
        f"{score_text(metric, row['score'])} ({interval})",
        *([score_text(metric, row["validation_score"])] if validation else []),
        second,
        f"{number(row['latency_p50_ms'], '.1f')}/{number(row['latency_p95_ms'], '.1f')}"
        + (f" ({row['latency_unmerged_p50_ms']:.1f} unmerged)" if row.get("latency_unmerged_p50_ms") else ""),
        number(row["throughput_per_s"], ".1f"),
        f"{row['trainable_params']:,} ({100 * row['trainable_fraction']:.3g}%)",
        number(row["train_seconds"], ".1f"),
        number(row["peak_memory_mb"], ".0f"),
        vs_best,
    ]


def group_title(comparison: Comparison, number: int) -> str:
    """How a group is named above its table: its eval set and, unless plain accuracy, what it is scored by."""
    run = comparison.groups[number - 1][0]
    plain = run.task == registry.DEFAULT_TASK and run.metric == registry.task(run.task).metrics[0]
    kind = "" if plain else f", {run.task} by {run.metric}"
    return f"{run.record.data['eval_size']} examples, hash `{run.eval_key[0]}`{kind}"


def to_markdown(comparison: Comparison) -> str:
    """The verdict first, then the selection per method (where runs have validation), then every run
    per group."""
    chosen = selection_markdown(comparison)
    judged = verdict_text.markdown(comparison.verdicts, len(comparison.groups) > 1)
    lines = [text for text in (judged, chosen) if text]
    for number in range(1, len(comparison.groups) + 1):
        rows = [row for row in comparison.rows if row["group"] == number]
        header = columns(rows[0], comparison.has_validation)
        lines.append(f"**Eval set {number}** ({group_title(comparison, number)})\n")
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for row in rows:
            lines.append("| " + " | ".join(display_cells(row, comparison.has_validation)) + " |")
        lines.append("")
    lines += [f"- {note}" for note in notes(comparison)]
    return "\n".join(lines).rstrip() + "\n"


def selection_markdown(comparison: Comparison) -> str:
    """Per group with a validation split: the selected configurations and the tests between them."""
    parts = []
    several = len(comparison.groups) > 1
    for number, chosen in enumerate(comparison.selections, start=1):
        if not chosen.selected:
            continue
        text = selection.selection_table(chosen)
        if several:
            text = text.replace("## Selected per method", f"## Eval set {number}: selected per method", 1)
        parts.append(text + _selected_tests_markdown(comparison, number))
    return "\n".join(parts)


def _selected_tests_markdown(comparison: Comparison, number: int) -> str:
    tests = [t for t in comparison.selected_tests if t["group"] == number]
    if not tests:
        return ""
    metric = tests[0]["metric"]
    mcnemar = paired_test_name(comparison.groups[number - 1][0].task, metric) == MCNEMAR
    lines = [
        "",
        f"### Paired {'McNemar tests' if mcnemar else f'bootstrap tests of {metric}'} between the selected "
        "configurations (test split, one test per seed)",
        "",
        "Runs are paired by training seed and tested seed by seed: every seed answers the same test "
        "examples, so pooling seeds would count each example several times."
        + ("" if mcnemar else f" Difference: {metric} of a − b, with its bootstrap 95% interval."),
        "",
        f"| a | b | seeds | {'only a right / only b right' if mcnemar else 'difference a − b (95% CI)'} "
        "| p | significant at 5% |",
        "|---|---|---|---|---|---|",
    ]
    for t in tests:
        seeds = t["per_seed"]
        found = ", ".join(tested(s, metric) for s in seeds) or "no shared seed"
        p_values = ", ".join(f"{s['p_value']:.3g}" for s in seeds) or "–"
        lines.append(
            f"| {t['a']} ({t['a_configuration']}) | {t['b']} ({t['b_configuration']}) | "
            f"{', '.join(str(s['seed']) for s in seeds) or '–'} | {found} | {p_values} | "
            f"{t['significant_seeds']} of {len(seeds)} seeds |"
        )
    return "\n".join(lines) + "\n"


def tested(test: dict[str, Any], metric: str) -> str:
    """What a paired test found, in a cell: the discordant counts (McNemar) or the difference with its
    interval (bootstrap)."""
    if test["test"] == MCNEMAR:
        return f"{test['only_a_right']}/{test['only_b_right']}"
    low, high = test["ci95"]
    return f"{test['difference']:+.3f} ({low:+.3f} to {high:+.3f})"


def print_tables(comparison: Comparison) -> None:
    """One rich table per group, then the notes."""
    import sys

    from rich.console import Console
    from rich.table import Table

    # Piped output is not squeezed to 80 columns: the table is meant to be read whole.
    console = Console(width=None if sys.stdout.isatty() else 200)
    for number in range(1, len(comparison.groups) + 1):
        rows = [row for row in comparison.rows if row["group"] == number]
        table = Table(title=f"eval set {number}: {group_title(comparison, number).replace('`', '')}")
        for name in columns(rows[0], comparison.has_validation):
            table.add_column(name, justify="left" if name in ("run", "method", "model") else "right")
        for row in rows:
            table.add_row(*display_cells(row, comparison.has_validation))
        console.print(table)
    for note in selection_lines(comparison) + notes(comparison):
        console.print(note, markup=False, soft_wrap=True)  # a folder's path stays whole, to copy
    for line in verdict_text.console_lines(comparison.verdicts):  # last: what the reader acts on
        console.print(line, markup=False)


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
    """Everything compare found. `pairwise_tests` and `selected_tests` hold every test (each says which);
    `pairwise_mcnemar` and `selected_mcnemar` keep, for readers of older exports, the McNemar ones."""
    return json.dumps(
        {
            "runs": comparison.rows,
            "pairwise_tests": comparison.pairwise,
            "pairwise_mcnemar": [t for t in comparison.pairwise if t["test"] == MCNEMAR],
            "seed_summaries": comparison.seed_summaries,
            "selection": [
                _selection_json(number, chosen)
                for number, chosen in enumerate(comparison.selections, start=1)
                if chosen.selected
            ],
            "selected_tests": comparison.selected_tests,
            "verdicts": [verdict_text.as_json(v) for v in comparison.verdicts],
            "selected_mcnemar": [t for t in comparison.selected_tests if t["metric"] == "accuracy"],
            "run_notes": [{"note": note, "runs": runs} for note, runs in comparison.run_notes.items()],
            "skipped": [{"folder": str(f), "reason": r} for f, r in comparison.skipped],
        },
        indent=2,
    )


def _selection_json(number: int, chosen: selection.Selection) -> dict[str, Any]:
    def described(configuration: selection.Configuration) -> dict[str, Any]:
        test = selection.reported(configuration)
        selected = chosen.selected.get(configuration.method) is configuration
        return {
            "method": configuration.method,
            "configuration": configuration.label,
            "runs": [run.name for run in configuration.runs],
            "seeds": [run.seed for run in configuration.runs],
            "predicts_one_class": any(run.predicts_one_class for run in configuration.runs),
            "not_tuned_enough": [flag.text() for flag in chosen.undertuned.get(configuration.method, [])]
            if selected
            else [],
            "validation_mean": configuration.validation_mean,
            "test_mean": test.mean,
            "test_std": test.std,
            "test_ci95": test.ci95,
            "test_per_seed": test.scores,
            "selected": selected,
            "choice": chosen.choice.get(configuration.method) if selected else None,
        }

    return {
        "group": number,
        "metric": chosen.metric,
        "chosen_on": f"validation {chosen.metric}, mean over seeds; the test split is only reported",
        "selected": {method: described(c) for method, c in chosen.selected.items()},
        "unselectable": chosen.unselectable,
        "configurations": [described(c) for c in chosen.configurations],
    }
