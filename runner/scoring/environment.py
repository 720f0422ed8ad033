"""Where a run computed, for metrics.json: device, precision, processes, peak memory, library versions."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import resource
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from accelerate import Accelerator


def environment(accelerator: Accelerator) -> dict[str, Any]:
    """Where the run computed: device, precision, processes, peak memory, library versions."""
    peak = {"process_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if accelerator.device.type == "cuda":
        peak["gpu"] = torch.cuda.max_memory_allocated() / 2**20
        device = torch.cuda.get_device_name()
    else:
        device = f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    return {
        "num_processes": accelerator.num_processes,
        "precision": accelerator.mixed_precision,
        "device": device,
        "peak_memory_mb": peak,
        "versions": {
            name: _version(name)
            for name in ("torch", "transformers", "peft", "accelerate", "datasets", "ftrun")
        },
    }


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
