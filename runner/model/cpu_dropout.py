"""Dropout that draws its mask from random 16-bit integers on a CPU, for steps where the base trains.

torch's CPU dropout draws its mask with `bernoulli_`: on this project's CPU one MiniLM layer's
attention dropout (batch 8, 256 tokens), forward and backward, takes 40-44 ms with it and 16-19 ms
here. Attention dropout over batch x heads x tokens x tokens was the largest share of a training
step after the matrix multiplies (`benchmarks/profile_train.py --ops`).
`fast_dropout` is the same operation (each element kept with probability 1 - p, kept ones scaled by
the inverse of that) with a cheaper mask: each element compares 16 random bits with a threshold, four
elements to one 64-bit draw of torch's generator, where `torch.rand` spends a draw on each. So p is
rounded to a multiple of 2^-16 (0.1 becomes 0.1000061) and the scale is the rounded keep rate's
inverse, which keeps every element's expectation exact. The backward pass keeps a bool mask, not a
float one. torch fills a tensor with random numbers on one core; a large mask is split across torch's
threads here, each part from its own generator seeded from torch's global one (so `torch.manual_seed`
still reproduces a run, for a given thread count). On GPUs torch's fused kernel is already fast: it is
used there.

`use_cpu_dropout(model)` makes a model's `nn.Dropout` modules use it; `ATTENTION` names transformers'
eager attention with it, registered with transformers' attention interface. `train.dropout_kernel`
turns both off (`dropout_kernel`, `attention_kernels`); a run records `KERNEL` when they are on.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
from torch import nn

ATTENTION = "ftrun_eager"
KERNEL = "ftrun-cpu"  # what metrics.json's `dropout_kernel` says when this dropout is in use
LEVELS = 1 << 16  # a mask element's resolution: 16 random bits
# `random_(FULL_RANGE, None)` draws all 64 bits of an int64 (without `from` it keeps 63).
FULL_RANGE = -(1 << 63)
# Below this many elements a second thread costs more than it saves.
PARALLEL_FROM = 1 << 18


def fast_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    if not training or p == 0.0:
        return x
    dropped = round(p * LEVELS)
    # Under torch.compile the compiler writes its own fused dropout; threads and generators would break
    # its graph.
    if x.device.type != "cpu" or not 0 < dropped < LEVELS or torch.compiler.is_compiling():
        return nn.functional.dropout(x, p, training=True)
    # Signed 16-bit numbers are uniform over [-LEVELS/2, LEVELS/2): `dropped` of the LEVELS fall below.
    keep = random_int16(x.shape) >= dropped - LEVELS // 2
    return torch.where(keep, x * (LEVELS / (LEVELS - dropped)), 0.0)


def random_int16(shape: torch.Size) -> torch.Tensor:
    """int16 numbers with all 16 bits uniform, four to each 64-bit draw, drawn in parallel."""
    count = shape.numel()
    words = torch.empty(-(-count // 4), dtype=torch.int64)
    if torch.get_num_threads() < 2 or count < PARALLEL_FROM:
        words.random_(FULL_RANGE, None)
    else:
        draw_in_parts(words, lambda part, generator: part.random_(FULL_RANGE, None, generator=generator))
    return words.view(torch.int16)[:count].view(shape)


def draw_in_parts(flat: torch.Tensor, draw: Callable[[torch.Tensor, torch.Generator], object]) -> None:
    """`draw(part, generator)` on `flat` split across torch's threads, all parts at once, each with its
    own generator seeded from torch's global one."""
    parts = flat.chunk(torch.get_num_threads())
    seeds = torch.randint(2**62, (len(parts),)).tolist()

    def fill(part: int) -> None:
        draw(parts[part], torch.Generator().manual_seed(seeds[part]))

    # torch releases the GIL while it fills a tensor, so the parts fill on separate cores.
    helpers = _helpers(len(parts) - 1)
    helping = [helpers.submit(fill, part) for part in range(1, len(parts))]
    fill(0)
    for future in helping:
        future.result()


class CpuDropout(nn.Dropout):
    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return fast_dropout(input, self.p, self.training)


def use_cpu_dropout(model: nn.Module) -> None:
    """Every plain `nn.Dropout` of `model` draws its mask as `fast_dropout` does (no parameters change)."""
    for module in model.modules():
        if type(module) is nn.Dropout:
            module.__class__ = CpuDropout


def eager_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """transformers' eager attention (as BERT and OPT write it) with `fast_dropout`."""
    if kwargs.get("sliding_window") or kwargs.get("softcap") or kwargs.get("s_aux") is not None:
        # Variants this function does not write out: SDPA handles them, with the same mask format.
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(
            module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs
        )
    groups = getattr(module, "num_key_value_groups", 1)
    if groups > 1:  # grouped-query attention: each key/value head serves `groups` query heads
        key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        weights = weights + attention_mask[:, :, :, : key.shape[-2]]
    weights = nn.functional.softmax(weights, dim=-1)
    weights = fast_dropout(weights, dropout, module.training)
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return output, weights


@functools.cache
def _helpers(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers, thread_name_prefix="ftrun-dropout")


def register_attention() -> None:
    """Make `ATTENTION` a name transformers accepts, with the additive float mask eager attention takes."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(ATTENTION, eager_attention)
    AttentionMaskInterface.register(ATTENTION, eager_mask)


def dropout_kernel(requested: str) -> str:
    """The dropout a run uses: ftrun's CPU masks (`cpu_dropout.KERNEL`) or "torch".

    `auto` takes ftrun's on a CPU; on GPUs torch's fused kernel is already fast.
    """
    return KERNEL if requested == "auto" and not torch.cuda.is_available() else "torch"


def attention_kernels(requested: str, base_trains: bool, dropout: str) -> tuple[str | None, str | None]:
    """(while training, while serving) attention implementations; None keeps the library's choice.

    `dropout` is `dropout_kernel`'s answer: ftrun's attention comes only with ftrun's dropout, and an
    explicit `model.attention` is used whatever the dropout.
    """
    if requested != "auto":
        return requested, requested
    # On a CPU, eager attention with a cheaper dropout mask trains faster than SDPA, whose CPU path
    # with dropout is slower than eager (benchmarks/levers.py); without dropout SDPA serves faster.
    return (ATTENTION if dropout == KERNEL and base_trains else None), None
