"""Sweeps: a `[sweep]` table turns one recipe into a grid of runs, checked in full before any trains.

```toml
[sweep]
"method.name" = ["full", "lora"]   # keys written exactly as for --set
"train.seed" = [1, 2, 3]
[sweep.lora]                       # axes only for combinations whose method.name is lora
"train.lr" = [1e-4, 1e-3]
```

`[sweep.executor]` is not a method: it says where the combinations run (`runner.sweep.settings`);
`[sweep.search]` draws each method's settings from ranges, the same number for every method
(`runner.sweep.search`).
A method's sub-table axis replaces a top-level axis of the same key for that method, and a
one-value axis is simply that method's setting (it does not show in names). `--set KEY=VALUE`
pins a key: an axis of that key is dropped. Each combination runs into
`<output.dir>/<sweep name>/<combination name>`, the sweep name being `output.run_name` or the
file's stem, and is a normal run folder, so `compare` reads a sweep like any other runs.

This module reads a sweep file and builds one checked recipe per combination (what `validate` and
`show` print), or only the one a worker runs; `grid` expands and names the table, `execution` runs
the combinations.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from pathlib import Path
from typing import Any

from runner.errors import RecipeError
from runner.recipe import reading as recipes
from runner.recipe import schema
from runner.sweep import adaptive, search
from runner.sweep.grid import METHOD_KEY, SEED_KEY, TABLE, Combination, expand
from runner.sweep.search import SEARCH, SearchSpec
from runner.sweep.settings import EXECUTOR, ExecutorSettings, executor_settings


@dataclasses.dataclass
class SweepPlan:
    """A sweep file read and its table expanded: every combination named, no recipe built yet."""

    path: Path
    folder: Path  # <output.dir>/<sweep name>: each combination's run folder sits in it
    combinations: list[Combination]
    executor_table: Any  # [sweep.executor] as written: `settings.executor_settings` checks it
    base: recipes.Raw  # the recipe beside the [sweep] table, with `--set` applied
    search: SearchSpec | None  # [sweep.search] where it has one

    @property
    def adaptive(self) -> bool:
        return self.search is not None and self.search.adaptive

    def run_folder(self, name: str) -> Path:
        """Where a combination's run goes: in the sweep folder, or in its stage's subfolder."""
        return self.folder / self.combination(name).stage / name

    @property
    def report_runs(self) -> Path:
        """The runs the report compares: every run, or an adaptive search's confirmations only."""
        return self.folder / adaptive.CONFIRM_STAGE if self.adaptive else self.folder

    def combination(self, name: str) -> Combination:
        for combination in self.combinations:
            if combination.name == name:
                return combination
        raise RecipeError(f"{self.path}: no combination named {name} (`ftrun show {self.path}` lists them)")

    def build(self, combination: Combination) -> schema.Recipe:
        """The combination's checked recipe (a RecipeError names it)."""
        label = f"sweep combination {combination.name}"
        return recipes.build(_combined(self.base, combination, self.folder / combination.stage), origin=label)


@dataclasses.dataclass
class Sweep(SweepPlan):
    """A sweep with every combination's recipe built and checked: for a launcher, `validate` and `show`."""

    recipes: list[schema.Recipe]  # one validated recipe per combination, same order
    executor: ExecutorSettings  # [sweep.executor] as written (the launcher adds the command line's flags)


def is_sweep(path: str | Path) -> bool:
    return TABLE in recipes.read_raw(Path(path))


def fingerprint(recipe: schema.Recipe) -> str:
    """What the launcher records of each combination's recipe, for its worker and other launchers to match."""
    return hashlib.sha256(recipes.to_toml(recipe).encode()).hexdigest()[:16]


def load_combinations(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Sweep:
    """The sweep at `path` with every combination's recipe built: all their errors in one line."""
    plan = plan_sweep(path, overrides)
    executor = executor_settings(plan.executor_table, f"{plan.path}: [{TABLE}]")
    built: list[schema.Recipe] = []
    failures: list[tuple[str, str]] = []
    for combination in plan.combinations:
        try:
            built.append(plan.build(combination))
        except RecipeError as error:
            failures.append(
                (combination.name, str(error).removeprefix(f"sweep combination {combination.name}: "))
            )
    if failures:
        raise RecipeError(_failures_line(plan.path, failures, len(plan.combinations)))
    if plan.adaptive:
        _check_adaptive(plan, built)
    return Sweep(**vars(plan), recipes=built, executor=executor)


def _check_adaptive(plan: SweepPlan, built: list[schema.Recipe]) -> None:
    """Every slot has a validation split, and the ends of every searched range make a valid recipe."""
    assert plan.search is not None
    origin = f"{plan.path}: [{TABLE}.{SEARCH}]"
    adaptive.check_validation(built[0], origin)
    for combination in plan.combinations:
        if combination.stage != adaptive.SEARCH_STAGE or adaptive.slot_number(combination) != 1:
            continue
        for point in adaptive.bound_settings(plan.search.ranges[adaptive.method_of(combination)]):
            plan.build(dataclasses.replace(combination, overrides={**combination.overrides, **point}))


def plan_sweep(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> SweepPlan:
    """The sweep at `path` expanded and named, without building any recipe: what one worker needs."""
    path = Path(path)
    raw = recipes.read_raw(path)
    table = raw.pop(TABLE, None)
    if not isinstance(table, dict):
        raise RecipeError(f"{path}: [{TABLE}] must be a table of axes, got {table!r}")
    origin = f"{path}: [{TABLE}]"
    executor_table = table.pop(EXECUTOR, None)
    search_table = table.pop(SEARCH, None)
    pinned = _apply_overrides(raw, overrides)
    method_table = raw.get("method")
    base_method = method_table.get("name", "") if isinstance(method_table, dict) else ""
    base_method = base_method or schema.MethodSection.name
    # Check against the table as written: a pinned method must not turn its sub-table into an error.
    points, spec = None, None
    if search_table is not None:
        methods = [str(m) for m in table.get(METHOD_KEY, [base_method])]
        methods += [str(base_method)] if str(base_method) not in methods else []
        spec = search.read_search(search_table, methods, f"{path}: [{TABLE}.{SEARCH}]")
        if spec.adaptive:
            return _adaptive_plan(path, raw, table, pinned, spec, str(base_method), executor_table)
        points = search.draw(search_table, methods, f"{path}: [{TABLE}.{SEARCH}]")
    expand(table, str(base_method), origin, points)
    unpinned = _without(table, pinned)
    if METHOD_KEY in pinned:  # one method left: the other methods' sub-tables have nothing to add to
        unpinned = {k: v for k, v in unpinned.items() if not isinstance(v, dict) or k == base_method}
        points = {k: v for k, v in (points or {}).items() if k == base_method} or None
    if unpinned or not table or points:
        combinations = expand(unpinned, str(base_method), origin, points)
    else:  # every axis pinned: the one combination they name, run into the sweep folder as before
        combinations = [Combination(str(base_method), {})]
    return SweepPlan(path, _sweep_folder(raw, path), combinations, executor_table, raw, spec)


def _adaptive_plan(
    path: Path,
    raw: recipes.Raw,
    table: dict[str, Any],
    pinned: set[str],
    spec: SearchSpec,
    base_method: str,
    executor_table: Any,
) -> SweepPlan:
    """An adaptive search's slots: `--set` pins an axis (one method, one seed) as in a grid."""
    searched_keys = {key for ranges in spec.ranges.values() for key in ranges}
    both = sorted(searched_keys & pinned)
    if both:
        raise RecipeError(f"{path}: {both[0]} is both searched and set with --set; keep one of them")
    unpinned = _without(table, pinned)
    if METHOD_KEY in pinned:
        unpinned = {k: v for k, v in unpinned.items() if not isinstance(v, dict) or k == base_method}
        spec = dataclasses.replace(spec, ranges={base_method: spec.ranges[base_method]})
    train = raw.get("train")
    base_seed = train.get("seed", schema.TrainSection.seed) if isinstance(train, dict) else None
    base_seed = schema.TrainSection.seed if base_seed is None else base_seed
    found = adaptive.slots(unpinned, base_method, base_seed, spec, f"{path}: [{TABLE}]")
    both = sorted(searched_keys & {k for c in found for k in c.overrides if k not in (METHOD_KEY, SEED_KEY)})
    if both:
        raise RecipeError(f"{path}: [{TABLE}]: {both[0]} is both an axis and searched; keep one of them")
    return SweepPlan(path, _sweep_folder(raw, path), found, executor_table, raw, spec)


def describe(sweep: Sweep, with_overrides: bool = False) -> list[str]:
    """What `validate` and `show` print: the count, then one line per combination."""
    lines = [f"sweep {sweep.path}: {len(sweep.combinations)} combinations into {sweep.folder}/"]
    width = max(len(c.name) for c in sweep.combinations)
    for combination in sweep.combinations:
        settings = "  ".join(combination.set_options()) if with_overrides else ""
        lines.append(f"  {combination.name:<{width}}  {settings}".rstrip())
    return lines


def _apply_overrides(raw: recipes.Raw, overrides: list[str] | tuple[str, ...]) -> set[str]:
    """Apply `--set` to the base recipe; the keys it pins."""
    pinned = set()
    for override in overrides:
        section, key, value = recipes.parse_override(override)
        raw.setdefault(section, {})[key] = value
        pinned.add(f"{section}.{key}")
    return pinned


def _without(table: dict[str, Any], pinned: set[str]) -> dict[str, Any]:
    return {
        key: _without(value, pinned) if isinstance(value, dict) else value
        for key, value in table.items()
        if key not in pinned
    }


def _sweep_folder(raw: recipes.Raw, path: Path) -> Path:
    """<output.dir>/<output.run_name or the file's stem>, checked here: each combination replaces both."""
    output = raw.get("output")
    output = output if isinstance(output, dict) else {}
    directory, name = output.get("dir", schema.OutputSection.dir), output.get("run_name", "")
    for key, value in (("output.dir", directory), ("output.run_name", name)):
        if not isinstance(value, str):
            raise RecipeError(f"{path}: {key} must be a string, got {value!r}")
    return Path(directory) / (name or path.stem)


def _combined(raw: recipes.Raw, combination: Combination, folder: Path) -> recipes.Raw:
    merged = copy.deepcopy(raw)
    settings = {**combination.overrides, "output.dir": str(folder), "output.run_name": combination.name}
    for key, value in settings.items():
        section, _, name = key.partition(".")
        if isinstance(merged.setdefault(section, {}), dict):  # else `build` names the malformed section
            merged[section][name] = value
    return merged


def _failures_line(path: Path, failures: list[tuple[str, str]], total: int) -> str:
    """One line for every invalid combination; the same error in many combinations is named once."""
    by_message: dict[str, list[str]] = {}
    for name, message in failures:
        by_message.setdefault(message, []).append(name)
    if len(failures) == total and len(by_message) == 1:
        return f"{path}: {failures[0][1]} (in all {total} combinations)"  # a mistake outside the axes
    parts = []
    for message, names in by_message.items():
        which = names[0] if len(names) == 1 else f"{names[0]} (and {len(names) - 1} more)"
        parts.append(f"sweep combination {which}: {message}")
    return f"{path}: {len(failures)} of {total} combinations are invalid: " + "; ".join(parts)
