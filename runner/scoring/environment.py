"""Where a run computed, for its record: device, precision, peak memory, library versions, and the
kernels and sharding the run used."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import resource
from typing import TYPE_CHECKING, Any

import torch

from runner.rundir.record import Environment

if TYPE_CHECKING:
    from accelerate import Accelerator


def environment(accelerator: Accelerator, computation: dict[str, Any]) -> Environment:
    """Where the run computed. `computation` is how: `dropout_kernel` (the dropout that ran,
    `train.dropout_kernel` resolved: "ftrun-cpu" or "torch"), `attention` (the kernels while training and
    serving), `gradient_checkpointing` (whether activations were recomputed) and `fsdp` (None: none)."""
    return environment_on(accelerator.device, accelerator.mixed_precision, computation)


def environment_on(device_used: torch.device, precision: str, computation: dict[str, Any]) -> Environment:
    """`environment` for a run that had no accelerator (a baseline fitted on the CPU)."""
    peak = {"process_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device_used.type == "cuda":
        peak["gpu"] = torch.cuda.max_memory_allocated() / 2**20
        device = torch.cuda.get_device_name()
    else:
        device = f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    return Environment(
        precision=precision,
        dropout_kernel=computation["dropout_kernel"],
        attention=computation["attention"],
        gradient_checkpointing=computation.get("gradient_checkpointing", False),
        fsdp=computation.get("fsdp"),
        device=device,
        versions={
            name: _version(name)
            for name in ("torch", "transformers", "peft", "accelerate", "datasets", "ftrun")
        },
        peak_memory_mb=peak,
    )


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
