"""Was a method searched enough for its result to speak for the method? Three signs that it was not:

- **at the edge**: a numeric key the method's configurations varied (three values or more: with two,
  every choice is at an edge) was chosen at its lowest or highest value tried, so the best may lie
  beyond the range;
- **degenerate**: every configuration of the method collapsed: most of its runs predict one class (or
  one set of labels) for (nearly) every example, as the run's warning says, or its validation score is
  within noise (the run's own 95% interval) of the best constant prediction's;
- **still improving**: the chosen configuration's validation score was best at the last epoch and
  rose there by at least the margin (the smallest difference that matters, `compare.margin`), in
  most of its seeds: another epoch like the last would change the result by a difference that
  matters, where a rise smaller than the margin is a plateau.

A flagged method is shown, marked "not tuned enough" with what to try, and kept out of the ranking,
the paired tests and the verdict, unless it already leads on validation without having collapsed
(`ahead_anyway`): then it is ranked, its flags kept as a note that it may do better still. Only
validation figures and the runs' own warnings are read.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner import registry
from runner.compare.configurations import Configuration, RunResult
from runner.recipe import margins, schema
from runner.recipe.spelling import compact_number
from runner.rundir.finished import Outputs
from runner.scoring.task_metrics import as_arrays, metric_value

NOT_TUNED = "not tuned enough"
HEAD_LR_KEY = "train.head_lr"
CONSTANT_ANSWERS = 20  # the most common gold answers tried as a constant prediction


@dataclass(frozen=True)
class Flag:
    sign: str  # "at the edge", "degenerate", "still improving"
    found: str  # what was seen
    advice: str  # what to try

    def text(self) -> str:
        return f"{self.found}; try {self.advice}"


def flags(
    found: list[Configuration],
    selected: Mapping[str, Configuration],
    validation_outputs: Mapping[str, Outputs | None],
    margin: float = 0.0,
) -> dict[str, list[Flag]]:
    """Each selected method's signs of too little search (methods without any are left out).
    `validation_outputs`: each run's validation answers by run name, where it saved them; `margin`: the
    smallest difference of the headline metric that matters (0: the metric's default)."""
    found_flags = {}
    for method, chosen in selected.items():
        of_method = [c for c in found if c.method == method]
        signs = [
            *edge_flags(of_method, chosen),
            *degenerate_flags(of_method, validation_outputs, method),
            *rising_flags(chosen, margin),
        ]
        if signs:
            found_flags[method] = signs
    return found_flags


def ahead_anyway(
    found: dict[str, list[Flag]], selected: Mapping[str, Configuration]
) -> dict[str, list[Flag]]:
    """The flagged method that leads on validation, if any: none of its flags is "degenerate" and its
    validation score is the best of all, above every unflagged method's (if there are any: where every
    method is flagged, the best of those that did not collapse leads). More search can only help
    it, so it is ranked (as the best) with its flags as a note; excluding it would recommend a method
    it already beats. Other flagged methods stay out: ranked below it, they would read as worse."""
    unflagged = [c.validation_mean for m, c in selected.items() if m not in found]
    bar = max((v for v in unflagged if v is not None), default=-math.inf)
    leading = [
        method
        for method, signs in found.items()
        if all(sign.sign != "degenerate" for sign in signs)
        and (selected[method].validation_mean or -math.inf) > bar
    ]
    if not leading:
        return {}
    top = max(leading, key=lambda m: selected[m].validation_mean or -math.inf)
    return {top: found[top]}


def edge_flags(of_method: list[Configuration], chosen: Configuration) -> list[Flag]:
    found = []
    for key in _varied_numeric_keys(of_method):
        tried = sorted({c.runs[0].settings[key] for c in of_method})
        if len(tried) < 3:
            continue
        value = chosen.runs[0].settings[key]
        if value in (tried[0], tried[-1]):
            side = "lowest" if value == tried[0] else "highest"
            beyond = "below" if side == "lowest" else "above"
            found.append(
                Flag(
                    "at the edge",
                    f"{key}={_shown(value)} is the {side} of the {len(tried)} values tried",
                    f"widening {key}'s range {beyond} {_shown(value)}",
                )
            )
    return found


def degenerate_flags(
    of_method: list[Configuration], validation_outputs: Mapping[str, Outputs | None], method: str = ""
) -> list[Flag]:
    why = [_degenerate(c, validation_outputs) for c in of_method]
    if not why or not all(why):
        return []
    one_class = all(reason == "one-class" for reason in why)
    found = (
        f"all {len(why)} configuration(s) predict one class for (nearly) every example"
        if one_class
        else f"all {len(why)} configuration(s) score within noise of a constant prediction on validation"
    )
    return [Flag("degenerate", found, _degenerate_advice(method))]


def rising_flags(chosen: Configuration, margin: float = 0.0) -> list[Flag]:
    rising = [run for run in chosen.runs if still_improving(run, margin)]
    if not rising or 2 * len(rising) < len(chosen.runs):
        return []
    epochs = chosen.runs[0].settings.get("train.epochs")
    more = f"more than {epochs} epochs (train.epochs)" if epochs else "more epochs (train.epochs)"
    return [
        Flag(
            "still improving",
            f"validation was best at the last epoch and still rising by the margin or more in "
            f"{len(rising)} of {len(chosen.runs)} seed(s)",
            more,
        )
    ]


def still_improving(run: RunResult, margin: float = 0.0) -> bool:
    """Best at the last of two or more epochs, and higher there than the epoch before by at least the
    margin (0: the metric's default; an error's is a share of the run's own last score)."""
    history = (run.record.validation or {}).get("per_epoch") or []
    found = [row.get("score") for row in history if isinstance(row, dict)]
    scores = [float(s) for s in found if isinstance(s, (int, float))]
    if len(scores) < 2 or len(scores) != len(found):
        return False
    needed = margin or margins.default_margin(run.metric, scores[-1])
    return scores[-1] - scores[-2] >= needed and scores[-1] > scores[-2] and scores[-1] >= max(scores)


def _degenerate(configuration: Configuration, validation_outputs: Mapping[str, Outputs | None]) -> str:
    """Why the configuration collapsed ("one-class", "constant"), or "" where it did not."""
    runs = configuration.runs
    if 2 * sum(run.predicts_one_class for run in runs) >= len(runs):
        return "one-class"
    near = [_near_constant(run, validation_outputs.get(run.name)) for run in runs]
    return "constant" if near and 2 * sum(near) >= len(runs) else ""


def _near_constant(run: RunResult, outputs: Outputs | None) -> bool:
    """The run's validation score is within its own 95% interval's half-width of the best score a
    constant prediction gets on the same validation examples."""
    validation = run.record.validation or {}
    score, interval = run.validation_score, validation.get("score_ci95")
    if score is None or not outputs or not isinstance(interval, (list, tuple)) or len(interval) != 2:
        return False
    constant = constant_score(run.record.task, run.metric, [gold for gold, _ in outputs.values()])
    return constant is not None and score <= constant + (interval[1] - interval[0]) / 2


def constant_score(task: str, metric: str, gold: list[Any]) -> float | None:
    """The best score of answering every example alike, with one of the gold's most common answers (a
    correlation of a constant is undefined: chance, 0)."""
    best = None
    by_text = {repr(g): g for g in gold}
    for text, _ in Counter(repr(g) for g in gold).most_common(CONSTANT_ANSWERS):
        answer = by_text[text]
        arrays = as_arrays(task, gold, [answer] * len(gold))
        value = metric_value(task, metric, *arrays)
        value = 0.0 if math.isnan(value) else value
        best = value if best is None else max(best, value)
    return best


def _degenerate_advice(method: str) -> str:
    if method in registry.METHODS and registry.method_class(method).fits_outside_torch:
        # A fitted baseline has no learning rate or epochs: its regularisation is what it can change.
        return "a wider method.C_grid (method.alpha_grid for a number per text) or more training data"
    trains = {f.name for f in dataclasses.fields(schema.TrainSection)}
    head = HEAD_LR_KEY.split(".")[1] in trains
    first = f"a higher head learning rate ({HEAD_LR_KEY})" if head else "a higher learning rate (train.lr)"
    return f'{first}, more epochs, or train.class_weights = "balanced"'


def _varied_numeric_keys(of_method: list[Configuration]) -> list[str]:
    settings = [c.runs[0].settings for c in of_method]
    keys = sorted({k for s in settings for k in s})
    return [
        k
        for k in keys
        if all(isinstance(s.get(k), (int, float)) and not isinstance(s.get(k), bool) for s in settings)
        and len({s[k] for s in settings}) > 1
    ]


def _shown(value: Any) -> str:
    return compact_number(value) if isinstance(value, float) else str(value)
