"""The training loop: plain PyTorch; Accelerate owns devices, precision and processes."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from runner.schema import TrainSection

Forward = Callable[[nn.Module, dict[str, torch.Tensor]], torch.Tensor]


def logits_from_tokens(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return model(batch["input_ids"], batch["attention_mask"])


def logits_from_features(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return model(batch["features"])


@dataclass
class TrainResult:
    steps: int = 0
    examples: int = 0
    tokens: int = 0
    seconds: float = 0.0
    epochs_run: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)


@torch.no_grad()
def predict(
    model: nn.Module, loader: DataLoader, forward: Forward, accelerator: Any, size: int
) -> torch.Tensor:
    """Outputs for every example exactly once, in dataset order, gathered from all processes.

    Every process pads its outputs and indices to one shape; the padding (index -1) and the
    examples accelerate repeats to even out the shards are then dropped by index.
    """
    model.eval()
    result: torch.Tensor | None = None
    for batch in loader:
        output = forward(model, batch).float()
        index = accelerator.pad_across_processes(batch["index"], dim=0, pad_index=-1)
        output = accelerator.pad_across_processes(output, dim=0)
        index, output = accelerator.gather((index, output))
        if result is None:
            result = torch.zeros((size, *output.shape[1:]), dtype=output.dtype)
        keep = index >= 0
        result[index[keep].cpu()] = output[keep].cpu()
    assert result is not None
    return result


def fit(
    model: nn.Module,
    make_train_loader: Callable[[int], DataLoader],
    forward: Forward,
    cfg: TrainSection,
    accelerator: Any,
    progress: Any,
    evaluate: Callable[[], float] | None,
    checkpoint_dir: Path | None,
) -> TrainResult:
    """Train `model` (already prepared by accelerate) for `cfg.epochs` or `cfg.max_steps`."""
    processes = accelerator.num_processes
    batches_per_process = math.ceil(len(make_train_loader(0)) / processes)
    steps_per_epoch = math.ceil(batches_per_process / cfg.gradient_accumulation)
    total_steps = steps_per_epoch * cfg.epochs
    if cfg.max_steps:
        total_steps = min(total_steps, cfg.max_steps)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
    from transformers import get_scheduler

    # Accelerate steps a prepared scheduler once per process per optimizer step, so the schedule
    # is laid out in those units; warm-up and length stay counted in real optimizer steps.
    scheduler = get_scheduler(
        cfg.scheduler,
        optimizer,
        num_warmup_steps=cfg.warmup_steps * processes,
        num_training_steps=total_steps * processes,
    )
    optimizer, scheduler = accelerator.prepare(optimizer, scheduler)
    result = TrainResult()
    start_epoch = _resume(accelerator, checkpoint_dir, result)
    loss_fn = nn.CrossEntropyLoss()
    task = progress.add_task("train", total=total_steps, completed=result.steps, info="")
    started = time.perf_counter()
    window_loss, window_batches, window_start, window_examples = 0.0, 0, started, 0
    for epoch in range(start_epoch, cfg.epochs):
        if result.steps >= total_steps:
            break
        model.train()
        loader = accelerator.prepare(make_train_loader(epoch))
        for batch in loader:
            with accelerator.accumulate(model):
                loss = loss_fn(forward(model, batch).float(), batch["labels"])
                accelerator.backward(loss)
                if accelerator.sync_gradients and cfg.max_grad_norm:
                    accelerator.clip_grad_norm_(trainable, cfg.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            examples = len(batch["labels"]) * accelerator.num_processes
            result.examples += examples
            window_examples += examples
            if "attention_mask" in batch:
                result.tokens += int(batch["attention_mask"].sum()) * accelerator.num_processes
            window_loss += loss.item()
            window_batches += 1
            if not accelerator.sync_gradients:
                continue
            result.steps += 1
            now = time.perf_counter()
            rate = window_examples / max(now - window_start, 1e-9)
            progress.update(
                task, advance=1, info=f"loss {window_loss / window_batches:.4f} · {rate:.1f} ex/s"
            )
            if result.steps % cfg.log_every == 0 or result.steps == total_steps:
                row = {
                    "step": result.steps,
                    "epoch": epoch + 1,
                    "loss": window_loss / window_batches,
                    "lr": scheduler.get_last_lr()[0],
                    "examples_per_s": rate,
                }
                result.log.append(row)
                accelerator.log({k: v for k, v in row.items() if k != "step"}, step=result.steps)
                window_loss, window_batches, window_start, window_examples = 0.0, 0, now, 0
            if result.steps >= total_steps:
                break
        result.epochs_run = epoch + 1
        if evaluate is not None and result.steps < total_steps:
            accuracy = evaluate()
            result.log.append({"step": result.steps, "epoch": epoch + 1, "eval_accuracy": accuracy})
            accelerator.log({"eval_accuracy": accuracy}, step=result.steps)
            model.train()
        _save_checkpoint(accelerator, checkpoint_dir, result, epoch + 1)
    result.seconds += time.perf_counter() - started
    progress.remove_task(task)
    return result


def _save_checkpoint(
    accelerator: Any, checkpoint_dir: Path | None, result: TrainResult, epochs_done: int
) -> None:
    """Epoch-end state (weights, optimizer, scheduler, RNG) so a crashed run resumes where it was."""
    if checkpoint_dir is None:
        return
    accelerator.save_state(str(checkpoint_dir))
    if accelerator.is_main_process:
        state = {
            "epochs_done": epochs_done,
            "steps": result.steps,
            "examples": result.examples,
            "tokens": result.tokens,
            "seconds": result.seconds,
            "log": result.log,
        }
        (checkpoint_dir / "progress.json").write_text(json.dumps(state))
    accelerator.wait_for_everyone()


def _resume(accelerator: Any, checkpoint_dir: Path | None, result: TrainResult) -> int:
    if checkpoint_dir is None or not (checkpoint_dir / "progress.json").exists():
        return 0
    accelerator.load_state(str(checkpoint_dir))
    state = json.loads((checkpoint_dir / "progress.json").read_text())
    result.steps, result.examples, result.tokens = state["steps"], state["examples"], state["tokens"]
    result.seconds, result.log, result.epochs_run = state["seconds"], state["log"], state["epochs_done"]
    return int(state["epochs_done"])
