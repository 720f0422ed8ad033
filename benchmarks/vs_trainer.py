"""ftrun against the Hugging Face Trainer script people would write, side by side in one process.

Usage, from the repository root (the defaults are docs/benchmarks.md's setting: the first 1,000 train
and 500 test reviews of the IMDb files `benchmarks/imdb_files.py` writes, the embedded MiniLM, 256
tokens, batch 8, bf16 autocast where the CPU or GPU has native bf16; one epoch for full and lora, three
for linear):

    python benchmarks/imdb_files.py                    # once: data/imdb/{train,test}.jsonl.gz from the hub
    python benchmarks/vs_trainer.py --json vs_trainer.json
    python benchmarks/vs_trainer.py --train 128 --eval 64 --max-length 128 --methods full   # a quick check
    python benchmarks/vs_trainer.py --model /tmp/opt350m-random --max-length 512 --batch-sizes 8,max

For each method, in this fixed order: the Trainer script, then ftrun, on the same examples, model,
learning rate, batch size, epochs, schedule (linear, no warm-up), clipping (1.0), seed and precision.
The Trainer side is `AutoModelForSequenceClassification` with `train_sampling_strategy=
"group_by_length"` (transformers 5's name for `group_by_length=True`) and its defaults otherwise;
`lora` wraps it with peft's `get_peft_model` (same rank, alpha, dropout and target modules);
`linear` freezes its base and trains its classification head on every pass (no feature cache).
ftrun runs its own head (the recipe default: mean pooling, 1,000 hidden units), so accuracies differ
by head as well as by loop.

Speed uses one definition for both: samples/s = training examples processed / training wall seconds,
tokens/s = real (non-pad) tokens processed / the same seconds. The Trainer's seconds are the wall
time of `trainer.train()`; ftrun's are `train.seconds` from the run's metrics.json (its loop, epoch
checkpoints and, for `linear`, the one feature-extraction pass). Neither includes loading or
tokenising. Peak memory is the process's peak RSS since that system started (CPU; the peak is reset
before each system) or `torch.cuda.max_memory_allocated` (GPU). On a GPU, full fine-tuning also gets
model FLOPs utilisation: 6 x non-embedding parameters x real tokens/s over the device's dense bf16
peak (attention's own FLOPs are left out, so it slightly understates), at each batch size asked for;
`max` is the largest batch (doubling from 8) at which a full-length training step fits in memory.
`--compile` runs both through torch.compile (the Trainer's `torch_compile=True`, ftrun's
`train.compile`); compiling counts in each system's training seconds, as a user would wait for it.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import gzip
import hashlib
import itertools
import json
import os
import platform
import resource
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's runner, even where another one is pip-installed
sys.path.insert(0, str(REPO / "benchmarks"))
import imdb_files  # noqa: E402

METHOD_DEFAULTS = {"full": (1, 5e-5), "lora": (1, 5e-4), "linear": (3, 1e-3)}  # epochs, learning rate
SEED = 42
# Dense bf16 peaks (FLOP/s) by a piece of the device name; the first match counts.
BF16_PEAKS = (
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("H200", 989e12),
    ("GH200", 989e12),
    ("A100", 312e12),
    ("L40S", 362e12),
    ("A10", 125e12),
    ("L4", 121e12),
)


@dataclass
class Setting:
    data: str
    model: str
    train: int
    eval: int
    max_length: int
    bf16: bool
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    max_steps: int = 0  # stop both systems after this many optimizer steps (0: every epoch); for quick looks
    compile: bool = False  # both systems through torch.compile (its compiling counts in the training time)


@dataclass
class Measured:
    method: str
    system: str
    batch_size: int
    examples: int
    tokens: int
    train_seconds: float
    peak_memory_mb: float
    accuracy: float
    mfu: float | None = None

    @property
    def samples_per_s(self) -> float:
        return self.examples / self.train_seconds

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.train_seconds


# --- data -----------------------------------------------------------------------------------------


def read_split(data_dir: str, split: str, n: int) -> tuple[list[str], list[int]]:
    """The first n rows of a split (the IMDb files are shuffled: a fair, balanced sample)."""
    with gzip.open(Path(data_dir) / f"{split}.jsonl.gz", "rt") as file:
        rows = [json.loads(line) for line in itertools.islice(file, n)]
    return [row["text"] for row in rows], [int(row["label"]) for row in rows]


def examples_hash(texts: list[str], labels: list[int]) -> str:
    """ftrun's `Examples.fingerprint`: proves both systems were scored on the same examples."""
    digest = hashlib.sha256()
    for text, label in zip(texts, labels, strict=True):
        digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()[:16]


def real_tokens(tokenizer, texts: list[str], max_length: int) -> int:
    return sum(len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_length)["input_ids"])


def tokens_seen(examples: int, epoch_tokens: int, epoch_examples: int) -> int:
    """Real tokens in `examples` training examples: exact for whole epochs, an average under max_steps."""
    return round(examples * epoch_tokens / epoch_examples)


# --- measuring ------------------------------------------------------------------------------------


def reset_peak_memory() -> None:
    gc.collect()  # the previous system's model and optimizer, held in reference cycles
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        return
    try:  # Linux: "5" resets this process's peak RSS (VmHWM), so each system gets its own peak
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_memory_mb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bf16_peak(device_name: str) -> float | None:
    return next((peak for part, peak in BF16_PEAKS if part in device_name), None)


def model_flops_utilisation(non_embedding_params: int, tokens_per_s: float) -> float | None:
    if not torch.cuda.is_available():
        return None
    peak = bf16_peak(torch.cuda.get_device_name())
    return 6 * non_embedding_params * tokens_per_s / peak if peak else None


def non_embedding_parameters(model: torch.nn.Module) -> int:
    # Embedding lookups do no multiply-adds: the 6N rule counts the matrix weights only.
    embedded = sum(
        p.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()
    )
    return sum(p.numel() for p in model.parameters()) - embedded


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


# --- the Trainer script ---------------------------------------------------------------------------


def trainer_model(method: str, s: Setting, pad_token_id: int):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(s.model, num_labels=2)
    model.config.pad_token_id = pad_token_id  # decoders find each text's last token by it
    if method == "lora":
        from peft import LoraConfig, TaskType, get_peft_model

        config = LoraConfig(
            task_type=TaskType.SEQ_CLS, r=s.lora_r, lora_alpha=s.lora_alpha, lora_dropout=s.lora_dropout
        )
        model = get_peft_model(model, config)  # targets: peft's attention projections, as in ftrun
    if method == "linear":
        for parameter in model.base_model.parameters():
            parameter.requires_grad_(False)
    return model


def run_trainer(method: str, s: Setting, batch_size: int) -> Measured:
    from datasets import Dataset
    from transformers import AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments

    reset_peak_memory()
    epochs, lr = METHOD_DEFAULTS[method]
    tokenizer = AutoTokenizer.from_pretrained(s.model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    train_texts, train_labels = read_split(s.data, "train", s.train)
    eval_texts, eval_labels = read_split(s.data, "test", s.eval)

    def encode(texts: list[str], labels: list[int]) -> Dataset:
        encoded = tokenizer(texts, truncation=True, max_length=s.max_length)
        return Dataset.from_dict({**encoded, "label": labels})

    train_set, eval_set = encode(train_texts, train_labels), encode(eval_texts, eval_labels)
    torch.manual_seed(SEED)
    model = trainer_model(method, s, tokenizer.pad_token_id)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=batch_size,
            per_device_eval_batch_size=32,
            num_train_epochs=epochs,
            max_steps=s.max_steps or -1,
            learning_rate=lr,
            lr_scheduler_type="linear",
            warmup_steps=0,
            weight_decay=0.0,
            max_grad_norm=1.0,
            bf16=s.bf16,
            use_cpu=not torch.cuda.is_available(),
            train_sampling_strategy="group_by_length",
            seed=SEED,
            save_strategy="no",
            eval_strategy="no",
            logging_steps=10,
            report_to="none",
            disable_tqdm=True,
            torch_compile=s.compile,
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=train_set,
            data_collator=DataCollatorWithPadding(tokenizer),
        )
        started = time.perf_counter()
        trainer.train()
        synchronize()
        seconds = time.perf_counter() - started
        # With group_by_length transformers 5 also length-groups (reorders) the eval set: compare the
        # predictions with the labels the Trainer returns in that same order, not with eval_labels.
        scored = trainer.predict(eval_set)
    logits = scored.predictions[0] if isinstance(scored.predictions, tuple) else scored.predictions
    gold = torch.as_tensor(scored.label_ids)
    assert sorted(gold.tolist()) == sorted(eval_labels), "the Trainer scored other examples"
    accuracy = float((torch.as_tensor(logits).argmax(-1) == gold).float().mean())
    examples = len(train_texts) * epochs
    if s.max_steps:
        examples = min(examples, trainer.state.global_step * batch_size)
    tokens = tokens_seen(examples, real_tokens(tokenizer, train_texts, s.max_length), len(train_texts))
    measured = Measured(method, "trainer", batch_size, examples, tokens, seconds, peak_memory_mb(), accuracy)
    if method == "full":
        measured.mfu = model_flops_utilisation(
            non_embedding_parameters(model.base_model), measured.tokens_per_s
        )
    return measured


# --- ftrun ----------------------------------------------------------------------------------------


def run_ftrun(method: str, s: Setting, batch_size: int) -> Measured:
    from runner.pipeline import run_recipe
    from runner.recipe import reading as recipes

    reset_peak_memory()
    epochs, lr = METHOD_DEFAULTS[method]
    with tempfile.TemporaryDirectory() as out:
        recipe = recipes.build(
            {
                "model": {"name": s.model, "max_length": s.max_length},
                "data": {
                    "source": s.data,
                    "train_split": f"train[:{s.train}]",
                    "eval_split": f"test[:{s.eval}]",
                },
                "method": {
                    "name": method,
                    # A cold extraction each time: a cache hit would carry over another run's timing.
                    "cache_features": False,
                    "lora_r": s.lora_r,
                    "lora_alpha": s.lora_alpha,
                    "lora_dropout": s.lora_dropout,
                },
                "train": {
                    "epochs": epochs,
                    "lr": lr,
                    "batch_size": batch_size,
                    "precision": "bf16" if s.bf16 else "fp32",
                    "seed": SEED,
                    "max_steps": s.max_steps,
                    "compile": s.compile,
                },
                "eval": {"latency_examples": 0, "every_epoch": False},
                "output": {"dir": out, "save_model": False, "run_name": method},
            }
        )
        folder = run_recipe(recipe, Path(f"vs-trainer-{method}.toml"))
        metrics = json.loads((folder / "metrics.json").read_text())
    eval_texts, eval_labels = read_split(s.data, "test", s.eval)
    assert metrics["data"]["eval_hash"] == examples_hash(eval_texts, eval_labels), "different eval examples"
    from transformers import AutoTokenizer

    train_texts, _ = read_split(s.data, "train", s.train)
    train = metrics["train"]
    epoch_tokens = real_tokens(AutoTokenizer.from_pretrained(s.model), train_texts, s.max_length)
    measured = Measured(
        method,
        "ftrun",
        batch_size,
        train["examples_seen"],
        tokens_seen(train["examples_seen"], epoch_tokens, len(train_texts)),
        train["seconds"],
        peak_memory_mb(),
        metrics["accuracy"],
    )
    if method == "full":
        from transformers import AutoModel

        base = AutoModel.from_pretrained(s.model)
        measured.mfu = model_flops_utilisation(non_embedding_parameters(base), measured.tokens_per_s)
    return measured


# --- batch size search (GPU) ----------------------------------------------------------------------


def largest_batch(s: Setting, limit: int = 1024) -> int:
    """The largest batch (8, 16, 32, ...) at which one full-length training step fits in memory."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(s.model, num_labels=2).cuda()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
    fits, batch = 0, 8
    while batch <= limit:
        try:
            training_step(model, optimizer, batch, s)
        except torch.cuda.OutOfMemoryError:
            break
        fits, batch = batch, batch * 2
    del model, optimizer
    gc.collect()
    torch.cuda.empty_cache()
    return fits


def training_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: int, s: Setting) -> None:
    # Token ids far from the pad id: every position is real, the longest batch this length allows.
    ids = torch.randint(1000, 2000, (batch, s.max_length), device="cuda")
    labels = torch.zeros(batch, dtype=torch.long, device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=s.bf16):
        loss = model(input_ids=ids, labels=labels).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    torch.cuda.synchronize()


# --- report ---------------------------------------------------------------------------------------


def table(rows: list[Measured]) -> str:
    columns = "method batch system samples/s tokens/s train_s peak_MB accuracy MFU ftrun/Trainer".split()
    lines = ["| " + " | ".join(c.replace("_", " ") for c in columns) + " |", "|---" * len(columns) + "|"]
    trainer = {(r.method, r.batch_size): r for r in rows if r.system == "trainer"}
    for r in rows:
        base = trainer.get((r.method, r.batch_size))
        ratio = f"**{r.samples_per_s / base.samples_per_s:.2f}x**" if r.system == "ftrun" and base else ""
        mfu = f"{r.mfu:.1%}" if r.mfu is not None else "-"
        lines.append(
            f"| {r.method} | {r.batch_size} | {r.system} | {r.samples_per_s:.1f} | {r.tokens_per_s:.0f} "
            f"| {r.train_seconds:.1f} | {r.peak_memory_mb:.0f} | {r.accuracy:.1%} | {mfu} | {ratio} |"
        )
    return "\n".join(lines)


def machine() -> dict[str, str | int | None]:
    import transformers

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }


def model_name(path: str) -> str:
    parts = Path(path).parts
    return "/".join(parts[-2:]) if parts[-1] == "model" else parts[-1]  # the embedded MiniLM: pkg/model


def native_bf16() -> bool:
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    from runner.model.precision import cpu_has_native_bf16

    return cpu_has_native_bf16()


def out_of_memory_is_skipped(run, method: str, s: Setting, batch_size: int) -> Measured | None:
    """A system that runs out of GPU memory at a searched batch loses its row, not the whole table."""
    try:
        return run(method, s, batch_size)
    except torch.cuda.OutOfMemoryError:
        print(f"{run.__name__} {method} batch {batch_size}: out of GPU memory, row skipped", flush=True)
        torch.cuda.empty_cache()
        return None


def parse_args() -> argparse.Namespace:
    from runner.model.classifier import resolve_source
    from runner.recipe.schema import ModelSection

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data",
        default=str(imdb_files.folder()),
        help="folder of {train,test}.jsonl.gz (benchmarks/imdb_files.py writes it)",
    )
    parser.add_argument("--model", default=resolve_source(ModelSection()).name_or_path, help="model folder")
    parser.add_argument("--train", type=int, default=1000, help="training reviews (the first N)")
    parser.add_argument("--eval", type=int, default=500, help="test reviews scored (the first N)")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument(
        "--batch-sizes", default="8", help="comma-separated; `max`: the largest that fits (GPU)"
    )
    parser.add_argument("--methods", default="full,lora,linear")
    parser.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads for both systems (0: torch's default, the cores)",
    )
    parser.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (quick looks)")
    parser.add_argument(
        "--compile", action="store_true", help="both systems with torch.compile (Trainer: torch_compile)"
    )
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--markdown", help="also write the table (with date and machine) here")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.threads:
        # On a shared machine fewer threads than cores avoids waiting at every parallel region for a
        # thread another process has preempted.
        torch.set_num_threads(args.threads)
    bf16 = {"auto": native_bf16(), "bf16": True, "fp32": False}[args.precision]
    s = Setting(
        args.data,
        args.model,
        args.train,
        args.eval,
        args.max_length,
        bf16,
        max_steps=args.max_steps,
        compile=args.compile,
    )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rows: list[Measured] = []
    for batch_spec in args.batch_sizes.split(","):
        batch = largest_batch(s) if batch_spec == "max" else int(batch_spec)
        if batch == 0:
            raise SystemExit("batch 8 does not fit in memory at this length")
        # Full fine-tuning alone is measured at a searched batch: it is what MFU is reported for.
        methods = args.methods.split(",") if batch_spec != "max" else ["full"]
        for method in methods:
            for run in (run_trainer, run_ftrun):
                measured = out_of_memory_is_skipped(run, method, s, batch)
                rows += [measured] if measured else []
    about = machine()
    report = (
        f"{about['date']} · {about['gpu'] or about['cpu']} · {about['threads']} threads · "
        f"torch {about['torch']} · transformers {about['transformers']} · bf16 {bf16} · "
        f"{'torch.compile · ' if s.compile else ''}"
        f"{s.train} train / {s.eval} eval reviews · {s.max_length} tokens · model {model_name(s.model)}\n\n"
        + table(rows)
    )
    print("\n" + report)
    if args.markdown:
        Path(args.markdown).write_text(report + "\n")
    if args.json:
        result = {
            "machine": about,
            "setting": asdict(s),
            "rows": [
                {**asdict(r), "samples_per_s": r.samples_per_s, "tokens_per_s": r.tokens_per_s} for r in rows
            ],
        }
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
