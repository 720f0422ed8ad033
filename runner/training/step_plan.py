"""Step arithmetic: how many optimizer steps a run takes, per process and in total.

Pure functions of the recipe and the process count, kept apart from the loop because they are the
kind of thing that breaks silently under several processes or with gradient accumulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from runner.recipe.schema import TrainSection


@dataclass(frozen=True)
class StepPlan:
    batches_per_epoch: int  # batches of `batch_size` in one epoch, all processes together
    processes: int
    accumulation: int
    epochs: int
    max_steps: int  # 0: no limit
    batch_size: int  # per process

    @property
    def batches_per_process(self) -> int:
        # Accelerate shards the batches; the last process may repeat some to even out the shards.
        return math.ceil(self.batches_per_epoch / self.processes)

    @property
    def steps_per_epoch(self) -> int:
        # An epoch's last, partial accumulation window still ends in an optimizer step.
        return math.ceil(self.batches_per_process / self.accumulation)

    @property
    def total_steps(self) -> int:
        steps = self.steps_per_epoch * self.epochs
        return min(steps, self.max_steps) if self.max_steps else steps

    @property
    def effective_batch_size(self) -> int:
        return self.batch_size * self.processes * self.accumulation

    def scheduler_steps(self, optimizer_steps: int) -> int:
        """A scheduler prepared by Accelerate steps once per process per optimizer step."""
        return optimizer_steps * self.processes


def plan_steps(batches_per_epoch: int, processes: int, cfg: TrainSection) -> StepPlan:
    return StepPlan(
        batches_per_epoch=batches_per_epoch,
        processes=processes,
        accumulation=cfg.gradient_accumulation,
        epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        batch_size=cfg.batch_size,
    )
