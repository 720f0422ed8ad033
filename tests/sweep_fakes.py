"""Stand-ins for a real run in sweep tests: a run folder that compare reads, written in a blink.

Run as a script it is `python -m runner` with `run_recipe` replaced by `fake_run`: a sweep's launcher
starts it for each combination (`run_sweep(..., worker=(python, this file))`), so the processes, claims
and outcomes are real and only the training is not. `FAKE_CALLS` names a file that gets one JSON line
per run (name, options, start and end times); `FAKE_FAIL` and `FAKE_KILL` are combination names that
fail with a user error or SIGKILL themselves, `FAKE_HANG` names ones that hang (sleep ten minutes),
`FAKE_DEAF` ones that hang and let the first Ctrl-C pass unheeded (as one that reached a worker still
starting could be); `FAKE_SECONDS` is how long a run takes, `FAKE_BLIND_TEST` makes its test score
fall as its validation score rises, `FAKE_START_SECONDS` how long the process takes to start (before
ftrun's command line is imported).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import types
from pathlib import Path
from typing import Any

from runner import rundir
from runner.errors import RunFolderError
from runner.recipe import reading as recipes


def write_finished_run(recipe: Any) -> Path:
    folder = Path(recipe.output.dir) / recipe.output.run_name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "recipe.toml").write_text(recipes.to_toml(recipe))
    rundir.write_jsonl(folder / "predictions.jsonl", [{"id": 0, "gold": 1, "predicted": 1}])
    accuracy = 0.5 + recipe.train.lr
    # FAKE_BLIND_TEST: the test split ranks the runs the other way round, to catch a choice that reads it
    test = 0.5 - recipe.train.lr if os.environ.get("FAKE_BLIND_TEST") else accuracy
    rundir.write_json(
        folder / "metrics.json",
        {
            "schema_version": rundir.SCHEMA_VERSION,
            "status": "finished",
            "finished_at": f"{time.time():.6f}",
            "method": recipe.method.name,
            "model": recipe.model.name,
            "data": {"train_size": 10, "eval_size": 1, "eval_hash": "h"},
            "accuracy": test,
            "accuracy_ci95": [test - 0.1, test + 0.1],
            "correct": 1,
            "total": 1,
            "macro_f1": test,
            "latency": None,
            "params": {"trainable": 1, "trainable_fraction": 0.5},
            "train": {"seconds": 1.0, "steps": 10},
            "seed": recipe.train.seed,
            "validation": {"accuracy": accuracy, "score": accuracy},
        },
    )
    return folder


def report_epochs(recipe: Any, on_epoch: Any) -> int:
    """An adaptive search's epochs: each scores 0.5 + lr on validation (as the record will), until the
    pruner stops it; the epochs run."""
    if on_epoch is None:
        return 0
    for epoch in range(1, recipe.train.epochs + 1):
        if on_epoch(epoch, 0.5 + recipe.train.lr):
            return epoch
    return recipe.train.epochs


def fake_run(recipe: Any, recipe_path: Path, **options: Any) -> Path:
    name = recipe.output.run_name
    started = time.time()
    if name in os.environ.get("FAKE_FAIL", "").split(","):
        raise RunFolderError("disk full\nsecond line")
    if name in os.environ.get("FAKE_KILL", "").split(","):
        (Path(recipe.output.dir) / name).mkdir(parents=True, exist_ok=True)
        os.kill(os.getpid(), signal.SIGKILL)
    if name in os.environ.get("FAKE_HANG", "").split(","):
        time.sleep(600)
    if name in os.environ.get("FAKE_DEAF", "").split(","):
        try:
            time.sleep(600)
        except KeyboardInterrupt:
            time.sleep(600)
    time.sleep(float(os.environ.get("FAKE_SECONDS", "0")))
    epochs = report_epochs(recipe, options.get("on_epoch"))
    folder = write_finished_run(recipe)
    calls = os.environ.get("FAKE_CALLS")
    if calls:
        line = {
            "name": name,
            "options": sorted(options),
            "start": started,
            "end": time.time(),
            "epochs": epochs,
        }
        with open(calls, "a") as handle:
            handle.write(json.dumps(line) + "\n")
    return folder


def calls(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


if __name__ == "__main__":
    # Ctrl-C as a worker started from a shell gets it, whatever the test process left ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    time.sleep(float(os.environ.get("FAKE_START_SECONDS", "0")))
    sys.modules["runner.pipeline"] = types.SimpleNamespace(run_recipe=fake_run)  # type: ignore[assignment]
    from runner.cli import main

    sys.argv = ["ftrun", *sys.argv[1:]]
    main()
