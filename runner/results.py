"""What a finished run writes (predictions, log, model, latency, metrics.json) and prints."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import resource
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from rich.console import Console
from rich.table import Table

from runner import rundir
from runner.latency import measure_latency
from runner.metrics import classification_metrics
from runner.train import TrainResult

if TYPE_CHECKING:
    from runner.run import Setup


def write_results(
    folder: Path,
    setup: Setup,
    probabilities: torch.Tensor,
    result: TrainResult,
    accelerator: Any,
    feature_seconds: float,
) -> dict[str, Any]:
    recipe, data = setup.recipe, setup.data
    labels = recipe.data.labels
    predicted = probabilities.argmax(-1).tolist()
    rundir.write_jsonl(
        folder / "predictions.jsonl",
        [
            {
                "id": data.eval.ids[i],
                "gold": data.eval.labels[i],
                "predicted": predicted[i],
                "gold_label": labels[data.eval.labels[i]],
                "predicted_label": labels[predicted[i]],
                "probability": float(probabilities[i, predicted[i]]),
            }
            for i in range(len(predicted))
        ],
    )
    rundir.write_jsonl(folder / "train_log.jsonl", result.log)
    if recipe.output.save_model:
        setup.method.save(setup.classifier, setup.tokenizer, folder / "model", _head_description(setup))
    metrics = {
        "schema_version": rundir.SCHEMA_VERSION,
        "status": "finished",
        "run_name": folder.name,
        "recipe_path": str(setup.recipe_path),
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "method": recipe.method.name,
        "model": recipe.model.name,
        "model_path": setup.source.name_or_path,
        "pooling": setup.classifier.pooling,
        "data": data.description,
        **classification_metrics(data.eval.labels, predicted, len(labels)),
        "latency": _latency(setup, accelerator),
        "train": {
            "seconds": result.seconds + feature_seconds,
            "feature_extraction_seconds": feature_seconds,
            "steps": result.steps,
            "epochs": result.epochs_run,
            "examples_seen": result.examples,
            "examples_per_s": result.examples / result.seconds if result.seconds else 0.0,
            "tokens_per_s": result.tokens / result.seconds if result.seconds and result.tokens else None,
            "num_processes": accelerator.num_processes,
            "effective_batch_size": recipe.train.batch_size
            * accelerator.num_processes
            * recipe.train.gradient_accumulation,
        },
        "params": {
            "trainable": setup.trainable,
            "total": setup.total,
            "trainable_fraction": setup.trainable / setup.total,
        },
        "peak_memory_mb": _peak_memory_mb(accelerator),
        "seed": recipe.train.seed,
        "data_seed": recipe.data.seed,
        "precision": accelerator.mixed_precision,
        "device": _device_name(accelerator),
        "versions": {
            name: _version(name)
            for name in ("torch", "transformers", "peft", "accelerate", "datasets", "ftrun")
        },
    }
    rundir.write_json(folder / "metrics.json", metrics)  # last: its presence marks a finished run
    return metrics


def print_summary(console: Console, folder: Path, metrics: dict[str, Any]) -> None:
    low, high = metrics["accuracy_ci95"]
    table = Table(title=f"{metrics['method']} · {metrics['model']}")
    for column in ("accuracy (95% CI)", "macro-F1", "batch-1 p50 ms", "train s", "trainable"):
        table.add_column(column, justify="right")
    latency = metrics["latency"] or {}
    table.add_row(
        f"{metrics['accuracy']:.1%} ({low:.1%}–{high:.1%})",
        f"{metrics['macro_f1']:.3f}",
        f"{latency['batch1_ms_p50']:.1f}" if latency else "–",
        f"{metrics['train']['seconds']:.1f}",
        f"{100 * metrics['params']['trainable_fraction']:.3g}%",
    )
    console.print(table)
    console.print(f"run folder: [bold]{folder}[/]", soft_wrap=True)


def _head_description(setup: Setup) -> dict[str, Any]:
    """head.json: what a plain-transformers user needs to rebuild the classifier around the head."""
    return {
        "base_model": setup.source.name_or_path,
        "gguf_file": setup.source.gguf_file,
        "method": setup.recipe.method.name,
        "pooling": setup.classifier.pooling,
        "in_features": setup.classifier.head.in_features,
        "hidden": setup.recipe.method.head_hidden,
        "labels": setup.recipe.data.labels,
        "max_length": setup.recipe.model.max_length,
    }


def _latency(setup: Setup, accelerator: Any) -> dict[str, Any] | None:
    cfg = setup.recipe.eval
    if not cfg.latency_examples:
        return None
    return measure_latency(
        setup.method.for_inference(setup.classifier),  # after saving: LoRA merges in place
        setup.eval_ids,
        setup.tokenizer.pad_token_id,
        cfg.latency_examples,
        cfg.latency_warmup,
        cfg.batch_size,
        accelerator,
    )


def _peak_memory_mb(accelerator: Any) -> dict[str, float]:
    peak = {"process_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if accelerator.device.type == "cuda":
        peak["gpu"] = torch.cuda.max_memory_allocated() / 2**20
    return peak


def _device_name(accelerator: Any) -> str:
    if accelerator.device.type == "cuda":
        return torch.cuda.get_device_name()
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
