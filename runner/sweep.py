"""Sweeps: a `[sweep]` table turns one recipe into a grid of runs, checked in full before any trains.

```toml
[sweep]
"method.name" = ["full", "lora"]   # keys written exactly as for --set
"train.seed" = [1, 2, 3]
[sweep.lora]                       # axes only for combinations whose method.name is lora
"train.lr" = [1e-4, 1e-3]
```

A method's sub-table axis replaces a top-level axis of the same key for that method, and a
one-value axis is simply that method's setting (it does not show in names). `--set KEY=VALUE`
pins a key: an axis of that key is dropped. Each combination runs into
`<output.dir>/<sweep name>/<combination name>`, the sweep name being `output.run_name` or the
file's stem, and is a normal run folder, so `compare` reads a sweep like any other runs.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import itertools
import os
import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomli_w

from runner import recipe as recipes
from runner import rundir, schema
from runner.errors import FtrunError, RecipeError, first_line

TABLE = "sweep"
METHOD_KEY = "method.name"
SEED_KEY = "train.seed"
# The sweep sets these per combination; an axis over them would put runs on top of each other.
RESERVED_KEYS = ("output.dir", "output.run_name")
# Readable short names where the key's last part alone would say little.
SHORT_KEYS = {"model.name": "model"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
_MAX_VALUE_CHARS = 40

RunOne = Callable[..., Any]  # runner.run.run_recipe(recipe, recipe_path, overwrite=, resume=)


@dataclasses.dataclass(frozen=True)
class Combination:
    name: str  # method first, then each varying axis, the seed last: lora-lr3e-4-seed2
    overrides: dict[str, Any]  # "section.key" -> TOML value, as `--set` would give them

    def set_options(self) -> list[str]:
        """The overrides as `--set` takes them, e.g. `train.lr=0.0003`."""
        return [f"{key}={_toml_value(value)}" for key, value in self.overrides.items()]


@dataclasses.dataclass
class Sweep:
    path: Path
    folder: Path  # <output.dir>/<sweep name>: each combination's run folder sits in it
    combinations: list[Combination]
    recipes: list[schema.Recipe]  # one validated recipe per combination, same order


def read_raw(path: str | Path) -> recipes.Raw:
    """The recipe's raw table with `extends` merged."""
    return dict(recipes.read_raw(Path(path)))


def is_sweep(path: str | Path) -> bool:
    return TABLE in read_raw(path)


def expand(table: dict[str, Any], base_method: str, origin: str = "sweep") -> list[Combination]:
    """Every combination of a `[sweep]` table, in grid order; `base_method` is the recipe's method."""
    axes, by_method = _parse_table(table, origin)
    if not axes and not by_method:
        raise RecipeError(f'{origin}: no axes; add e.g. "train.seed" = [1, 2, 3]')
    methods_in_sweep = axes.get(METHOD_KEY, [base_method])
    for method in by_method:
        if method not in methods_in_sweep:
            raise RecipeError(
                f"{origin}: [{TABLE}.{method}] adds axes for method {method}, but no combination uses it "
                f"(methods in this sweep: {', '.join(map(str, methods_in_sweep))})"
            )
    grid: list[dict[str, Any]] = []
    for chosen in _product(axes):
        method = chosen.get(METHOD_KEY, base_method)
        for extra in _product(by_method.get(method, {})):
            grid.append({**chosen, **extra})
    return _named(grid, base_method)


def load_combinations(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Sweep:
    """The sweep at `path` with every combination's recipe built: all their errors in one line."""
    path = Path(path)
    raw = read_raw(path)
    table = raw.pop(TABLE, None)
    if not isinstance(table, dict):
        raise RecipeError(f"{path}: [{TABLE}] must be a table of axes, got {table!r}")
    pinned = _apply_overrides(raw, overrides)
    method_table = raw.get("method")
    base_method = method_table.get("name", "") if isinstance(method_table, dict) else ""
    base_method = base_method or schema.MethodSection.name
    origin = f"{path}: [{TABLE}]"
    # Check against the table as written: a pinned method must not turn its sub-table into an error.
    expand(table, str(base_method), origin)
    combinations = expand(_without(table, pinned), str(base_method), origin)
    folder = _sweep_folder(raw, path)
    built: list[schema.Recipe] = []
    failures: list[tuple[str, str]] = []
    for combination in combinations:
        label = f"sweep combination {combination.name}"
        try:
            built.append(recipes.build(_combined(raw, combination, folder), origin=label))
        except RecipeError as error:
            failures.append((combination.name, str(error).removeprefix(label + ": ")))
    if failures:
        raise RecipeError(_failures_line(path, failures, len(combinations)))
    return Sweep(path, folder, combinations, built)


def describe(sweep: Sweep, with_overrides: bool = False) -> list[str]:
    """What `validate` and `show` print: the count, then one line per combination."""
    lines = [f"sweep {sweep.path}: {len(sweep.combinations)} combinations into {sweep.folder}/"]
    width = max(len(c.name) for c in sweep.combinations)
    for combination in sweep.combinations:
        settings = "  ".join(combination.set_options()) if with_overrides else ""
        lines.append(f"  {combination.name:<{width}}  {settings}".rstrip())
    return lines


def run_sweep(
    path: str | Path,
    overrides: list[str] | tuple[str, ...],
    run_one: RunOne,
    rerun: bool = False,
    echo: Callable[[str], None] | None = None,
) -> int:
    """Run every combination in turn; 0 if all finished, 1 if any failed (listed at the end)."""
    say = echo or _echo
    sweep = load_combinations(path, overrides)  # every combination checked before the first trains
    total = len(sweep.combinations)
    say(f"sweep {sweep.path}: {total} combinations into {sweep.folder}/")
    failures: list[tuple[str, str]] = []
    for number, (combination, recipe) in enumerate(
        zip(sweep.combinations, sweep.recipes, strict=True), start=1
    ):
        folder = sweep.folder / combination.name
        if (folder / "metrics.json").is_file() and not rerun:
            stale = _stale_note(folder, recipe)
            say(f"[{number}/{total}] {combination.name}: finished already, skipped{stale}")
            continue
        say(f"[{number}/{total}] {combination.name}")
        try:
            run_one(recipe, sweep.path, **_restart_options(folder, recipe, rerun))
        except KeyboardInterrupt:
            say(f"sweep interrupted: run `ftrun {sweep.path}` again to continue where it stopped")
            raise
        except FtrunError as error:
            failures.append((combination.name, first_line(error)))
        except Exception as error:  # a bug in one combination must not cost the rest of the sweep
            traceback.print_exc()
            failures.append((combination.name, f"{type(error).__name__}: {first_line(error)}"))
        _free_accelerator_memory()
    if _is_main_process():
        _write_report(sweep.folder, say)
    for name, reason in failures:
        say(f"failed {name}: {reason}")
    if failures:
        say(f"{len(failures)} of {total} combinations failed; run the sweep again to retry them")
    return 1 if failures else 0


# --- the grid -------------------------------------------------------------------------------------


def _parse_table(
    table: dict[str, Any], origin: str
) -> tuple[dict[str, list[Any]], dict[str, dict[str, list[Any]]]]:
    """Top-level axes and per-method axes, each checked: known key, a non-empty list of distinct values."""
    axes: dict[str, list[Any]] = {}
    by_method: dict[str, dict[str, list[Any]]] = {}
    for key, value in table.items():
        if isinstance(value, dict) and key not in schema.sections():
            if key not in schema.METHODS:
                raise RecipeError(
                    f"{origin}: [{TABLE}.{key}] is not a method{_suggest(key, schema.METHODS)}; "
                    f"a sub-table adds axes for one method: {', '.join(schema.METHODS)}"
                )
            where = f"{origin} [{TABLE}.{key}]"
            by_method[key] = {k: _checked_axis(k, v, where) for k, v in value.items()}
            if METHOD_KEY in by_method[key]:
                raise RecipeError(f"{where}: {METHOD_KEY} cannot be an axis inside a method's sub-table")
        else:
            axes[key] = _checked_axis(key, value, origin)
    return axes, by_method


def _checked_axis(key: str, values: Any, where: str) -> list[Any]:
    if isinstance(values, dict):
        # `train.lr = [...]` unquoted is a nested table in TOML, not the key "train.lr".
        raise RecipeError(f'{where}: write the key in quotes, "{key}.{next(iter(values), "")}" = [...]')
    section, _, name = key.partition(".")
    if recipes.key_owner(section, name) is None:
        raise RecipeError(f"{where}: unknown key {key}{_suggest(key, recipes.every_key())}")
    if key in RESERVED_KEYS:
        raise RecipeError(f"{where}: {key} cannot be an axis: the sweep sets it for each combination")
    if not isinstance(values, list):
        example = _toml_value(values)
        raise RecipeError(f"{where}: {key} must be a list of values, e.g. [{example}], got {example}")
    if not values:
        raise RecipeError(f"{where}: {key} is an empty list; give at least one value")
    repeated = [v for i, v in enumerate(values) if v in values[:i]]
    if repeated:
        raise RecipeError(f"{where}: {key} lists {_toml_value(repeated[0])} twice")
    return values


def _product(axes: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(axes)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(axes[k] for k in keys))]


def _named(grid: list[dict[str, Any]], base_method: str) -> list[Combination]:
    """Name each combination: method, each axis that varies, the seed last; unique and path-safe."""
    # An axis varies if the combinations that set it take more than one value: a one-value axis of a
    # method's sub-table is that method's setting, not part of its name.
    varying = [
        k for k in _axis_order(grid) if k != METHOD_KEY and len({repr(g[k]) for g in grid if k in g}) > 1
    ]
    varying.sort(key=lambda k: k == SEED_KEY)  # stable: the written order, the replicate axis last
    short = _short_keys(varying)
    names = []
    for settings in grid:
        parts = [str(settings.get(METHOD_KEY, base_method))]
        parts += [_part(short[k], settings[k]) for k in varying if k in settings]
        names.append(_UNSAFE.sub("_", "-".join(parts)))
    # Distinct values can still print alike (truncated, or only differing in unsafe characters).
    for name in {n for n in names if names.count(n) > 1}:
        positions = [i for i, n in enumerate(names) if n == name]
        for number, i in enumerate(positions, start=1):
            names[i] = f"{name}-{number}"
    return [Combination(name, settings) for name, settings in zip(names, grid, strict=True)]


def _axis_order(grid: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for settings in grid:
        seen.update(dict.fromkeys(settings))
    return list(seen)


def _short_keys(keys: list[str]) -> dict[str, str]:
    short = {k: SHORT_KEYS.get(k, k.partition(".")[2]) for k in keys}
    clashing = {s for s in short.values() if list(short.values()).count(s) > 1}
    return {k: k.replace(".", "_") if s in clashing else s for k, s in short.items()}


def _part(short_key: str, value: Any) -> str:
    if isinstance(value, bool):
        return short_key if value else f"no-{short_key}"
    if isinstance(value, (int, float)):
        return f"{short_key}{compact_number(value)}"
    if isinstance(value, list):
        value = "+".join(map(str, value))
    return f"{short_key}-{str(value)[:_MAX_VALUE_CHARS]}"


def compact_number(value: int | float) -> str:
    """The shortest exact spelling: 3e-4, 1e-2, 1.5e-4, 0.1, 0.25, 1000 (as learning rates are written)."""
    if isinstance(value, int):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    if 0 < abs(value) < 0.1 or "e" in repr(value):
        for digits in range(17):
            text = f"{value:.{digits}e}"
            if float(text) == value:
                mantissa, exponent = text.split("e")
                return f"{mantissa}e{int(exponent)}"
    return repr(value)


# --- building and running -------------------------------------------------------------------------


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


def _restart_options(folder: Path, recipe: schema.Recipe, rerun: bool) -> dict[str, Any]:
    """A folder left by an interrupted run: resume it if it can be, else start it again in place."""
    if not folder.exists():
        return {}
    checkpoint = folder / rundir.CHECKPOINT / "progress.json"
    if not rerun and checkpoint.is_file() and _saved_recipe(folder) == recipe:
        return {"resume": folder}
    # Without this the run would go to `<name>-2`, outside the layout the sweep and compare read.
    return {"overwrite": True}


def _stale_note(folder: Path, recipe: schema.Recipe) -> str:
    if _saved_recipe(folder) == recipe:
        return ""
    return " (its recipe differs from what the sweep gives now; delete the folder to run it again)"


def _saved_recipe(folder: Path) -> schema.Recipe | None:
    try:
        return recipes.load(folder / "recipe.toml")
    except FtrunError:
        return None


def _write_report(folder: Path, say: Callable[[str], None]) -> None:
    from runner import compare
    from runner.report import write_report

    try:
        result = compare.compare([folder])
    except FtrunError as error:
        say(f"no report: {first_line(error)}")
        return
    for written in write_report(result, folder / "report"):
        say(f"wrote {written}")
    written_selection = _write_selection(result, folder / "report" / "selection.md")
    if written_selection:
        say(f"wrote {written_selection}")


def _write_selection(result: Any, path: Path) -> Path | None:
    """Until report.md carries it: the selected configuration per method, chosen on validation."""
    from runner import selection

    runs = [
        selection.run_result(run.name, run.metrics, run.recipe_text)
        for group in result.groups
        for run in group
    ]
    path.write_text(selection.to_markdown(selection.select(runs)))
    return path


def _free_accelerator_memory() -> None:
    # A failed run can leave its model on the GPU; the next combination needs that memory.
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        import gc

        gc.collect()
        torch.cuda.empty_cache()


def _is_main_process() -> bool:
    # Under `accelerate launch`/torchrun every process runs the sweep; one writes the report.
    return os.environ.get("RANK", "0") == "0"


def _echo(line: str) -> None:
    if _is_main_process():
        print(line, file=sys.stderr, flush=True)


def _toml_value(value: Any) -> str:
    return tomli_w.dumps({"v": value}).partition("=")[2].strip()


def _suggest(word: str, candidates: Any) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""
