"""How `ftrun compare` shows a comparison: terminal tables, markdown, csv and json, and --out files."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from runner import rundir
from runner.compare import selection
from runner.compare.comparison import Comparison
from runner.errors import RunFolderError

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
VALIDATION_COLUMN = "validation"  # shown after the accuracy when any run has a validation split
VALIDATION_NOTE = (
    "Accuracy, F1 and the McNemar tests are on the eval (test) split; `validation` is the same weights "
    "on the validation split. Configurations were selected on validation accuracy only."
)


def columns(comparison: Comparison) -> list[str]:
    if not comparison.has_validation:
        return COLUMNS
    at = COLUMNS.index("accuracy (95% CI)") + 1
    return [*COLUMNS[:at], VALIDATION_COLUMN, *COLUMNS[at:]]


def display_cells(row: dict[str, Any], validation: bool = False) -> list[str]:
    def number(value: Any, spec: str) -> str:
        return "–" if value is None else format(value, spec)

    vs_best = row["vs_best"] if row["vs_best_p"] is None else f"{row['vs_best']} (p={row['vs_best_p']:.3g})"
    accuracy = f"{row['accuracy']:.1%} ({row['accuracy_ci_low']:.1%}–{row['accuracy_ci_high']:.1%})"
    return [
        row["run"],
        row["method"],
        row["model"],
        f"{row['train_size']}/{row['eval_size']}",
        accuracy,
        *([number(row["validation_accuracy"], ".1%")] if validation else []),
        f"{row['macro_f1']:.3f}",
        f"{number(row['latency_p50_ms'], '.1f')}/{number(row['latency_p95_ms'], '.1f')}"
        + (f" ({row['latency_unmerged_p50_ms']:.1f} unmerged)" if row.get("latency_unmerged_p50_ms") else ""),
        number(row["throughput_per_s"], ".1f"),
        f"{row['trainable_params']:,} ({100 * row['trainable_fraction']:.3g}%)",
        number(row["train_seconds"], ".1f"),
        number(row["peak_memory_mb"], ".0f"),
        vs_best,
    ]


def to_markdown(comparison: Comparison) -> str:
    """The selection per method first (where runs have validation), then every run per eval set."""
    chosen = selection_markdown(comparison)
    lines = [chosen] if chosen else []
    header = columns(comparison)
    for number, group in enumerate(comparison.groups, start=1):
        size = group[0].metrics["data"]["eval_size"]
        lines.append(f"**Eval set {number}** ({size} examples, hash `{group[0].eval_key[0]}`)\n")
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for row in comparison.rows:
            if row["group"] == number:
                cells = display_cells(row, comparison.has_validation)
                lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += [f"- {note}" for note in notes(comparison)]
    return "\n".join(lines).rstrip() + "\n"


def selection_markdown(comparison: Comparison) -> str:
    """Per eval set with a validation split: the selected configurations and the tests between them."""
    parts = []
    several = len(comparison.groups) > 1
    for number, chosen in enumerate(comparison.selections, start=1):
        if not chosen.selected:
            continue
        text = selection.to_markdown(chosen)
        if several:
            text = text.replace("## Selected per method", f"## Eval set {number}: selected per method", 1)
        parts.append(text + _selected_tests_markdown(comparison, number))
    return "\n".join(parts)


def _selected_tests_markdown(comparison: Comparison, number: int) -> str:
    tests = [t for t in comparison.selected_tests if t["group"] == number]
    if not tests:
        return ""
    lines = [
        "",
        "### Paired McNemar tests between the selected configurations (test split, one test per seed)",
        "",
        "Runs are paired by training seed and tested seed by seed: every seed answers the same test "
        "examples, so pooling seeds would count each example several times.",
        "",
        "| a | b | seeds | only a right / only b right | p | significant at 5% |",
        "|---|---|---|---|---|---|",
    ]
    for t in tests:
        seeds = t["per_seed"]
        counts = ", ".join(f"{s['only_a_right']}/{s['only_b_right']}" for s in seeds) or "no shared seed"
        p_values = ", ".join(f"{s['p_value']:.3g}" for s in seeds) or "–"
        lines.append(
            f"| {t['a']} ({t['a_configuration']}) | {t['b']} ({t['b_configuration']}) | "
            f"{', '.join(str(s['seed']) for s in seeds) or '–'} | {counts} | {p_values} | "
            f"{t['significant_seeds']} of {len(seeds)} seeds |"
        )
    return "\n".join(lines) + "\n"


def notes(comparison: Comparison) -> list[str]:
    """What the tables do not show: the grouping rule, seed aggregates, runs' warnings, skipped folders."""
    lines = []
    if comparison.has_validation:
        lines.append(VALIDATION_NOTE)
    lines += _mixed_validation_notes(comparison)
    if len(comparison.groups) > 1:
        lines.append("Runs on different eval sets (size or hash) are not ranked against each other.")
    # A method's configurations share its name: the label (train.lr=3e-4) tells their lines apart.
    labels = {
        run.name: configuration.label
        for chosen in comparison.selections
        for configuration in chosen.configurations
        if configuration.label != "as recipe"
        for run in configuration.runs
    }
    for s in comparison.seed_summaries:
        label = labels.get(s["runs"][0])
        lines.append(
            f"{s['method']}{f' ({label})' if label else ''} on {s['model']} over seeds {s['seeds']}: "
            f"accuracy {s['accuracy_mean']:.1%} ± {s['accuracy_std']:.1%} (mean ± std)"
        )
    lines += [f"{', '.join(runs)}: {note}" for note, runs in comparison.run_notes.items()]
    lines += [f"skipped {folder}: {reason}" for folder, reason in comparison.skipped]
    return lines


def _mixed_validation_notes(comparison: Comparison) -> list[str]:
    """A method whose configurations were validated on different examples was chosen on unequal terms."""
    lines = []
    for chosen in comparison.selections:
        for method in chosen.selected:
            hashes = {
                run.metrics["validation"].get("hash")
                for configuration in chosen.configurations
                if configuration.method == method
                for run in configuration.runs
                if run.validation_accuracy is not None
            }
            if len(hashes) > 1:
                lines.append(
                    f"warning: {method}'s configurations were scored on {len(hashes)} different validation "
                    "sets (data.validation_* or data.seed differ), so its selection compares unlike figures"
                )
    return lines


def selection_lines(comparison: Comparison) -> list[str]:
    """The terminal's short form of the selection: one line per method."""
    lines = []
    for number, chosen in enumerate(comparison.selections, start=1):
        where = f" (eval set {number})" if len(comparison.groups) > 1 else ""
        for method, configuration in chosen.selected.items():
            test = selection.reported(configuration)
            spread = "" if test.std is None else f" ± {test.std:.1%}"
            lines.append(
                f"selected{where} {method}: {configuration.label} on validation "
                f"{configuration.validation_mean:.1%}; test {test.mean:.1%}{spread} "
                f"over {len(configuration.runs)} seed(s)"
            )
        if chosen.selected and chosen.unselectable:
            lines.append(f"not selected{where} (no validation accuracy): {', '.join(chosen.unselectable)}")
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
        for name in columns(comparison):
            table.add_column(name, justify="left" if name in ("run", "method", "model") else "right")
        for row in comparison.rows:
            if row["group"] == number:
                table.add_row(*display_cells(row, comparison.has_validation))
        console.print(table)
    for note in selection_lines(comparison) + notes(comparison):
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
            "selection": [
                _selection_json(number, chosen)
                for number, chosen in enumerate(comparison.selections, start=1)
                if chosen.selected
            ],
            "selected_mcnemar": comparison.selected_tests,
            "run_notes": [{"note": note, "runs": runs} for note, runs in comparison.run_notes.items()],
            "skipped": [{"folder": str(f), "reason": r} for f, r in comparison.skipped],
        },
        indent=2,
    )


def _selection_json(number: int, chosen: selection.Selection) -> dict[str, Any]:
    def described(configuration: selection.Configuration) -> dict[str, Any]:
        test = selection.reported(configuration)
        return {
            "method": configuration.method,
            "configuration": configuration.label,
            "runs": [run.name for run in configuration.runs],
            "seeds": [run.seed for run in configuration.runs],
            "validation_accuracy_mean": configuration.validation_mean,
            "test_accuracy_mean": test.mean,
            "test_accuracy_std": test.std,
            "test_accuracy_ci95": test.ci95,
            "test_accuracy_per_seed": test.accuracies,
            "selected": chosen.selected.get(configuration.method) is configuration,
        }

    return {
        "group": number,
        "chosen_on": "validation accuracy, mean over seeds; the test split is only reported",
        "selected": {method: described(c) for method, c in chosen.selected.items()},
        "unselectable": chosen.unselectable,
        "configurations": [described(c) for c in chosen.configurations],
    }
