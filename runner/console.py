"""What the user sees in the terminal: progress bars, a finished run's summary, the libraries kept quiet.

Progress on long work is rich bars in a terminal and plain lines at a steady interval in a log file: a
run started under nohup, a batch scheduler or CI has no terminal, and rich would then print nothing
until the end, so the log shows a line every `FTRUN_PROGRESS_SECONDS` (30 by default) instead.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    from runner.rundir.record import RunRecord


class ProgressBars(Protocol):
    """The part of rich's `Progress` that ftrun uses; `PlainProgress` is the other implementation."""

    @property
    def console(self) -> Console: ...
    def __enter__(self) -> Any: ...
    def __exit__(self, *exc: Any) -> Any: ...
    def add_task(self, description: str, *args: Any, **fields: Any) -> Any: ...
    def advance(self, task_id: Any, advance: float = 1) -> None: ...
    def update(self, task_id: Any, *args: Any, **fields: Any) -> None: ...
    def remove_task(self, task_id: Any) -> None: ...


def progress_bars(console: Console, is_main: bool) -> ProgressBars:
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


def print_summary(console: Console, folder: Path, record: RunRecord) -> None:
    from runner import formatting, registry

    metric, companion = record.metric, registry.task(record.task).companion
    table = Table(title=f"{record.method} · {record.model}")
    for column in (f"{formatting.metric_name(metric)} (95% CI)", formatting.metric_name(companion)):
        table.add_column(column, justify="right")
    for column in ("batch-1 p50 ms", "train s", "trainable"):
        table.add_column(column, justify="right")
    latency = record.latency or {}
    table.add_row(
        formatting.with_interval(metric, record.score, record.scores.score_ci95),
        formatting.score_text(companion, record.scores.get(companion)),
        f"{latency['batch1_ms_p50']:.1f}" if latency else "–",
        f"{record.train.seconds:.1f}",
        f"{100 * record.params.trainable_fraction:.3g}%",
    )
    console.print(table)
    for warning in record.warnings:
        console.print(f"[yellow]{warning}[/]")
    console.print(f"run folder: [bold]{folder}[/]", soft_wrap=True)


def quiet_libraries() -> None:
    """ftrun draws its own progress; the libraries' per-file bars and load reports are noise here."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    # Under train.compile with several processes, DDP syncs its buffers before each forward, a call
    # the compiler cannot trace: one graph break ahead of the model, harmless, and a known limitation
    # (pytorch/pytorch#139440), not the user's to fix.
    warnings.filterwarnings(
        "ignore", message="Dynamo does not know how to trace the builtin `torch._C._distributed_c10d"
    )
    # bitsandbytes (qlora) looks for an optional hub kernel for its CPU bf16 path and warns where it is
    # not installed; ftrun keeps its 4-bit layers off that path (runner.methods.qlora), so it is noise.
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    # Looking for that kernel, the `kernels` package says offline that it skips the publisher trust check
    # of a repository ftrun never asked for; only that message is dropped, its other warnings stay.
    kernels_hub = logging.getLogger("kernels._internals.hf_hub")
    if _skipped_trust_check not in kernels_hub.filters:
        kernels_hub.addFilter(_skipped_trust_check)


def _skipped_trust_check(record: logging.LogRecord) -> bool:
    """False (drop it) for the `kernels` package's line about skipping a hub repository's trust check."""
    return not record.getMessage().startswith("Skipping publisher trust check")
