"""What each method's adaptive search was given and used: `report/search.json` and a section of report.md.

Given: the same number of trials for every method, its ranges, the pruner, the search seed. Used:
trials that ran to the end, were pruned or failed, and the optimizer steps and training seconds their
runs took (from each run's record), then the confirmation runs' steps and seconds apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner import rundir
from runner.errors import FtrunError
from runner.recipe.spelling import compact_number, toml_value
from runner.sweep import adaptive, studies

if TYPE_CHECKING:
    from runner.sweep.combinations import SweepPlan
    from runner.sweep.grid import Combination


def budget(sweep: SweepPlan) -> dict[str, dict[str, Any]]:
    """Per method: given (trials, ranges) and used (trial states, steps, seconds), and its best setting."""
    assert sweep.search is not None
    spec = sweep.search
    found: dict[str, dict[str, Any]] = {}
    for method, ranges in spec.ranges.items():
        study = studies.open_study(sweep.folder, method, spec)
        states = {str(t.user_attrs[studies.SLOT_ATTR]): t.state.name.lower() for t in study.get_trials()
                  if studies.SLOT_ATTR in t.user_attrs}  # fmt: skip
        slots = [c for c in sweep.combinations if adaptive.method_of(c) == method]
        copies = _copies(sweep, slots)
        used = {stage: _costs(sweep, [c.name for c in slots if c.stage == stage], copies)
                for stage in (adaptive.SEARCH_STAGE, adaptive.CONFIRM_STAGE)}  # fmt: skip
        try:
            best = studies.best_settings(sweep.folder, method, spec)
        except FtrunError:
            best = {}
        found[method] = {
            "trials": spec.trials,
            "ranges": ranges,
            "pruner": spec.pruner,
            "complete": sum(s == "complete" for s in states.values()),
            "pruned": sum(s == "pruned" for s in states.values()),
            "failed": sum(s == "fail" for s in states.values()),
            "search": used[adaptive.SEARCH_STAGE],
            "confirm": used[adaptive.CONFIRM_STAGE],
            "best": best,
        }
    return found


def _copies(sweep: SweepPlan, slots: list[Combination]) -> set[str]:
    """The confirmations that are their best trial's run, copied (`runner.sweep.worker`): a copy keeps
    the trial's record, the time it finished included."""
    ends = {}
    for combination in slots:
        try:
            ends[combination.name] = rundir.read_record(sweep.run_folder(combination.name)).finished_at
        except FtrunError:
            continue
    trial_ends = {ends[c.name] for c in slots if c.stage == adaptive.SEARCH_STAGE and ends.get(c.name)}
    return {c.name for c in slots if c.stage == adaptive.CONFIRM_STAGE and ends.get(c.name) in trial_ends}


def _costs(sweep: SweepPlan, names: list[str], copies: set[str]) -> dict[str, float]:
    """What the runs trained; a copied confirmation trained nothing and is counted apart."""
    steps, seconds = 0, 0.0
    for name in names:
        if name in copies:
            continue
        try:
            record = rundir.read_record(sweep.run_folder(name))
        except FtrunError:
            continue
        steps += record.train.steps
        seconds += record.train.seconds + record.train.feature_extraction_seconds
    copied = sum(name in copies for name in names)
    return {"runs": len(names) - copied, "copied": copied, "steps": steps, "seconds": round(seconds, 1)}


def markdown(found: dict[str, dict[str, Any]], seed: int) -> list[str]:
    lines = [
        "## What each method's search was given and used",
        "",
        f"Each method had the same {next(iter(found.values()))['trials'] if found else 0} trials, searched "
        f"by Optuna's TPE on the first seed listed (sampler seed {seed}) and pruned on the validation score "
        "after each epoch; its best setting on validation then ran on every seed (the runs above; on "
        "the search's seed that run is the best trial's own, copied, so the confirmation's steps and "
        "seconds are those of the other seeds). The test split was read by none of these choices.",
        "",
        "| method | trials | complete | pruned | failed | search steps | search seconds "
        "| confirm steps | confirm seconds | chosen setting |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for method, used in found.items():
        chosen = ", ".join(f"{k} = {_shown(v)}" for k, v in used["best"].items()) or "none"
        lines.append(
            f"| {method} | {used['trials']} | {used['complete']} | {used['pruned']} | {used['failed']} "
            f"| {used['search']['steps']} | {used['search']['seconds']:.0f} | {used['confirm']['steps']} "
            f"| {used['confirm']['seconds']:.0f} | {chosen} |"
        )
    return lines


def write_budget(sweep: SweepPlan, report_folder: Path) -> list[Path]:
    """`search.json` and `search.md` in the report folder, and their table appended to report.md."""
    assert sweep.search is not None
    found = budget(sweep)
    lines = markdown(found, sweep.search.seed)
    report_folder.mkdir(parents=True, exist_ok=True)
    data, text = report_folder / "search.json", report_folder / "search.md"
    rundir.write_json(data, found)
    rundir.write_text(text, "\n".join(lines) + "\n")
    report = report_folder / "report.md"
    if report.is_file():
        rundir.write_text(
            report, report.read_text(encoding="utf-8").rstrip() + "\n\n" + "\n".join(lines) + "\n"
        )
    return [data, text]


def _shown(value: Any) -> str:
    """A searched number to three significant digits, as people read it (search.json keeps them all)."""
    return compact_number(float(f"{value:.3g}")) if isinstance(value, float) else toml_value(value)
