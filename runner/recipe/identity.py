"""A recipe as flat `section.key` values, and what makes two runs one configuration with other seeds.

One definition serves every reader: `compare`'s seed summaries, selection on validation, and the
trackers' config. A configuration is the resolved recipe without `train.seed`, `output.*` and
`compare.*` (where a run is written, under what name, and how compare reads it say nothing of what it
computes).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:
    from runner.recipe.schema import Recipe

NOT_CONFIGURATION = ("train.seed", "output.", "compare.")  # none changes what a run computes


def as_tables(recipe: Recipe) -> dict[str, dict[str, Any]]:
    """The resolved recipe as TOML tables, method options flat in [method] as the user writes them."""
    tables = dataclasses.asdict(recipe)
    tables["method"].update(tables["method"].pop("options"))
    return tables


def flatten(tables: Mapping[str, Any]) -> dict[str, Any]:
    """`{"train": {"lr": 1e-4}}` -> `{"train.lr": 1e-4}`; top-level scalars (`extends`) are not settings."""
    return {
        f"{section}.{key}": value
        for section, values in tables.items()
        if isinstance(values, Mapping)
        for key, value in values.items()
    }


def settings(recipe_text: str) -> dict[str, Any] | None:
    """A run's resolved recipe.toml as flat settings; None if it is not valid TOML."""
    try:
        return flatten(tomllib.loads(recipe_text))
    except tomllib.TOMLDecodeError:
        return None


def configuration(recipe_text: str, run_name: str) -> dict[str, Any]:
    """The settings of a run's resolved recipe.toml that make its configuration (seed and output left out).

    An unreadable recipe is a configuration of its own, named after its run: never pooled with others."""
    flat = settings(recipe_text)
    if flat is None:
        return {"unreadable recipe": run_name}
    return {key: value for key, value in flat.items() if not key.startswith(NOT_CONFIGURATION)}


def configuration_key(settings: Mapping[str, Any]) -> str:
    """A configuration's settings as one comparable string."""
    return json.dumps(settings, sort_keys=True, default=str)
