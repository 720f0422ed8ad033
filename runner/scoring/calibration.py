"""A run's calibration step: a temperature fitted on the validation split's logits (never on the eval
split's), folded into the head's last layer so that every user of the saved folder (plain
`transformers`, `ftrun predict`, the ONNX export, the server) reads calibrated probabilities; and the
eval split's expected calibration error, Brier score and reliability diagram before and after.

The task says whether and how it calibrates (`Task.calibrates`, `fit_temperatures`,
`calibration_scores`); nothing here names a task type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from runner import rundir
from runner.formatting import score_text
from runner.recipe.schema import Recipe
from runner.training.objective import Objective

if TYPE_CHECKING:
    from runner.model.modeling_ftrun import Head

BINS = 15  # equal-width bins of [0, 1] for the expected calibration error and the diagram
RELIABILITY_PNG = "reliability.png"


@dataclass
class Calibration:
    """The temperatures the head's logits are divided by (None: used as they are), and why none was
    fitted where none was."""

    temperatures: list[float] | None = None
    note: str = ""

    def scaled(self, logits: torch.Tensor) -> torch.Tensor:
        if self.temperatures is None:
            return logits
        return logits / torch.tensor(self.temperatures, dtype=logits.dtype, device=logits.device)

    def figure(
        self, objective: Objective, logits: torch.Tensor, targets: Sequence[Any]
    ) -> dict[str, Any] | None:
        """metrics.json's `calibration`: the eval split's figures before and after (None where the task
        has no probabilities). `ece` and `brier` are those of the probabilities the run ships."""
        task = objective.task_type
        if not task.calibrates:
            return None
        gold = objective.gold(targets)
        before = task.calibration_scores(objective.outputs(logits).numpy(), gold, BINS)
        found: dict[str, Any] = {
            "fitted_on": None if self.temperatures is None else "validation",
            "temperature": _shown(self.temperatures),
            "measured_on": "eval",
            "bins": BINS,
            "binned": task.calibration_points,
            "ece_before": before["ece"],
            "brier_before": before["brier"],
            "ece_after": None,
            "brier_after": None,
            "reliability_before": before["reliability"],
        }
        shipped = before
        if self.temperatures is not None:
            shipped = task.calibration_scores(objective.outputs(self.scaled(logits)).numpy(), gold, BINS)
            found |= {
                "ece_after": shipped["ece"],
                "brier_after": shipped["brier"],
                "reliability_after": shipped["reliability"],
            }
        found |= {"ece": shipped["ece"], "brier": shipped["brier"], "note": self.note}
        return found


def _shown(temperatures: list[float] | None) -> float | list[float] | None:
    """One number where one temperature serves every output, else the list (one per label)."""
    if temperatures is None or len(temperatures) > 1:
        return temperatures
    return temperatures[0]


def fit_calibration(
    recipe: Recipe,
    objective: Objective,
    head: Head,
    validation_logits: torch.Tensor | None,
    validation_targets: Sequence[Any] | None,
) -> Calibration:
    """The temperatures fitted on the validation split, or the reason there are none."""
    task = objective.task_type
    if not task.calibrates:
        return Calibration(note=f"{task.name}: no probabilities to calibrate")
    if not recipe.eval.calibrate:
        return Calibration(note="eval.calibrate = false")
    if validation_logits is None or validation_targets is None:
        return Calibration(note="no validation split to fit a temperature on (never the eval split)")
    if not foldable(head):
        return Calibration(note="the head sums several label words per class: no temperature folds in")
    gold = objective.gold(validation_targets)
    return Calibration(task.fit_temperatures(validation_logits.float().numpy(), gold))


def foldable(head: Head) -> bool:
    """Dividing the last layer's rows divides the logits only where each row is one output (a class's
    logsumexp over several word rows is not scaled by scaling its words)."""
    words = head.word_classes
    return words is None or len(set(words)) == len(words)


def fold_temperature(head: Head, calibration: Calibration) -> None:
    """Divide the head's last linear layer (weights and bias, per output row) by the temperatures, so
    that the head's logits are the calibrated ones."""
    if calibration.temperatures is None:
        return
    last = [m for m in head.modules() if isinstance(m, nn.Linear)][-1]
    per_output = torch.tensor(calibration.temperatures, dtype=torch.float32)
    if head.word_classes is not None:  # one row per label word: each row takes its class's temperature
        per_output = per_output.expand(head.num_labels)[torch.tensor(head.word_classes)]
    per_row = per_output.expand(last.out_features).to(last.weight.device)
    with torch.no_grad():
        last.weight.copy_((last.weight.float() / per_row[:, None]).to(last.weight.dtype))
        if last.bias is not None:
            last.bias.copy_((last.bias.float() / per_row).to(last.bias.dtype))


def write_reliability_diagram(path: Path, figure: dict[str, Any]) -> Path | None:
    """Share right against mean confidence per bin, before and after, beside the diagonal; None where no
    temperature was fitted (nothing to set beside the uncalibrated curve)."""
    if not figure.get("reliability_after"):
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect calibration")
    for name, color in (("before", "#d62728"), ("after", "#1f77b4")):
        bins = [b for b in figure.get(f"reliability_{name}") or [] if b["count"]]
        if bins:
            ece = figure[f"ece_{name}"]
            ax.plot(
                [b["confidence"] for b in bins],
                [b["accuracy"] for b in bins],
                marker="o",
                color=color,
                label=f"{name} (ECE {score_text('ece', ece)})",
            )
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean confidence in bin", ylabel="share right in bin")
    ax.set_title(f"Reliability on the eval split ({figure['bins']} bins)", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    with rundir.replacing(path, "wb") as file:
        fig.savefig(file, format="png", dpi=120)
    plt.close(fig)
    return path
