"""Where a run computes: the precision the hardware can use, and the Accelerator that owns devices.

The training loop stays plain PyTorch; everything about devices, processes and mixed precision is
decided here, once, before the loop starts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from runner.errors import RecipeError
from runner.recipe.schema import Recipe
from runner.training.trackers import start_tracker, tracker_dir

if TYPE_CHECKING:
    from accelerate import Accelerator


def launched_on_cpu() -> bool:
    """Several processes (accelerate launch --multi_gpu, torchrun) on a machine without GPUs.

    Those run on the CPU over gloo rather than as independent single-process runs.
    """
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()


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


def dropout_kernel(requested: str) -> str:
    """The dropout a run uses: ftrun's CPU masks (`cpu_dropout.KERNEL`) or "torch".

    `auto` takes ftrun's on a CPU; on GPUs torch's fused kernel is already fast.
    """
    from runner.training.cpu_dropout import KERNEL

    return KERNEL if requested == "auto" and not torch.cuda.is_available() else "torch"


def attention_kernels(requested: str, base_trains: bool, dropout: str) -> tuple[str | None, str | None]:
    """(while training, while serving) attention implementations; None keeps the library's choice.

    `dropout` is `dropout_kernel`'s answer: ftrun's attention comes only with ftrun's dropout, and an
    explicit `model.attention` is used whatever the dropout.
    """
    if requested != "auto":
        return requested, requested
    from runner.training.cpu_dropout import ATTENTION, KERNEL

    # On a CPU, eager attention with a cheaper dropout mask trains faster than SDPA, whose CPU path
    # with dropout is slower than eager (benchmarks/levers.py); without dropout SDPA serves faster.
    return (ATTENTION if dropout == KERNEL and base_trains else None), None


def make_accelerator(recipe: Recipe, folder: Path) -> Accelerator:
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    from runner.training.sharding import fsdp_plugin, shard_on_cpu

    on_cpu = launched_on_cpu()
    plugin = fsdp_plugin(recipe, on_cpu or not torch.cuda.is_available())
    try:
        accelerator = Accelerator(
            cpu=on_cpu,
            mixed_precision=mixed_precision(recipe.train.precision),
            gradient_accumulation_steps=recipe.train.gradient_accumulation,
            log_with=recipe.train.log_with or None,
            project_dir=str(tracker_dir(recipe) if recipe.train.log_with else folder),
            # BERT-style poolers sit unused behind mean pooling; DDP must not wait for their gradients.
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
            fsdp_plugin=plugin,
        )
    except ValueError as error:
        if "already been initialized" not in str(error):
            raise
        # Accelerate keeps one precision per process; a sweep over precisions needs one command each.
        raise RecipeError(
            f"train.precision = {recipe.train.precision!r}: this process already trained with another "
            "precision; run recipes with different precisions as separate commands"
        ) from None
    if plugin is not None and on_cpu:
        shard_on_cpu(accelerator, plugin)
    if recipe.train.log_with:
        start_tracker(accelerator, recipe, folder.name)
    return accelerator
