"""`engine = "local"`: the combinations as processes on this machine, one per slot at a time.

Each process is `ftrun run-combination SWEEP NAME` with its slot's GPUs or thread count in its
environment and its output in `.sweep/logs/<name>.log`; a free slot takes the next combination. A
process that ends without recording an outcome (a segfault, the OOM killer) is reported from its exit
status and its log's last line.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import signal
import subprocess
import time
from pathlib import Path

from rich.console import Console

from runner.sweep import claims, placement
from runner.sweep.display import Running, SweepDisplay
from runner.sweep.executors.base import Executor, Launch
from runner.sweep.outcomes import Outcome, ended
from runner.sweep.placement import Command, Slot

POLL_SECONDS = 0.5
# How long a combination asked to stop (Ctrl-C, its time limit) gets to exit before it is killed.
STOP_GRACE_SECONDS = 60
# The interrupt is sent again this often until the process exits: one that reached it while Python
# was still starting (or was swallowed by a library) must not leave the kill a minute later to end it.
STOP_REPEAT_SECONDS = 5


class LocalExecutor(Executor):
    def run(self, launch: Launch) -> dict[str, Outcome]:
        slots = placement.plan_slots(self.settings, launch.say)
        where = slots[0].label + (" each" if len(slots) > 1 else "")
        launch.say(
            f"{len(launch.names)} to run, {len(slots)} at a time ({where}); "
            f"logs in {claims.state_folder(launch.folder) / 'logs'}/"
        )
        finished_before = launch.total - len(launch.names)
        with SweepDisplay(launch.total, finished_before, len(slots), Console(stderr=True)) as display:
            try:
                return run_local(
                    launch.folder,
                    launch.names,
                    slots,
                    launch.command,
                    display,
                    time_limit=self.settings.time_minutes * 60,
                )
            except KeyboardInterrupt:
                display.say(
                    f"sweep interrupted: run `ftrun {launch.sweep_path}` again to continue where it stopped"
                )
                raise


@dataclasses.dataclass
class _Started:
    shown: Running
    slot: Slot
    since: float  # wall-clock time it started (outcomes are matched by file time)
    stop_asked: float | None = None  # when it was first asked to stop (its time was up)
    last_asked: float = 0.0


def run_local(
    sweep_folder: Path,
    names: list[str],
    slots: list[Slot],
    command: Command,
    display: SweepDisplay,
    time_limit: float = float("inf"),
) -> dict[str, Outcome]:
    """Run every named combination, `len(slots)` at a time; each one's outcome. A combination still
    running after `time_limit` seconds is stopped as by Ctrl-C and listed as out of time."""
    pending, free = collections.deque(names), list(slots)
    running: dict[subprocess.Popen[bytes], _Started] = {}
    outcomes: dict[str, Outcome] = {}
    try:
        while pending or running:
            while pending and free:
                name = pending.popleft()
                if claims.is_claimed(sweep_folder, name):
                    outcomes[name] = Outcome("busy", "running in another launcher")
                    display.say(f"{name}: running in another launcher, left to it")
                    continue
                slot = free.pop(0)
                process, shown = _start(sweep_folder, name, slot, command)
                running[process] = _Started(shown, slot, time.time())
                display.started_one(shown)
            time.sleep(POLL_SECONDS)
            for process, started in running.items():
                _enforce_time_limit(process, started, time_limit)
            for process in [p for p in running if p.poll() is not None]:
                started = running.pop(process)
                free.append(started.slot)
                outcome = ended(sweep_folder, started.shown.name, process.returncode, started.since)
                if started.stop_asked is not None and outcome.status != "finished":
                    outcome = Outcome("failed", out_of_time(time_limit))
                outcomes[started.shown.name] = outcome
                display.finished_one(started.shown, outcome.status, outcome.reason)
            display.refresh()
    except KeyboardInterrupt:
        _interrupt(list(running))
        raise
    return outcomes


def _enforce_time_limit(process: subprocess.Popen[bytes], started: _Started, time_limit: float) -> None:
    """Past its limit: Ctrl-C, again every few seconds while it runs, and a kill after the grace."""
    now = time.time()
    if now - started.since <= time_limit:
        return
    if started.stop_asked is None:
        started.stop_asked = now
    if now - started.stop_asked > STOP_GRACE_SECONDS:
        process.kill()  # it did not stop when asked: a hang past Ctrl-C
    elif now - started.last_asked >= STOP_REPEAT_SECONDS:
        started.last_asked = now
        stop(process)


def _start(
    sweep_folder: Path, name: str, slot: Slot, command: Command
) -> tuple[subprocess.Popen[bytes], Running]:
    log = claims.log_file(sweep_folder, name)
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **slot.env}
    env.setdefault("FTRUN_PROGRESS_SECONDS", "5")  # its log is what the display shows of it
    with log.open("ab") as handle:
        handle.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} on {slot.label}\n".encode())
        handle.flush()
        # Its own session: a Ctrl-C in the terminal reaches the launcher, which passes it on below.
        process = subprocess.Popen(
            command(slot, name), stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    return process, Running(name, slot.label, time.monotonic(), log)


def out_of_time(time_limit: float) -> str:
    return (
        f"stopped after {time_limit / 60:g} minutes (sweep.executor.time_minutes); "
        "the next start resumes it from its last checkpoint"
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C to the combination's whole process group (an `accelerate launch` and its workers)."""
    try:
        os.killpg(process.pid, signal.SIGINT)
    except ProcessLookupError:
        pass


def _interrupt(running: list[subprocess.Popen[bytes]]) -> None:
    """Ctrl-C: each running combination gets it too, saves what it can, and is waited for."""
    for process in running:
        stop(process)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in running:
        while process.poll() is None and time.monotonic() < deadline:
            try:
                process.wait(timeout=min(STOP_REPEAT_SECONDS, max(deadline - time.monotonic(), 0.1)))
            except subprocess.TimeoutExpired:
                stop(process)  # asked while it was still starting: ask again
        if process.poll() is None:
            process.kill()
