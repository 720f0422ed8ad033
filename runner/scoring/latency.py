"""Inference latency after training, in eval mode, as a user would serve the model."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from runner.training.batches import collate

if TYPE_CHECKING:
    from accelerate import Accelerator

Rows = list[dict[str, Any]]


def latency_rows(input_ids: Sequence[Any], examples: int) -> Rows:
    """The first `examples` token id rows (lists or TokenIds arrays) as rows `collate` batches."""
    return [{"index": i, "input_ids": ids, "label": 0} for i, ids in enumerate(input_ids[:examples])]


def measure_latency(
    model: nn.Module,
    input_ids: Sequence[Any],  # token id rows: lists or TokenIds arrays
    pad_token_id: int,
    examples: int,
    warmup: int,
    batch_size: int,
    accelerator: Accelerator,
) -> dict[str, Any]:
    """Batch-1 latency per example (p50, p95, mean) and throughput at the eval batch size."""
    model.eval()
    device = accelerator.device

    def run(batch_rows: Rows) -> None:
        batch = collate(batch_rows, pad_token_id)
        with torch.inference_mode(), accelerator.autocast():
            model(batch["input_ids"].to(device), batch["attention_mask"].to(device))
        if device.type == "cuda":
            torch.cuda.synchronize()

    rows = latency_rows(input_ids, examples)
    return {
        **time_batches(run, rows, warmup, batch_size),
        "mean_tokens": statistics.fmean(len(r["input_ids"]) for r in rows),
        "device": str(device),
        "precision": accelerator.mixed_precision,
        "threads": torch.get_num_threads(),
    }


def time_batches(run: Callable[[Rows], None], rows: Rows, warmup: int, batch_size: int) -> dict[str, Any]:
    """How ftrun times any engine: `run` (collate and score a batch of rows) on each row alone, after
    `warmup` untimed passes over them, then on all of them in batches of `batch_size`."""
    # Warm up on the very examples timed: a GPU picks kernels per input shape on first sight,
    # which is a one-off cost, not serving latency.
    for _ in range(warmup):
        for row in rows:
            run([row])
    timings_ms = []
    for row in rows:
        started = time.perf_counter()
        run([row])
        timings_ms.append((time.perf_counter() - started) * 1000)
    # Throughput: the same examples in batches, after one untimed batch.
    run(rows[:batch_size])
    started = time.perf_counter()
    for start in range(0, len(rows), batch_size):
        run(rows[start : start + batch_size])
    batched_seconds = time.perf_counter() - started
    timings_ms.sort()
    return {
        "batch1_ms_p50": statistics.median(timings_ms),
        "batch1_ms_p95": timings_ms[min(len(timings_ms) - 1, round(0.95 * (len(timings_ms) - 1)))],
        "batch1_ms_mean": statistics.fmean(timings_ms),
        "examples": len(timings_ms),
        "warmup_passes": warmup,
        "throughput_batch_size": batch_size,
        "throughput_examples_per_s": len(rows) / batched_seconds,
    }


def measure_call_latency(
    predict: Callable[[list[Any]], Any], inputs: Sequence[Any], examples: int, warmup: int, batch_size: int
) -> dict[str, Any]:
    """The same figures for a model that is a function of texts (a fitted baseline, on the CPU): batch-1
    latency over the first `examples` inputs after `warmup` passes, and throughput at `batch_size`."""
    return {
        **time_batches(predict, list(inputs[:examples]), warmup, batch_size),
        "device": "cpu",
        "precision": "no",
        "threads": torch.get_num_threads(),
    }
