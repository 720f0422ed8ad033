"""The `ftrun` command. Every user error ends here as one line on stderr and exit code 2."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from runner.errors import FtrunError, RecipeError
from runner.recipe import loading as recipes
from runner.sweep import combinations as sweeps
from runner.sweep import execution

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
        "  ftrun export outputs/lora --quantize int8   an ONNX graph (and int8), checked\n\n"
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
        raise typer.Exit(execution.run_sweep(recipe_path, set_ or [], flags, rerun=overwrite))
    given = [f"--{key.replace('_', '-')}" for key, value in flags.items() if value is not None]
    if given:
        raise RecipeError(f"{' '.join(given)}: for a recipe with a [sweep] table; {recipe_path} has none")
    resolved = recipes.load(recipe_path, set_ or [])
    from runner.pipeline import run_recipe  # heavy imports only once the recipe is valid

    run_recipe(resolved, recipe_path, overwrite=overwrite, resume=resume)


@app.command(name="run-combination", hidden=True)
def run_combination(
    sweep_path: Annotated[Path, typer.Argument(metavar="SWEEP")],
    name: Annotated[str, typer.Argument(metavar="NAME")],
    set_: SetOption = None,
    overwrite: bool = False,
    report: bool = False,
) -> None:
    """One combination of a sweep in this process: what a sweep's launcher starts for each."""
    from runner.sweep import worker

    def run_one(*args: Any, **options: Any) -> Path:
        from runner.pipeline import run_recipe  # heavy imports only once the combination is claimed

        return run_recipe(*args, **options)

    outcome = worker.run_combination(sweep_path, set_ or [], name, run_one, rerun=overwrite, report=report)
    codes = {"failed": worker.EXIT_FAILED, "busy": worker.EXIT_BUSY}
    raise typer.Exit(codes.get(outcome.status, 0))


@app.command(
    help="Continue an unfinished run from its newest checkpoint, with the recipe it started with.\n\n"
    "Example: ftrun resume outputs/lora"
)
def resume(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="The unfinished run's folder.")],
) -> None:
    from runner import rundir
    from runner.pipeline import run_recipe

    folder = rundir.existing_run_folder(run_dir)
    run_recipe(recipes.load(folder / "recipe.toml"), folder / "recipe.toml", resume=folder)


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
    if report:
        reports.check_report_folder(report)
    result = comparing.compare(directories, sort=sort, methods=method)
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


@app.command(
    help="Classify texts with a finished run's model: a table of label and probability per text.\n\n"
    'Examples: ftrun predict outputs/lora "A wonderful film." "Dull."  ·  '
    "ftrun predict outputs/lora --file reviews.csv --text-column review --json  ·  "
    "cat texts.txt | ftrun predict outputs/lora -"
)
def predict(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A finished run's folder.")],
    texts: Annotated[
        list[str] | None,
        typer.Argument(metavar="TEXT...", help="Texts to classify; - reads stdin, one per line."),
    ] = None,
    file: Annotated[
        Path | None, typer.Option(help="txt (one text per line), csv or jsonl file of texts.", metavar="FILE")
    ] = None,
    text_column: Annotated[
        str, typer.Option(help="The column holding the text in a csv or jsonl file.")
    ] = "text",
    pair: Annotated[
        list[str] | None,
        typer.Option(help="A sentence-pair model: the second text of each TEXT, in order.", metavar="TEXT"),
    ] = None,
    pair_column: Annotated[
        str, typer.Option(help="A sentence-pair model: the column of the second text in a csv or jsonl file.")
    ] = "text_pair",
    json_: Annotated[
        bool, typer.Option("--json", help="One JSON line per text, with every label's score.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="Write JSON lines to this file, with a progress bar.", metavar="FILE")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per batch.")] = 32,
    device: Annotated[str, typer.Option(help="auto (a GPU if there is one), cpu or cuda.")] = "auto",
) -> None:
    from runner.use import predict as predicting

    chosen = predicting.read_texts(
        texts or [],
        file,
        text_column,
        pairs=pair,
        pair_column=pair_column,
        want_pairs=predicting.trained_on_pairs(run_dir),
    )
    predicting.run_predict(run_dir, chosen, batch_size=batch_size, device=device, as_json=json_, out=out)


@app.command(
    name="eval",
    help="Score a finished run on another data set; writes a new run folder that compare reads.\n\n"
    "Example: ftrun eval outputs/lora --data embedded-rotten-tomatoes --split all",
)
def eval_(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A finished run's folder.")],
    data: Annotated[str, typer.Option(help="Any data.source a recipe accepts.", metavar="SOURCE")],
    split: Annotated[
        str | None, typer.Option(help="Eval split expression (default: the run's data.eval_split).")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a data key, e.g. data.text_column=review.", metavar="KEY=VALUE"),
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option(help="Folder for the new run folder (default: beside the run).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="New run folder's name (default: RUN-on-SOURCE).")] = None,
    device: Annotated[str, typer.Option(help="auto (a GPU if there is one), cpu or cuda.")] = "auto",
) -> None:
    from runner.use.rescore import evaluate_run

    evaluate_run(run_dir, data, split, set_ or [], out_dir=out_dir, name=name, device=device)


@app.command(
    help="Export a finished run's model to ONNX (RUN/export/model.onnx, the tokenizer beside it), checked "
    "against PyTorch on the run's eval examples; --quantize int8 adds an int8 copy, rescored.\n\n"
    "Example: ftrun export outputs/lora --quantize int8"
)
def export(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A finished run's folder.")],
    quantize: Annotated[
        str | None, typer.Option(help="int8: also write model.int8.onnx (dynamic quantisation), rescored.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder for the export (default: RUN_DIR/export).", metavar="DIR")
    ] = None,
    examples: Annotated[
        int, typer.Option(min=0, help="Eval examples the export is checked and rescored on (0: all).")
    ] = 256,
    tolerance: Annotated[
        float,
        typer.Option(
            min=0.0, help="Largest difference allowed from PyTorch's probabilities (a regression: per unit)."
        ),
    ] = 1e-4,
) -> None:
    from runner.use.export import export_run

    export_run(run_dir, out, quantize, examples, tolerance)


@app.command(
    help='Serve a finished run over HTTP: POST /predict with {"texts": [...]} (a pair model: '
    '{"pairs": \\[\\[text, text_pair], ...]}), GET /health; requests that arrive together are scored in one '
    "batch. Stops cleanly on SIGTERM or Ctrl-C.\n\n"
    "Example: ftrun serve outputs/lora --port 8000  ·  ftrun serve outputs/lora --onnx"
)
def serve(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A finished run's folder.")],
    onnx: Annotated[
        bool, typer.Option("--onnx", help="Serve the checked ONNX export (ftrun export) with onnxruntime.")
    ] = False,
    int8: Annotated[
        bool, typer.Option("--int8", help="Serve the export's int8 graph (ftrun export --quantize int8).")
    ] = False,
    export_dir: Annotated[
        Path | None, typer.Option(help="The export's folder (default: RUN_DIR/export).", metavar="DIR")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    max_batch: Annotated[int, typer.Option(min=1, help="Most texts scored in one forward pass.")] = 32,
    max_wait_ms: Annotated[
        float, typer.Option(min=0.0, help="Longest a request waits for others to fill its batch.")
    ] = 10.0,
    max_texts: Annotated[int, typer.Option(min=1, help="Most texts (or pairs) in one request.")] = 64,
    max_chars: Annotated[int, typer.Option(min=1, help="Most characters in one text.")] = 20_000,
    max_body_bytes: Annotated[int, typer.Option(min=1, help="Largest request body, in bytes.")] = 1024 * 1024,
    device: Annotated[str, typer.Option(help="auto (a GPU if there is one), cpu or cuda.")] = "auto",
) -> None:
    from runner.use import serve as serving
    from runner.use.payloads import Limits

    serving.require_serving()
    serving.check_port(host, port)
    service = serving.load_service(run_dir, onnx, int8, export_dir, device, max_batch)
    limits = Limits(max_body_bytes=max_body_bytes, max_texts=max_texts, max_chars=max_chars)
    serving.serve(service, host, port, limits, max_wait_ms)


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
