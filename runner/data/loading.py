"""Load the recipe's train, validation and eval examples from any source: the data stage's entry point.

The source is read once (`reading`), each split expression becomes examples (`rows`), and a validation
set is a split of the source or a stratified carve-out of train (`examples.stratified`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runner import registry
from runner.data.examples import Examples, stratified, subset
from runner.data.reading import load_source
from runner.data.rows import select_examples
from runner.errors import DataError
from runner.recipe.schema import DataSection


@dataclass
class LoadedData:
    train: Examples
    eval: Examples
    notes: list[str] = field(default_factory=list)  # what the user should know (overlap, skipped rows)
    description: dict[str, Any] = field(default_factory=dict)
    validation: Examples | None = None  # what training chooses on (epochs, settings); never the eval split


def load_data(cfg: DataSection) -> LoadedData:
    raw_splits, source_note = load_source(cfg.source, cfg.config)
    notes = [source_note] if source_note else []
    # With a carve-out, train_size applies to what is left, so it still counts the examples that train.
    train_size = 0 if cfg.validation_size else cfg.train_size
    train = select_examples(raw_splits, cfg, cfg.train_split, train_size, "data.train_split", notes)
    train, validation = _validation(raw_splits, cfg, train, notes)
    evaluation = select_examples(raw_splits, cfg, cfg.eval_split, cfg.eval_size, "data.eval_split", notes)
    if registry.task(cfg.task).has_classes:
        notes += _missing_class_notes(train, evaluation, cfg)
    # The smaller split makes the set; the larger one is only streamed past it.
    overlap = len(set(evaluation.inputs()).intersection(train.inputs()))
    if overlap:
        notes.append(f"warning: {overlap} eval texts also appear in the train split")
    return LoadedData(
        train,
        evaluation,
        notes,
        {
            "task": cfg.task,
            "source": cfg.source,
            **({"config": cfg.config} if cfg.config else {}),
            "train_split": cfg.train_split,
            "eval_split": cfg.eval_split,
            "train_size": len(train),
            "eval_size": len(evaluation),
            "eval_hash": evaluation.fingerprint(),
            "train_eval_overlap": overlap,
            "notes": notes,
            **_validation_description(cfg, validation),
        },
        validation,
    )


def _validation(
    raw_splits: dict[str, Any], cfg: DataSection, train: Examples, notes: list[str]
) -> tuple[Examples, Examples | None]:
    """(what trains, the validation examples): a split of the source, or a carve-out of train."""
    expression, size = cfg.validation_split, cfg.validation_size
    if expression and size:
        raise DataError("data.validation_split and data.validation_size: set one of them, not both")
    if expression:
        validation = select_examples(raw_splits, cfg, expression, 0, "data.validation_split", notes)
        overlap = len(set(validation.inputs()).intersection(train.inputs()))
        if overlap:
            notes.append(f"warning: {overlap} validation texts also appear in the train split")
        return train, validation
    if not size:
        return train, None
    if size >= len(train):
        raise DataError(
            f"data.validation_size = {size} leaves nothing to train on: "
            f"data.train_split = {cfg.train_split!r} has {len(train)} examples"
        )
    held_out = set(stratified(train.labels, size, cfg.seed))
    validation = subset(train, sorted(held_out))
    rest = subset(train, [i for i in range(len(train)) if i not in held_out])
    if cfg.train_size and cfg.train_size < len(rest):
        rest = subset(rest, sorted(stratified(rest.labels, cfg.train_size, cfg.seed)))
    return rest, validation


def _validation_description(cfg: DataSection, validation: Examples | None) -> dict[str, Any]:
    if validation is None:
        return {}  # metrics.json of a run without validation stays as it was
    expression = cfg.validation_split
    return {
        "validation_split": expression or f"{cfg.train_split} (stratified carve-out, data.seed {cfg.seed})",
        "validation_size": len(validation),
        "validation_hash": validation.fingerprint(),
    }


def _missing_class_notes(train: Examples, evaluation: Examples, cfg: DataSection) -> list[str]:
    """A label with no training example can never be predicted; with one label left, nothing is learnt."""
    task = registry.task(cfg.task)
    names, trained = cfg.labels, task.present_labels(train.labels)
    missing_train = [name for i, name in enumerate(names) if i not in trained]
    if len(trained) == 1 and task.one_label_per_text:
        (only,) = trained
        raise DataError(
            f"data.train_split = {cfg.train_split!r}: all {len(train)} training examples have label "
            f"{names[only]!r} (none of {missing_train}); a classifier cannot learn from one class"
        )
    notes = []
    if missing_train:
        notes.append(
            f"warning: data.train_split = {cfg.train_split!r} has no examples of {missing_train} "
            f"(data.labels = {names}): the model can never predict them"
        )
    evaluated = task.present_labels(evaluation.labels)
    missing_eval = [name for i, name in enumerate(names) if i not in evaluated]
    if missing_eval:
        notes.append(
            f"warning: data.eval_split = {cfg.eval_split!r} has no examples of {missing_eval}: "
            "their recall and F1 cannot be measured"
        )
    return notes
