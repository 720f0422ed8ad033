#!/usr/bin/env bash
# One GPU, no network, about 10 minutes: benchmarks/vs_trainer.py (ftrun against the Hugging Face
# Trainer, same process) on a random model with OPT-350m's architecture, 512 tokens, batch 8 and the
# largest batch that fits, with model FLOPs utilisation. Writes $OUT/vs_trainer.{md,json}, $OUT/log.txt.
# VS_TRAINER="..." replaces its size arguments (default below).
# COMPILE_RUN=1 adds the same comparison for full fine-tuning at batch 8 with both systems under
# torch.compile (`--compile`; compiling included), to $OUT/vs_trainer_compile.{md,json}: whether
# `train.compile` pays on that GPU.
# SEED_RUNS=1 adds the older check (several more minutes): seed recipes in bf16 on the random OPT-350m
# (samples/s, peak memory) and the embedded MiniLM (fp16 weights) on 4,000 / 2,000 IMDb reviews
# (accuracy), written to $OUT/gpu_runs.json and $OUT/compare.md. EXTRA="--set ..." is added to each
# of those runs (a CPU dry run: EXTRA="--set train.max_steps=2 --set data.train_size=16 --set data.eval_size=8").
# DECODER_RUNS=1 (the default; 0 skips it) adds full, LoRA, DoRA and QLoRA fine-tuning of the random
# OPT-350m in bf16 (samples/s, each run's peak GPU memory), to $OUT/decoder_methods.md.
# Reads .devcarry/, built by benchmarks/prepare_device_carry.sh where there is network. Not yet run on a
# GPU; its CPU dry run passes (2026-11-26, 90 s; the `max` batch search needs CUDA and is not part of it):
#   PATH=$PWD/.venv/bin:$PATH OUT=/tmp/gpu-dry \
#   VS_TRAINER="--train 16 --eval 8 --max-length 64 --methods full,lora,linear --batch-sizes 8" bash benchmarks/gpu_check.sh
set -uo pipefail
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .devcarry/whl/*.whl
export PYTHONPATH=/tmp/site:$PWD/.devcarry/site:$PWD HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1
runs=/tmp/gpu-runs; rm -rf $runs
{
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, transformers, peft, accelerate, datasets, pyarrow; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__, 'accelerate', accelerate.__version__, 'datasets', datasets.__version__, 'pyarrow', pyarrow.__version__)"
python3 benchmarks/random_model.py /tmp/opt350m-random .devcarry/minilm16
python3 benchmarks/vs_trainer.py --model /tmp/opt350m-random --data .devcarry/imdb \
  ${VS_TRAINER:---train 1000 --eval 200 --max-length 512 --methods full,lora,linear --batch-sizes 8,max} \
  --json "$OUT/vs_trainer.json" --markdown "$OUT/vs_trainer.md"
if [ "${COMPILE_RUN:-0}" = 1 ]; then
python3 benchmarks/vs_trainer.py --model /tmp/opt350m-random --data .devcarry/imdb \
  ${VS_TRAINER_COMPILE:---train 1000 --eval 200 --max-length 512 --methods full --batch-sizes 8} --compile \
  --json "$OUT/vs_trainer_compile.json" --markdown "$OUT/vs_trainer_compile.md"
fi
if [ "${SEED_RUNS:-0}" = 1 ]; then
for m in full lora linear prompt-linear; do
  python3 -m runner recipes/$m.toml --set 'model.name="/tmp/opt350m-random"' --set 'data.source="./.devcarry/imdb"' \
    --set data.train_size=1600 --set data.eval_size=400 --set train.epochs=1 --set train.precision=bf16 \
    --set eval.latency_examples=100 --set "output.dir=\"$runs/opt350m-random\"" --set "output.run_name=\"$m\"" ${EXTRA:-}
done
for m in full lora linear prompt-linear; do
  lr=5e-5; [ $m = lora ] && lr=5e-4; [[ $m == *linear ]] && lr=1e-3
  python3 -m runner recipes/quickstart.toml --set 'model.name="./.devcarry/minilm16"' --set 'data.source="./.devcarry/imdb"' \
    --set data.train_size=0 --set data.eval_size=0 --set method.name=\"$m\" --set train.epochs=3 --set train.lr=$lr \
    --set train.warmup_steps=100 --set train.precision=bf16 --set eval.latency_examples=100 \
    --set "output.dir=\"$runs/minilm\"" --set "output.run_name=\"$m\"" ${EXTRA:-}
done
python3 -m runner compare $runs --format markdown > "$OUT/compare.md"
python3 - "$runs" "$OUT/gpu_runs.json" <<'PY'
import json, pathlib, sys
rows = {}
for p in sorted(pathlib.Path(sys.argv[1]).rglob("metrics.json")):
    m = json.loads(p.read_text())
    rows[str(p.parent.relative_to(sys.argv[1]))] = {k: m[k] for k in ("method", "model", "accuracy", "accuracy_ci95", "latency", "train", "params", "peak_memory_mb", "precision", "device", "data", "versions")}
pathlib.Path(sys.argv[2]).write_text(json.dumps(rows, indent=1))
PY
fi
if [ "${DECODER_RUNS:-1}" = 1 ]; then
# The methods weighed on large decoders, on the random OPT-350m at 512 tokens in bf16: samples/s and
# each run's own peak GPU memory (reset at its start), one process per run. QLoRA needs the
# bitsandbytes in .devcarry/site. DECODER_METHODS and DECODER_SIZE replace the defaults below.
for m in ${DECODER_METHODS:-full lora dora qlora}; do
  python3 -m runner recipes/quickstart.toml --set 'model.name="/tmp/opt350m-random"' --set 'data.source="./.devcarry/imdb"' \
    ${DECODER_SIZE:---set data.train_size=800 --set data.eval_size=200 --set model.max_length=512} \
    --set method.name=\"$m\" --set method.head_hidden=1000 --set train.epochs=1 --set train.precision=bf16 \
    --set eval.latency_examples=50 --set "output.dir=\"$runs/decoder-methods\"" --set "output.run_name=\"$m\"" ${EXTRA:-}
done
python3 - "$runs/decoder-methods" "$OUT/decoder_methods.md" <<'PY'
import json, pathlib, sys
rows = ["| method | trainable params | train examples/s | peak GPU MB | peak RSS MB | batch-1 p50 ms |", "|---|---|---|---|---|---|"]
for p in sorted(pathlib.Path(sys.argv[1]).glob("*/metrics.json")):
    m = json.loads(p.read_text()); peak = m["peak_memory_mb"]; lat = m.get("latency") or {}
    rows.append(f"| {m['method']} | {m['params']['trainable']:,} | {m['train']['examples_per_s']:.1f} | "
                f"{peak.get('gpu', 0):,.0f} | {peak['process_rss']:,.0f} | {lat.get('batch1_ms_p50', 0):.1f} |")
pathlib.Path(sys.argv[2]).write_text("\n".join(rows) + "\n")
print("\n".join(rows))
PY
fi
} 2>&1 | tee "$OUT/log.txt"
