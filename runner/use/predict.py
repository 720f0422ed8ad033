"""`ftrun predict`: classify new texts (or sentence pairs) with a finished run's saved model.

Texts come from the command line, a file (txt: one per line; csv or jsonl: a named column) or stdin;
a model trained on pairs takes two texts each (`--pair`, two columns, or JSON objects).
Every label's score is printed: its probability, the labels over threshold (multi_label), or the value.
They are scored in batches sorted by length (little padding), on the GPU when there is one, and
printed in the order given.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

import torch
from rich.console import Console
from rich.table import Table

from runner import rundir
from runner.console import progress_bars
from runner.errors import DataError
from runner.model.reload import SavedModel, finished_run, load_saved_model
from runner.training.batches import collate

STDIN = "-"


Input = str | tuple[str, str]  # a text, or a sentence pair for a model trained on pairs


def run_predict(
    run_dir: Path, texts: list[Input], batch_size: int, device: str, as_json: bool, out: Path | None
) -> None:
    """Score `texts` with the run's model: a table or JSON lines on stdout, or JSON lines into `out`."""
    from runner.console import quiet_libraries

    folder = finished_run(run_dir)
    target = choose_device(device)
    quiet_libraries()
    saved = load_saved_model(folder / "model")
    if out is None:
        outputs = predict_outputs(saved, texts, batch_size, target)
        if as_json:
            for line in json_lines(texts, outputs, saved):
                print(line)
        else:
            print_table(Console(), texts, outputs, saved)
        return
    console = Console(stderr=True)
    with progress_bars(console, True) as bars:
        task = bars.add_task("predict", total=len(texts), info="")
        outputs = predict_outputs(saved, texts, batch_size, target, lambda done: bars.advance(task, done))
    rundir.write_text(out, "".join(f"{line}\n" for line in json_lines(texts, outputs, saved)))
    console.print(f"wrote {len(texts)} predictions to {out}", soft_wrap=True)


def trained_on_pairs(run_dir: Path) -> bool:
    """Whether the run's saved model reads sentence pairs (from its config.json, before any load)."""
    config = finished_run(run_dir) / "model" / "config.json"
    return bool((json.loads(config.read_text()).get("encoding") or {}).get("pairs"))


def read_texts(
    arguments: list[str],
    file: Path | None,
    text_column: str,
    stdin: TextIO | None = None,
    *,
    pairs: list[str] | None = None,
    pair_column: str = "text_pair",
    want_pairs: bool = False,
) -> list[Input]:
    """The inputs: the arguments (`-` reads stdin, a line each), then the file's. A pair model takes
    each TEXT with its --pair, JSON objects with `text` and `text_pair`, tab-separated lines, or a
    file's two columns."""
    found: list[Any] = []
    for argument in arguments:
        found += _lines(stdin or sys.stdin) if argument == STDIN else [argument]
    if pairs:
        if not want_pairs:
            raise DataError("--pair: this run's model was trained on single texts")
        if len(pairs) != len(found):
            raise DataError(f"--pair: {len(pairs)} second texts for {len(found)} texts; give one per TEXT")
        found = list(zip(found, pairs, strict=True))
    elif want_pairs:
        found = [_pair(text, f"text {number}") for number, text in enumerate(found, 1)]
    if file is not None:
        found += read_file(file, text_column, pair_column if want_pairs else None)
    if not found:
        raise DataError("no texts to classify: give TEXT arguments, --file FILE, or - to read stdin")
    return found


def _pair(text: str, where: str) -> tuple[str, str]:
    """A pair given as one string: a JSON object with text and text_pair, or two tab-separated texts."""
    if text.lstrip().startswith("{"):
        row = _json_row(Path("(argument)"), 0, text)
        if (
            isinstance(row, dict)
            and isinstance(row.get("text"), str)
            and isinstance(row.get("text_pair"), str)
        ):
            return row["text"], row["text_pair"]
    elif text.count("\t") == 1:
        first, second = text.split("\t")
        return first, second
    raise DataError(
        f"{where}: this run's model reads sentence pairs; give --pair, a JSON object "
        '{"text": ..., "text_pair": ...}, or two tab-separated texts'
    )


def read_file(file: Path, text_column: str, pair_column: str | None = None) -> list[Input]:
    """txt: one text per line (a pair: two tab-separated texts); csv (header row) or jsonl: the
    `text_column` (and `pair_column`) of each row."""
    if not file.is_file():
        raise DataError(f"--file {file}: no such file")
    suffix = file.suffix.lower()
    with file.open(encoding="utf-8", newline="") as handle:
        if suffix == ".csv":
            rows: list[Any] = list(csv.DictReader(handle))
        elif suffix in (".jsonl", ".json"):
            rows = [_json_row(file, number, line) for number, line in enumerate(handle, 1) if line.strip()]
        elif pair_column is not None:
            return [_pair(line, f"--file {file} line {n}") for n, line in enumerate(_lines(handle), 1)]
        else:
            return list(_lines(handle))
    columns = [text_column] + ([pair_column] if pair_column is not None else [])
    for number, row in enumerate(rows, 1):
        for column in columns:
            if not isinstance(row, dict) or column not in row:
                found = sorted(row) if isinstance(row, dict) else type(row).__name__
                option = "--text-column" if column == text_column else "--pair-column"
                raise DataError(
                    f"--file {file} row {number} has no column {column!r} (found {found}); "
                    f"name the column with {option}"
                )
    if pair_column is None:
        return [str(row[text_column]) for row in rows]
    return [(str(row[text_column]), str(row[pair_column])) for row in rows]


def _json_row(file: Path, number: int, line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as error:
        raise DataError(f"--file {file} line {number}: not valid JSON ({error.msg})") from None


def _lines(handle: Iterable[str]) -> list[str]:
    return [line.rstrip("\r\n") for line in handle if line.strip()]


def choose_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise DataError("--device cuda: no GPU is visible to torch here")
    return torch.device(requested)


def predict_outputs(
    saved: SavedModel, texts: Sequence[Input], batch_size: int, device: torch.device, advance: Any = None
) -> torch.Tensor:
    """Per input, in the order given: the probability of each label (a softmax for single_label, a
    sigmoid per label for multi_label) or the predicted value (regression). Length-sorted batches."""
    task = saved.task_type  # what the logits mean: probabilities per label, or a value
    if saved.fitted is not None:  # a fitted baseline: a function of the texts, on the CPU
        outputs = task.outputs(saved.fitted.logits(list(texts))).reshape(len(texts), -1)
        if advance is not None:
            advance(len(texts))
        return outputs  # type: ignore[no-any-return]
    ids = saved.encode(texts)  # type: ignore[arg-type]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    classifier = saved.classifier.to(device)
    pad, segment = saved.tokenizer.pad_token_id, saved.segment_token
    result = torch.empty(len(texts), len(saved.labels))
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        rows = [{"index": i, "input_ids": ids[i], "label": 0} for i in chunk]
        batch = collate(rows, pad, segment_token=segment)
        types = batch.get("token_type_ids")
        with torch.inference_mode():
            logits = classifier(
                batch["input_ids"].to(device),
                batch["attention_mask"].to(device),
                None if types is None else types.to(device),
            )
        result[chunk] = task.outputs(logits).reshape(len(chunk), -1).cpu()
        if advance is not None:
            advance(len(chunk))
    return result


def _shown(text: Input) -> dict[str, str]:
    return {"text": text} if isinstance(text, str) else {"text": text[0], "text_pair": text[1]}


def json_lines(texts: Sequence[Input], outputs: torch.Tensor, saved: SavedModel) -> Iterable[str]:
    labels, thresholds, task = saved.labels, saved.config.thresholds, saved.task_type
    for text, row in zip(texts, outputs.tolist(), strict=True):
        yield json.dumps({**_shown(text), **task.prediction(labels, row, thresholds)})


def print_table(console: Console, texts: Sequence[Input], outputs: torch.Tensor, saved: SavedModel) -> None:
    labels, thresholds, task = saved.labels, saved.config.thresholds, saved.task_type
    table = Table(show_edge=False)
    for title, options in task.table_columns(labels):
        table.add_column(title, **options)
    table.add_column("text", overflow="ellipsis", no_wrap=True)
    for text, row in zip(texts, outputs.tolist(), strict=True):
        shown = text if isinstance(text, str) else f"{text[0]} ‖ {text[1]}"
        table.add_row(*task.table_cells(labels, row, thresholds), shown)
    console.print(table)
