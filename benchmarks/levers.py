"""Which speed levers pay for ftrun's full fine-tuning step, measured on a noisy machine.

Usage, from the repository root:
    python benchmarks/levers.py --steps 3 --rounds 4                 # all levers but compile
    python benchmarks/levers.py --levers baseline,fused_adamw,compile --max-length 256

Each lever is one change to ftrun's step (a Classifier over the embedded MiniLM, mean pooling,
AdamW, clipping at 1.0, bf16 autocast where the CPU has it, length-grouped IMDb batches of 8).
Every lever gets its own model and optimizer; they take turns, `--steps` steps each per round, so a
burst of load from other processes hits all of them alike, and the median over rounds is reported,
as wall seconds and as this process's CPU seconds per step (CPU time counts work, not waiting for
a core, so it is the steadier of the two when the machine is shared).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import runner.model.cpu_dropout  # noqa: E402
from runner.model.classifier import Classifier, Head, resolve_source  # noqa: E402
from runner.model.cpu_dropout import draw_in_parts  # noqa: E402
from runner.recipe.schema import ModelSection  # noqa: E402
from runner.training.batches import collate, training_batches  # noqa: E402

BF16 = False  # set in main(): bf16 autocast where the CPU has native bf16
FAST_DROPOUT = runner.model.cpu_dropout.fast_dropout


@dataclass
class Lever:
    name: str
    optimizer: dict[str, Any] = field(default_factory=dict)  # extra AdamW arguments
    pad_multiple: int = 1
    attention: str = "sdpa"  # transformers 5 picks sdpa for BERT by default
    bf16_weights: bool = False
    compile: bool = False
    clip_foreach: bool | None = None
    cpu_dropout: bool = False  # runner/cpu_dropout.py: masks from random 16-bit integers
    float_masks: bool = False  # cpu_dropout's masks from float32 uniform numbers, as before 16-bit ones
    serial_masks: bool = False  # cpu_dropout's numbers drawn by one generator, not one per thread
    config: dict[str, Any] = field(default_factory=dict)  # model config overrides (dropout)


CPU_DROPOUT = Lever("cpu_dropout", attention="ftrun_eager", optimizer={"fused": True}, cpu_dropout=True)
LEVERS = {
    lever.name: lever
    for lever in (
        Lever("baseline"),  # what ftrun does today
        Lever("fused_adamw", optimizer={"fused": True}),
        Lever("foreach_adamw", optimizer={"foreach": True}),
        Lever("foreach_clip", clip_foreach=True),
        Lever("pad_to_8", pad_multiple=8),
        Lever("eager_attention", attention="eager"),
        Lever("eager_fused", attention="eager", optimizer={"fused": True}),  # ftrun before cpu_dropout
        CPU_DROPOUT,
        Lever("cpu_dropout_attention", attention="ftrun_eager", optimizer={"fused": True}),
        replace(CPU_DROPOUT, name="cpu_dropout_float", float_masks=True),
        replace(CPU_DROPOUT, name="cpu_dropout_serial", serial_masks=True),
        # Changes training, not only speed: accuracy must be checked before adopting it.
        Lever("no_attention_dropout", config={"attention_probs_dropout_prob": 0.0}),
        Lever("no_dropout", config={"attention_probs_dropout_prob": 0.0, "hidden_dropout_prob": 0.0}),
        Lever("bf16_weights", bf16_weights=True, optimizer={"fused": True}),
        Lever("compile", compile=True, optimizer={"fused": True}),
    )
}


def load_batches(max_length: int, count: int) -> list[dict[str, torch.Tensor]]:
    """`count` length-grouped batches of 8 IMDb reviews, collated as ftrun's loader does."""
    import gzip
    import itertools
    import json

    from transformers import AutoTokenizer

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import imdb_files

    with gzip.open(imdb_files.split_file("train"), "rt") as file:
        rows = [json.loads(line) for line in itertools.islice(file, 8 * 50)]
    tokenizer = AutoTokenizer.from_pretrained(model_path())
    ids = tokenizer([r["text"] for r in rows], truncation=True, max_length=max_length)["input_ids"]
    batches = training_batches([len(i) for i in ids], 8, seed=42, epoch=0).batches[:count]
    return [
        collate([{"index": i, "input_ids": ids[i], "label": rows[i]["label"]} for i in batch], 0)
        for batch in batches
    ]


def model_path() -> str:
    return resolve_source(ModelSection()).name_or_path


def padded(batch: dict[str, torch.Tensor], multiple: int) -> dict[str, torch.Tensor]:
    extra = -batch["input_ids"].shape[1] % multiple
    if not extra:
        return batch
    pad = lambda t: torch.nn.functional.pad(t, (0, extra))  # noqa: E731  (pad id and mask are both 0)
    return {**batch, "input_ids": pad(batch["input_ids"]), "attention_mask": pad(batch["attention_mask"])}


def make_step(lever: Lever, method: str) -> Callable[[dict[str, torch.Tensor]], None]:
    from transformers import AutoModel

    from runner.model.cpu_dropout import register_attention, use_cpu_dropout

    register_attention()
    torch.manual_seed(0)
    backbone = AutoModel.from_pretrained(model_path(), attn_implementation=lever.attention, **lever.config)
    if method == "lora":  # ftrun's lora defaults: r 8, alpha 16, dropout 0.1, peft's modules for BERT
        from peft import LoraConfig, TaskType, get_peft_model

        config = LoraConfig(task_type=TaskType.FEATURE_EXTRACTION, r=8, lora_alpha=16, lora_dropout=0.1)
        backbone = get_peft_model(backbone, config)
    model = Classifier(backbone, Head(384, 1000, 2, 0.1), "mean")
    if lever.cpu_dropout:
        use_cpu_dropout(model)
    if lever.bf16_weights:
        model = model.bfloat16()
    model.train()
    forward = torch.compile(model, dynamic=True) if lever.compile else model
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=5e-5, **lever.optimizer)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(batch: dict[str, torch.Tensor]) -> None:
        runner.model.cpu_dropout.PARALLEL_FROM = 1 << 62 if lever.serial_masks else 1 << 18
        runner.model.cpu_dropout.fast_dropout = float_dropout if lever.float_masks else FAST_DROPOUT
        batch = padded(batch, lever.pad_multiple)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=BF16 and not lever.bf16_weights):
            logits = forward(batch["input_ids"], batch["attention_mask"])
        loss = loss_fn(logits.float(), batch["labels"])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0, foreach=lever.clip_foreach)
        optimizer.step()
        optimizer.zero_grad()

    return step


def float_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """cpu_dropout's masks before 16-bit integers: float32 uniform numbers, a generator per thread."""
    if not training or p == 0.0:
        return x
    numbers = torch.empty(x.shape)
    if torch.get_num_threads() < 2 or numbers.numel() < runner.model.cpu_dropout.PARALLEL_FROM:
        numbers.uniform_()
    else:
        draw_in_parts(numbers.view(-1), lambda part, generator: part.uniform_(generator=generator))
    return torch.where(numbers >= p, x * (1.0 / (1.0 - p)), 0.0)


def timed(step: Callable[[dict[str, torch.Tensor]], None], batches: list) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        step(batch)
    return (time.perf_counter() - wall) / len(batches), (time.process_time() - cpu) / len(batches)


def main() -> None:
    global BF16
    from runner.model.precision import cpu_has_native_bf16

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levers", default=",".join(n for n in LEVERS if n != "compile"))
    parser.add_argument("--steps", type=int, default=3, help="steps per lever per round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--method", choices=["full", "lora"], default="full")
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave it)")
    args = parser.parse_args()
    BF16 = cpu_has_native_bf16()
    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.levers.split(",")
    batches = load_batches(args.max_length, args.steps * args.rounds)
    steps = {name: make_step(LEVERS[name], args.method) for name in names}
    for name, step in steps.items():  # warm-up: first-call allocations, kernel choice, compilation
        started = time.perf_counter()
        for batch in batches[: min(len(batches), 4)]:
            step(batch)
        print(f"warm-up {name}: {time.perf_counter() - started:.1f} s", flush=True)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for round_number in range(args.rounds):
        chunk = batches[round_number * args.steps : (round_number + 1) * args.steps]
        for name in names:
            results[name].append(timed(steps[name], chunk))
    base_wall = statistics.median(w for w, _ in results[names[0]])
    base_cpu = statistics.median(c for _, c in results[names[0]])
    print(
        f"\n{args.method}, bf16 autocast {BF16}, {torch.get_num_threads()} threads, "
        f"{args.max_length} tokens, batch 8"
    )
    print(f"| lever | wall s/step | vs {names[0]} | CPU s/step | vs {names[0]} |\n|---|---|---|---|---|")
    for name in names:
        wall = statistics.median(w for w, _ in results[name])
        cpu = statistics.median(c for _, c in results[name])
        print(f"| {name} | {wall:.3f} | {base_wall / wall:.2f}x | {cpu:.3f} | {base_cpu / cpu:.2f}x |")


if __name__ == "__main__":
    main()
