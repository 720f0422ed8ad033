"""A fitted method's run before scoring: its examples, its objective, and the model it fits outside the
torch loop (`runner.methods.fitted`), timed as its training cost (the regularisation search included)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Console

from runner.data.loading import LoadedData, load_data
from runner.model.classifier import resolve_source
from runner.recipe.schema import Recipe
from runner.training.objective import Objective, objective_for

if TYPE_CHECKING:
    import torch

    from runner.data.examples import Examples


@dataclass
class FittedRun:
    data: LoadedData
    objective: Objective
    model: Any  # the method's fitted model: `logits(inputs)`, its parameters, `choice`
    seconds: float  # the fit, every grid value included


def fit_outside_loop(
    recipe: Recipe,
    method: Any,
    console: Console,
    scorer: Callable[[Objective], Callable[[torch.Tensor, Examples], float]],
) -> FittedRun:
    """Load the data, fit the method's model (its regularisation chosen on validation by `scorer`'s
    score), and say what was chosen."""
    method.check_model(recipe, resolve_source(recipe.model))
    data = load_data(recipe.data)
    for note in data.notes:
        console.print(f"[yellow]{note}[/]")
    console.print(
        f"data: {len(data.train)} train / {len(data.eval)} eval examples from {recipe.data.source}",
        soft_wrap=True,
    )
    objective = objective_for(recipe, data.train.labels)
    started = time.perf_counter()
    model = method.fit(recipe, objective, data.train, data.validation, scorer(objective))
    seconds = time.perf_counter() - started
    choice = model.choice
    where = "chosen on validation" if choice.on_validation else "no validation split to choose it on"
    console.print(
        f"{method.name}: {choice.name} = {choice.chosen:g} ({where}) · {model.trainable_parameters:,} "
        f"weights · fitted in {seconds:.1f} s",
        soft_wrap=True,
    )
    return FittedRun(data, objective, model, seconds)
