"""What a finished run reports: predictions rows, warnings about them, and its record (metrics.json).

Pure functions of plain values (a unit test can call them); `pipeline.py` decides when each is written.
"""

from __future__ import annotations

import datetime
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from runner.data.examples import Examples
from runner.recipe.schema import Recipe
from runner.rundir.record import Environment, Parameters, RunRecord, Scores, TrainingCost
from runner.training.checkpoints import TrainingState
from runner.training.objective import Objective

# A model that gives one label to at least this share of the eval set has likely learned nothing.
ONE_CLASS_SHARE = 0.95


def prediction_rows(
    examples: Examples,
    outputs: torch.Tensor,
    objective: Objective,
    labels: list[str],
    thresholds: list[float] | None = None,
) -> list[dict[str, Any]]:
    """predictions.jsonl: per example what its task's metrics are recomputed from (the task's rows)."""
    predicted = objective.decide(outputs, thresholds).tolist()
    scores = outputs.tolist()  # once: reading a tensor element by element costs far more
    return objective.task_type.prediction_rows(  # type: ignore[no-any-return]
        examples.ids, examples.labels, predicted, scores, labels
    )


def prediction_warnings(gold: Any, predicted: Any, labels: list[str]) -> list[str]:
    """A model that predicts (nearly) one class (or one set of labels) for everything, where the eval
    set is not that skewed. Regression values are not judged here."""
    if len(predicted) == 0 or getattr(predicted, "dtype", None) == np.float64:
        return []
    as_keys = [tuple(np.flatnonzero(row)) if np.ndim(row) else int(row) for row in predicted]
    gold_keys = [tuple(np.flatnonzero(row)) if np.ndim(row) else int(row) for row in gold]
    key, count = Counter(as_keys).most_common(1)[0]
    share, gold_share = count / len(as_keys), gold_keys.count(key) / len(gold_keys)
    if share >= ONE_CLASS_SHARE and gold_share < ONE_CLASS_SHARE:
        shown = labels[key] if isinstance(key, int) else ([labels[i] for i in key] or "no label")
        return [
            f"warning: the model predicts {shown!r} for {share:.0%} of the eval examples "
            f"(the eval set has {gold_share:.0%} of them): it has likely learned nothing; "
            "try a higher train.lr or more epochs"
        ]
    return []


def run_record(
    *,
    recipe: Recipe,
    recipe_path: Path,
    run_name: str,
    model_path: str,
    pooling: str,
    data_description: dict[str, Any],
    scored: dict[str, Any],
    validation: dict[str, Any] | None,
    latencies: tuple[dict[str, Any] | None, dict[str, Any] | None],
    train: TrainingCost,
    params: Parameters,
    environment: Environment,
) -> RunRecord:
    """The record of one finished run: results and provenance.

    `scored` is the eval split's task metrics (`metric`, `score`, `score_ci95` and the rest), with the
    run's `prediction_warnings`; `latencies` the served model's and, for adapter methods, the one with
    its adapters kept apart from the base.
    """
    warnings = [n for n in data_description.get("notes", []) if n.startswith("warning")]
    scored = dict(scored)
    warnings += scored.pop("prediction_warnings", [])
    return RunRecord(
        run_name=run_name,
        recipe_path=str(recipe_path),
        finished_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        method=recipe.method.name,
        model=recipe.model.name,
        model_path=model_path,
        pooling=pooling,
        data=data_description,
        scores=Scores.from_json({"task": recipe.data.task, **scored}),
        validation=validation,
        warnings=warnings,
        latency=latencies[0],
        latency_unmerged=latencies[1],
        train=train,
        params=params,
        seed=recipe.train.seed,
        data_seed=recipe.data.seed,
        environment=environment,
    )


def training_cost(
    recipe: Recipe, state: TrainingState, feature_seconds: float, processes: int
) -> TrainingCost:
    seconds = state.seconds
    return TrainingCost(
        seconds=seconds + feature_seconds,
        feature_extraction_seconds=feature_seconds,
        steps=state.steps,
        epochs=state.epoch,
        stopped_early=state.stopped_early,
        examples_seen=state.examples,
        examples_per_s=state.examples / seconds if seconds else 0.0,
        tokens_per_s=state.tokens / seconds if seconds and state.tokens else None,
        num_processes=processes,
        effective_batch_size=recipe.train.batch_size * processes * recipe.train.gradient_accumulation,
    )


def parameters(trainable: int, total: int) -> Parameters:
    return Parameters(trainable=trainable, total=total, trainable_fraction=trainable / total)
