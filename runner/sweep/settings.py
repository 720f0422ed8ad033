"""Where and how many combinations run at once: the `[sweep.executor]` table, and the flags that override it.

```toml
[sweep.executor]
engine = "local"     # or any engine in runner.sweep.executors.REGISTRY: "slurm", "submitit-local"
parallel = 8         # combinations at once: one GPU each on an 8-GPU machine
```

`ftrun SWEEP.toml --parallel 8` says the same for one launch; a flag wins over the table. The keys
below are the ones every engine reads; an engine's own keys (SLURM's `partition`, ...) live in its
settings class, a subclass of `ExecutorSettings` in its module, which checks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner.errors import RecipeError
from runner.recipe import reading as recipes
from runner.recipe.fields import fields_of, option
from runner.recipe.spelling import suggest
from runner.sweep import executors

EXECUTOR = "executor"  # the [sweep.executor] sub-table: settings, not a method's axes
SECTION = f"sweep.{EXECUTOR}"


@dataclass
class ExecutorSettings:
    engine: str = option(
        "local",
        "`local`: the combinations run as processes on this machine. `slurm`: a SLURM job array "
        "through submitit (`pip install 'ftrun[slurm]'`), one task per combination. `submitit-local`: "
        "the same jobs through submitit's local executor, to try a cluster recipe on one machine.",
        choices=executors.ENGINE_NAMES,
    )
    parallel: int = option(
        1,
        "Combinations running at once. Locally each gets its own GPU (or `gpus_per_run` of them), or "
        "a share of the CPU cores; on SLURM it caps the array's running tasks (0: no cap).",
        minimum=0,
    )
    threads: int = option(
        0,
        "torch threads per combination (0: the machine's cores divided by `parallel`). A combination's "
        "CPU results depend on its thread count, never on what runs beside it: the same count "
        "reproduces a combination serially or in parallel.",
        minimum=0,
    )
    gpus_per_run: int = option(
        1,
        "GPUs per combination; above 1 each combination runs under `accelerate launch` with that many "
        "processes. Ignored on a machine without GPUs.",
        minimum=1,
    )
    time_minutes: float = option(
        24 * 60,
        "Time limit per combination, in minutes. On SLURM each task's time limit; here, a combination "
        "still running then is stopped as by Ctrl-C (it saves a checkpoint), listed as out of time, and "
        "resumes from that checkpoint on the next start: a hang costs that combination only.",
        minimum=0.01,
    )


def executor_settings(table: Any, origin: str, flags: dict[str, Any] | None = None) -> ExecutorSettings:
    """`[sweep.executor]` with the command line's flags (those given) over it, as the chosen engine's
    settings. Each key is checked by the engine that owns it, every problem at once; a key of another
    engine is checked but not used (a cluster recipe tried here with `--executor local`)."""
    if table is None:
        table = {}
    if not isinstance(table, dict):
        raise RecipeError(f"{origin}: [{SECTION}] must be a table, got {table!r}")
    given = {key: value for key, value in (flags or {}).items() if value is not None}
    if "engine" in given and given["engine"] not in executors.ENGINE_NAMES:
        raise RecipeError(
            f"--executor {given['engine']!r}: choose one of {', '.join(executors.ENGINE_NAMES)}"
        )
    values = {**table, **given}
    shared_keys = fields_of(ExecutorSettings)
    problems: list[str] = []
    shared = {key: value for key, value in values.items() if key in shared_keys}
    checked = recipes.checked_keys(SECTION, ExecutorSettings, shared, origin, problems)
    chosen = executors.executor_class(checked.get("engine", ExecutorSettings.engine)).settings_class
    for key, value in values.items():
        if key in shared_keys:
            continue
        owners = [cls for cls in settings_classes() if key in fields_of(cls)]
        if not owners:
            every_key = set(shared_keys).union(*(fields_of(cls) for cls in settings_classes()))
            problems.append(f"{origin}: unknown key {SECTION}.{key}{suggest(key, every_key, SECTION + '.')}")
            continue
        owner = chosen if chosen in owners else owners[0]
        own = recipes.checked_keys(SECTION, owner, {key: value}, origin, problems)
        if owner is chosen:
            checked.update(own)
    if problems:
        raise RecipeError(*problems)
    settings: ExecutorSettings = chosen(**checked)
    return settings


def settings_classes() -> list[type[ExecutorSettings]]:
    """Every registered engine's settings class, each once (SLURM and submitit-local share theirs)."""
    classes = [executors.executor_class(engine).settings_class for engine in executors.ENGINE_NAMES]
    return list(dict.fromkeys(classes))


def reference_tables() -> list[tuple[str, type]]:
    """`[sweep.executor]` for the recipe reference: the shared keys, then each engine's own."""
    return [(SECTION, ExecutorSettings), *((SECTION, cls) for cls in settings_classes())]
