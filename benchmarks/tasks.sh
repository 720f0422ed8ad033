#!/usr/bin/env bash
# The task results of docs/results.md: sentence pairs (MRPC), regression (STS-B), multi-label
# (GoEmotions) and long texts (IMDb, head against head+tail), each a sweep of benchmarks/recipes/tasks/
# chosen on validation and reported on test, then compared into docs/results/tasks/<sweep>/.
# About an hour of a 2-core CPU; run it from the repository root with ../shared/data beside it.
#   benchmarks/tasks.sh                 # all four
#   benchmarks/tasks.sh mrpc stsb       # some of them
set -euo pipefail
sweeps=("$@")
if [ ${#sweeps[@]} -eq 0 ]; then sweeps=(mrpc stsb goemotions imdb-truncation); fi
for sweep in "${sweeps[@]}"; do
  ftrun "benchmarks/recipes/tasks/$sweep.toml"
  ftrun compare "outputs/tasks-$sweep" --report "docs/results/tasks/$sweep"
done
