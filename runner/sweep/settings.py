"""Where and how many combinations run at once: the `[sweep.executor]` table, and the flags that override it.

```toml
[sweep.executor]
engine = "local"     # or "slurm" (a job array through submitit), "submitit-local"
parallel = 8         # combinations at once: one GPU each on an 8-GPU machine
```

`ftrun SWEEP.toml --parallel 8` says the same for one launch; a flag wins over the table.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from runner.errors import RecipeError
from runner.recipe import loading as recipes
from runner.recipe.executor import ENGINES, EXECUTOR, ExecutorSettings

__all__ = ["EXECUTOR", "ExecutorSettings", "executor_settings", "with_flags"]


def executor_settings(table: Any, origin: str) -> ExecutorSettings:
    """`[sweep.executor]` checked key by key (every problem at once)."""
    if table is None:
        table = {}
    if not isinstance(table, dict):
        raise RecipeError(f"{origin}: [sweep.{EXECUTOR}] must be a table, got {table!r}")
    problems: list[str] = []
    values = recipes.checked_keys(f"sweep.{EXECUTOR}", ExecutorSettings, table, origin, problems)
    if not isinstance(values.get("slurm_options", {}), dict):
        problems.append(f"{origin}: sweep.{EXECUTOR}.slurm_options must be a table")
    if problems:
        raise RecipeError(*problems)
    return ExecutorSettings(**values)


def with_flags(settings: ExecutorSettings, flags: dict[str, Any]) -> ExecutorSettings:
    """The command line's flags (those given) over the recipe's `[sweep.executor]`."""
    given = {key: value for key, value in flags.items() if value is not None}
    if given.get("engine", settings.engine) not in ENGINES:
        raise RecipeError(f"--executor {given['engine']!r}: choose one of {', '.join(ENGINES)}")
    return dataclasses.replace(settings, **given)
