"""FSDP: weights, gradients and AdamW state sharded across processes, gathered back for the run folder.

Accelerate owns the sharding (its FullyShardedDataParallelPlugin); this module decides when a run
asks for it, lets it run on CPUs, and turns the sharded model back into a plain one at the end.

On CPUs accelerate never enters FSDP: its state picks FSDP only for GPU-like launches, so on a CPU
launch (MULTI_CPU over gloo) a plugin is silently ignored. torch's `fully_shard` itself works on a
CPU over gloo, so `shard_on_cpu` switches accelerate's state to FSDP there; the loop then runs
accelerate's own FSDP code, the same that GPU runs use.
"""

from __future__ import annotations

import copy
import os
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from torch import nn

from runner.errors import RecipeError
from runner.recipe.schema import Recipe

if TYPE_CHECKING:
    from accelerate import Accelerator
    from accelerate.utils import FullyShardedDataParallelPlugin

M = TypeVar("M", bound=nn.Module)


def fsdp_plugin(recipe: Recipe, on_cpu: bool) -> FullyShardedDataParallelPlugin | None:
    """The FSDP plugin a run uses: ftrun's for `full_shard`, the launch config's for `auto`, or None."""
    from accelerate.utils import FullyShardedDataParallelPlugin

    if recipe.train.fsdp == "auto":
        # `accelerate launch --use_fsdp` (or its config) says so through the environment; accelerate
        # reads the plugin's settings from there too.
        wanted = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"
        return FullyShardedDataParallelPlugin() if wanted else None
    check_launch(recipe, on_cpu)
    return FullyShardedDataParallelPlugin(
        fsdp_version=2,
        # Each transformer layer its own unit (`Classifier._no_split_modules`): one layer's weights are
        # gathered at a time; the embeddings and the head fall to the root unit.
        auto_wrap_policy="transformer_based_wrap",
        reshard_after_forward=True,  # FULL_SHARD: no full layer kept between forward and backward
        state_dict_type="SHARDED_STATE_DICT",  # checkpoints: each process writes its own shard
    )


def check_launch(recipe: Recipe, on_cpu: bool) -> None:
    """`full_shard` outside a launch of processes: refused before the model loads."""
    processes = int(os.environ.get("WORLD_SIZE", "1"))
    # Without a launcher accelerate runs one plain process and would ignore the plugin; on a CPU one
    # process has no process group to shard over.
    if recipe.train.fsdp == "full_shard" and ("LOCAL_RANK" not in os.environ or (on_cpu and processes < 2)):
        raise RecipeError(
            'train.fsdp = "full_shard" needs a launch of several processes: '
            "accelerate launch --multi_gpu --num_processes N -m runner RECIPE"
        )


def shard_on_cpu(accelerator: Accelerator, plugin: FullyShardedDataParallelPlugin) -> None:
    """Make accelerate's state FSDP for a CPU launch (see the module's docstring).

    Both singletons hold the type: AcceleratorState copies PartialState's whenever it is built again.
    """
    from accelerate import PartialState
    from accelerate.utils import DistributedType

    PartialState._shared_state["distributed_type"] = DistributedType.FSDP
    state = accelerator.state
    state.distributed_type = DistributedType.FSDP
    if accelerator.mixed_precision != "no":
        plugin.set_mixed_precision(accelerator.mixed_precision)
    state.fsdp_plugin = plugin


def is_sharded(accelerator: Accelerator) -> bool:
    from accelerate.utils import DistributedType

    return accelerator.distributed_type == DistributedType.FSDP


def check_method(accelerator: Accelerator, method: Any) -> None:
    """FSDP from a launch config (`auto`) meets the method only now; the recipe loader checks `full_shard`."""
    if is_sharded(accelerator) and method.name != "full":
        raise RecipeError(
            f'FSDP (from the accelerate launch config) shards full fine-tuning (method.name = "full"), '
            f"not {method.name!r}; launch without --use_fsdp"
        )


def description(accelerator: Accelerator) -> dict[str, Any] | None:
    """What metrics.json records of the sharding that ran (None: none)."""
    if not is_sharded(accelerator):
        return None
    plugin = accelerator.state.fsdp_plugin
    return {
        "version": plugin.fsdp_version,
        "reshard_after_forward": plugin.reshard_after_forward,
        "state_dict_type": str(plugin.state_dict_type).rsplit(".", 1)[-1],
        "processes": accelerator.num_processes,
    }


def skeleton(model: M) -> M:
    """A copy of `model` with its parameters on the meta device: its modules, no weight memory.

    FSDP replaces a model's parameters by shards in place; the gathered weights are loaded into this.
    """
    memo = {
        id(p): nn.Parameter(torch.empty_like(p, device="meta"), requires_grad=p.requires_grad)
        for p in model.parameters()
    }
    return copy.deepcopy(model, memo)


def gathered(accelerator: Accelerator, sharded: nn.Module, plain: M) -> M | None:
    """The whole trained model, unsharded, on the main process (None on the others).

    Every process must call it: gathering the shards is a collective.
    """
    state = accelerator.get_state_dict(sharded)
    if not accelerator.is_main_process:
        return None
    plain.load_state_dict(state, assign=True)
    return plain
