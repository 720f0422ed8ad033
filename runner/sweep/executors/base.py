"""What an executor is: it runs a sweep's pending combinations somewhere and says how each ended.

The launcher (`runner.sweep.execution`) checks every combination, skips the finished ones and hands
the rest to the executor the `engine` names, with the command that runs one combination in a slot
(`ftrun run-combination SWEEP NAME`, `runner.sweep.worker`). However an engine places the processes,
each combination runs through that command, so claims, resuming and outcomes are the same everywhere.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from runner.sweep.outcomes import Outcome
from runner.sweep.placement import Command
from runner.sweep.settings import ExecutorSettings


@dataclasses.dataclass(frozen=True)
class Launch:
    """What a launcher hands an executor."""

    sweep_path: Path
    folder: Path  # the sweep folder: run folders, and `.sweep/` with claims, outcomes and logs
    names: list[str]  # the combinations to run, in order
    total: int  # combinations in the sweep, the finished ones included (for a progress display)
    command: Command  # the command line that runs one combination in a slot
    say: Callable[[str], None]


class Executor:
    """One engine. A subclass names its settings class (its own `[sweep.executor]` keys, checked like
    recipe keys) and implements `run`; one line in `runner.sweep.executors.REGISTRY` makes it usable."""

    settings_class: ClassVar[type[ExecutorSettings]] = ExecutorSettings
    # True where the launcher may be gone when the last combination ends (a SLURM array): each worker
    # then writes the report if it finished the last one. Otherwise the launcher writes it.
    workers_write_report: ClassVar[bool] = False

    def __init__(self, settings: ExecutorSettings) -> None:
        self.settings = settings

    @property
    def waits(self) -> bool:
        """Whether `run` returns once every combination has ended (else once they are submitted)."""
        return True

    def run(self, launch: Launch) -> dict[str, Outcome]:
        """Run `launch.names`; how each ended (none where `waits` is false)."""
        raise NotImplementedError
