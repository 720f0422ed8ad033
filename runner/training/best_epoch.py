"""Choosing on the validation split: the score after each epoch, the best epoch, early stopping.

The eval (test) split is never read here; it is scored once, after training, with the weights chosen.
The history lives in the training log, so a resumed run judges exactly as an uninterrupted one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accelerate import Accelerator

# The log keys are `validation_<metric>` (`validation_accuracy`...), or `eval_<metric>` for per-epoch
# scores on the eval split of runs without a validation split: a curve to look at, never a choice.


def per_epoch(log: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [{"epoch": r["epoch"], "step": r["step"], "score": r[key]} for r in log if key in r]


def best_epoch(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The epoch with the highest score; the earliest of equals (fewer epochs, same score)."""
    return max(history, key=lambda row: (row["score"], -row["epoch"]), default=None)


# Told each epoch's validation score by a caller that may stop the run there (an adaptive search's
# pruner): (epoch, score) -> True to stop.
EpochReport = Callable[[int, float], bool]


class EpochJudge:
    """Called by the loop after each epoch: scores to log, and whether to stop early."""

    def __init__(
        self,
        score: Callable[[], float],
        key: str,
        patience: int = 0,
        best_weights: BestWeights | None = None,
        report: EpochReport | None = None,
    ) -> None:
        self.score = score
        self.key = key
        self.patience = patience
        self.best_weights = best_weights
        self.report = report

    def __call__(
        self, log: list[dict[str, Any]], epoch: int, step: int, finished: bool
    ) -> tuple[dict[str, float], bool]:
        if finished and self.key.startswith("eval_"):
            return {}, False  # the eval split is scored after training anyway
        score = self.score()
        history = [*per_epoch(log, self.key), {"epoch": epoch, "step": step, "score": score}]
        best = best_epoch(history)
        assert best is not None
        if self.best_weights is not None and best["epoch"] == epoch:
            self.best_weights.save()
        stop = bool(self.patience) and epoch - best["epoch"] >= self.patience
        if self.report is not None and not finished and self.report(epoch, score):
            stop = True  # pruned: the run ends here like an early stop, at its best epoch so far
        return {self.key: score}, stop


class BestWeights:
    """The trainable weights of the best epoch so far, in a file that a resumed run still finds."""

    def __init__(self, path: Path, model: Any, accelerator: Accelerator) -> None:
        self.path = path
        self.model = model
        self.accelerator = accelerator

    def save(self) -> None:
        from safetensors.torch import save_file

        if self.accelerator.is_main_process:
            model = self.accelerator.unwrap_model(self.model)
            state = {k: v.detach().cpu().contiguous() for k, v in model.named_parameters() if v.requires_grad}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(self.path.name + ".partial")
            save_file(state, partial)
            os.replace(partial, self.path)  # a kill mid-write leaves the previous best intact
        self.accelerator.wait_for_everyone()

    def restore(self) -> bool:
        from safetensors.torch import load_file

        self.accelerator.wait_for_everyone()
        if not self.path.is_file():
            return False
        model = self.accelerator.unwrap_model(self.model)
        model.load_state_dict(load_file(self.path, device=str(self.accelerator.device)), strict=False)
        return True
