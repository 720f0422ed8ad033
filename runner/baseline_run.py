"""A run of a baseline fitted outside the torch loop (`Method.fits_outside_torch`: TF-IDF, static
embeddings): fitted with its regularisation chosen on validation, then scored, recorded and saved as
every other run is, so compare, predict and eval read it like any run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from runner import rundir
from runner.console import print_summary
from runner.data.examples import Examples
from runner.recipe import tasks
from runner.recipe.schema import Recipe
from runner.scoring import run_results
from runner.scoring.environment import environment_on
from runner.scoring.latency import measure_call_latency
from runner.scoring.scored_splits import Evaluated
from runner.scoring.task_metrics import metric_value
from runner.scoring.thresholds import decision_thresholds
from runner.training.checkpoints import TrainingState
from runner.training.fitted import FittedRun, fit_outside_loop


def run_baseline(
    recipe: Recipe, recipe_path: Path, method: Any, new_folder: Callable[[], Path], console: Console
) -> Path:
    """A baseline fitted outside the torch loop, scored, recorded and saved as every other run is."""
    console.print(f"[bold]ftrun[/] {recipe_path} · method [cyan]{method.name}[/]", soft_wrap=True)
    metric = tasks.headline_metric(recipe)
    thresholds = decision_thresholds(recipe, None, None)[0]  # as the epoch judge scores: tuned after

    def scorer(objective: Any) -> Any:
        def score(outputs: torch.Tensor, examples: Examples) -> float:
            decided = objective.decide(outputs, thresholds)
            gold = objective.gold(examples.labels)
            return metric_value(recipe.data.task, metric, gold, decided, objective.num_labels)

        return score

    fitted = fit_outside_loop(recipe, method, console, scorer)
    folder = new_folder()
    model, data, objective = fitted.model, fitted.data, fitted.objective
    evaluated = Evaluated(recipe, objective, metric)
    log = [{"epoch": 0, **row} for row in model.choice.scores]
    if data.validation is not None:
        evaluated.validate(
            data.validation, model.logits(data.validation.inputs()), log, None
        )  # logits: the scored splits read them as every run's (no temperature is fitted here)
    evaluated.evaluate(data.eval, model.logits(data.eval.inputs()))
    record = _write_baseline_folder(folder, recipe, recipe_path, method, fitted, evaluated, log)
    folder = rundir.finish_run_folder(folder)
    print_summary(console, folder, record)
    return folder


def _write_baseline_folder(
    folder: Path,
    recipe: Recipe,
    recipe_path: Path,
    method: Any,
    fitted: FittedRun,
    evaluated: Evaluated,
    log: list[dict[str, Any]],
) -> rundir.RunRecord:
    """The files every run folder holds, for a fitted model: its saved form is the method's own."""
    model, data, cfg = fitted.model, fitted.data, recipe.eval
    assert evaluated.eval is not None, "the eval split is scored before the run folder is written"
    rundir.write_jsonl(folder / "predictions.jsonl", evaluated.rows(evaluated.eval))
    if evaluated.validation is not None:
        rundir.write_jsonl(folder / "validation_predictions.jsonl", evaluated.rows(evaluated.validation))
    rundir.write_jsonl(folder / "train_log.jsonl", log)
    if recipe.output.save_model:
        method.save_fitted(model, recipe, folder / "model", evaluated.thresholds)
    inputs = data.eval.inputs()
    latency = (
        measure_call_latency(model.logits, inputs, cfg.latency_examples, cfg.latency_warmup, cfg.batch_size)
        if cfg.latency_examples
        else None
    )
    state = TrainingState(examples=len(data.train), seconds=fitted.seconds, log=log)
    record = run_results.run_record(
        recipe=recipe,
        recipe_path=recipe_path,
        run_name=folder.name,
        model_path=recipe.model.name,
        pooling="none",
        data_description=data.description,
        scored=evaluated.eval_metrics(),
        validation=evaluated.validation_summary,
        latencies=(latency, None),
        train=run_results.training_cost(recipe, state, 0.0, 1),
        params=run_results.parameters(model.trainable_parameters, model.total_parameters),
        environment=environment_on(
            torch.device("cpu"),
            "no",
            {"dropout_kernel": "none", "attention": {"training": None, "serving": None}},
        ),
    )
    rundir.write_record(folder, record)
    if recipe.output.save_model:
        method.write_card(folder / "model", recipe, record)
    return record
