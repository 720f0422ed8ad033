"""Where a training step's time goes, in ftrun and in the Trainer script of vs_trainer.py.

Usage, from the repository root:
    python benchmarks/profile_train.py --steps 20                 # both systems, full fine-tuning
    python benchmarks/profile_train.py --steps 10 --method lora --systems ftrun --ops

Runs `--steps` optimizer steps (batch 8, 256 tokens, the embedded MiniLM, IMDb) under cProfile and
splits the training call's wall time into the parts below (cumulative time of the functions that do
each part; they do not nest in each other). `--ops` also prints the torch operators that take the
most time (torch.profiler), to tell matrix multiplies from casts, attention and optimizer kernels.
Shares are informative even on a loaded machine; absolute seconds are not.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vs_trainer  # noqa: E402  (the two systems, set up exactly as the benchmark runs them)

# part -> (a piece of the file path, function name); first match wins, cumulative seconds.
PARTS = {
    "forward (incl. loss)": [
        ("runner/model.py", "forward"),  # ftrun: Classifier.forward
        ("transformers/trainer.py", "compute_loss"),  # Trainer: model(**inputs).loss
    ],
    "backward": [("accelerate/accelerator.py", "backward")],
    "optimizer step": [("accelerate/optimizer.py", "step")],
    "zero_grad": [("accelerate/optimizer.py", "zero_grad")],
    "clip grad norm": [("accelerate/accelerator.py", "clip_grad_norm_")],
    "batches (fetch + collate)": [("torch/utils/data/dataloader.py", "__next__")],
    "host sync (loss.item, int(mask.sum))": [("~", "<method 'item' of 'torch._C.TensorBase' objects>")],
    "scheduler": [("accelerate/scheduler.py", "step")],
    "checkpoint": [("runner/checkpoints.py", "save")],
    "progress bar / logging": [("rich/progress.py", "update"), ("transformers/trainer.py", "log")],
}
TRAINING_CALL = {"ftrun": ("runner/train.py", "fit"), "trainer": ("transformers/trainer.py", "train")}
# Scoring runs the same forward after training: taken off the forward part.
SCORING_CALL = {
    "ftrun": ("runner/train.py", "predict"),
    "trainer": ("transformers/trainer.py", "prediction_step"),
}


def cumulative_seconds(stats: pstats.Stats, where: tuple[str, str]) -> float:
    path_piece, name = where
    return sum(
        entry[3]
        for (file, _, function), entry in stats.stats.items()  # type: ignore[attr-defined]
        if function == name and path_piece in file
    )


def split_time(stats: pstats.Stats, system: str) -> dict[str, float]:
    total = cumulative_seconds(stats, TRAINING_CALL[system])
    parts = {part: sum(cumulative_seconds(stats, w) for w in places) for part, places in PARTS.items()}
    parts["forward (incl. loss)"] -= cumulative_seconds(stats, SCORING_CALL[system])
    parts["other (loop Python, autocast setup, ...)"] = total - sum(parts.values())
    return {"total": total, **parts}


def profile(system: str, method: str, setting: vs_trainer.Setting, ops: bool) -> dict[str, float]:
    run = vs_trainer.run_ftrun if system == "ftrun" else vs_trainer.run_trainer
    profiler = cProfile.Profile()
    profiler.enable()
    if ops:
        import torch.profiler

        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as op_profile:
            run(method, setting, 8)
        print(op_profile.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))
    else:
        run(method, setting, 8)
    profiler.disable()
    return split_time(pstats.Stats(profiler), system)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--method", default="full", choices=("full", "lora"))
    parser.add_argument("--systems", default="trainer,ftrun")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave it)")
    parser.add_argument("--ops", action="store_true", help="also print the top torch operators")
    args = parser.parse_args()
    if args.threads:
        vs_trainer.torch.set_num_threads(args.threads)
    setting = vs_trainer.Setting(
        data=str(vs_trainer.imdb_files.folder()),
        model=default_model(),
        train=8 * args.steps,
        eval=2,  # scoring runs the same forward: keep it negligible beside the training steps
        max_length=args.max_length,
        bf16=vs_trainer.native_bf16(),
        max_steps=args.steps,
    )
    results = {system: profile(system, args.method, setting, args.ops) for system in args.systems.split(",")}
    print(f"\n{args.method}, {args.steps} steps, batch 8, {args.max_length} tokens, bf16 {setting.bf16}")
    systems = list(results)
    print("| part | " + " | ".join(f"{s} s | {s} share" for s in systems) + " |")
    print("|---|" + "---|---|" * len(systems))
    for part in results[systems[0]]:
        cells = [f"{results[s][part]:.2f} | {results[s][part] / results[s]['total']:.0%}" for s in systems]
        print(f"| {part} | " + " | ".join(cells) + " |")


def default_model() -> str:
    from runner.model.classifier import resolve_source
    from runner.recipe.schema import ModelSection

    return resolve_source(ModelSection()).name_or_path


if __name__ == "__main__":
    main()
