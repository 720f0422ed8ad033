"""One run, top to bottom: data -> model -> method -> train -> evaluate -> latency -> run folder."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import resource
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from torch.utils.data import Dataset

from runner import methods, rundir
from runner import recipe as recipes
from runner.batches import FeatureDataset, TokenDataset, inference_batches, make_loader, training_batches
from runner.data import load_data
from runner.errors import RecipeError, RunFolderError
from runner.latency import measure_latency
from runner.metrics import classification_metrics
from runner.model import (
    Classifier,
    Head,
    choose_pooling,
    hidden_size,
    load_backbone,
    load_tokenizer,
    resolve_source,
)
from runner.schema import Recipe
from runner.train import fit, logits_from_features, logits_from_tokens, predict


def run_recipe(
    recipe: Recipe, recipe_path: Path, overwrite: bool = False, resume: Path | None = None
) -> Path:
    from accelerate import Accelerator, PartialState
    from accelerate.state import AcceleratorState
    from accelerate.utils import DistributedDataParallelKwargs, broadcast_object_list, set_seed

    _quiet_libraries()
    # Launched as several processes (accelerate launch --multi_gpu, torchrun) on a machine without
    # GPUs: run them on the CPU over gloo rather than as independent single-process runs.
    on_cpu = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()
    state = PartialState(cpu=on_cpu)
    console = Console(stderr=True, quiet=not state.is_main_process)
    say = console.print
    set_seed(recipe.train.seed)

    say(f"[bold]ftrun[/] {recipe_path} · method [cyan]{recipe.method.name}[/] · model {recipe.model.name}")
    data = load_data(recipe.data)
    for note in data.notes:
        say(f"[yellow]{note}[/]")
    say(f"data: {len(data.train)} train / {len(data.eval)} eval examples from {recipe.data.source}")

    source = resolve_source(recipe.model)
    tokenizer = load_tokenizer(source)
    backbone = load_backbone(source, recipe.model.dtype, tokenizer.pad_token_id)
    pooling = choose_pooling(recipe.method.pooling, backbone.config)
    head = Head(
        hidden_size(backbone), recipe.method.head_hidden, len(recipe.data.labels), recipe.method.head_dropout
    )
    method = methods.get(recipe.method.name)
    classifier = method.prepare(Classifier(backbone, head, pooling), recipe)
    trainable = sum(p.numel() for p in classifier.parameters() if p.requires_grad)
    total = sum(p.numel() for p in classifier.parameters())
    train_ids = method.encode(data.train.texts, tokenizer, recipe, data.train)
    eval_ids = method.encode(data.eval.texts, tokenizer, recipe, data.train)

    folder = _shared_run_folder(recipe, recipe_path, overwrite, resume, state, broadcast_object_list)
    # Accelerate keeps one precision per process; a second run in the same process may want another.
    AcceleratorState._reset_state(reset_partial_state=False)
    accelerator = Accelerator(
        cpu=on_cpu,
        mixed_precision=_mixed_precision(recipe.train.precision),
        gradient_accumulation_steps=recipe.train.gradient_accumulation,
        log_with=recipe.train.log_with or None,
        project_dir=str(folder),
        # BERT-style poolers sit unused behind mean pooling; DDP must not wait for their gradients.
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )
    if recipe.train.log_with:
        accelerator.init_trackers(folder.name)
    say(
        f"model: {type(backbone).__name__}, pooling {pooling}, {trainable:,} of {total:,} parameters train "
        f"· {accelerator.device} · precision {accelerator.mixed_precision} "
        f"· {accelerator.num_processes} process(es)"
    )

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        disable=not state.is_main_process,
    )
    pad = tokenizer.pad_token_id
    eval_tokens = TokenDataset(eval_ids, data.eval.labels)
    eval_token_loader = accelerator.prepare(
        make_loader(eval_tokens, inference_batches(_lengths(eval_ids), recipe.eval.batch_size), pad)
    )
    checkpoint = folder / rundir.CHECKPOINT
    feature_seconds = 0.0
    with progress:
        if method.frozen_base:
            # The base never changes: run it once over every text, then train the head on the features.
            classifier.to(accelerator.device)
            started = time.perf_counter()
            train_loader = accelerator.prepare(
                make_loader(
                    TokenDataset(train_ids, data.train.labels),
                    inference_batches(_lengths(train_ids), recipe.eval.batch_size),
                    pad,
                )
            )
            task = progress.add_task("features", total=len(train_ids) + len(eval_ids), info="")
            train_features = _features(classifier, train_loader, accelerator, len(train_ids), progress, task)
            eval_features = _features(
                classifier, eval_token_loader, accelerator, len(eval_ids), progress, task
            )
            progress.remove_task(task)
            feature_seconds = time.perf_counter() - started
            train_set: Dataset = FeatureDataset(train_features, data.train.labels)
            eval_loader = accelerator.prepare(
                make_loader(
                    FeatureDataset(eval_features, data.eval.labels),
                    inference_batches([0] * len(eval_ids), recipe.eval.batch_size),
                    pad,
                )
            )
            trained = accelerator.prepare(classifier.head)
            forward, lengths = logits_from_features, [0] * len(train_ids)
        else:
            train_set = TokenDataset(train_ids, data.train.labels)
            eval_loader = eval_token_loader
            trained = accelerator.prepare(classifier)
            forward, lengths = logits_from_tokens, _lengths(train_ids)

        def evaluate() -> float:
            probabilities = predict(trained, eval_loader, forward, accelerator, len(eval_ids)).softmax(-1)
            return float((probabilities.argmax(-1) == torch.tensor(data.eval.labels)).float().mean())

        result = fit(
            trained,
            lambda epoch: make_loader(
                train_set, training_batches(lengths, recipe.train.batch_size, recipe.train.seed, epoch), pad
            ),
            forward,
            recipe.train,
            accelerator,
            progress,
            evaluate if recipe.eval.every_epoch else None,
            checkpoint,
        )
        probabilities = predict(trained, eval_loader, forward, accelerator, len(eval_ids)).softmax(-1)

    if not method.frozen_base:
        classifier = accelerator.unwrap_model(trained)
    predicted = probabilities.argmax(-1).tolist()
    scores = classification_metrics(data.eval.labels, predicted, len(recipe.data.labels))
    if accelerator.is_main_process:
        metrics = _write_outputs(
            folder,
            recipe,
            recipe_path,
            method,
            classifier,
            tokenizer,
            source,
            pooling,
            data,
            probabilities,
            predicted,
            scores,
            result,
            accelerator,
            trainable,
            total,
            feature_seconds,
            eval_ids,
        )
        shutil.rmtree(checkpoint, ignore_errors=True)
        _print_summary(console, folder, recipe, metrics)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return folder


def _write_outputs(
    folder: Path,
    recipe: Recipe,
    recipe_path: Path,
    method: Any,
    classifier: Classifier,
    tokenizer: Any,
    source: Any,
    pooling: str,
    data: Any,
    probabilities: torch.Tensor,
    predicted: list[int],
    scores: dict[str, Any],
    result: Any,
    accelerator: Any,
    trainable: int,
    total: int,
    feature_seconds: float,
    eval_ids: list[list[int]],
) -> dict[str, Any]:
    labels = recipe.data.labels
    rundir.write_jsonl(
        folder / "predictions.jsonl",
        [
            {
                "id": data.eval.ids[i],
                "gold": data.eval.labels[i],
                "predicted": predicted[i],
                "gold_label": labels[data.eval.labels[i]],
                "predicted_label": labels[predicted[i]],
                "probability": float(probabilities[i, predicted[i]]),
            }
            for i in range(len(predicted))
        ],
    )
    rundir.write_jsonl(folder / "train_log.jsonl", result.log)
    head_description = {
        "base_model": source.name_or_path,
        "gguf_file": source.gguf_file,
        "method": recipe.method.name,
        "pooling": pooling,
        "in_features": classifier.head.in_features,
        "hidden": recipe.method.head_hidden,
        "labels": labels,
        "max_length": recipe.model.max_length,
    }
    if recipe.output.save_model:
        method.save(classifier, tokenizer, folder / "model", head_description)
    latency = None
    if recipe.eval.latency_examples:
        served = method.for_inference(classifier)
        latency = measure_latency(
            served,
            eval_ids,
            tokenizer.pad_token_id,
            recipe.eval.latency_examples,
            recipe.eval.latency_warmup,
            recipe.eval.batch_size,
            accelerator,
        )
    train_seconds = result.seconds + feature_seconds
    metrics = {
        "schema_version": rundir.SCHEMA_VERSION,
        "status": "finished",
        "run_name": folder.name,
        "recipe_path": str(recipe_path),
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "method": recipe.method.name,
        "model": recipe.model.name,
        "model_path": source.name_or_path,
        "pooling": pooling,
        "data": data.description,
        **scores,
        "latency": latency,
        "train": {
            "seconds": train_seconds,
            "feature_extraction_seconds": feature_seconds,
            "steps": result.steps,
            "epochs": result.epochs_run,
            "examples_seen": result.examples,
            "examples_per_s": result.examples / result.seconds if result.seconds else 0.0,
            "tokens_per_s": result.tokens / result.seconds if result.seconds and result.tokens else None,
            "num_processes": accelerator.num_processes,
            "effective_batch_size": recipe.train.batch_size
            * accelerator.num_processes
            * recipe.train.gradient_accumulation,
        },
        "params": {"trainable": trainable, "total": total, "trainable_fraction": trainable / total},
        "peak_memory_mb": _peak_memory_mb(accelerator),
        "seed": recipe.train.seed,
        "data_seed": recipe.data.seed,
        "precision": accelerator.mixed_precision,
        "device": _device_name(accelerator),
        "versions": {
            name: _version(name)
            for name in ("torch", "transformers", "peft", "accelerate", "datasets", "ftrun")
        },
    }
    rundir.write_json(folder / "metrics.json", metrics)  # last: its presence marks a finished run
    return metrics


def _shared_run_folder(
    recipe: Recipe, recipe_path: Path, overwrite: bool, resume: Path | None, state: Any, broadcast: Any
) -> Path:
    """The main process picks (or checks) the run folder; every process learns it, or the error."""
    chosen: list[str | None] = [None, None]
    if state.is_main_process:
        try:
            chosen[0] = str(_run_folder(recipe, recipe_path, overwrite, resume))
        except RunFolderError as error:
            chosen[1] = str(error)
    if state.num_processes > 1:
        chosen = broadcast(chosen)
    if chosen[1] is not None:
        raise RunFolderError(chosen[1])
    return Path(str(chosen[0]))


def _run_folder(recipe: Recipe, recipe_path: Path, overwrite: bool, resume: Path | None) -> Path:
    if resume is not None:
        folder = rundir.existing_run_folder(resume)
        started_with = recipes.load(folder / "recipe.toml")
        if started_with != recipe:
            raise RunFolderError(f"--resume {folder}: the recipe differs from the one this run started with")
        return folder
    name = recipe.output.run_name or recipe_path.stem
    folder = rundir.new_run_folder(Path(recipe.output.dir), name, overwrite)
    (folder / "recipe.toml").write_text(f"# resolved from {recipe_path}\n" + recipes.to_toml(recipe))
    return folder


def _features(
    classifier: Classifier, loader: Any, accelerator: Any, size: int, progress: Any, task: Any
) -> torch.Tensor:
    def forward(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with accelerator.autocast():
            out = model.features(batch["input_ids"], batch["attention_mask"])
        progress.advance(task, len(batch["index"]) * accelerator.num_processes)
        return out

    return predict(classifier, loader, forward, accelerator, size)


def _quiet_libraries() -> None:
    """ftrun draws its own progress; the libraries' per-file bars and load reports are noise here."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _mixed_precision(requested: str) -> str:
    if requested == "fp32":
        return "no"
    if requested == "fp16" and not torch.cuda.is_available():
        raise RecipeError('train.precision = "fp16" needs a GPU; use "bf16" or "fp32" on CPU')
    if requested in ("bf16", "fp16"):
        return requested
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    # On CPUs with native bf16 (avx512_bf16, AMX) autocast doubles training speed; elsewhere it is slower.
    return "bf16" if _cpu_has_native_bf16() else "no"


def _cpu_has_native_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _peak_memory_mb(accelerator: Any) -> dict[str, float]:
    peak = {"process_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if accelerator.device.type == "cuda":
        peak["gpu"] = torch.cuda.max_memory_allocated() / 2**20
    return peak


def _device_name(accelerator: Any) -> str:
    if accelerator.device.type == "cuda":
        return torch.cuda.get_device_name()
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _lengths(input_ids: list[list[int]]) -> list[int]:
    return [len(ids) for ids in input_ids]


def _print_summary(console: Console, folder: Path, recipe: Recipe, metrics: dict[str, Any]) -> None:
    low, high = metrics["accuracy_ci95"]
    table = Table(title=f"{recipe.method.name} · {recipe.model.name}")
    for column in ("accuracy (95% CI)", "macro-F1", "batch-1 p50 ms", "train s", "trainable"):
        table.add_column(column, justify="right")
    latency = metrics["latency"] or {}
    table.add_row(
        f"{metrics['accuracy']:.1%} ({low:.1%}–{high:.1%})",
        f"{metrics['macro_f1']:.3f}",
        f"{latency['batch1_ms_p50']:.1f}" if latency else "–",
        f"{metrics['train']['seconds']:.1f}",
        f"{100 * metrics['params']['trainable_fraction']:.3g}%",
    )
    console.print(table)
    console.print(f"run folder: [bold]{folder}[/]")
