"""The commands that use a finished run (`ftrun predict`, `eval`, `export`, `serve`): their options and
help, declared as typer commands that `runner/cli.py` adds to `ftrun` (`register`), in this order.
Heavy imports wait inside each command; user errors reach the CLI's one-line report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

COMMANDS: list[tuple[Callable[..., Any], dict[str, Any]]] = []


def command(**options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Keep a command and its typer options until `register` adds it to the app."""

    def keep(function: Callable[..., Any]) -> Callable[..., Any]:
        COMMANDS.append((function, options))
        return function

    return keep


def register(app: typer.Typer) -> None:
    for function, options in COMMANDS:
        app.command(**options)(function)


@command(
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


@command(
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


@command(
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


@command(
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
