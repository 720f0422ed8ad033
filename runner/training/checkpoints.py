"""Checkpoints a crashed or interrupted run resumes from, written so a kill can never corrupt one.

Each checkpoint is written into a `.partial` folder and renamed into place once complete (a rename
within one folder is atomic), so at any instant the newest complete checkpoint is intact. Only
then are older ones removed, down to `keep`.

RUN/checkpoint/step-00000040/   accelerate's state (weights, optimizer, scheduler, RNG) + progress.json
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.errors import RunFolderError

if TYPE_CHECKING:
    from accelerate import Accelerator

PROGRESS = "progress.json"


@dataclass
class TrainingState:
    """Where training stands: enough to continue at the exact batch, with its time and logs."""

    steps: int = 0
    epoch: int = 0  # epochs finished
    batches_in_epoch: int = 0  # batches of the current epoch this process has trained on
    examples: int = 0
    tokens: int = 0
    seconds: float = 0.0
    log: list[dict[str, Any]] = field(default_factory=list)
    window: dict[str, float] = field(default_factory=dict)  # the loss-log window in progress
    stopped_early: bool = False


class Checkpoints:
    def __init__(self, folder: Path, every: int, keep: int) -> None:
        self.folder = folder
        self.every = every  # optimizer steps; 0: at each epoch's end
        self.keep = keep

    def due(self, steps: int, epoch_ended: bool) -> bool:
        if epoch_ended:
            return not self.every
        return self.every > 0 and steps % self.every == 0

    def save(self, accelerator: Accelerator, state: TrainingState) -> None:
        final = self.folder / f"step-{state.steps:08d}"
        partial = final.with_name(final.name + ".partial")
        if accelerator.is_main_process:
            shutil.rmtree(partial, ignore_errors=True)  # left by a kill during an earlier write
            partial.mkdir(parents=True)  # before any process writes its part of the state into it
        accelerator.wait_for_everyone()
        accelerator.save_state(str(partial))
        # Every process writes its own RNG state into the folder: renaming it before the last one has
        # finished would pull the folder from under that write.
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            (partial / PROGRESS).write_text(json.dumps(asdict(state)))
            shutil.rmtree(final, ignore_errors=True)  # the same step saved at an epoch's end, too
            partial.rename(final)
            for old in self.complete()[: -self.keep]:
                shutil.rmtree(old, ignore_errors=True)
        accelerator.wait_for_everyone()

    def complete(self) -> list[Path]:
        """Finished checkpoints, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.glob("step-*") if p.is_dir() and not p.name.endswith(".partial"))

    def resume(self, accelerator: Accelerator, warn: Any) -> TrainingState:
        """Load the newest readable checkpoint; a corrupt one is named and the one before it used."""
        candidates = self.complete()
        for checkpoint in reversed(candidates):
            problem = corruption(checkpoint)
            if problem is None:
                try:
                    accelerator.load_state(str(checkpoint))
                except Exception as error:  # torch and pickle raise many types for a damaged file
                    problem = f"cannot load {checkpoint}: {type(error).__name__}"
            if problem is None:
                return TrainingState(**json.loads((checkpoint / PROGRESS).read_text()))
            if checkpoint is candidates[0]:
                raise RunFolderError(f"{problem}; no earlier checkpoint to fall back to")
            warn(f"{problem}; falling back to the checkpoint before it")
        return TrainingState()

    def nothing_to_resume(self) -> str | None:
        """Why no checkpoint can be resumed from, as far as can be seen without loading one; None if one can.

        An explicit resume asks this before the model loads: one that cannot resume stops, where the
        training loop alone would start from step 0.
        """
        candidates = self.complete()
        if not candidates:
            return "no complete checkpoint (the run stopped before its first was written)"
        problems = [corruption(checkpoint) for checkpoint in candidates]
        if all(problems):
            return f"no intact checkpoint ({problems[-1]})"
        return None

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def corruption(checkpoint: Path) -> str | None:
    """What is wrong with a checkpoint folder, if anything can be seen without loading it."""
    for file in sorted(checkpoint.iterdir()):
        if file.is_file() and file.stat().st_size == 0:
            return f"corrupt checkpoint file {file} (0 bytes)"
    try:
        progress = json.loads((checkpoint / PROGRESS).read_text())
        TrainingState(**progress)
    except (OSError, ValueError, TypeError):
        return f"corrupt checkpoint file {checkpoint / PROGRESS}"
    return None
