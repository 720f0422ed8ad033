"""What a recipe's task needs of its other keys: the headline metric it resolves to, and the keys that
contradict it (a metric of another task, a weight or threshold list of the wrong length)."""

from __future__ import annotations

from runner.recipe.schema import TASK_METRICS, Recipe


def headline_metric(recipe: Recipe) -> str:
    """`eval.metric` resolved: the task's default where it says `auto`."""
    metric = recipe.eval.metric
    return TASK_METRICS[recipe.data.task][0] if metric == "auto" else metric


def num_outputs(recipe: Recipe) -> int:
    """The head's width: a score per label, or one value for regression."""
    return 1 if recipe.data.task == "regression" else len(recipe.data.labels)


def task_problems(recipe: Recipe) -> list[str]:
    data, task = recipe.data, recipe.data.task
    problems = []
    allowed = TASK_METRICS[task]
    if recipe.eval.metric not in ("auto", *allowed):
        problems.append(
            f"eval.metric = {recipe.eval.metric!r} does not fit data.task = {task!r}; "
            f"choose one of: {', '.join(allowed)}"
        )
    labels = data.labels
    if task != "regression" and (len(labels) < 2 or len(set(labels)) != len(labels)):
        problems.append(f"data.labels must name at least 2 distinct labels, got {labels!r}")
    weights = recipe.train.class_weights
    if task == "regression" and weights != "none":
        problems.append(f"train.class_weights = {weights!r}: a regression has no classes to weight")
    if isinstance(weights, list):
        if len(weights) != len(labels):
            problems.append(
                f"train.class_weights has {len(weights)} weights but data.labels has {len(labels)} labels"
            )
        if any(w <= 0 for w in weights):
            problems.append(f"train.class_weights = {weights}: every weight must be greater than 0")
    thresholds = recipe.eval.thresholds
    if thresholds and task != "multi_label":
        problems.append("eval.thresholds: only a multi_label task has decision thresholds")
    elif thresholds and len(thresholds) != len(labels):
        problems.append(
            f"eval.thresholds has {len(thresholds)} values but data.labels has {len(labels)} labels"
        )
    if any(not 0.0 <= t <= 1.0 for t in thresholds):
        problems.append(f"eval.thresholds = {thresholds}: each must be between 0 and 1")
    if not data.label_column and task != "multi_label":
        problems.append('data.label_column = "" (one 0/1 column per label) needs data.task = "multi_label"')
    if data.text_pair_column and data.truncation != "head":
        problems.append(
            f"data.truncation = {data.truncation!r} cuts single texts; the two texts of a pair are cut "
            'longer one first (leave it "head")'
        )
    if data.text_pair_column and data.text_pair_column == data.text_column:
        problems.append(f"data.text_pair_column = {data.text_pair_column!r} is also data.text_column")
    return problems
