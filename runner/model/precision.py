"""The precision a run computes in: what a recipe's `train.precision` means on this hardware.

On CPUs with native bf16 (avx512_bf16, AMX) autocast doubles training speed; elsewhere it is slower, so
`auto` takes bf16 only there. A method that quantises (qlora) asks the same question for its compute dtype.
"""

from __future__ import annotations

from pathlib import Path

import torch

from runner.errors import RecipeError


def mixed_precision(requested: str) -> str:
    """Accelerate's name for the precision a recipe asks for, on this machine."""
    if requested == "fp32":
        return "no"
    if requested == "fp16" and not torch.cuda.is_available():
        raise RecipeError('train.precision = "fp16" needs a GPU; use "bf16" or "fp32" on CPU')
    if requested in ("bf16", "fp16"):
        return requested
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    # On CPUs with native bf16 (avx512_bf16, AMX) autocast doubles training speed; elsewhere it is slower.
    return "bf16" if cpu_has_native_bf16() else "no"


def cpu_has_native_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
