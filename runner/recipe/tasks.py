"""What a recipe's task needs of its other keys: the headline metric it resolves to, and the keys that
contradict it (a metric of another task, a weight or threshold list of the wrong length)."""

from __future__ import annotations

from runner import registry
from runner.recipe.margins import margin_problem
from runner.recipe.schema import Recipe


def headline_metric(recipe: Recipe) -> str:
    """`eval.metric` resolved: the task's default where it says `auto`."""
    metric = recipe.eval.metric
    return registry.task(recipe.data.task).metrics[0] if metric == "auto" else metric


def num_outputs(recipe: Recipe) -> int:
    """The head's width: a score per label, or one value (as the task says)."""
    return int(registry.task(recipe.data.task).num_outputs(recipe.data.labels))


def task_problems(recipe: Recipe) -> list[str]:
    data, task = recipe.data, recipe.data.task
    kind = registry.task(task)
    problems = []
    allowed = kind.metrics
    if recipe.eval.metric not in ("auto", *allowed):
        problems.append(
            f"eval.metric = {recipe.eval.metric!r} does not fit data.task = {task!r}; "
            f"choose one of: {', '.join(allowed)}"
        )
    margin = margin_problem(headline_metric(recipe), recipe.compare.margin, "compare.margin")
    if recipe.eval.metric in ("auto", *allowed) and margin:
        problems.append(margin)
    labels = data.labels
    if kind.has_classes and (len(labels) < 2 or len(set(labels)) != len(labels)):
        problems.append(f"data.labels must name at least 2 distinct labels, got {labels!r}")
    weights = recipe.train.class_weights
    if not kind.has_classes and weights != "none":
        problems.append(f"train.class_weights = {weights!r}: data.task = {task!r} has no classes to weight")
    if isinstance(weights, list):
        if len(weights) != len(labels):
            problems.append(
                f"train.class_weights has {len(weights)} weights but data.labels has {len(labels)} labels"
            )
        if any(w <= 0 for w in weights):
            problems.append(f"train.class_weights = {weights}: every weight must be greater than 0")
    thresholds = recipe.eval.thresholds
    if thresholds and not kind.has_thresholds:
        problems.append(f"eval.thresholds: data.task = {task!r} has no decision thresholds")
    elif thresholds and len(thresholds) != len(labels):
        problems.append(
            f"eval.thresholds has {len(thresholds)} values but data.labels has {len(labels)} labels"
        )
    if any(not 0.0 <= t <= 1.0 for t in thresholds):
        problems.append(f"eval.thresholds = {thresholds}: each must be between 0 and 1")
    if not data.label_column and not kind.one_column_per_label:
        takes = [name for name in registry.TASK_NAMES if registry.task(name).one_column_per_label]
        problems.append(
            f'data.label_column = "" (one 0/1 column per label) needs a data.task that reads them: '
            f"{', '.join(takes)}"
        )
    if data.text_pair_column and data.truncation != "head":
        problems.append(
            f"data.truncation = {data.truncation!r} cuts single texts; the two texts of a pair are cut "
            'longer one first (leave it "head")'
        )
    if data.text_pair_column and data.text_pair_column == data.text_column:
        problems.append(f"data.text_pair_column = {data.text_pair_column!r} is also data.text_column")
    return problems
