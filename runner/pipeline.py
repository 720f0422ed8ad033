"""One run, top to bottom: data + model -> method -> train -> evaluate -> run folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from rich.console import Console

from runner import registry, rundir
from runner.baseline_run import run_baseline
from runner.console import print_summary, progress_bars, quiet_libraries
from runner.errors import RunFolderError
from runner.model.card import write_model_card
from runner.model.classifier import use_attention
from runner.model.hf_folder import head_description, save_standard_copy
from runner.model.precision import mixed_precision
from runner.recipe import tasks
from runner.recipe.schema import Recipe
from runner.scoring import run_results
from runner.scoring.calibration import (
    RELIABILITY_PNG,
    fit_calibration,
    fold_temperature,
    write_reliability_diagram,
)
from runner.scoring.environment import environment
from runner.scoring.latency import measure_latency
from runner.scoring.scored_splits import Evaluated
from runner.scoring.task_metrics import metric_value
from runner.scoring.thresholds import decision_thresholds
from runner.training import best_epoch, sharding
from runner.training.accelerator import launched_on_cpu, make_accelerator
from runner.training.checkpoints import Checkpoints, TrainingState
from runner.training.inputs import TrainingInputs, training_inputs
from runner.training.loaded_run import LoadedRun, load_run
from runner.training.loop import fit, tracked_predict
from runner.training.run_folders import resumed_folder, run_folder, run_name
from runner.training.trackers import check_tracker

if TYPE_CHECKING:
    from accelerate import Accelerator
    from torch.utils.data import DataLoader

    from runner.data.examples import Examples


def run_recipe(
    recipe: Recipe,
    recipe_path: Path,
    overwrite: bool = False,
    resume: Path | None = None,
    on_epoch: best_epoch.EpochReport | None = None,
) -> Path:
    """One run into its folder; `on_epoch` is told each epoch's validation score and may stop it."""
    from accelerate import PartialState
    from accelerate.utils import set_seed

    quiet_libraries()
    state = PartialState(cpu=launched_on_cpu())
    console = Console(stderr=True, quiet=not state.is_main_process)
    _check_before_loading(recipe, recipe_path, resume)
    set_seed(recipe.train.seed)
    method = registry.method(recipe.method.name)
    if method.fits_outside_torch:  # a scikit-learn baseline: no classifier, no loop
        # The folder only once the fit has succeeded: a baseline that cannot fit leaves nothing behind.
        return run_baseline(
            recipe, recipe_path, method, lambda: run_folder(recipe, recipe_path, overwrite, resume), console
        )
    if torch.cuda.is_available():  # the run's own peak, not what ran before it in this process
        torch.cuda.reset_peak_memory_stats()

    loaded = load_run(recipe, recipe_path, console)
    folder = _shared_run_folder(recipe, recipe_path, overwrite, resume, state)
    accelerator = make_accelerator(recipe, folder)
    sharding.check_method(accelerator, loaded.method)
    console.print(
        f"model: {type(loaded.classifier.backbone).__name__}, pooling {loaded.classifier.pooling}, "
        f"{loaded.trainable_parameters:,} of {loaded.total_parameters:,} parameters train · "
        f"{accelerator.device} · precision {accelerator.mixed_precision} · "
        f"{accelerator.num_processes} process(es)"
    )
    if recipe.train.compile:
        console.print("train.compile: the first batches wait for torch.compile (minutes)")
    checkpoints = Checkpoints(
        folder / rundir.CHECKPOINT,
        recipe.train.checkpoint_every,
        recipe.train.keep_checkpoints,
    )
    try:
        evaluated, state, inputs = _train_and_evaluate(loaded, accelerator, console, checkpoints, on_epoch)
    except KeyboardInterrupt:
        _say_how_to_resume(console, folder, checkpoints)
        raise
    _take_trained_model(loaded, inputs, accelerator)
    # Into the whole model, before it is saved: the saved folder's logits are the calibrated ones.
    fold_temperature(loaded.classifier.head, evaluated.calibration)
    if accelerator.is_main_process:
        # Where nothing trains, the eval split's features are its evaluation, not a cost of training.
        feature_seconds = inputs.feature_seconds if loaded.method.trains else 0.0
        record = _write_run_folder(folder, loaded, evaluated, state, feature_seconds, accelerator)
        checkpoints.remove()
        folder = rundir.finish_run_folder(folder)  # an --overwrite run replaces the old one only now
        print_summary(console, folder, record)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return folder


def _take_trained_model(loaded: LoadedRun, inputs: TrainingInputs, accelerator: Accelerator) -> None:
    """The trained classifier as one plain model again, for saving and timing."""
    if inputs.unsharded is not None:  # FSDP: every process sends its shards to the main one
        whole = sharding.gathered(accelerator, inputs.model, inputs.unsharded)
        loaded.classifier = whole or loaded.classifier  # the other processes write nothing
        use_attention(loaded.classifier, loaded.serving_attention)
    elif not loaded.method.frozen_base:
        loaded.classifier = accelerator.unwrap_model(inputs.model)


def _train_and_evaluate(
    loaded: LoadedRun,
    accelerator: Accelerator,
    console: Console,
    checkpoints: Checkpoints,
    on_epoch: best_epoch.EpochReport | None = None,
) -> tuple[Evaluated, TrainingState, TrainingInputs]:
    """Train as the method says, choosing on validation; then score the eval split once."""
    recipe, objective = loaded.recipe, loaded.objective
    with progress_bars(console, accelerator.is_main_process) as bars:
        inputs = training_inputs(loaded, accelerator, bars)

        def logits(label: str, loader: DataLoader, size: int) -> torch.Tensor:
            return tracked_predict(label, inputs.model, loader, inputs.forward, accelerator, size, bars)

        def outputs(label: str, loader: DataLoader, size: int) -> torch.Tensor:
            return objective.outputs(logits(label, loader, size))

        judge = None
        state = TrainingState()  # a method that trains nothing: no steps, no epochs, 0 seconds
        if loaded.method.trains:
            judge = _epoch_judge(loaded, inputs, outputs, accelerator, checkpoints, on_epoch)
            state = fit(
                inputs.model,
                lambda epoch: inputs.train_loader(recipe.train.batch_size, recipe.train.seed, epoch),
                inputs.forward,
                recipe.train,
                accelerator,
                bars=bars,
                evaluate=judge,
                checkpoints=checkpoints,
                loss_fn=objective.loss_function(),
            )
        best = judge.best_weights if judge else None
        restored = best is not None and best.restore()
        objective.fold_scale(loaded.classifier.head)  # from here on, regression outputs raw values
        use_attention(accelerator.unwrap_model(inputs.model), loaded.serving_attention)
        evaluated = _scored_splits(loaded, inputs, logits, state, judge.key if judge else "", restored)
    return evaluated, state, inputs


def _scored_splits(
    loaded: LoadedRun, inputs: TrainingInputs, logits: Any, state: TrainingState, key: str, restored: bool
) -> Evaluated:
    """Validation first: the temperatures are fitted on its logits, then both splits are scored with them
    (thresholds tuned on the calibrated validation probabilities), the eval split last."""
    recipe, data = loaded.recipe, loaded.data
    evaluated = Evaluated(recipe, loaded.objective, tasks.headline_metric(recipe))
    validation_logits = None
    if data.validation is not None:
        assert inputs.validation_loader is not None  # built for every validation split
        validation_logits = logits("validate", inputs.validation_loader, len(data.validation))
    evaluated.calibration = fit_calibration(
        recipe,
        loaded.objective,
        loaded.classifier.head,
        validation_logits,
        None if data.validation is None else data.validation.labels,
    )
    if data.validation is not None and validation_logits is not None:
        history = best_epoch.per_epoch(state.log, key)
        chosen = best_epoch.best_epoch(history) if restored else None
        evaluated.validate(data.validation, validation_logits, history, chosen["epoch"] if chosen else None)
    evaluated.evaluate(data.eval, logits("evaluate", inputs.eval_loader, len(loaded.eval_ids)))
    return evaluated


def _epoch_judge(
    loaded: LoadedRun,
    inputs: TrainingInputs,
    outputs: Any,
    accelerator: Accelerator,
    checkpoints: Checkpoints,
    on_epoch: best_epoch.EpochReport | None = None,
) -> best_epoch.EpochJudge | None:
    """What is scored after each epoch: the validation split where there is one, else the eval split."""
    recipe, data, objective = loaded.recipe, loaded.data, loaded.objective
    metric = tasks.headline_metric(recipe)
    thresholds = decision_thresholds(recipe, None, None)[0]  # tuned once, after training

    def score(label: str, loader: DataLoader, examples: Examples) -> float:
        decided = objective.decide(outputs(label, loader, len(examples)), thresholds)
        return metric_value(
            recipe.data.task, metric, objective.gold(examples.labels), decided, objective.num_labels
        )

    if data.validation is not None:
        assert inputs.validation_loader is not None  # built for every validation split
        cfg, validation_loader, validation = recipe.train, inputs.validation_loader, data.validation
        best = None
        if cfg.keep_best:
            best = best_epoch.BestWeights(checkpoints.folder / "best.safetensors", inputs.model, accelerator)
        return best_epoch.EpochJudge(
            lambda: score("validate", validation_loader, validation),
            f"validation_{metric}",
            cfg.early_stopping_patience,
            best,
            on_epoch if accelerator.num_processes == 1 else None,  # one process decides, or none
        )
    if recipe.eval.every_epoch:
        return best_epoch.EpochJudge(
            lambda: score("evaluate", inputs.eval_loader, data.eval), f"eval_{metric}"
        )
    return None


def _write_run_folder(
    folder: Path,
    loaded: LoadedRun,
    evaluated: Evaluated,
    state: TrainingState,
    feature_seconds: float,
    accelerator: Accelerator,
) -> rundir.RunRecord:
    """The run folder's files, in an order that matters: the model is saved before latency is timed
    (LoRA merges into the base in place), and metrics.json comes last (it marks a finished run)."""
    recipe = loaded.recipe
    assert evaluated.eval is not None, "the eval split is scored before the run folder is written"
    rundir.write_jsonl(folder / "predictions.jsonl", evaluated.rows(evaluated.eval))
    if evaluated.validation is not None:  # what a tie between configurations is tested on
        rundir.write_jsonl(folder / "validation_predictions.jsonl", evaluated.rows(evaluated.validation))
    rundir.write_jsonl(folder / "train_log.jsonl", state.log)
    if evaluated.calibration_figure is not None:
        write_reliability_diagram(folder / RELIABILITY_PNG, evaluated.calibration_figure)
    pooling = loaded.classifier.pooling
    if recipe.output.save_model:
        description = head_description(
            recipe, loaded.source, pooling, loaded.classifier.head.in_features, loaded.prompt
        )
        description |= {"token_types": loaded.segment_token is not None, "thresholds": evaluated.thresholds}
        loaded.method.save(loaded.classifier, loaded.tokenizer, folder / "model", description)
        save_standard_copy(folder / "model")  # where the architecture's own class computes the same
    record = run_results.run_record(
        recipe=recipe,
        recipe_path=loaded.recipe_path,
        run_name=folder.name,
        model_path=loaded.source.name_or_path,
        pooling=pooling,
        data_description=loaded.data.description,
        scored=evaluated.eval_metrics(),
        validation=evaluated.validation_summary,
        latencies=_latency(loaded, accelerator),  # after the save: LoRA merges into the base in place
        train=run_results.training_cost(recipe, state, feature_seconds, accelerator.num_processes),
        params=run_results.parameters(loaded.trainable_parameters, loaded.total_parameters),
        environment=environment(
            accelerator,
            {
                "dropout_kernel": loaded.dropout_kernel,
                "attention": {"training": loaded.training_attention, "serving": loaded.serving_attention},
                "gradient_checkpointing": loaded.gradient_checkpointing,
                "fsdp": sharding.description(accelerator),
            },
        ),
    )
    rundir.write_record(folder, record)
    write_model_card(folder, recipe, record)  # it reports the record, so it comes after it
    return record


def _latency(
    loaded: LoadedRun, accelerator: Accelerator
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Batch-1 latency of the model as served: adapters merged (one model), and for adapter methods
    also kept apart first (as when one base serves several adapters)."""
    cfg = loaded.recipe.eval
    if not cfg.latency_examples:
        return None, None

    def timed(model: Any) -> dict[str, Any]:
        return measure_latency(
            model,
            loaded.eval_ids,
            loaded.tokenizer.pad_token_id,
            cfg.latency_examples,
            cfg.latency_warmup,
            cfg.batch_size,
            accelerator,
        )

    unmerged = timed(loaded.classifier) if loaded.method.merges_for_serving else None
    return timed(loaded.method.for_inference(loaded.classifier)), unmerged


def _say_how_to_resume(console: Console, folder: Path, checkpoints: Checkpoints) -> None:
    # soft_wrap: a command to copy must not be broken across lines
    if checkpoints.complete():
        console.print(f"[red]interrupted[/]: continue with  ftrun resume {folder}", soft_wrap=True)
    else:
        console.print(
            f"[red]interrupted[/] before the first checkpoint (none yet in {folder})", soft_wrap=True
        )


def _shared_run_folder(
    recipe: Recipe, recipe_path: Path, overwrite: bool, resume: Path | None, state: Any
) -> Path:
    """The main process picks (or checks) the run folder; every process learns it, or the error."""
    from accelerate.utils import broadcast_object_list

    chosen: list[str | None] = [None, None]
    if state.is_main_process:
        try:
            chosen[0] = str(run_folder(recipe, recipe_path, overwrite, resume))
        except RunFolderError as error:
            chosen[1] = str(error)
    if state.num_processes > 1:
        chosen = broadcast_object_list(chosen)
    if chosen[1] is not None:
        raise RunFolderError(chosen[1])
    return Path(str(chosen[0]))


def _check_before_loading(recipe: Recipe, recipe_path: Path, resume: Path | None) -> None:
    """Every check that needs neither data nor model: a mistake costs a second, not a model load."""
    mixed_precision(recipe.train.precision)
    sharding.check_launch(recipe, not torch.cuda.is_available())
    check_tracker(recipe.train.log_with)
    if resume is not None:
        resumed_folder(recipe, resume)
    else:
        rundir.check_run_name(run_name(recipe, recipe_path))
        rundir.ensure_output_dir(Path(recipe.output.dir))
