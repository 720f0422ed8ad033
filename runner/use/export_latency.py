"""The export's latency, timed as the run timed PyTorch's: the graphs in onnxruntime on the same eval
examples, batch 1 after the same warm-up passes, then batched at the same size
(`runner.scoring.latency.time_batches`), beside the run's own PyTorch timing from its record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from runner import rundir
from runner.recipe.schema import EvalSection
from runner.rundir.exported import EngineLatency, ShippedLatency
from runner.scoring.latency import latency_rows, time_batches
from runner.training.batches import collate
from runner.use.onnx_model import load_exported_model


def default_timing() -> dict[str, int]:
    """Where the run timed nothing (eval.latency_examples = 0): what the recipe's defaults would time."""
    defaults = EvalSection()
    return {
        "examples": defaults.latency_examples,
        "warmup_passes": defaults.latency_warmup,
        "throughput_batch_size": defaults.batch_size,
    }


def timing_of(folder: Path) -> tuple[EngineLatency | None, dict[str, int]]:
    """The run's PyTorch latency (None if it timed none) and how it was timed: examples, warm-up, batch."""
    latency = rundir.read_record(folder).latency
    if not latency:
        return None, default_timing()
    how = {key: int(latency[key]) for key in default_timing()}
    return EngineLatency.from_run_record(latency), how


def time_graph(target: Path, graph: str, input_ids: list[Any], pad_token_id: int, how: dict) -> EngineLatency:
    """One graph in its own onnxruntime session, on as many threads as PyTorch takes here."""
    threads = torch.get_num_threads()
    model = load_exported_model(target, graph, threads=threads).classifier

    def run(rows: list[dict[str, Any]]) -> None:
        batch = collate(rows, pad_token_id)
        model(batch["input_ids"], batch["attention_mask"])

    rows = latency_rows(input_ids, how["examples"])
    measured = time_batches(run, rows, how["warmup_passes"], how["throughput_batch_size"])
    return EngineLatency.from_measured(measured, f"onnxruntime CPUExecutionProvider, {threads} threads")


def shipped_latency(
    folder: Path, target: Path, graphs: dict[str, str], inputs: list[Any], encode: Any, pad_token_id: int
) -> ShippedLatency:
    """PyTorch's (the run's record) beside each graph's (`graphs`: onnx, and onnx_int8 if quantised)."""
    pytorch, how = timing_of(folder)
    input_ids = encode(inputs[: how["examples"]])
    timed = {name: time_graph(target, graph, input_ids, pad_token_id, how) for name, graph in graphs.items()}
    return ShippedLatency(onnx=timed["onnx"], pytorch=pytorch, onnx_int8=timed.get("onnx_int8"))
