"""A sweep's wall time run serially and with --parallel N on this machine, and what to expect on N GPUs.

    python benchmarks/sweep_parallel.py                       # benchmarks/recipes/sweep-parallel.toml, N = 2
    python benchmarks/sweep_parallel.py --recipe R --parallel 4 --json sweep_parallel.json

Runs the sweep twice into fresh folders under --out (serially with the default threads, then with
--parallel N, the cores divided between the combinations) and prints a Markdown table: wall time,
each combination's time in its process (from the sweep's `.sweep/<name>.json`), and the time a
combination's process spends before its run starts (the interpreter and the imports of torch,
transformers, peft and accelerate), which a process per combination adds to an in-process sweep.
On N GPUs a sweep of C combinations should take about ceil(C / N) x (a combination's time), each
GPU running one at a time. Run it on a quiet machine: two sweeps, a few minutes each on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_sweep(recipe: Path, out: Path, extra: list[str]) -> float:
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "runner", str(recipe), "--set", f'output.dir="{out}"', *extra]
    started = time.monotonic()
    subprocess.run(command, check=True, cwd=ROOT, env={**os.environ, "FTRUN_PROGRESS_SECONDS": "600"})
    return time.monotonic() - started


def combination_times(out: Path) -> dict[str, dict[str, float]]:
    """Each combination's time inside its process, training seconds and peak memory."""
    sweep_folder = next(p for p in out.iterdir() if p.is_dir())
    times = {}
    for outcome in sorted((sweep_folder / ".sweep").glob("*.json")):
        if outcome.name == "sweep.json":
            continue
        metrics = json.loads((sweep_folder / outcome.stem / "metrics.json").read_text())
        times[outcome.stem] = {
            "seconds": json.loads(outcome.read_text())["seconds"],
            "train_seconds": metrics["train"]["seconds"],
            "peak_mb": metrics["peak_memory_mb"].get("gpu", metrics["peak_memory_mb"]["process_rss"]),
        }
    return times


def process_start_seconds(rounds: int = 3) -> float:
    """What a fresh process spends before a run can start: the interpreter and the heavy imports."""
    code = "import runner.cli, runner.pipeline"
    samples = []
    for _ in range(rounds):
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", code], check=True)
        samples.append(time.monotonic() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--recipe", type=Path, default=ROOT / "benchmarks" / "recipes" / "sweep-parallel.toml"
    )
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench-sweep-parallel")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    start = process_start_seconds()
    serial_wall = run_sweep(args.recipe, args.out / "serial", [])
    serial = combination_times(args.out / "serial")
    parallel_wall = run_sweep(args.recipe, args.out / "parallel", ["--parallel", str(args.parallel)])
    parallel = combination_times(args.out / "parallel")

    count = len(serial)
    mean_serial = statistics.mean(t["seconds"] for t in serial.values())
    mean_parallel = statistics.mean(t["seconds"] for t in parallel.values())
    launcher = (serial_wall - sum(t["seconds"] for t in serial.values())) / count
    rows = [
        ("serial", serial_wall, mean_serial, serial),
        (f"--parallel {args.parallel}", parallel_wall, mean_parallel, parallel),
    ]
    print(
        f"\n{time.strftime('%Y-%m-%d')} · {platform.processor() or platform.machine()} · "
        f"{len(os.sched_getaffinity(0))} cores · {count} combinations of {args.recipe.name}\n"
    )
    print("| sweep | wall time s | combination in its process, mean s | train s, mean | peak MB, mean |")
    print("|---|---|---|---|---|")
    for label, wall, mean, times in rows:
        train = statistics.mean(t["train_seconds"] for t in times.values())
        peak = statistics.mean(t["peak_mb"] for t in times.values())
        print(f"| {label} | {wall:.0f} | {mean:.1f} | {train:.1f} | {peak:.0f} |")
    print(
        f"\nspeed-up {serial_wall / parallel_wall:.2f}x · a new process before its run starts: {start:.1f} s "
        f"(interpreter and imports) · launcher time per combination outside its process: {launcher:.1f} s"
    )
    for gpus in (2, 4, 8):
        expected = math.ceil(count / gpus) * mean_serial
        print(f"expected on {gpus} GPUs (one combination each, this machine's times): ~{expected:.0f} s")
    if args.json:
        figures = {
            "date": time.strftime("%Y-%m-%d"),
            "machine": platform.processor() or platform.machine(),
            "cores": len(os.sched_getaffinity(0)),
            "serial_wall_s": serial_wall,
            "parallel_wall_s": parallel_wall,
            "parallel": args.parallel,
            "process_start_s": start,
            "launcher_s_per_combination": launcher,
            "serial": serial,
            "parallel_runs": parallel,
        }
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
