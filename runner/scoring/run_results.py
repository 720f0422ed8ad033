"""What a finished run reports: predictions rows, metrics.json's contents, the summary it prints.

Pure functions of plain values (a unit test can call them); `run.py` decides when each is written.
"""

from __future__ import annotations

import datetime
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from runner import rundir
from runner.data.examples import Examples
from runner.recipe.schema import Recipe
from runner.scoring.metrics import classification_metrics
from runner.training.checkpoints import TrainingState

# A model that gives one label to at least this share of the eval set has likely learned nothing.
ONE_CLASS_SHARE = 0.95


def prediction_rows(
    examples: Examples, probabilities: torch.Tensor, labels: list[str]
) -> list[dict[str, Any]]:
    predicted = probabilities.argmax(-1).tolist()
    return [
        {
            "id": examples.ids[i],
            "gold": examples.labels[i],
            "predicted": predicted[i],
            "gold_label": labels[examples.labels[i]],
            "predicted_label": labels[predicted[i]],
            "probability": float(probabilities[i, predicted[i]]),
            # One per label, in data.labels order: AUROC, calibration or thresholds need them all.
            "probabilities": [float(p) for p in probabilities[i]],
        }
        for i in range(len(predicted))
    ]


def prediction_warnings(gold: list[int], predicted: list[int], labels: list[str]) -> list[str]:
    """A model that predicts (nearly) one class for everything, where the eval set is not that skewed."""
    if not predicted:
        return []
    label, count = Counter(predicted).most_common(1)[0]
    share, gold_share = count / len(predicted), gold.count(label) / len(gold)
    if share >= ONE_CLASS_SHARE and gold_share < ONE_CLASS_SHARE:
        return [
            f"warning: the model predicts {labels[label]!r} for {share:.0%} of the eval examples "
            f"(the eval set has {gold_share:.0%} of them): it has likely learned nothing; "
            "try a higher train.lr or more epochs"
        ]
    return []


def build_metrics(
    *,
    recipe: Recipe,
    recipe_path: Path,
    run_name: str,
    model_path: str,
    pooling: str,
    data_description: dict[str, Any],
    gold: list[int],
    predicted: list[int],
    latency: dict[str, Any] | None,
    state: TrainingState,
    latency_unmerged: dict[str, Any] | None = None,
    validation: dict[str, Any] | None,
    feature_seconds: float,
    trainable: int,
    total: int,
    environment: dict[str, Any],
    dropout_kernel: str,
    attention: dict[str, str | None],
) -> dict[str, Any]:
    """metrics.json: results and provenance of one run.

    `dropout_kernel` is the dropout that ran (`train.dropout_kernel` resolved: "ftrun-cpu" or "torch"),
    `attention` the attention kernels while training and while serving.
    """
    labels = recipe.data.labels
    warnings = [n for n in data_description.get("notes", []) if n.startswith("warning")]
    warnings += prediction_warnings(gold, predicted, labels)
    return {
        "schema_version": rundir.SCHEMA_VERSION,
        "status": "finished",
        "run_name": run_name,
        "recipe_path": str(recipe_path),
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "method": recipe.method.name,
        "model": recipe.model.name,
        "model_path": model_path,
        "pooling": pooling,
        "data": data_description,
        **classification_metrics(gold, predicted, len(labels)),
        "validation": validation,
        "warnings": warnings,
        "latency": latency,
        "latency_unmerged": latency_unmerged,  # adapter methods: adapters kept apart from the base
        "train": _training_cost(recipe, state, feature_seconds, environment["num_processes"]),
        "params": {"trainable": trainable, "total": total, "trainable_fraction": trainable / total},
        "peak_memory_mb": environment["peak_memory_mb"],
        "seed": recipe.train.seed,
        "data_seed": recipe.data.seed,
        "precision": environment["precision"],
        "dropout_kernel": dropout_kernel,
        "attention": attention,
        "device": environment["device"],
        "versions": environment["versions"],
    }


def _training_cost(
    recipe: Recipe, state: TrainingState, feature_seconds: float, processes: int
) -> dict[str, Any]:
    seconds = state.seconds
    return {
        "seconds": seconds + feature_seconds,
        "feature_extraction_seconds": feature_seconds,
        "steps": state.steps,
        "epochs": state.epoch,
        "stopped_early": state.stopped_early,
        "examples_seen": state.examples,
        "examples_per_s": state.examples / seconds if seconds else 0.0,
        "tokens_per_s": state.tokens / seconds if seconds and state.tokens else None,
        "num_processes": processes,
        "effective_batch_size": recipe.train.batch_size * processes * recipe.train.gradient_accumulation,
    }
