#!/usr/bin/env bash
# Builds .devcarry/ (ignored by git), what benchmarks/gpu_check.sh reads on a GPU machine without network
# access: wheels a stock CUDA torch image lacks, the embedded MiniLM in fp16, and the first reviews of the
# IMDb files benchmarks/imdb_files.py writes (IMDB_FILES, default data/imdb). Run it where there is network.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .devcarry && mkdir -p .devcarry/whl .devcarry/imdb
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .devcarry/whl datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 tomli-w==1.2.0
python3 - <<'PY'
import gzip, itertools, sys, torch
sys.path.insert(0, "benchmarks")
import imdb_files
from transformers import AutoModel, AutoTokenizer
from runner.model.classifier import resolve_source
from runner.recipe.schema import ModelSection
src = resolve_source(ModelSection()).name_or_path
AutoModel.from_pretrained(src, dtype=torch.float16).save_pretrained(".devcarry/minilm16")
AutoTokenizer.from_pretrained(src).save_pretrained(".devcarry/minilm16")
for split, n in (("train", 4000), ("test", 2000)):  # the files are shuffled: the head is fair
    with gzip.open(imdb_files.split_file(split), "rt") as f, gzip.open(f".devcarry/imdb/{split}.jsonl.gz", "wt") as g:
        g.writelines(itertools.islice(f, n))
PY
# bitsandbytes for QLoRA: its Python code with the CPU library and the one CUDA library that matches the
# GPU image's torch (CUDA 13.0; BNB_CUDA=... for another), which keeps the folder small (the whole
# wheel holds every CUDA build).
bnb=$(python3 -c "import bitsandbytes, os; print(os.path.dirname(bitsandbytes.__file__))")
mkdir -p .devcarry/site
python3 -c "import shutil, sys; shutil.copytree(sys.argv[1], '.devcarry/site/bitsandbytes', ignore=shutil.ignore_patterns('*.so', '__pycache__'))" "$bnb"
cp "$bnb/libbitsandbytes_cpu.so" "$bnb/libbitsandbytes_cuda${BNB_CUDA:-130}.so" .devcarry/site/bitsandbytes/
du -sh .devcarry
