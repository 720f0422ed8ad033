"""Feature extraction and batch-1 latency: ftrun's code paths against the plain calls a user would write.

Usage, from the repository root (any finished run with a saved model; the sweep's are fine):
    python benchmarks/inference.py outputs/cpu-sweep/full-lr5e-5-seed1 --texts 500 --rounds 3

Both parts use the first `--texts` reviews of the IMDb test file (benchmarks/imdb_files.py), 256
tokens, the same torch threads, bf16 autocast where the CPU has native bf16 (as ftrun's runs), and take
turns round by round so that a noisy machine slows both alike; the best round of each (and the median) is
reported, and the ratios use the best rounds.

- Feature extraction (the target: within 10% of a plain batched forward): the embedded MiniLM
  base, mean pooling, batch 32. ftrun: `Method.encode` then `runner.training.inputs.extract_features` over
  `token_loader`'s longest-first batches, as a frozen-base run does before its cache is warm. Plain:
  `tokenizer(batch, padding=True)` and `model(**inputs)` per batch of texts in their given order,
  then mean pooling; and the same with the texts sorted by length first (the best plain code).
- Batch-1 latency (the target: within 5% of a plain `model(**inputs)` call): the call ftrun's
  `runner.scoring.latency.measure_latency` times (collate one text's ids, run the classifier) on the run's
  model, against `AutoModelForSequenceClassification.from_pretrained(RUN/model,
  trust_remote_code=True)` called as `model(**inputs)` on the same text, already tokenised; the two
  take turns text by text, 3 timed passes after a warm-up pass, medians.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
import imdb_files  # noqa: E402

MAX_LENGTH = 256
BATCH = 32


def texts(n: int) -> list[str]:
    with gzip.open(imdb_files.split_file("test"), "rt") as file:
        return [json.loads(line)["text"] for _, line in zip(range(n), file, strict=False)]


def autocast(bf16: bool) -> Any:
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


def ftrun_features(reviews: list[str], bf16: bool) -> tuple[float, torch.Tensor]:
    from accelerate import Accelerator
    from rich.console import Console

    from runner import registry
    from runner.console import PlainProgress
    from runner.model.classifier import Classifier, Head, load_backbone, load_tokenizer, resolve_source
    from runner.recipe.reading import build
    from runner.training.batches import TokenDataset, inference_batches, make_loader
    from runner.training.inputs import extract_features

    recipe = build({"model": {"max_length": MAX_LENGTH}, "eval": {"batch_size": BATCH}})
    source = resolve_source(recipe.model)
    tokenizer = load_tokenizer(source)
    backbone = load_backbone(source, "float32", tokenizer.pad_token_id)
    classifier = Classifier(backbone, Head(384, 0, 2, 0.0), "mean").eval()
    accelerator = Accelerator(cpu=True, mixed_precision="bf16" if bf16 else "no")
    progress = PlainProgress(Console(quiet=True), 1e9)
    started = time.perf_counter()
    ids = registry.method("linear").encode(reviews, tokenizer, recipe, None)
    batches = inference_batches(ids.lengths(), BATCH)
    loader = make_loader(TokenDataset(ids, [0] * len(ids)), batches, tokenizer.pad_token_id, 8 if bf16 else 1)
    features = extract_features(classifier, accelerator.prepare(loader), accelerator, progress)
    return time.perf_counter() - started, features


def plain_features(reviews: list[str], bf16: bool, by_length: bool) -> tuple[float, torch.Tensor]:
    from transformers import AutoModel, AutoTokenizer

    from runner.model.classifier import resolve_source
    from runner.recipe.schema import ModelSection

    path = resolve_source(ModelSection()).name_or_path
    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    started = time.perf_counter()
    order = list(range(len(reviews)))
    if by_length:
        lengths = [len(x) for x in tokenizer(reviews, truncation=True, max_length=MAX_LENGTH)["input_ids"]]
        order.sort(key=lambda i: -lengths[i])
    features = torch.empty(len(reviews), model.config.hidden_size)
    for start in range(0, len(order), BATCH):
        rows = order[start : start + BATCH]
        batch = [reviews[i] for i in rows]
        inputs = tokenizer(batch, padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
        with torch.inference_mode(), autocast(bf16):
            hidden = model(**inputs).last_hidden_state
        features[rows] = mean_pool(hidden, inputs["attention_mask"]).float()
    return time.perf_counter() - started, features


def latencies(run: Path, reviews: list[str], bf16: bool, passes: int = 3) -> tuple[float, float]:
    """Median batch-1 ms of ftrun's served call and of a plain `model(**inputs)`, timed in pairs.

    ftrun's call is what `runner.scoring.latency.measure_latency` times: `collate` of one text's ids into
    tensors, then the classifier under inference mode and autocast. The two calls take turns on
    each text (which goes first alternates), so drifts of a shared machine fall on both alike.
    """
    from transformers import AutoModelForSequenceClassification

    from runner.model.reload import load_saved_model
    from runner.training.batches import collate

    saved = load_saved_model(run / "model")
    ids, pad = saved.encode(reviews), saved.tokenizer.pad_token_id
    plain = AutoModelForSequenceClassification.from_pretrained(run / "model", trust_remote_code=True).eval()
    tokenizer = saved.tokenizer
    encoded = [tokenizer(x, truncation=True, max_length=MAX_LENGTH, return_tensors="pt") for x in reviews]

    def ftrun_call(i: int) -> None:
        batch = collate([{"index": 0, "input_ids": ids[i], "label": 0}], pad)
        saved.classifier(batch["input_ids"], batch["attention_mask"])

    def plain_call(i: int) -> None:
        plain(**encoded[i])

    timings: dict[str, list[float]] = {"ftrun": [], "plain": []}
    with torch.inference_mode(), autocast(bf16):
        for warm_or_timed in range(passes + 1):  # the first pass warms up
            for i in range(len(reviews)):
                calls = [("ftrun", ftrun_call), ("plain", plain_call)]
                for name, call in calls if i % 2 else calls[::-1]:
                    started = time.perf_counter()
                    call(i)
                    if warm_or_timed:
                        timings[name].append((time.perf_counter() - started) * 1000)
    return statistics.median(timings["ftrun"]), statistics.median(timings["plain"])


def main() -> None:
    from runner.model.precision import cpu_has_native_bf16

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a finished run folder with model/")
    parser.add_argument("--texts", type=int, default=500, help="reviews for feature extraction")
    parser.add_argument("--latency", type=int, default=50, help="reviews timed one at a time")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    bf16 = cpu_has_native_bf16()
    reviews = texts(args.texts)
    rounds: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        reference = None
        for name, extract in (
            ("ftrun", lambda: ftrun_features(reviews, bf16)),
            ("plain", lambda: plain_features(reviews, bf16, by_length=False)),
            ("plain sorted", lambda: plain_features(reviews, bf16, by_length=True)),
        ):
            seconds, features = extract()
            reference = features if reference is None else reference
            # The same features whichever way: a fast wrong answer would not count.
            assert torch.allclose(features.float(), reference.float(), atol=0.05), name
            rounds.setdefault(f"features {name} s", []).append(seconds)
        ftrun_ms, plain_ms = latencies(args.run, reviews[: args.latency], bf16)
        rounds.setdefault("latency ftrun ms", []).append(ftrun_ms)
        rounds.setdefault("latency plain ms", []).append(plain_ms)
        print(json.dumps({key: values[-1] for key, values in rounds.items()}), flush=True)
    # The best round of each is the least disturbed by the machine (as timeit takes the minimum);
    # the median is printed beside it. Ratios use the best rounds.
    result = {f"{key} (median)": statistics.median(values) for key, values in rounds.items()}
    best = {key: min(values) for key, values in rounds.items()}
    result |= best
    result["features ftrun / plain"] = best["features ftrun s"] / best["features plain s"]
    result["features ftrun / plain sorted"] = best["features ftrun s"] / best["features plain sorted s"]
    result["latency ftrun / plain"] = best["latency ftrun ms"] / best["latency plain ms"]
    threads = torch.get_num_threads()
    print(f"{time.strftime('%Y-%m-%d')} · {threads} threads · bf16 {bf16} · {args.texts} texts")
    print("| measure | value |\n|---|---|")
    for key, value in result.items():
        print(f"| {key} | {value:.3f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
