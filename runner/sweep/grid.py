"""A `[sweep]` table -> its combinations: every axis checked, the grid expanded, each combination named.

Pure: no files and no recipes built; `runner.sweep.combinations` builds and checks one recipe per combination.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from typing import Any

from runner.errors import RecipeError
from runner.recipe import reading as recipes
from runner.recipe import schema
from runner.recipe.spelling import compact_number, suggest, toml_value

TABLE = "sweep"
METHOD_KEY = "method.name"
SEED_KEY = "train.seed"
# The sweep sets these per combination; an axis over them would put runs on top of each other.
RESERVED_KEYS = ("output.dir", "output.run_name")
# Readable short names where the key's last part alone would say little.
SHORT_KEYS = {"model.name": "model"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
_MAX_VALUE_CHARS = 40


@dataclasses.dataclass(frozen=True)
class Combination:
    name: str  # method first, then each varying axis, the seed last: lora-lr3e-4-seed2
    overrides: dict[str, Any]  # "section.key" -> TOML value, as `--set` would give them
    stage: str = ""  # an adaptive search's "search" or "confirm": the subfolder its run goes in

    def set_options(self) -> list[str]:
        """The overrides as `--set` takes them, e.g. `train.lr=0.0003`."""
        return [f"{key}={toml_value(value)}" for key, value in self.overrides.items()]


def expand(
    table: dict[str, Any],
    base_method: str,
    origin: str = "sweep",
    points: dict[str, list[dict[str, Any]]] | None = None,
) -> list[Combination]:
    """Every combination of a `[sweep]` table, in grid order; `base_method` is the recipe's method.

    `points` are each method's searched settings (`runner.sweep.search`): each joins every grid row.
    """
    axes, by_method = _parse_table(table, origin)
    if not axes and not by_method and not points:
        raise RecipeError(f'{origin}: no axes; add e.g. "train.seed" = [1, 2, 3]')
    methods_in_sweep = axes.get(METHOD_KEY, [base_method])
    for method in by_method:
        if method not in methods_in_sweep:
            raise RecipeError(
                f"{origin}: [{TABLE}.{method}] adds axes for method {method}, but no combination uses it "
                f"(methods in this sweep: {', '.join(map(str, methods_in_sweep))})"
            )
    searched = {key for settings in (points or {}).values() for point in settings for key in point}
    both = sorted(searched & {*axes, *(k for sub in by_method.values() for k in sub)})
    if both:
        raise RecipeError(f"{origin}: {both[0]} is both an axis and searched; keep one of them")
    grid: list[dict[str, Any]] = []
    for chosen in _product(axes):
        method = chosen.get(METHOD_KEY, base_method)
        for extra in _product(by_method.get(method, {})):
            for point in (points or {}).get(method, [{}]):
                grid.append({**chosen, **extra, **point})
    return _named(grid, base_method)


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
                    f"{origin}: [{TABLE}.{key}] is not a method{suggest(key, schema.METHODS)}; "
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
        raise RecipeError(f"{where}: unknown key {key}{suggest(key, recipes.every_key())}")
    if key in RESERVED_KEYS:
        raise RecipeError(f"{where}: {key} cannot be an axis: the sweep sets it for each combination")
    if not isinstance(values, list):
        example = toml_value(values)
        raise RecipeError(f"{where}: {key} must be a list of values, e.g. [{example}], got {example}")
    if not values:
        raise RecipeError(f"{where}: {key} is an empty list; give at least one value")
    repeated = [v for i, v in enumerate(values) if v in values[:i]]
    if repeated:
        raise RecipeError(f"{where}: {key} lists {toml_value(repeated[0])} twice")
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
