"""`ftrun eval`: score a finished run's saved model on another data set, as a run folder of its own.

The new folder holds the eval set's predictions and metrics; method, model, training cost and
latency are the original run's (nothing was trained), and `evaluated_run` points back to it.
`ftrun compare` reads it like any run and ranks it only against runs scored on the same eval set.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from runner import rundir
from runner.console import print_summary, progress_bars
from runner.data.examples import Examples
from runner.data.loading import load_data, select_examples
from runner.data.raw_splits import load_source
from runner.errors import DataError, RecipeError
from runner.model.reload import finished_run, load_saved_model
from runner.recipe import reading as recipes
from runner.recipe.schema import Recipe
from runner.recipe.tasks import headline_metric
from runner.scoring import run_results
from runner.scoring.task_metrics import task_metrics
from runner.training.objective import Objective
from runner.use.predict import choose_device, predict_outputs


def evaluate_run(
    run_dir: Path,
    source: str,
    split: str | None,
    settings: list[str],
    out_dir: Path | None = None,
    name: str | None = None,
    device: str = "auto",
) -> Path:
    """Score the run in `run_dir` on `source` (its `split`); the new run folder's path."""
    from runner.console import quiet_libraries

    folder = finished_run(run_dir)
    recipe, original = eval_recipe(folder, source, split, settings)
    target = choose_device(device)
    quiet_libraries()
    console = Console(stderr=True)
    console.print(f"[bold]ftrun eval[/] {folder} on {source} ({recipe.data.eval_split})", soft_wrap=True)
    examples, notes = load_eval_examples(recipe, original)
    saved = load_saved_model(folder / "model")
    with progress_bars(console, True) as bars:
        task = bars.add_task("evaluate", total=len(examples), info="")
        outputs = predict_outputs(
            saved, examples.inputs(), recipe.eval.batch_size, target, lambda done: bars.advance(task, done)
        )
    # The objective only decides here: no weights or scale are measured from this data.
    objective = Objective(recipe.data.task, len(saved.labels))
    thresholds = saved.config.thresholds if objective.task_type.has_thresholds else None
    rows = run_results.prediction_rows(examples, outputs, objective, recipe.data.labels, thresholds)
    parent = out_dir or folder.parent
    new = rundir.new_run_folder(parent, name or f"{folder.name}-on-{_slug(source)}", overwrite=False)
    rundir.write_text(
        new / "recipe.toml",
        f"# scored by `ftrun eval` with the model of {folder}\n" + recipes.to_toml(recipe),
    )
    rundir.write_jsonl(new / "predictions.jsonl", rows)
    original_record = rundir.read_record(folder)
    description = {
        "source": source,
        "train_split": original.data.train_split,
        "eval_split": recipe.data.eval_split,
        "train_size": original_record.data["train_size"],
        "eval_size": len(examples),
        "eval_hash": examples.fingerprint(),
        "train_eval_overlap": _overlap(recipe, original, examples.inputs()),
        "notes": notes,
        "trained_on": original_record.data["source"],
    }
    scored = task_metrics(
        recipe.data.task,
        headline_metric(recipe),
        objective.gold(examples.labels),
        objective.decide(outputs, thresholds),
        recipe.data.labels,
    )
    record = eval_record(original_record, new.name, folder, description, scored, recipe)
    rundir.write_record(new, record)  # last: it marks a finished run
    print_summary(console, new, record)
    return new


def eval_recipe(folder: Path, source: str, split: str | None, settings: list[str]) -> tuple[Recipe, Recipe]:
    """(the recipe scored with, the run's own recipe): the run's recipe with the new data settings.

    Both name the saved model as `model.name`: the model the run started from may be gone (a run
    folder copied to another machine), and the saved folder is what is scored.
    """
    for setting in settings:
        if not setting.startswith("data."):
            raise RecipeError(f"--set {setting}: ftrun eval only changes data.* keys (the model is trained)")
    saved_model = [f"model.name={(folder / 'model').resolve()}", "model.gguf_file="]
    original_data = rundir.read_record(folder).data
    # The run's own data source may be gone too: it is only read back where it is the eval source.
    original = recipes.load(folder / "recipe.toml", [*saved_model, f"data.source={source}"])
    original.data.source = original_data["source"]
    # The whole eval split unless --set data.eval_size says otherwise: the run's subsample size was
    # chosen for its own data.
    overrides = [*saved_model, f"data.source={source}", "data.eval_size=0"]
    overrides += [f"data.eval_split={split}"] if split else []
    recipe = recipes.load(folder / "recipe.toml", overrides + settings)
    if recipe.data.labels != original.data.labels:
        raise DataError(
            f"data.labels = {recipe.data.labels} do not match the run's labels {original.data.labels}: "
            "the model predicts only those"
        )
    return recipe, original


def load_eval_examples(recipe: Recipe, original: Recipe) -> tuple[Examples, list[str]]:
    """Only the eval split: a data set used for scoring need have no train split."""
    raw_splits, note = load_source(recipe.data.source)
    notes = [note] if note else []
    try:
        examples = select_examples(
            raw_splits, recipe.data, recipe.data.eval_split, recipe.data.eval_size, "data.eval_split", notes
        )
    except DataError as error:
        if "labels are not among" not in str(error):
            raise
        raise DataError(
            f"the eval set's labels do not match the run's labels {original.data.labels}: {error}"
        ) from None
    return examples, notes


def eval_record(
    original: rundir.RunRecord,
    run_name: str,
    evaluated: Path,
    description: dict[str, Any],
    scored: dict[str, Any],
    recipe: Recipe,
) -> rundir.RunRecord:
    """The original run's record (method, model, training cost, latency) with the new eval set's scores
    in place of all of its own: no score of the old eval set survives beside the new ones (`scored` is
    the task's metrics of the new eval set)."""
    warnings = [note for note in description["notes"] if note.startswith("warning")]
    scored = {key: value for key, value in scored.items() if key != "prediction_warnings"}
    return original.with_scores(
        rundir.Scores.from_json({"task": recipe.data.task, **scored}),
        run_name=run_name,
        recipe_path=str(evaluated / "recipe.toml"),
        finished_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        data=description,
        warnings=warnings,
        # batch-1 latency was timed by the original run, on its own eval texts
        extra={
            "evaluated_run": str(evaluated.resolve()),
            "latency_from": "evaluated_run" if original.latency else None,
        },
    )


def _overlap(recipe: Recipe, original: Recipe, texts: Sequence[Any]) -> int | None:
    """Eval texts the model trained on; counted where the eval set comes from the training source."""
    if recipe.data.source != original.data.source:
        return None  # another source: not loaded again to check
    trained = load_data(original.data).train.inputs()
    return len(set(trained) & set(texts))


def _slug(source: str) -> str:
    name = Path(source).name if "/" in source and Path(source).expanduser().exists() else source
    name = re.sub(r"\.(csv|tsv|jsonl?|parquet)(\.gz)?$", "", name)
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "data"
