"""An equal tuning budget per method: `[sweep.search]` draws the same number of settings for each.

```toml
[sweep]
"method.name" = ["full", "lora", "linear"]
"train.seed" = [1, 2]
[sweep.search]
trials = 6                                            # settings per method, the same for every method
"train.lr" = { low = 1e-5, high = 1e-3, log = true }
[sweep.search.lora]                                   # a method's own range replaces the shared one
"train.lr" = { low = 1e-4, high = 1e-2, log = true }
```

Each method gets `trials` points of a scrambled Halton sequence (`scipy.stats.qmc`, seeded by `seed`)
mapped onto its ranges: quasi-random search, which covers a range more evenly than random draws and,
unlike a sequential sampler (TPE), fixes every combination before any runs. So a searched sweep is an
ordinary sweep: it runs in parallel or on SLURM, resumes, and `compare` chooses each method's setting
on validation, every method having had the same number of tries. Numbers are rounded to two
significant digits (readable names, no near-duplicate runs); a point that rounds onto an earlier one
is replaced by the next of the sequence.

`mode = "optuna"` searches adaptively instead (`runner.sweep.adaptive`): each method's `trials` are
asked of an Optuna study (TPE, seeded) one at a time as slots free up, pruned on the validation score
after each epoch, on the first seed listed; then each method's best setting runs on every seed.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from runner.errors import RecipeError
from runner.recipe import reading as recipes
from runner.recipe import schema

SEARCH = "search"  # the [sweep.search] sub-table
_SETTINGS = ("trials", "seed", "mode", "pruner")
QUASI_RANDOM, OPTUNA = "quasi-random", "optuna"
MODES = (QUASI_RANDOM, OPTUNA)
PRUNERS = ("halving", "hyperband", "none")


@dataclasses.dataclass(frozen=True)
class SearchSpec:
    """`[sweep.search]` read and checked: how each method is searched, with what budget."""

    mode: str
    trials: int  # per method, the same for every method
    seed: int
    pruner: str  # optuna mode: stops a trial whose validation score trails after an epoch
    ranges: dict[str, dict[str, dict[str, Any]]]  # method -> "section.key" -> checked range

    @property
    def adaptive(self) -> bool:
        return self.mode == OPTUNA


def draw(table: Any, methods: list[str], origin: str) -> dict[str, list[dict[str, Any]]]:
    """Each method's `trials` settings from the `[sweep.search]` table; every problem in one error."""
    spec = read_search(table, methods, origin)
    return {method: _points(ranges, spec.trials, spec.seed) for method, ranges in spec.ranges.items()}


def read_search(table: Any, methods: list[str], origin: str) -> SearchSpec:
    """The `[sweep.search]` table checked: its settings and each method's ranges."""
    where = origin  # "<file>: [sweep.search]"
    if not isinstance(table, dict):
        raise RecipeError(f"{where} must be a table, got {table!r}")
    trials, seed = table.get("trials"), table.get("seed", 0)
    mode, pruner = table.get("mode", QUASI_RANDOM), table.get("pruner", "halving")
    if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
        raise RecipeError(f"{where}: trials must be a whole number of settings per method, at least 1")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise RecipeError(f"{where}: seed must be an integer, got {seed!r}")
    for key, value, choices in (("mode", mode, MODES), ("pruner", pruner, PRUNERS)):
        if value not in choices:
            raise RecipeError(f"{where}: {key} must be one of {', '.join(choices)}, got {value!r}")
    shared = {k: _checked_range(k, v, where) for k, v in table.items() if k not in _SETTINGS and "." in k}
    own: dict[str, dict[str, Any]] = {}
    for key, value in table.items():
        if key in _SETTINGS or "." in key:
            continue
        if key not in methods or not isinstance(value, dict):
            raise RecipeError(
                f"{where}: {key!r} is neither a setting (trials, seed), a quoted key such as "
                f'"train.lr", nor a method of this sweep ({", ".join(methods)})'
            )
        own[key] = {k: _checked_range(k, v, f"{where.removesuffix(']')}.{key}]") for k, v in value.items()}
    ranges = {}
    for method in methods:
        ranges[method] = {**shared, **own.get(method, {})}
        if not ranges[method]:
            raise RecipeError(f"{where}: nothing to search for method {method}; give a range")
    return SearchSpec(str(mode), trials, seed, str(pruner), ranges)


def _checked_range(key: str, spec: Any, where: str) -> dict[str, Any]:
    section, _, name = key.partition(".")
    if recipes.key_owner(section, name) is None:
        raise RecipeError(f"{where}: unknown key {key}")
    if key in ("method.name", "train.seed", "output.dir", "output.run_name"):
        raise RecipeError(f"{where}: {key} cannot be searched; make it an axis of [sweep]")
    example = "{ low = 1e-5, high = 1e-3, log = true } or { choices = [8, 16] }"
    if not isinstance(spec, dict) or not ({"low", "high"} <= spec.keys() or "choices" in spec):
        raise RecipeError(f"{where}: {key} must be a range, e.g. {example}")
    if "choices" in spec:
        if not isinstance(spec["choices"], list) or not spec["choices"]:
            raise RecipeError(f"{where}: {key}.choices must be a non-empty list")
        return {"choices": spec["choices"]}
    low, high, log = spec["low"], spec["high"], spec.get("log", False)
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high))
    if not numbers or not low < high:
        raise RecipeError(f"{where}: {key} needs numbers low < high, got low = {low!r}, high = {high!r}")
    if log and low <= 0:
        raise RecipeError(f"{where}: {key} with log = true needs low > 0, got {low!r}")
    whole = (
        isinstance(low, int)
        and isinstance(high, int)
        and schema.field_types(
            recipes.key_owner(section, name)  # type: ignore[arg-type]
        )[name]
        is int
    )
    return {"low": low, "high": high, "log": bool(log), "int": whole}


def _points(ranges: dict[str, dict[str, Any]], trials: int, seed: int) -> list[dict[str, Any]]:
    from scipy.stats import qmc

    keys = list(ranges)
    sequence = qmc.Halton(d=len(keys), scramble=True, seed=seed)
    points: list[dict[str, Any]] = []
    for _ in range(64):  # enough to get past points that round onto earlier ones
        for unit in sequence.random(trials):
            point = {key: _value(ranges[key], float(u)) for key, u in zip(keys, unit, strict=True)}
            if point not in points:
                points.append(point)
            if len(points) == trials:
                return points
    return points  # a range with fewer distinct values than trials: every one of them


def _value(spec: dict[str, Any], unit: float) -> Any:
    if "choices" in spec:
        return spec["choices"][min(int(unit * len(spec["choices"])), len(spec["choices"]) - 1)]
    low, high = spec["low"], spec["high"]
    if spec["int"]:
        top = high + 1  # every whole number from low to high alike
        value = (
            math.exp(math.log(low) + unit * (math.log(top) - math.log(low)))
            if spec["log"]
            else low + unit * (top - low)
        )
        return min(int(value), high)
    value = (
        math.exp(math.log(low) + unit * (math.log(high) - math.log(low)))
        if spec["log"]
        else low + unit * (high - low)
    )
    return float(f"{value:.1e}")  # two significant digits
