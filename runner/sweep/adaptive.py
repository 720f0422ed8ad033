"""`[sweep.search] mode = "optuna"`: a sweep's combinations as slots, searched on one seed, then confirmed.

The combinations of an adaptive search are fixed before any runs, so the launcher, the claims, the
executors and resuming treat them like a grid's; only their searched settings are not. Each method gets
`trials` search slots (`<sweep>/search/<method>-trial01`...) on the first seed listed, whose settings
its worker asks of the method's Optuna study when it starts (`runner.sweep.studies`), and one
confirmation per seed listed (`<sweep>/confirm/<method>-seed1`...), which runs the method's best
setting once its search has ended (on the search's own seed that run is the best trial's, so the
worker copies its folder instead of training it again). The report reads the confirmations only:
the runs it compares were made alike, each method's at the one setting its search chose on validation.

Pure: no optuna and no files here.
"""

from __future__ import annotations

from typing import Any

from runner.errors import RecipeError
from runner.recipe import schema
from runner.sweep.grid import METHOD_KEY, SEED_KEY, Combination, expand
from runner.sweep.search import SearchSpec

SEARCH_STAGE, CONFIRM_STAGE = "search", "confirm"


def slots(
    table: dict[str, Any], base_method: str, base_seed: int, spec: SearchSpec, origin: str
) -> list[Combination]:
    """Every method's search slots, then its confirmations: one per seed listed (or the recipe's)."""
    seeds = table.get(SEED_KEY, [base_seed])
    rest = {key: value for key, value in table.items() if key != SEED_KEY}
    rows = expand(rest, base_method, origin) if rest else [Combination(base_method, {})]
    by_method: dict[str, dict[str, Any]] = {}
    for row in rows:
        method = str(row.overrides.get(METHOD_KEY, base_method))
        if method in by_method:
            varying = sorted(k for k in row.overrides if row.overrides[k] != by_method[method].get(k))
            raise RecipeError(
                f'{origin}: mode = "optuna" searches each method\'s settings; '
                f"{varying[0] if varying else 'an axis'} has several values for {method}: "
                "make it a searched range, e.g. { choices = [...] }"
            )
        by_method[method] = {**row.overrides, METHOD_KEY: method}
    width = len(str(spec.trials))
    found = []
    for method, fixed in by_method.items():
        found += [
            Combination(f"{method}-trial{n:0{width}d}", {**fixed, SEED_KEY: seeds[0]}, SEARCH_STAGE)
            for n in range(1, spec.trials + 1)
        ]
        found += [Combination(f"{method}-seed{s}", {**fixed, SEED_KEY: s}, CONFIRM_STAGE) for s in seeds]
    return found


def method_of(combination: Combination) -> str:
    return str(combination.overrides[METHOD_KEY])


def slot_number(combination: Combination) -> int:
    """A search slot's number (1, 2, ...): it seeds the sampler in the worker that fills it."""
    return int(combination.name.rpartition("-trial")[2])


def bound_settings(ranges: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Settings at the ends of each range and every choice: a recipe built with each checks the ranges
    against the schema (type, limits) before anything runs."""
    widest = max((len(r["choices"]) for r in ranges.values() if "choices" in r), default=2)
    settings = []
    for index in range(max(widest, 2)):
        point = {}
        for key, spec in ranges.items():
            if "choices" in spec:
                point[key] = spec["choices"][min(index, len(spec["choices"]) - 1)]
            else:
                point[key] = spec["low"] if index == 0 else spec["high"]
        settings.append(point)
    return settings


def check_validation(recipe: schema.Recipe, origin: str) -> None:
    """An adaptive search scores every trial on validation: a recipe without a validation split cannot."""
    if not recipe.data.validation_split and not recipe.data.validation_size:
        raise RecipeError(
            f'{origin}: mode = "optuna" chooses on the validation split, and this recipe has none: '
            "set data.validation_split or data.validation_size (the test split is never searched on)"
        )
