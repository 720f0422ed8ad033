"""One run, top to bottom: data -> model -> method -> train -> evaluate -> run folder."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
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
from torch import nn
from torch.utils.data import Dataset

from runner import methods, rundir
from runner import recipe as recipes
from runner.batches import FeatureDataset, TokenDataset, inference_batches, make_loader, training_batches
from runner.data import LoadedData, load_data
from runner.errors import RecipeError, RunFolderError
from runner.methods.base import Method
from runner.model import (
    Classifier,
    Head,
    ModelSource,
    choose_pooling,
    hidden_size,
    load_backbone,
    load_tokenizer,
    resolve_source,
)
from runner.results import print_summary, write_results
from runner.schema import Recipe
from runner.train import Forward, TrainResult, fit, logits_from_features, logits_from_tokens, predict


@dataclass
class Setup:
    """What a run has loaded before training: examples, tokenizer, model, method, token ids."""

    recipe: Recipe
    recipe_path: Path
    data: LoadedData
    source: ModelSource
    tokenizer: Any
    classifier: Classifier
    method: Method
    train_ids: list[list[int]]
    eval_ids: list[list[int]]
    trainable: int
    total: int


@dataclass
class TrainingInputs:
    """What the loop trains and reads: the whole classifier, or only the head over cached features."""

    model: nn.Module
    forward: Forward
    train_set: Dataset
    lengths: list[int]
    eval_loader: Any
    feature_seconds: float = 0.0


def run_recipe(
    recipe: Recipe, recipe_path: Path, overwrite: bool = False, resume: Path | None = None
) -> Path:
    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list, set_seed

    _quiet_libraries()
    # Launched as several processes (accelerate launch --multi_gpu, torchrun) on a machine without
    # GPUs: run them on the CPU over gloo rather than as independent single-process runs.
    on_cpu = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()
    state = PartialState(cpu=on_cpu)
    console = Console(stderr=True, quiet=not state.is_main_process)
    set_seed(recipe.train.seed)

    setup = _set_up(recipe, recipe_path, console)
    folder = _shared_run_folder(recipe, recipe_path, overwrite, resume, state, broadcast_object_list)
    accelerator = _accelerator(recipe, folder, on_cpu)
    console.print(
        f"model: {type(setup.classifier.backbone).__name__}, pooling {setup.classifier.pooling}, "
        f"{setup.trainable:,} of {setup.total:,} parameters train · {accelerator.device} "
        f"· precision {accelerator.mixed_precision} · {accelerator.num_processes} process(es)"
    )
    checkpoint = folder / rundir.CHECKPOINT
    try:
        logits, result, inputs = _train_and_evaluate(
            setup, accelerator, console, state.is_main_process, checkpoint
        )
    except KeyboardInterrupt:
        if (checkpoint / "progress.json").exists():
            # soft_wrap: a command to copy must not be broken across lines
            console.print(
                f"[red]interrupted[/]: continue with  ftrun {recipe_path} --resume {folder}", soft_wrap=True
            )
        else:
            console.print(
                f"[red]interrupted[/] before the first epoch ended (no checkpoint yet in {folder})",
                soft_wrap=True,
            )
        raise

    if not setup.method.frozen_base:
        setup.classifier = accelerator.unwrap_model(inputs.model)
    if accelerator.is_main_process:
        metrics = write_results(
            folder, setup, logits.softmax(-1), result, accelerator, inputs.feature_seconds
        )
        shutil.rmtree(checkpoint, ignore_errors=True)
        folder = rundir.finish_run_folder(folder)  # an --overwrite run replaces the old one only now
        print_summary(console, folder, metrics)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return folder


def _train_and_evaluate(
    setup: Setup, accelerator: Any, console: Console, is_main: bool, checkpoint: Path
) -> tuple[torch.Tensor, TrainResult, TrainingInputs]:
    """Train as the method says, then score the eval set: logits in eval-set order."""
    recipe = setup.recipe
    with _progress(console, is_main) as progress:
        inputs = _training_inputs(setup, accelerator, progress)

        def evaluate() -> torch.Tensor:
            return _tracked_predict(
                "evaluate",
                inputs.model,
                inputs.eval_loader,
                inputs.forward,
                accelerator,
                len(setup.eval_ids),
                progress,
            )

        def eval_accuracy() -> float:
            return float((evaluate().argmax(-1) == torch.tensor(setup.data.eval.labels)).float().mean())

        result = fit(
            inputs.model,
            lambda epoch: make_loader(
                inputs.train_set,
                training_batches(inputs.lengths, recipe.train.batch_size, recipe.train.seed, epoch),
                setup.tokenizer.pad_token_id,
            ),
            inputs.forward,
            recipe.train,
            accelerator,
            progress,
            eval_accuracy if recipe.eval.every_epoch else None,
            checkpoint,
        )
        logits = evaluate()
    return logits, result, inputs


def _set_up(recipe: Recipe, recipe_path: Path, console: Console) -> Setup:
    console.print(
        f"[bold]ftrun[/] {recipe_path} · method [cyan]{recipe.method.name}[/] · model {recipe.model.name}"
    )
    data = load_data(recipe.data)
    for note in data.notes:
        console.print(f"[yellow]{note}[/]")
    console.print(f"data: {len(data.train)} train / {len(data.eval)} eval examples from {recipe.data.source}")
    source = resolve_source(recipe.model)
    tokenizer = load_tokenizer(source)
    backbone = load_backbone(source, recipe.model.dtype, tokenizer.pad_token_id)
    head = Head(
        hidden_size(backbone), recipe.method.head_hidden, len(recipe.data.labels), recipe.method.head_dropout
    )
    method = methods.get(recipe.method.name)
    pooling = choose_pooling(recipe.method.pooling, backbone.config)
    classifier = method.prepare(Classifier(backbone, head, pooling), recipe)
    return Setup(
        recipe,
        recipe_path,
        data,
        source,
        tokenizer,
        classifier,
        method,
        train_ids=method.encode(data.train.texts, tokenizer, recipe, data.train),
        eval_ids=method.encode(data.eval.texts, tokenizer, recipe, data.train),
        trainable=sum(p.numel() for p in classifier.parameters() if p.requires_grad),
        total=sum(p.numel() for p in classifier.parameters()),
    )


def _accelerator(recipe: Recipe, folder: Path, on_cpu: bool) -> Any:
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from accelerate.utils import DistributedDataParallelKwargs

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
    return accelerator


def _training_inputs(setup: Setup, accelerator: Any, progress: Progress) -> TrainingInputs:
    pad, batch_size = setup.tokenizer.pad_token_id, setup.recipe.eval.batch_size
    eval_tokens = accelerator.prepare(
        make_loader(
            TokenDataset(setup.eval_ids, setup.data.eval.labels),
            inference_batches(_lengths(setup.eval_ids), batch_size),
            pad,
        )
    )
    if not setup.method.frozen_base:
        return TrainingInputs(
            accelerator.prepare(setup.classifier),
            logits_from_tokens,
            TokenDataset(setup.train_ids, setup.data.train.labels),
            _lengths(setup.train_ids),
            eval_tokens,
        )
    # The base never changes: run it once over every text, then train the head on the features.
    setup.classifier.to(accelerator.device)
    started = time.perf_counter()
    train_tokens = accelerator.prepare(
        make_loader(
            TokenDataset(setup.train_ids, setup.data.train.labels),
            inference_batches(_lengths(setup.train_ids), batch_size),
            pad,
        )
    )
    train_features = _features(setup.classifier, train_tokens, accelerator, len(setup.train_ids), progress)
    eval_features = _features(setup.classifier, eval_tokens, accelerator, len(setup.eval_ids), progress)
    no_lengths = [0] * len(setup.eval_ids)  # features all have one size: batch them in order
    return TrainingInputs(
        accelerator.prepare(setup.classifier.head),
        logits_from_features,
        FeatureDataset(train_features, setup.data.train.labels),
        [0] * len(setup.train_ids),
        accelerator.prepare(
            make_loader(
                FeatureDataset(eval_features, setup.data.eval.labels),
                inference_batches(no_lengths, batch_size),
                pad,
            )
        ),
        time.perf_counter() - started,
    )


def _progress(console: Console, is_main: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        disable=not is_main,
    )


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
    rundir.write_text(folder / "recipe.toml", f"# resolved from {recipe_path}\n" + recipes.to_toml(recipe))
    return folder


def _tracked_predict(
    label: str, model: Any, loader: Any, forward: Forward, accelerator: Any, size: int, progress: Progress
) -> torch.Tensor:
    """`predict` with a progress bar: evaluating or featurising a large split takes minutes."""
    task = progress.add_task(label, total=size, info="")

    def tracked(module: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        output = forward(module, batch)
        progress.advance(task, len(batch["index"]) * accelerator.num_processes)
        return output

    try:
        return predict(model, loader, tracked, accelerator, size)
    finally:
        progress.remove_task(task)


def _features(
    classifier: Classifier, loader: Any, accelerator: Any, size: int, progress: Progress
) -> torch.Tensor:
    def forward(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with accelerator.autocast():
            return model.features(batch["input_ids"], batch["attention_mask"])

    return _tracked_predict("features", classifier, loader, forward, accelerator, size, progress)


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


def _lengths(input_ids: list[list[int]]) -> list[int]:
    return [len(ids) for ids in input_ids]
