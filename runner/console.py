"""Progress on long work: rich bars in a terminal, plain lines at a steady interval in a log file.

A run started under nohup, a batch scheduler or CI has no terminal; rich would then print nothing
until the end, so the log shows a line every `FTRUN_PROGRESS_SECONDS` (30 by default) instead.
"""

from __future__ import annotations

import os
import time
from typing import Any

import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def progress_bars(console: Console, is_main: bool) -> Any:
    if is_main and not console.is_terminal:
        return PlainProgress(console, float(os.environ.get("FTRUN_PROGRESS_SECONDS", "30")))
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        disable=not is_main,
    )


class PlainProgress:
    """The part of rich's Progress that ftrun uses, printed as one line per interval."""

    def __init__(self, console: Console, interval: float) -> None:
        self.console = console
        self.interval = interval
        self.tasks: dict[int, dict[str, Any]] = {}

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, description: str, total: int, completed: int = 0, info: str = "") -> int:
        now = time.monotonic()
        task_id = len(self.tasks)
        self.tasks[task_id] = {
            "description": description,
            "total": total,
            "completed": completed,
            "start_completed": completed,
            "info": info,
            "started": now,
            "printed": now,
        }
        return task_id

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, advance=advance)

    def update(self, task_id: int, advance: float = 0, info: str | None = None) -> None:
        task = self.tasks[task_id]
        task["completed"] += advance
        if info is not None:
            task["info"] = info
        now = time.monotonic()
        if now - task["printed"] >= self.interval:
            task["printed"] = now
            self.console.print(plain_line(task, now), markup=False, highlight=False, soft_wrap=True)

    def remove_task(self, task_id: int) -> None:
        self.tasks.pop(task_id, None)


def plain_line(task: dict[str, Any], now: float) -> str:
    done, total = task["completed"], task["total"]
    elapsed = now - task["started"]
    rate = (done - task["start_completed"]) / elapsed if elapsed > 0 else 0.0
    left = f"{(total - done) / rate:.0f}s left" if rate > 0 else "time left unknown"
    info = f" · {task['info']}" if task["info"] else ""
    return f"{task['description']}: {done:.0f}/{total} ({100 * done / max(total, 1):.0f}%){info} · {left}"


def tracked_predict(
    label: str, model: Any, loader: Any, forward: Any, accelerator: Any, size: int, progress: Any
) -> torch.Tensor:
    """`train.predict` with a progress bar: evaluating or featurising a large split takes minutes."""
    from runner.training.loop import predict

    task = progress.add_task(label, total=size, info="")

    def tracked(module: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        output = forward(module, batch)
        progress.advance(task, len(batch["index"]) * accelerator.num_processes)
        return output

    try:
        return predict(model, loader, tracked, accelerator, size)
    finally:
        progress.remove_task(task)
