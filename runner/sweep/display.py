"""What a sweep shows while it runs: every running combination and the sweep's progress and time left.

In a terminal a live table (rich) redraws in place; without one (nohup, a batch job, CI) it prints a
line when a combination starts or ends and, every `FTRUN_PROGRESS_SECONDS`, where each running one is.
A combination's own progress is the last line of its log: each runs without a terminal, so its log
holds ftrun's plain progress lines.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from runner.sweep import claims


@dataclasses.dataclass
class Running:
    name: str
    where: str
    started: float  # time.monotonic()
    log: Path

    def last_line(self) -> str:
        last = claims.last_line(self.log)
        return "starting" if last.startswith("--- ") else last  # the launcher's own header line


class SweepDisplay:
    def __init__(self, total: int, done_before: int, slots: int, console: Console) -> None:
        self.total, self.done, self.slots = total, done_before, slots
        self.console = console
        self.failed = 0
        self.durations: list[float] = []
        self.started = time.monotonic()
        self.running: list[Running] = []
        self.live: Live | None = None
        self.interval = float(os.environ.get("FTRUN_PROGRESS_SECONDS", "30"))
        self.printed = self.started

    def __enter__(self) -> SweepDisplay:
        if self.console.is_terminal:
            self.live = Live(self._render(), console=self.console, refresh_per_second=2, transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def say(self, line: str) -> None:
        """A line kept above the live table (or printed plainly)."""
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def started_one(self, running: Running) -> None:
        self.running.append(running)
        self.say(f"started {running.name} on {running.where}")

    def finished_one(self, running: Running, status: str, reason: str) -> None:
        self.running.remove(running)
        seconds = time.monotonic() - running.started
        if status == "finished":
            self.done += 1
            self.durations.append(seconds)
            self.say(
                f"finished {running.name} in {_clock(seconds)} ({self.done}/{self.total})"
                f" · {self.time_left()}"
            )
        elif status == "failed":
            self.failed += 1
            self.say(f"failed {running.name} after {_clock(seconds)}: {reason}")
        else:  # finished already by another launcher, or running in one
            self.done += status == "skipped"
            self.say(f"{running.name}: {reason}")

    def refresh(self) -> None:
        if self.live is not None:
            self.live.update(self._render())
            return
        now = time.monotonic()
        if now - self.printed >= self.interval and self.running:
            self.printed = now
            self.say(self._headline())
            for running in self.running:
                self.say(
                    f"  {running.name} ({running.where}, {_clock(now - running.started)}): "
                    + running.last_line()
                )

    def time_left(self) -> str:
        """Mean time of the combinations finished here, times what is left, over the slots."""
        if not self.durations:
            return "time left unknown until one finishes"
        mean = sum(self.durations) / len(self.durations)
        now = time.monotonic()
        waiting = self.total - self.done - self.failed - len(self.running)
        work = waiting * mean + sum(max(mean - (now - r.started), 0) for r in self.running)
        return f"~{_clock(work / max(self.slots, 1))} left"

    def _headline(self) -> str:
        failed = f", {self.failed} failed" if self.failed else ""
        return (
            f"sweep: {self.done}/{self.total} finished{failed}, {len(self.running)} running · "
            f"{_clock(time.monotonic() - self.started)} elapsed · {self.time_left()}"
        )

    def _render(self) -> Group:
        table = Table(box=None, show_header=True, pad_edge=False)
        for column in ("running", "on", "for", "progress"):
            table.add_column(column, overflow="ellipsis", no_wrap=True)
        now = time.monotonic()
        for running in self.running:
            table.add_row(running.name, running.where, _clock(now - running.started), running.last_line())
        return Group(Text(self._headline(), style="bold"), table)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"
