"""How a combination ended: recorded by its worker in `.sweep/<name>.json`, read by whoever started it.

A process that dies before recording one (a segfault, the OOM killer, a kill at its time limit) is
reported from its exit status or signal and its log's last line instead.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import time
from pathlib import Path

from runner import rundir
from runner.sweep import claims

EXIT_FAILED = 1
EXIT_BUSY = 75  # another process holds the combination (EX_TEMPFAIL): not a failure


COPIED = "the best trial's run on this seed, copied"  # a search's confirmation that cost no training


@dataclasses.dataclass
class Outcome:
    status: str  # finished | skipped | failed | busy
    reason: str = ""
    seconds: float = 0.0

    def exit_code(self) -> int:
        """The worker process's exit status, for a launcher that finds no recorded outcome."""
        return {"failed": EXIT_FAILED, "busy": EXIT_BUSY}.get(self.status, 0)


def ended(sweep_folder: Path, name: str, code: int, since: float) -> Outcome:
    """How a combination's process ended: the outcome it recorded after `since` (a wall-clock time),
    or, where it died without one, its exit status or signal and its log's last line."""
    if code == EXIT_BUSY:
        return Outcome("busy", "running in another launcher, left to it")
    recorded = read_outcome(sweep_folder, name, since)
    if recorded is not None:
        return recorded
    if code < 0:
        killer = signal.Signals(-code).name
        cause = " (the out-of-memory killer?)" if -code == signal.SIGKILL else ""
        reason = f"its process was killed by {killer}{cause}"
    else:
        reason = f"its process exited with status {code}"
    log = claims.log_file(sweep_folder, name)
    last = claims.last_line(log)
    return Outcome("failed", f"{reason}; last line of {log}: {last}" if last else reason)


def read_outcome(sweep_folder: Path, name: str, since: float) -> Outcome | None:
    """The outcome a worker recorded after `since` (a wall-clock time), or None."""
    path = _outcome_file(sweep_folder, name)
    try:
        if path.stat().st_mtime < since:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return Outcome(str(data["status"]), str(data.get("reason", "")), float(data.get("seconds", 0)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def record(sweep_folder: Path, name: str, outcome: Outcome) -> None:
    data = {
        **dataclasses.asdict(outcome),
        "host": socket.gethostname(),
        "pid": os.getpid(),  # the process whose peak memory the run's metrics.json reports
        "finished_at": time.time(),
    }
    rundir.write_json(_outcome_file(sweep_folder, name), data)


def _outcome_file(sweep_folder: Path, name: str) -> Path:
    return claims.state_folder(sweep_folder) / f"{name}.json"
