"""ftrun's training loop against a hand-written PyTorch loop, side by side in one process.

Usage: python benchmarks/vs_plain_loop.py [N_TRAIN]   (default 400; embedded MiniLM and IMDb, CPU)
Both fine-tune every weight of MiniLM with a linear head on the same N reviews at 256 tokens, batch 8,
AdamW, bf16 autocast where the CPU has it. The plain loop pads each random batch to its longest text
(what `DataCollatorWithPadding` does); ftrun groups texts of similar length. Prints examples/s.
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer

from runner.data.loading import load_data
from runner.model.classifier import resolve_source
from runner.model.precision import cpu_has_native_bf16
from runner.pipeline import run_recipe
from runner.recipe import reading as recipes
from runner.recipe.schema import DataSection, ModelSection

N = int(sys.argv[1]) if len(sys.argv) > 1 else 400
BF16 = cpu_has_native_bf16() or torch.cuda.is_available()


def plain_loop() -> float:
    torch.manual_seed(0)
    path = resolve_source(ModelSection()).name_or_path
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path)
    head = torch.nn.Linear(384, 2)
    data = load_data(DataSection(train_size=N, eval_size=10)).train
    optimizer = torch.optim.AdamW([*model.parameters(), *head.parameters()], lr=5e-5)
    order = torch.randperm(len(data.texts)).tolist()
    model.train()
    started = time.perf_counter()
    for start in range(0, len(order), 8):
        rows = order[start : start + 8]
        batch = tokenizer(
            [data.texts[i] for i in rows], truncation=True, max_length=256, padding=True, return_tensors="pt"
        )
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=BF16):
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1)
            logits = head((hidden * mask).sum(1) / mask.sum(1))
        loss = torch.nn.functional.cross_entropy(logits.float(), torch.tensor([data.labels[i] for i in rows]))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return len(order) / (time.perf_counter() - started)


def ftrun_loop() -> float:
    with tempfile.TemporaryDirectory() as out:
        recipe = recipes.build(
            {
                "data": {"train_size": N, "eval_size": 10},
                "method": {"name": "full", "head_hidden": 0},
                "train": {"epochs": 1, "lr": 5e-5, "precision": "bf16" if BF16 else "fp32"},
                "eval": {"latency_examples": 0, "every_epoch": False},
                "output": {"dir": out, "save_model": False},
            }
        )
        folder = run_recipe(recipe, Path("vs-plain.toml"))
        return json.loads((folder / "metrics.json").read_text())["train"]["examples_per_s"]


if __name__ == "__main__":
    plain = plain_loop()
    ours = ftrun_loop()
    print(
        f"{N} examples, bf16={BF16}: plain loop {plain:.1f} ex/s, ftrun {ours:.1f} ex/s ({ours / plain:.2f}x)"
    )
