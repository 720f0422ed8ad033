"""Rules that tie a recipe's keys to each other or to files: training keys that need others, and a GGUF
file name that would be ignored or is not where it is looked for. The loader prefixes each problem with
the recipe's name and reports them all at once; a run name that is not one folder name."""

from __future__ import annotations

from pathlib import Path

from runner import registry
from runner.recipe import schema


def training_problems(recipe: schema.Recipe) -> list[str]:
    train, data = recipe.train, recipe.data
    problems = []
    uses_validation = train.early_stopping_patience or train.keep_best
    if uses_validation and not (data.validation_split or data.validation_size):
        problems.append(
            "train.early_stopping_patience and train.keep_best choose on a validation split; "
            "set data.validation_size or data.validation_split"
        )
    if train.fsdp == "full_shard" and recipe.method.name != "full":
        problems.append(
            'train.fsdp = "full_shard" shards full fine-tuning (method.name = "full"), '
            f"not {recipe.method.name!r}"
        )
    if train.fsdp == "full_shard" and train.keep_best:
        problems.append(
            'train.keep_best keeps unsharded weights; it does not work with train.fsdp = "full_shard"'
        )
    if not recipe.method.head_bias and not registry.task(data.task).has_classes:
        problems.append(
            f"method.head_bias = false: a {data.task} head outputs the targets' mean through its bias; "
            "leave it true"
        )
    return problems


def gguf_problems(model: schema.ModelSection) -> list[str]:
    """A GGUF file name that would be ignored, or that is not where it is looked for."""
    gguf, path = model.gguf_file, Path(model.name).expanduser()
    if not gguf:
        return []
    if model.name == schema.EMBEDDED_MODEL:
        return [f"model.gguf_file = {gguf!r}: {schema.EMBEDDED_MODEL} is not a GGUF model; leave it empty"]
    if path.is_file():
        return [
            f"model.gguf_file = {gguf!r}: model.name already names a file ({model.name}); give one of them"
        ]
    if path.is_dir() and not (path / gguf).is_file():
        found = sorted(p.name for p in path.glob("*.gguf"))
        return [f"model.gguf_file = {gguf!r}: no such file in {model.name} (GGUF files there: {found})"]
    return []


def run_name_problem(name: str, key: str = "output.run_name") -> str | None:
    """Why `name` cannot be a run folder's name (None if it can): anything but one folder name could
    write or delete outside output.dir."""
    problem = None
    if not name.strip():
        problem = "is empty"
    elif name in (".", ".."):
        problem = "is not a folder name"
    elif "/" in name or "\\" in name:
        problem = "contains a path separator"
    elif "\0" in name:
        problem = "contains a NUL character"
    return f"{key} = {name!r} {problem}; it must be a single folder name, like 'lora-r8'" if problem else None
