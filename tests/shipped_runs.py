"""Finished runs to export and serve, one per case `ftrun export` and `ftrun serve` must handle:
every task type on a tiny encoder (pairs with token types), a LoRA decoder pooled at its last token,
and a zero-shot decoder whose head is its output layer at the label words. Built once per session
(`shipped_runs` in conftest), one epoch each: what is tested is the export and the service, not the
training."""

from __future__ import annotations

from pathlib import Path

from .conftest import sentiment_rows, write_jsonl
from .task_data import TASK_DATA, write_task_data
from .test_run import tiny_recipe

# name -> (task data, base model, method)
CASES = {
    "single-bert-lora": ("single", "bert", "lora"),
    "multi-bert-full": ("multi_label", "bert", "full"),
    "regression-bert-full": ("regression", "bert", "full"),
    "pairs-bert-full": ("pairs", "bert", "full"),
    "single-llama-lora": ("single", "llama", "lora"),
    "single-llama-zero-shot": ("single", "causal-llama", "zero-shot"),
}


def make_shipped_runs(root: Path, models: dict[str, Path]) -> dict[str, Path]:
    from runner.pipeline import run_recipe

    sources = {"single": root / "data-single"}
    sources["single"].mkdir(parents=True)
    write_jsonl(sources["single"] / "train.jsonl", sentiment_rows(32, seed=1))
    write_jsonl(sources["single"] / "test.jsonl", sentiment_rows(21, seed=2))
    sections = {"single": {}}
    for task, (rows_for, data) in TASK_DATA.items():
        sources[task] = write_task_data(root / f"data-{task}", rows_for, train=32, test=20)
        sections[task] = data
    folders = {}
    for name, (task, model, method) in CASES.items():
        recipe = tiny_recipe(
            models[model],
            sources[task],
            root / "outputs",
            method,
            data=sections[task],
            train={"epochs": 1},
            output={"run_name": name},
        )
        folders[name] = run_recipe(recipe, Path(f"{name}.toml"))
    return folders
