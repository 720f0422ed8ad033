"""Did the adaptive search find better settings than the grid, at the same cost? Method by method.

    python benchmarks/search_vs_grid.py outputs/tasks-mrpc outputs/tasks-mrpc-search
    python benchmarks/search_vs_grid.py outputs/cpu-sweep outputs/cpu-search --json cpu.json

Reads two finished sweeps of the same recipe, one a grid and one an adaptive search
(`[sweep.search] mode = "optuna"`), and prints a Markdown table per method:

- cost: the runs it trained and the minutes they took, each the wall time of its combination's
  process as the sweep recorded it (`.sweep/<name>.json`: loading, training, scoring, timing), so a
  pruned try costs what it really did; for the search, its tries and confirmations (the confirmation
  on the search's seed is the best try's run, copied: it trains nothing and costs seconds). A frozen
  base's features are extracted once per machine (a cache), so whichever sweep ran first paid for them;
- what each chose on validation: the grid's configuration with the best mean validation score over
  its seeds (as `ftrun compare` chooses), the search's setting (its confirmation runs, every seed);
- validation, mean over the seeds, of what each chose, and the difference, search minus grid.

Both choices are made on validation and are read on validation here: a best-of-several is optimistic
in both (the grid takes the best of its settings' means, the search the best of its tries on one seed,
then reruns it on every seed), so a difference within a point or two of accuracy is noise at these
validation sizes. The test scores of the same choices are in each sweep's report.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from runner.compare.configurations import ordered_methods
from runner.compare.selection import run_result, select
from runner.rundir.finished import find_runs


def seconds_by_run(sweep: Path) -> dict[str, float]:
    """Each combination's wall seconds, as its worker recorded them."""
    found = {}
    for outcome in (sweep / ".sweep").glob("*.json"):
        if outcome.name == "sweep.json":
            continue
        seconds = json.loads(outcome.read_text(encoding="utf-8")).get("seconds")
        if isinstance(seconds, (int, float)):
            found[outcome.stem] = float(seconds)
    return found


def chosen(folder: Path) -> dict[str, dict[str, Any]]:
    """Per method: its runs, and the configuration chosen on mean validation, with that mean."""
    runs, _ = find_runs([folder])
    results = [run_result(run.folder.name, run.record, run.recipe_text) for run in runs]
    selection = select(results)
    found: dict[str, dict[str, Any]] = {}
    for run in results:
        found.setdefault(run.method, {"runs": []})["runs"].append(run)
    for method, configuration in selection.selected.items():
        found[method]["label"] = configuration.label
        found[method]["validation"] = configuration.validation_mean
        found[method]["test"] = statistics.fmean(run.record.score for run in configuration.runs)
        found[method]["seeds"] = len(configuration.runs)
    return found


def setting(run: Any, keys: list[str]) -> str:
    shown = {key: run.settings.get(key) for key in keys}
    return ", ".join(f"{k}={f'{v:.3g}' if isinstance(v, float) else v}" for k, v in shown.items())


def compare(grid: Path, search: Path) -> list[dict[str, Any]]:
    grid_seconds, search_seconds = seconds_by_run(grid), seconds_by_run(search)
    in_grid, confirmed = chosen(grid), chosen(search / "confirm")
    tries = chosen(search / "search") if (search / "search").is_dir() else {}
    budget_file = search / "report" / "search.json"
    budget = json.loads(budget_file.read_text(encoding="utf-8")) if budget_file.is_file() else {}
    rows = []
    for method in ordered_methods(set(in_grid) | set(confirmed)):
        of_grid, of_search = in_grid.get(method, {"runs": []}), confirmed.get(method)
        if of_search is None:
            continue
        searched = list(budget.get(method, {}).get("ranges", {}))
        trial_runs = tries.get(method, {"runs": []})["runs"]
        ran = [r.name for r in trial_runs + of_search["runs"]]
        # A copied confirmation keeps its trial's record, finishing time included.
        trial_ends = {r.record.finished_at for r in trial_runs if r.record.finished_at}
        copies = {r.name for r in of_search["runs"] if r.record.finished_at in trial_ends}
        rows.append(
            {
                "method": method,
                "grid_runs": len(of_grid["runs"]),
                "grid_minutes": sum(grid_seconds.get(r.name, 0.0) for r in of_grid["runs"]) / 60,
                "grid_choice": of_grid.get("label", ""),
                "grid_validation": of_grid.get("validation"),
                "search_runs": len(ran) - len(copies),
                "copied": len(copies),
                "pruned": budget.get(method, {}).get("pruned", 0),
                "search_minutes": sum(search_seconds.get(name, 0.0) for name in ran) / 60,
                "search_choice": setting(of_search["runs"][0], searched) if searched else "",
                "search_validation": of_search.get("validation"),
            }
        )
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| method | grid: runs, minutes | grid chose | validation | search: runs trained (pruned), "
        "minutes | search chose | validation | search - grid |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        grid_v, search_v = row["grid_validation"], row["search_validation"]
        difference = f"{search_v - grid_v:+.3f}" if grid_v is not None and search_v is not None else "–"
        grid = f"{row['grid_runs']}, {row['grid_minutes']:.1f}" if row["grid_runs"] else "not in the grid"
        lines.append(
            f"| {row['method']} | {grid} | {row['grid_choice'] or '–'} | {_score(grid_v)} "
            f"| {row['search_runs']} ({row['pruned']}), {row['search_minutes']:.1f} "
            f"| {row['search_choice']} | {_score(search_v)} | {difference} |"
        )
    return "\n".join(lines)


def _score(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("grid", type=Path, help="the grid sweep's folder, e.g. outputs/tasks-mrpc")
    parser.add_argument("search", type=Path, help="the search sweep's folder, e.g. outputs/tasks-mrpc-search")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    rows = compare(args.grid, args.search)
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
