"""What the cheap baselines share: methods fitted outside the torch loop (scikit-learn), a linear model
over fixed features, its regularisation chosen on the validation split, and its saved form.

A fitted method turns texts into a feature matrix (TF-IDF, static embeddings) and fits one linear
model per grid value of its regularisation: logistic regression for a task with classes (one per label
where a text has several), ridge for a number. The grid value whose validation score is best is kept;
without a validation split the grid's middle value is used and the run says so. The eval split is never
seen here.

Whatever the model, it is kept as one weight matrix and bias (`LinearHead`), whose outputs are logits
in the head's sense: the task turns them into probabilities or a value exactly as it does a torch
head's, so scoring, thresholds and predictions.jsonl are the same code as every other method's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from runner import rundir
from runner.errors import RecipeError
from runner.methods.base import Method

if TYPE_CHECKING:
    import torch

    from runner.data.examples import Examples
    from runner.recipe.schema import Recipe

INSTALL = "pip install 'ftrun[baselines]'"
# A class absent from the train split gets this bias: its softmax probability is ~0.
ABSENT_CLASS_LOGIT = -30.0
HEAD_FILE = "linear_head.npz"


def require(module: str, method: str) -> None:
    """A missing optional package as one line naming the extra that brings it."""
    import importlib.util

    if importlib.util.find_spec(module.split(".")[0]) is None:
        raise RecipeError(f'method.name = "{method}" needs {module.split(".")[0]}: {INSTALL}')


def joined_texts(examples_inputs: Sequence[Any], separator: str) -> list[str]:
    """Single texts as they are; a sentence pair as its two texts joined by `data.pair_separator`."""
    return [text if isinstance(text, str) else f"{text[0]}{separator}{text[1]}" for text in examples_inputs]


@dataclass
class LinearHead:
    """logits = features @ weight + bias: (n_features, n_outputs) and (n_outputs,)."""

    weight: np.ndarray
    bias: np.ndarray
    # The coefficients the fit chose (a binary model's one weight row, not the zero row beside it);
    # None: every entry of weight and bias.
    fitted_count: int | None = None

    def logits(self, features: Any) -> torch.Tensor:
        import torch

        return torch.from_numpy(np.asarray(features @ self.weight + self.bias, dtype=np.float32))

    @property
    def parameters(self) -> int:
        return int(self.weight.size + self.bias.size) if self.fitted_count is None else self.fitted_count

    def save(self, folder: Path) -> None:
        with rundir.replacing(folder / HEAD_FILE, "wb") as handle:
            np.savez(handle, weight=self.weight, bias=self.bias)

    @classmethod
    def load(cls, folder: Path) -> LinearHead:
        with np.load(folder / HEAD_FILE, allow_pickle=False) as found:
            return cls(found["weight"], found["bias"])


@dataclass
class Choice:
    """The regularisation grid and what each value scored on validation (the run's train_log.jsonl)."""

    name: str  # "C" or "alpha"
    scores: list[dict[str, Any]] = field(default_factory=list)
    chosen: float = 0.0
    on_validation: bool = True


def fit_head(
    task_type: Any, features: Any, gold: np.ndarray, strength: float, num_labels: int, seed: int
) -> LinearHead:
    """One linear model at one regularisation strength, as a `LinearHead`: ridge for a number (no
    classes), else one multinomial logistic regression or, for 2-D gold (a row of labels per text), one
    binary one per label."""
    from sklearn.linear_model import LogisticRegression, Ridge

    if not task_type.has_classes:
        ridge = Ridge(alpha=strength).fit(features, gold.astype(np.float64))
        return LinearHead(
            np.asarray(ridge.coef_).reshape(-1, 1), np.atleast_1d(ridge.intercept_).astype(float)
        )
    n_features = features.shape[1]
    weight = np.zeros((n_features, num_labels))
    bias = np.full(num_labels, ABSENT_CLASS_LOGIT)
    fitted = 0
    if gold.ndim == 2:  # a binary logistic regression per label; a label never (or always) seen is constant
        for label in range(num_labels):
            column = gold[:, label].astype(int)
            if column.min() == column.max():
                bias[label] = -ABSENT_CLASS_LOGIT if column[0] else ABSENT_CLASS_LOGIT
                continue
            model = LogisticRegression(C=strength, max_iter=1000, random_state=seed).fit(features, column)
            weight[:, label], bias[label] = model.coef_[0], model.intercept_[0]
            fitted += n_features + 1
        return LinearHead(weight, bias, fitted)
    classes = np.unique(gold)
    if len(classes) == 1:
        bias[classes[0]] = 0.0
        return LinearHead(weight, bias, 0)
    model = LogisticRegression(C=strength, max_iter=1000, random_state=seed).fit(features, gold)
    if len(classes) == 2:  # one weight row: softmax over (0, z) is the binary model's sigmoid
        bias[classes] = (0.0, model.intercept_[0])
        weight[:, classes[0]], weight[:, classes[1]] = 0.0, model.coef_[0]
    else:
        weight[:, classes], bias[classes] = model.coef_.T, model.intercept_
    return LinearHead(weight, bias, int(model.coef_.size + model.intercept_.size))


def choose_head(
    objective: Any,  # a runner.training.objective.Objective
    train: tuple[Any, np.ndarray],
    validation: tuple[Any, Examples] | None,
    grid: Sequence[float],
    score: Callable[[torch.Tensor, Examples], float],
    seed: int,
) -> tuple[LinearHead, Choice]:
    """The head at each grid value scored on the validation features; the best kept (ties: the first,
    the smaller value of C, the larger of alpha as the grids are ordered)."""
    task_type = objective.task_type
    name = "C" if task_type.has_classes else "alpha"
    features, gold = train
    if validation is None:
        middle = sorted(grid)[len(grid) // 2]
        head = fit_head(task_type, features, gold, middle, objective.num_labels, seed)
        return head, Choice(name, [{name: middle}], middle, on_validation=False)
    val_features, val_examples = validation
    choice, best, best_score = Choice(name), None, -math.inf
    ordered = sorted(grid) if name == "C" else sorted(grid, reverse=True)
    for strength in ordered:
        head = fit_head(task_type, features, gold, strength, objective.num_labels, seed)
        value = score(objective.outputs(head.logits(val_features)), val_examples)
        choice.scores.append({name: strength, "validation_score": value})
        if value > best_score:
            best, best_score, choice.chosen = head, value, strength
    assert best is not None, "the grid has at least one value (the schema's minimum length)"
    return best, choice


def check_grid(values: Sequence[float], key: str) -> None:
    if not values or any(v <= 0 for v in values):
        raise RecipeError(f"{key} = {list(values)}: give one or more positive values")


class FittedMethod(Method):
    """A method that fits outside the torch loop: the pipeline calls `fit` and `outputs` instead of
    building a classifier, then scores and records the run as any other."""

    fits_outside_torch = True
    defaults: dict[str, dict[str, Any]] = {}  # train.lr and friends do not apply

    def fit(
        self,
        recipe: Recipe,
        objective: Any,  # a runner.training.objective.Objective
        train: Examples,
        validation: Examples | None,
        score: Callable[[torch.Tensor, Examples], float],
    ) -> Any:
        """The fitted model (a `Fitted`), its regularisation chosen on `validation` only."""
        raise NotImplementedError

    def load_fitted(self, folder: Path) -> Any:
        """The `Fitted` a run's `model/` folder holds (ftrun predict and eval)."""
        raise NotImplementedError

    def with_chosen_head(
        self,
        model: Any,
        options: Any,
        recipe: Recipe,
        objective: Any,
        train: Examples,
        validation: Examples | None,
        score: Callable[[torch.Tensor, Examples], float],
    ) -> Any:
        """`model`, whose features are fitted, with the linear head whose regularisation (`C_grid`, or
        `alpha_grid` for a task without classes) scored best on `validation` only."""
        grid = options.C_grid if objective.task_type.has_classes else options.alpha_grid
        held_out = None if validation is None else (model.features(validation.inputs()), validation)
        trained = (model.features(train.inputs()), objective.gold(train.labels))
        model.head, model.choice = choose_head(objective, trained, held_out, grid, score, recipe.train.seed)
        return model

    def save_fitted(self, model: Any, recipe: Recipe, folder: Path, thresholds: list[float] | None) -> None:
        write_config(folder, recipe, thresholds)
        model.save(folder)

    # What the saved folder holds, for its README (the module docstring's "Saved form", in short).
    saved_files = ""

    def write_card(self, folder: Path, recipe: Recipe, record: rundir.RunRecord) -> None:
        write_card(folder, recipe, record, self.saved_files)


def write_config(folder: Path, recipe: Recipe, thresholds: list[float] | None) -> None:
    """model/config.json: what `ftrun predict` and `eval` read before loading (method, task, labels,
    pairs, thresholds), in the keys a saved transformers folder uses for the same things."""
    from runner import registry

    data = recipe.data
    labels = registry.task(data.task).output_names(data.labels, data.label_column)
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "model_type": "ftrun",
        "method": recipe.method.name,
        "task": recipe.data.task,
        "base_model": recipe.model.name,
        "id2label": {str(i): label for i, label in enumerate(labels)},
        "label2id": {label: i for i, label in enumerate(labels)},
        "thresholds": thresholds,
        "encoding": {
            "pairs": bool(recipe.data.text_pair_column),
            "pair_separator": recipe.data.pair_separator,
        },
    }
    rundir.write_json(folder / "config.json", config)


def read_config(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "config.json").read_text())  # type: ignore[no-any-return]


def write_card(folder: Path, recipe: Recipe, record: rundir.RunRecord, files: str) -> None:
    """model/README.md for a fitted baseline: what it is, its headline score, and what the folder holds."""
    from runner import formatting

    metric = record.metric
    score = formatting.with_interval(metric, record.score, record.scores.score_ci95)
    data, examples = recipe.data, record.data.get("eval_size")
    text = f"""# {record.run_name}

A `{recipe.method.name}` baseline fitted by ftrun on `{data.source}` (`data.task = "{data.task}"`):
scikit-learn features and a linear model, no fine-tuned network.

{formatting.metric_name(metric)} on `{data.eval_split}` ({examples} examples): {score}

## Files

{files} No pickle: every file is JSON, NumPy `.npz` (read with `allow_pickle=False`) or safetensors.
`ftrun predict` and `ftrun eval` load the folder; `transformers` cannot, and `ftrun export` and
`ftrun serve` do not take it.
"""
    rundir.write_text(folder / "README.md", text)
