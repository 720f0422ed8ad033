"""`ftrun predict`: classify new texts with a finished run's saved model.

Texts come from the command line, a file (txt: one per line; csv or jsonl: a named column) or stdin.
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


def run_predict(
    run_dir: Path, texts: list[str], batch_size: int, device: str, as_json: bool, out: Path | None
) -> None:
    """Score `texts` with the run's model: a table or JSON lines on stdout, or JSON lines into `out`."""
    from runner.console import quiet_libraries

    folder = finished_run(run_dir)
    target = choose_device(device)
    quiet_libraries()
    saved = load_saved_model(folder / "model")
    if out is None:
        probabilities = predict_probabilities(saved, texts, batch_size, target)
        if as_json:
            for line in json_lines(texts, probabilities, saved.labels):
                print(line)
        else:
            print_table(Console(), texts, probabilities, saved.labels)
        return
    console = Console(stderr=True)
    with progress_bars(console, True) as bars:
        task = bars.add_task("predict", total=len(texts), info="")
        probabilities = predict_probabilities(
            saved, texts, batch_size, target, lambda done: bars.advance(task, done)
        )
    rundir.write_text(out, "".join(f"{line}\n" for line in json_lines(texts, probabilities, saved.labels)))
    console.print(f"wrote {len(texts)} predictions to {out}", soft_wrap=True)


def read_texts(
    arguments: list[str], file: Path | None, text_column: str, stdin: TextIO | None = None
) -> list[str]:
    """The texts to classify: the arguments (`-` reads stdin, one text per line) and then the file's."""
    texts: list[str] = []
    for argument in arguments:
        texts += _lines(stdin or sys.stdin) if argument == STDIN else [argument]
    if file is not None:
        texts += read_file(file, text_column)
    if not texts:
        raise DataError("no texts to classify: give TEXT arguments, --file FILE, or - to read stdin")
    return texts


def read_file(file: Path, text_column: str) -> list[str]:
    """txt: one text per line; csv (header row) or jsonl: the `text_column` of each row."""
    if not file.is_file():
        raise DataError(f"--file {file}: no such file")
    suffix = file.suffix.lower()
    with file.open(encoding="utf-8", newline="") as handle:
        if suffix == ".csv":
            rows: list[Any] = list(csv.DictReader(handle))
        elif suffix in (".jsonl", ".json"):
            rows = [_json_row(file, number, line) for number, line in enumerate(handle, 1) if line.strip()]
        else:
            return _lines(handle)
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict) or text_column not in row:
            found = sorted(row) if isinstance(row, dict) else type(row).__name__
            raise DataError(
                f"--file {file} row {number} has no column {text_column!r} (found {found}); "
                "name the column with --text-column"
            )
    return [str(row[text_column]) for row in rows]


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


def predict_probabilities(
    saved: SavedModel, texts: Sequence[str], batch_size: int, device: torch.device, advance: Any = None
) -> torch.Tensor:
    """Probabilities (texts x labels) in the order of `texts`, computed in length-sorted batches."""
    ids = saved.encode(texts)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    classifier = saved.classifier.to(device)
    pad = saved.tokenizer.pad_token_id
    result = torch.empty(len(texts), len(saved.labels))
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        batch = collate([{"index": i, "input_ids": ids[i], "label": 0} for i in chunk], pad)
        with torch.inference_mode():
            logits = classifier(batch["input_ids"].to(device), batch["attention_mask"].to(device))
        result[chunk] = logits.float().softmax(-1).cpu()
        if advance is not None:
            advance(len(chunk))
    return result


def json_lines(texts: list[str], probabilities: torch.Tensor, labels: list[str]) -> Iterable[str]:
    for text, row in zip(texts, probabilities.tolist(), strict=True):
        best = max(range(len(labels)), key=row.__getitem__)
        yield json.dumps(
            {
                "text": text,
                "label": labels[best],
                "probability": row[best],
                "probabilities": dict(zip(labels, row, strict=True)),
            }
        )


def print_table(console: Console, texts: list[str], probabilities: torch.Tensor, labels: list[str]) -> None:
    table = Table(show_edge=False)
    table.add_column("label")
    table.add_column("probability", justify="right")
    table.add_column("text", overflow="ellipsis", no_wrap=True)
    for text, row in zip(texts, probabilities.tolist(), strict=True):
        best = max(range(len(labels)), key=row.__getitem__)
        table.add_row(labels[best], f"{row[best]:.3f}", text)
    console.print(table)
