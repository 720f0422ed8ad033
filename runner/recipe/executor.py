"""The `[sweep.executor]` table's keys: where a sweep's combinations run and how many at once.

Part of the recipe's schema (the recipe reference lists them under `sweep.executor`), kept apart from
`schema.py` because only a sweep reads them; `runner.sweep.settings` reads the table and the flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner.recipe.fields import option

EXECUTOR = "executor"  # the [sweep.executor] sub-table: settings, not a method's axes
ENGINES = ("local", "slurm", "submitit-local")


@dataclass
class ExecutorSettings:
    engine: str = option(
        "local",
        "`local`: the combinations run as processes on this machine. `slurm`: a SLURM job array "
        "through submitit (`pip install 'ftrun[slurm]'`), one task per combination. `submitit-local`: "
        "the same jobs through submitit's local executor, to try a cluster recipe on one machine.",
        choices=ENGINES,
    )
    parallel: int = option(
        1,
        "Combinations running at once. Locally each gets its own GPU (or `gpus_per_run` of them), or "
        "a share of the CPU cores; on SLURM it caps the array's running tasks (0: no cap).",
        minimum=0,
    )
    threads: int = option(
        0,
        "torch threads per combination (0: the machine's cores divided by `parallel`). A combination's "
        "CPU results depend on its thread count, never on what runs beside it: the same count "
        "reproduces a combination serially or in parallel.",
        minimum=0,
    )
    gpus_per_run: int = option(
        1,
        "GPUs per combination; above 1 each combination runs under `accelerate launch` with that many "
        "processes. Ignored on a machine without GPUs.",
        minimum=1,
    )
    wait: bool = option(
        True,
        "SLURM: wait for the array and show its progress (false: submit, print the job id and exit; "
        "the last combination to finish writes the report).",
    )
    partition: str = option("", "SLURM partition (empty: the cluster's default).")
    time_minutes: float = option(
        24 * 60,
        "Time limit per combination, in minutes. On SLURM each task's time limit; here, a combination "
        "still running then is stopped as by Ctrl-C (it saves a checkpoint), listed as out of time, and "
        "resumes from that checkpoint on the next start: a hang costs that combination only.",
        minimum=0.01,
    )
    cpus_per_run: int = option(0, "SLURM CPUs per combination (0: the cluster's default).", minimum=0)
    mem_gb: int = option(0, "SLURM memory per combination in GB (0: the cluster's default).", minimum=0)
    account: str = option("", "SLURM account to charge (empty: your default).")
    slurm_options: dict[str, Any] = option(
        {},
        'Further sbatch options as a table, e.g. `{ qos = "high", constraint = "a100" }`.',
    )
