"""`engine = "slurm"`: the combinations as a SLURM job array through submitit, one task per combination.

Every task runs the same command a local slot would (`ftrun run-combination SWEEP NAME`) in the
launcher's folder, so the sweep folder must be on a filesystem every node sees; the claims keep two
launchers from running one combination twice, and the last task to finish writes the report.
`engine = "submitit-local"` sends the same jobs through submitit's local executor: the cluster path on
one machine, without SLURM.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.errors import RecipeError
from runner.recipe.fields import option
from runner.sweep import claims
from runner.sweep.executors.base import Executor, Launch
from runner.sweep.outcomes import Outcome, ended
from runner.sweep.placement import THREAD_VARIABLES, Slot, python_prefix
from runner.sweep.settings import ExecutorSettings


@dataclass
class SlurmSettings(ExecutorSettings):
    """The `[sweep.executor]` keys only SLURM (and submitit's local executor) read."""

    wait: bool = option(
        True,
        "SLURM: wait for the array and show its progress (false: submit, print the job id and exit; "
        "the last combination to finish writes the report).",
    )
    partition: str = option("", "SLURM partition (empty: the cluster's default).")
    cpus_per_run: int = option(0, "SLURM CPUs per combination (0: the cluster's default).", minimum=0)
    mem_gb: int = option(0, "SLURM memory per combination in GB (0: the cluster's default).", minimum=0)
    account: str = option("", "SLURM account to charge (empty: your default).")
    slurm_options: dict[str, Any] = option(
        {},
        'Further sbatch options as a table, e.g. `{ qos = "high", constraint = "a100" }`.',
    )


class SlurmExecutor(Executor):
    settings_class = SlurmSettings
    workers_write_report = True  # with `wait = false` the launcher is gone when the last task ends
    cluster = "slurm"  # submitit's name for where the jobs go

    settings: SlurmSettings

    @property
    def waits(self) -> bool:
        return self.settings.wait

    def run(self, launch: Launch) -> dict[str, Outcome]:
        """Submit every combination; with `wait`, wait for them and return their outcomes."""
        executor = _executor(launch.folder, self.settings, self.cluster)
        slot = _slot(self.settings)
        commands = [launch.command(slot, name) for name in launch.names]
        with executor.batch():
            jobs = [
                executor.submit(run_task, c, slot.env, os.getcwd(), str(launch.folder), name)
                for c, name in zip(commands, launch.names, strict=True)
            ]
        ids = sorted({str(job.job_id).split("_")[0] for job in jobs})
        launch.say(f"submitted {len(jobs)} combination(s) as job {', '.join(ids)} ({self.settings.engine}); "
                   f"logs in {claims.state_folder(launch.folder) / 'logs'}/")  # fmt: skip
        if not self.settings.wait:
            launch.say(
                "the last combination to finish writes the report; "
                f"`ftrun compare {launch.folder}` shows the finished ones now"
            )
            return {}
        return _wait(jobs, launch.names, launch.say)


class SubmititLocalExecutor(SlurmExecutor):
    """`engine = "submitit-local"`: the same jobs through submitit's local executor, without SLURM."""

    cluster = "local"


def run_task(
    command: list[str], env: dict[str, str], cwd: str, sweep_folder: str, name: str
) -> dict[str, Any]:
    """One array task: the combination's process, its output in the sweep's log folder; its outcome."""
    since = time.time()
    log = claims.log_file(Path(cwd) / sweep_folder, name)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as handle:
        code = subprocess.call(
            command, cwd=cwd, env={**os.environ, **env}, stdout=handle, stderr=subprocess.STDOUT
        )
    outcome = ended(Path(cwd) / sweep_folder, name, code, since)
    return {"status": outcome.status, "reason": outcome.reason}


def _wait(jobs: list[Any], names: list[str], say: Callable[[str], None]) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    waiting = dict(zip(names, jobs, strict=True))
    while waiting:
        time.sleep(1)
        for name in [n for n, job in waiting.items() if job.done()]:
            job = waiting.pop(name)
            try:
                result = job.result()
                outcome = Outcome(str(result["status"]), str(result["reason"]))
            except Exception as error:  # the job itself failed: cancelled, timed out, node lost
                outcome = Outcome(
                    "failed", f"its job {job.job_id} failed: {str(error).strip().splitlines()[-1:]}"
                )
            outcomes[name] = outcome
            say(f"{outcome.status} {name}{': ' + outcome.reason if outcome.reason else ''} "
                f"({len(outcomes)}/{len(names)})")  # fmt: skip
    return outcomes


def _executor(sweep_folder: Path, settings: SlurmSettings, cluster: str) -> Any:
    try:
        import submitit
    except ImportError:
        raise RecipeError(
            f"[sweep.executor] engine = {settings.engine!r} needs submitit: pip install 'ftrun[slurm]'"
        ) from None
    if cluster == "slurm" and shutil.which("sbatch") is None:
        raise RecipeError(
            "[sweep.executor] engine = 'slurm': no SLURM on this machine (sbatch is not on PATH); "
            "launch from the cluster's login node, or use engine = 'local'"
        )
    executor = submitit.AutoExecutor(folder=claims.state_folder(sweep_folder) / "submitit", cluster=cluster)
    extra = dict(settings.slurm_options)
    if settings.account:
        extra["account"] = settings.account
    parameters: dict[str, Any] = {
        "name": f"ftrun-{sweep_folder.name}",
        "timeout_min": math.ceil(settings.time_minutes),
        "nodes": 1,
        "tasks_per_node": 1,
        "slurm_array_parallelism": settings.parallel or 10_000,
        "slurm_additional_parameters": extra,
    }
    if cluster == "slurm":
        parameters["gpus_per_node"] = settings.gpus_per_run
    if settings.partition:
        parameters["slurm_partition"] = settings.partition
    if settings.cpus_per_run:
        parameters["cpus_per_task"] = settings.cpus_per_run
    if settings.mem_gb:
        parameters["mem_gb"] = settings.mem_gb
    executor.update_parameters(**parameters)
    return executor


def _slot(settings: SlurmSettings) -> Slot:
    """What every task runs with: SLURM gives each its GPUs; the thread count is the task's CPUs."""
    threads = settings.threads or settings.cpus_per_run
    env = {name: str(threads) for name in THREAD_VARIABLES} if threads else {}
    prefix = python_prefix()
    if settings.gpus_per_run > 1:
        prefix = (prefix[0], "-m", "accelerate.commands.launch", "--num_processes",
                  str(settings.gpus_per_run), "-m", "runner")  # fmt: skip
    return Slot(f"{settings.engine} task", env, prefix)
