"""Where each running combination computes on this machine: its GPUs, or its share of the CPU cores.

A slot is one place a combination runs: GPU `i` (or `k` GPUs for a recipe that runs under `accelerate
launch` with `k` processes), pinned with `CUDA_VISIBLE_DEVICES`; or, without GPUs, `threads` of the
machine's cores. A combination's CPU results depend on its torch thread count (matrix products and
ftrun's dropout masks split work by thread), so every slot gets the same count, and the same count run
serially gives the same results.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable

from runner.errors import RecipeError
from runner.sweep.settings import ExecutorSettings

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS", "RAYON_RS_NUM_CPUS")


@dataclasses.dataclass(frozen=True)
class Slot:
    label: str  # "gpu 3", "gpus 0,1", "1 thread"
    env: dict[str, str]
    prefix: tuple[str, ...]  # the command that runs `runner` there: python, or accelerate launch


Command = Callable[[Slot, str], list[str]]  # the command that runs one combination in a slot


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def visible_gpus() -> int:
    import torch  # counting GPUs does not initialise CUDA in this process

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def plan_slots(settings: ExecutorSettings, say: Callable[[str], None], gpus: int | None = None) -> list[Slot]:
    """The slots for `settings.parallel` combinations at once, saying where fewer fit than asked."""
    gpus = visible_gpus() if gpus is None else gpus
    if gpus:
        return _gpu_slots(settings, gpus, say)
    wanted = max(settings.parallel, 1)
    threads = settings.threads or max(cores() // wanted, 1)
    if wanted * threads > cores():
        say(
            f"{wanted} combinations x {threads} thread(s) on {cores()} cores: they will share cores "
            "and each run slower"
        )
    env = {name: str(threads) for name in THREAD_VARIABLES}
    label = f"{threads} thread{'s' if threads > 1 else ''}"
    return [Slot(label, env, python_prefix()) for _ in range(wanted)]


def python_prefix() -> tuple[str, ...]:
    return (sys.executable, "-m", "runner")


def _gpu_slots(settings: ExecutorSettings, gpus: int, say: Callable[[str], None]) -> list[Slot]:
    per_run = settings.gpus_per_run
    if per_run > gpus:
        raise RecipeError(f"--gpus-per-run {per_run}: this machine has {gpus} GPU(s)")
    fit = gpus // per_run
    wanted = max(settings.parallel, 1)
    if wanted > fit:
        say(
            f"--parallel {wanted}: {gpus} GPU(s) hold {fit} combination(s) of {per_run} GPU(s); "
            f"running {fit} at once"
        )
    devices = _visible_device_ids(gpus)
    slots = []
    for index in range(min(wanted, fit)):
        mine = devices[index * per_run : (index + 1) * per_run]
        env = {"CUDA_VISIBLE_DEVICES": ",".join(mine)}
        if settings.threads:
            env.update({name: str(settings.threads) for name in THREAD_VARIABLES})
        prefix = python_prefix()
        if per_run > 1:  # one process per GPU, on a port of its own so slots never meet
            prefix = (
                sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(per_run),
                "--main_process_port", str(29500 + index), "-m", "runner",
            )  # fmt: skip
        label = f"gpu{'s' if per_run > 1 else ''} {','.join(mine)}"
        slots.append(Slot(label, env, prefix))
    return slots


def _visible_device_ids(gpus: int) -> list[str]:
    # Respect a CUDA_VISIBLE_DEVICES the user set: slot i gets the i-th of their GPUs, not physical i.
    given = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    ids = [part.strip() for part in given.split(",") if part.strip()]
    return ids[:gpus] if len(ids) >= gpus else [str(i) for i in range(gpus)]
