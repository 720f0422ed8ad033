"""What the tables of a comparison do not show, as lines under them: which split is which, why groups are
not ranked against each other, seed aggregates, the runs' own warnings, skipped folders; and the
terminal's one-line-per-method form of the selection."""

from __future__ import annotations

from runner.compare import selection
from runner.compare.comparison import Comparison
from runner.compare.undertuned import NOT_TUNED
from runner.formatting import mean_std_text, score_text

VALIDATION_NOTE = (
    "Accuracy, F1 and the McNemar tests are on the eval (test) split; `validation` is the same weights "
    "on the validation split. Configurations were selected on validation accuracy only."
)
VALIDATION_NOTE_ANY_METRIC = (
    "Scores, their intervals and the paired tests are on the eval (test) split; `validation` is the same "
    "weights scored by the same metric on the validation split. Configurations were selected on the "
    "validation score only."
)


def notes(comparison: Comparison) -> list[str]:
    """What the tables do not show: the grouping rule, seed aggregates, runs' warnings, skipped folders."""
    lines = []
    if comparison.has_validation:
        lines.append(VALIDATION_NOTE if comparison.metrics == ["accuracy"] else VALIDATION_NOTE_ANY_METRIC)
    lines += _mixed_validation_notes(comparison)
    if len({group[0].eval_key for group in comparison.groups}) > 1:
        lines.append("Runs on different eval sets (size or hash) are not ranked against each other.")
    lines += comparison.apart_notes
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
            f"{s['metric']} {mean_std_text(s['metric'], s['score_mean'], s['score_std'])} (mean ± std)"
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
                (run.record.validation or {}).get("hash")
                for configuration in chosen.configurations
                if configuration.method == method
                for run in configuration.runs
                if run.validation_score is not None
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
        metric = chosen.metric
        named = "" if metric == "accuracy" else f"{metric} "
        for method, configuration in chosen.selected.items():
            test = selection.reported(configuration)
            tie = chosen.choice.get(method, "–")
            lines.append(
                f"selected{where} {method}: {configuration.shown_label} on validation "
                f"{named}{score_text(metric, configuration.validation_mean)}; "
                f"test {mean_std_text(metric, test.mean, test.std)} "
                f"over {len(configuration.runs)} seed(s)"
                + (f"; {tie} against the runner-up" if tie != "–" else "")
                + (f"; {NOT_TUNED}, not ranked" if method in chosen.undertuned else "")
            )
        if chosen.selected and chosen.unselectable:
            lines.append(f"not selected{where} (no validation {metric}): {', '.join(chosen.unselectable)}")
    return lines
