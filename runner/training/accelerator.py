"""The Accelerator that owns devices, processes and mixed precision for a run.

The training loop stays plain PyTorch; everything about devices and processes is decided here, once,
before the loop starts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from runner.errors import RecipeError
from runner.model.precision import mixed_precision
from runner.recipe.schema import Recipe
from runner.training.trackers import start_tracker, tracker_dir

if TYPE_CHECKING:
    from accelerate import Accelerator


def launched_on_cpu() -> bool:
    """Several processes (accelerate launch --multi_gpu, torchrun) on a machine without GPUs.

    Those run on the CPU over gloo rather than as independent single-process runs.
    """
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()


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
