"""What `ftrun export` checks a graph with: the run's eval examples, and how far the graph's outputs
and decisions are from PyTorch's on them, scored by the run's headline metric."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from runner import rundir
from runner.data.examples import Examples, subset
from runner.errors import DataError
from runner.model.reload import SavedModel
from runner.recipe import reading as recipes
from runner.scoring.task_metrics import as_arrays, metric_value
from runner.training.objective import Objective
from runner.use.rescore import load_eval_examples


def check_examples(folder: Path, limit: int) -> Examples:
    """The first `limit` (0: all) of the examples the run was scored on, read from its data source."""
    source = rundir.read_record(folder).data["source"]
    settings = [f"model.name={(folder / 'model').resolve()}", "model.gguf_file=", f"data.source={source}"]
    recipe = recipes.load(folder / "recipe.toml", settings)
    try:
        examples, _ = load_eval_examples(recipe, recipe)
    except DataError as error:
        raise DataError(f"cannot read the run's eval examples to check the export on: {error}") from None
    return subset(examples, list(range(min(limit, len(examples)) if limit else len(examples))))


def objective_of(saved: SavedModel) -> Objective:
    return Objective(saved.task, len(saved.labels))


def decisions(saved: SavedModel, outputs: torch.Tensor) -> np.ndarray:
    """What predict would answer: the best label, the labels over threshold, or the value."""
    thresholds = saved.config.thresholds if saved.task_type.has_thresholds else None
    return objective_of(saved).decide(outputs, thresholds)


def score(saved: SavedModel, examples: Examples, outputs: torch.Tensor, metric: str) -> float:
    objective = objective_of(saved)
    labels = len(saved.labels) if saved.task_type.has_classes else None
    gold = objective.gold(examples.labels)
    gold, predicted = as_arrays(saved.task, gold, decisions(saved, outputs), labels)
    return metric_value(saved.task, metric, gold, predicted, labels)


def headline_score(folder: Path, saved: SavedModel, examples: Examples, outputs: torch.Tensor) -> dict:
    """PyTorch's headline metric on the checked examples, beside what the run reported on all of them."""
    record = rundir.read_record(folder)
    return {
        "metric": record.metric,
        "pytorch_score": score(saved, examples, outputs, record.metric),
        "run_score": record.score,
        "run_eval_size": record.data.get("eval_size"),
    }


def compare_outputs(
    saved: SavedModel,
    examples: Examples,
    reference: torch.Tensor,
    exported: torch.Tensor,
    tolerance: float,
    metric: str,
) -> dict[str, Any]:
    """The largest difference of outputs (probabilities, or values), the share of equal decisions, and
    the headline metric of the exported model's. A regression's tolerance scales with its values."""
    difference = float((reference - exported).abs().max()) if len(reference) else 0.0
    if not saved.task_type.has_classes:
        tolerance *= max(1.0, float(reference.abs().max()))
        identical = None  # values: their difference is the measure
    else:
        same = decisions(saved, reference) == decisions(saved, exported)
        identical = float(same.reshape(len(same), -1).all(axis=1).mean())
    return {
        "max_abs_difference": difference,
        "tolerance": tolerance,
        "within_tolerance": difference <= tolerance,
        "identical_predictions": identical,
        "score": score(saved, examples, exported, metric),
    }
