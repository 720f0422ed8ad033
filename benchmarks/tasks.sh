#!/usr/bin/env bash
# The task results of docs/results.md: sentence pairs (MRPC), regression (STS-B), multi-label
# (GoEmotions) and long texts (IMDb, head against head+tail), each a sweep of benchmarks/recipes/tasks/
# chosen on validation and reported on test, then compared into docs/results/tasks/<sweep>/. The
# <task>-search sweeps are the adaptive search with the cheap baselines, the others the grid.
# About two hours of a 2-core CPU; run it from the repository root. The data sets come from the Hugging
# Face hub (the first run downloads them); LOCAL_DATA=DIR reads local copies instead (docs/development.md).
#   benchmarks/tasks.sh                        # all of them
#   benchmarks/tasks.sh mrpc-search mrpc       # some of them
set -euo pipefail
sweeps=("$@")
if [ ${#sweeps[@]} -eq 0 ]; then sweeps=(mrpc-search stsb-search goemotions-search mrpc stsb goemotions imdb-truncation); fi

local_copy() {  # the --set options that point a sweep at $LOCAL_DATA/<data set>/
  case "${1%-search}" in
    mrpc) echo "--set data.source=$LOCAL_DATA/mrpc --set data.config= --set data.eval_split=test" ;;
    stsb) echo "--set data.source=$LOCAL_DATA/stsb --set data.config= --set data.eval_split=test --set data.label_column=score" ;;
    goemotions) echo "--set data.source=$LOCAL_DATA/goemotions --set data.config=" ;;
    imdb-truncation) echo "--set data.source=$LOCAL_DATA/imdb" ;;
  esac
}

for sweep in "${sweeps[@]}"; do
  overrides=()
  if [ -n "${LOCAL_DATA:-}" ]; then read -r -a overrides <<< "$(local_copy "$sweep")"; fi
  ftrun "benchmarks/recipes/tasks/$sweep.toml" "${overrides[@]}"
  rm -rf "docs/results/tasks/$sweep"
  if [ -d "outputs/tasks-$sweep/confirm" ]; then
    # An adaptive search: the sweep's own report compares its confirmations and says what each search used.
    cp -r "outputs/tasks-$sweep/report" "docs/results/tasks/$sweep"
    rm "docs/results/tasks/$sweep/search.md"  # report.md ends with the same table
  else
    ftrun compare "outputs/tasks-$sweep" --report "docs/results/tasks/$sweep"
  fi
done
