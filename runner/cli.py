"""The `ftrun` command. Every user error ends here as one line on stderr and exit code 2."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from runner.compare import write_runs_report  # the sweep's last step, handed in: sweep imports no compare
from runner.errors import FtrunError, RecipeError
from runner.recipe import reading as recipes
from runner.sweep import combinations as sweeps
from runner.sweep import execution
from runner.use import commands as use_commands

USER_ERROR_EXIT = 2


class _RecipeFirstGroup(TyperGroup):
    """Lets `ftrun RECIPE` mean `ftrun run RECIPE` while `ftrun compare DIR` stays a subcommand."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_RecipeFirstGroup,
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="rich",
    help=(
        "Declarative fine-tuning of language-model classifiers.\n\n"
        "Examples:\n\n"
        "  ftrun recipes/quickstart.toml            train and evaluate a recipe\n\n"
        "  ftrun recipes/lora.toml --set train.lr=1e-4\n\n"
        "  ftrun validate recipes/*.toml            check recipes without loading anything\n\n"
        "  ftrun show recipes/lora.toml             print the resolved recipe\n\n"
        "  ftrun resume outputs/lora                continue an interrupted run\n\n"
        "  ftrun predict outputs/lora 'A fine film.'  classify texts with a finished run\n\n"
        "  ftrun eval outputs/lora --data embedded-rotten-tomatoes --split all   score it on other data\n\n"
        "  ftrun export outputs/lora --quantize int8  an ONNX graph and an int8 copy, checked\n\n"
        "  ftrun serve outputs/lora                 an HTTP service with dynamic batching\n\n"
        "  ftrun compare outputs/                   compare finished runs"
    ),
)

SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a key, e.g. --set train.lr=1e-4 (repeatable).", metavar="KEY=VALUE"),
]


@app.command(
    help="Train and evaluate RECIPE; a recipe with a [sweep] table runs every combination of it.\n\n"
    "Example: ftrun recipes/lora.toml --set train.epochs=1"
)
def run(
    recipe_path: Annotated[Path, typer.Argument(metavar="RECIPE", help="TOML recipe file.")],
    set_: SetOption = None,
    overwrite: Annotated[
        bool,
        typer.Option(help="Replace an existing run folder of the same name (a sweep: rerun finished ones)."),
    ] = False,
    resume: Annotated[
        Path | None,
        typer.Option(help="Continue the unfinished run in this run folder.", metavar="RUN_DIR"),
    ] = None,
    parallel: Annotated[
        int | None,
        typer.Option(min=0, help="A sweep: combinations at once (one GPU each, or a share of the cores)."),
    ] = None,
    threads: Annotated[
        int | None, typer.Option(min=0, help="A sweep: torch threads per combination (0: cores / parallel).")
    ] = None,
    gpus_per_run: Annotated[
        int | None, typer.Option(min=1, help="A sweep: GPUs per combination (accelerate launch above 1).")
    ] = None,
    executor: Annotated[
        str | None, typer.Option(help="A sweep: local, slurm or submitit-local (see [sweep.executor]).")
    ] = None,
    partition: Annotated[str | None, typer.Option(help="A SLURM sweep: the partition.")] = None,
    time_minutes: Annotated[
        float | None, typer.Option(min=0.01, help="A sweep: time limit per combination, in minutes.")
    ] = None,
) -> None:
    flags = {"engine": executor, "partition": partition, "time_minutes": time_minutes, "parallel": parallel}
    flags |= {"threads": threads, "gpus_per_run": gpus_per_run}
    if sweeps.is_sweep(recipe_path):
        if resume is not None:
            raise RecipeError(
                f"--resume: {recipe_path} is a sweep; run it again to continue where it stopped"
            )
        raise typer.Exit(execution.run_sweep(recipe_path, set_ or [], write_runs_report, flags, overwrite))
    given = [f"--{key.replace('_', '-')}" for key, value in flags.items() if value is not None]
    if given:
        raise RecipeError(f"{' '.join(given)}: for a recipe with a [sweep] table; {recipe_path} has none")
    _run_recipe(recipes.load(recipe_path, set_ or []), recipe_path, overwrite=overwrite, resume=resume)


def _run_recipe(*args: Any, **options: Any) -> Path:
    from runner.pipeline import run_recipe  # heavy imports only once the recipe is valid

    return run_recipe(*args, **options)


@app.command(name="run-combination", hidden=True)
def run_combination(
    sweep_path: Annotated[Path, typer.Argument(metavar="SWEEP")],
    name: Annotated[str, typer.Argument(metavar="NAME")],
    set_: SetOption = None,
    overwrite: bool = False,
    report: bool = False,
) -> None:
    """One combination of a sweep in this process: what a sweep's launcher starts for each."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a time limit's stop, even if ours ignores it
    from runner.sweep import worker

    report_step = write_runs_report if report else None  # the last task of an array writes the report
    outcome = worker.run_combination(sweep_path, set_ or [], name, _run_recipe, overwrite, report_step)
    raise typer.Exit(outcome.exit_code())


@app.command(
    help="Continue an unfinished run from its newest checkpoint, with the recipe it started with.\n\n"
    "Example: ftrun resume outputs/lora"
)
def resume(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="The unfinished run's folder.")],
) -> None:
    from runner import rundir

    folder = rundir.existing_run_folder(run_dir)
    _run_recipe(recipes.load(folder / "recipe.toml"), folder / "recipe.toml", resume=folder)


@app.command(
    help="Check recipes without loading any model or data.\n\nExample: ftrun validate recipes/*.toml"
)
def validate(
    recipe_paths: Annotated[list[Path], typer.Argument(metavar="RECIPE...", help="TOML recipe files.")],
    set_: SetOption = None,
) -> None:
    failures = 0
    for path in recipe_paths:
        try:
            if sweeps.is_sweep(path):
                lines = sweeps.describe(sweeps.load_combinations(path, set_ or []))
                typer.echo(f"ok   {lines[0]}")
                typer.echo("\n".join(lines[1:]))
                continue
            recipes.load(path, set_ or [])
            typer.echo(f"ok   {path}")
        except FtrunError as error:
            failures += 1
            report(error)
    if failures:
        raise typer.Exit(USER_ERROR_EXIT)


@app.command(
    help="Print the fully resolved recipe, defaults included, as TOML.\n\n"
    "Example: ftrun show recipes/lora.toml"
)
def show(
    recipe_path: Annotated[Path, typer.Argument(metavar="RECIPE", help="TOML recipe file.")],
    set_: SetOption = None,
) -> None:
    if sweeps.is_sweep(recipe_path):
        typer.echo("\n".join(sweeps.describe(sweeps.load_combinations(recipe_path, set_ or []), True)))
        return
    typer.echo(recipes.to_toml(recipes.load(recipe_path, set_ or [])), nl=False)


@app.command(
    help="Compare finished runs: each run's headline metric (eval.metric) with its CI, latency, cost; "
    "paired tests within each eval set (McNemar for accuracy, a paired bootstrap otherwise).\n\n"
    "Example: ftrun compare outputs/ --sort latency --report reports/imdb"
)
def compare(
    directories: Annotated[
        list[Path], typer.Argument(metavar="DIR...", help="Folders searched for run folders.")
    ],
    sort: Annotated[
        str,
        typer.Option(
            help="score (the headline metric; `accuracy` is the same), validation, f1, latency, "
            "train_time, trainable or name."
        ),
    ] = "score",
    method: Annotated[
        list[str] | None, typer.Option("--method", help="Only runs of this method (repeatable).")
    ] = None,
    format_: Annotated[str, typer.Option("--format", help="table, markdown, csv or json.")] = "table",
    out: Annotated[Path | None, typer.Option(help="Write the export to this file instead of stdout.")] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write report.md and PNG plots into this folder.")
    ] = None,
    margin: Annotated[
        float | None,
        typer.Option(
            help="The smallest difference of the headline metric that matters to you, e.g. 0.01: the "
            "verdict calls a method equivalent to the best within it (default: the runs' "
            "compare.margin, else the metric's default)."
        ),
    ] = None,
) -> None:
    from runner.compare import comparison as comparing
    from runner.compare import exports as exporting
    from runner.compare import report as reports

    if sort not in comparing.SORT_KEYS:
        raise RecipeError(f"--sort {sort!r}: choose one of {', '.join(comparing.SORT_KEYS)}")
    exports = {"markdown": exporting.to_markdown, "csv": exporting.to_csv, "json": exporting.to_json}
    if format_ != "table" and format_ not in exports:
        raise RecipeError(f"--format {format_!r}: choose one of table, {', '.join(exports)}")
    if out and format_ == "table":
        raise RecipeError(
            f"--out {out}: give --format markdown, csv or json too (the table is for the terminal)"
        )
    if out:
        exporting.check_export_file(out)
    if margin is not None and margin < 0:
        raise RecipeError(f"--margin {margin:g}: a margin is a size of difference, so 0 or more")
    if report:
        reports.check_report_folder(report)
    result = comparing.compare(directories, sort=sort, methods=method, margin=margin)
    if format_ == "table":
        exporting.print_tables(result)
    elif out:
        exporting.write_export(out, exports[format_](result))
        typer.echo(f"wrote {out}", err=True)
    else:
        typer.echo(exports[format_](result), nl=False)
    if report:
        for path in reports.write_report(result, report):
            typer.echo(f"wrote {path}", err=True)


# predict, eval, export and serve: the commands that use a finished run, declared beside their code.
use_commands.register(app)


def report(error: FtrunError) -> None:
    """Each problem of a user error on one line of its own."""
    for problem in error.problems or [str(error)]:
        print(f"ftrun: error: {problem}", file=sys.stderr)


def main() -> None:
    """Entry point: user errors become one line each on stderr and exit code 2; click handles usage errors."""
    try:
        app()
    except FtrunError as error:
        report(error)
        sys.exit(USER_ERROR_EXIT)
    except KeyboardInterrupt:
        # The run already said how to resume; a traceback would only hide that line.
        sys.exit(130)
