"""The combinations as processes on this machine, one per slot at a time: a free slot takes the next.

Each process is `ftrun run-combination SWEEP NAME` with its slot's GPUs or thread count in its
environment and its output in `.sweep/logs/<name>.log`. A process that ends without recording an
outcome (a segfault, the OOM killer) is reported from its exit status and its log's last line.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import time
from pathlib import Path

from runner.sweep import claims
from runner.sweep.display import Running, SweepDisplay
from runner.sweep.placement import Command, Slot
from runner.sweep.worker import Outcome, ended

POLL_SECONDS = 0.5
# How long a combination asked to stop (Ctrl-C, its time limit) gets to save a checkpoint and exit.
STOP_GRACE_SECONDS = 60


def run_local(
    sweep_folder: Path,
    names: list[str],
    slots: list[Slot],
    command: Command,
    display: SweepDisplay,
    time_limit: float = float("inf"),
) -> dict[str, Outcome]:
    """Run every named combination, `len(slots)` at a time; each one's outcome. A combination still
    running after `time_limit` seconds is stopped as by Ctrl-C (it checkpoints) and listed as out of time."""
    pending, free = collections.deque(names), list(slots)
    running: dict[subprocess.Popen[bytes], tuple[Running, Slot, float]] = {}
    outcomes: dict[str, Outcome] = {}
    stopped: set[subprocess.Popen[bytes]] = set()
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
                running[process] = (shown, slot, time.time())
                display.started_one(shown)
            time.sleep(POLL_SECONDS)
            now = time.time()
            for process, (_, _, since) in running.items():
                if now - since > time_limit and process not in stopped:
                    stopped.add(process)
                    _stop(process)
                elif now - since > time_limit + STOP_GRACE_SECONDS:
                    process.kill()  # it did not stop when asked: a hang past Ctrl-C
            for process in [p for p in running if p.poll() is not None]:
                shown, slot, since = running.pop(process)
                free.append(slot)
                outcome = ended(sweep_folder, shown.name, process.returncode, since)
                if process in stopped and outcome.status != "finished":
                    outcome = Outcome("failed", out_of_time(time_limit))
                outcomes[shown.name] = outcome
                display.finished_one(shown, outcome.status, outcome.reason)
            display.refresh()
    except KeyboardInterrupt:
        _interrupt(running)
        raise
    return outcomes


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


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C to the combination's whole process group (an `accelerate launch` and its workers)."""
    try:
        os.killpg(process.pid, signal.SIGINT)
    except ProcessLookupError:
        pass


def _interrupt(running: dict[subprocess.Popen[bytes], tuple[Running, Slot, float]]) -> None:
    """Ctrl-C: each running combination gets it too, saves what it can, and is waited for."""
    for process in running:
        _stop(process)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in running:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
