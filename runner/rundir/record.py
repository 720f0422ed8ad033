"""`metrics.json` as one typed record: what a finished run reports, written and read only here.

A run's record holds its scores on the eval split (the task, the headline metric, its score and
interval, and every other figure the task computes), its validation summary, what it cost (training
time, parameters, latency, peak memory) and how it computed (precision, kernels, device, versions).
On disk the scores stand at the top level beside the other keys, as every ftrun release has written
them; a reader of the file needs no ftrun. In code, `RunRecord.scores` holds them apart, so `ftrun eval`
replaces a run's scores wholesale (`with_scores`) and no list of score keys has to be kept.

Folders written by older releases keep loading (`from_json`): a run written before task types (no
`task`, `metric`, `score`) is a single-label run ranked by accuracy, its interval `accuracy_ci95` and its
validation score the validation accuracy. `read` checks a record whole and names the first problem, so
`compare` can skip a hand-edited or truncated folder with one line instead of failing.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner import registry
from runner.errors import RunFolderError, first_line
from runner.rundir.atomic import write_json

SCHEMA_VERSION = 1
FILE = "metrics.json"
# A run written before task types: its task and the metric it was ranked by.
OLDEST_TASK, OLDEST_METRIC = registry.DEFAULT_TASK, "accuracy"


@dataclass
class Scores:
    """One split's scores: the headline (`metric`, `score`, `score_ci95`) and every figure the task
    computed (`figures`: accuracy, F1s, per-class tables, thresholds...), keyed as metrics.json keys them."""

    task: str
    metric: str
    score: float
    score_ci95: tuple[float, float] | None
    figures: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        """A figure by name; the headline's own names too."""
        return {"metric": self.metric, "score": self.score, **self.figures}.get(name, default)

    def to_json(self) -> dict[str, Any]:
        interval = list(self.score_ci95) if self.score_ci95 else None
        return {
            "task": self.task,
            "metric": self.metric,
            "score": self.score,
            "score_ci95": interval,
            **self.figures,
        }

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> Scores:
        """From a task's metrics (`metric`, `score`, `score_ci95` and the rest) or a whole metrics.json's
        top level, old runs' included."""
        figures = {k: v for k, v in values.items() if k not in ("task", "metric", "score", "score_ci95")}
        if "score" in values:
            task, metric, score = values.get("task", OLDEST_TASK), values["metric"], values["score"]
            interval = values.get("score_ci95")
        else:  # before task types: ranked by accuracy
            task, metric, score = OLDEST_TASK, OLDEST_METRIC, values.get(OLDEST_METRIC)
            interval = values.get(f"{OLDEST_METRIC}_ci95")
        return cls(str(task), str(metric), score, _interval(interval), figures)


@dataclass
class TrainingCost:
    seconds: float = 0.0
    feature_extraction_seconds: float = 0.0
    steps: int = 0
    epochs: int = 0
    stopped_early: bool = False
    examples_seen: int = 0
    examples_per_s: float = 0.0
    tokens_per_s: float | None = None
    num_processes: int = 1
    effective_batch_size: int = 0


@dataclass
class Parameters:
    trainable: int = 0
    total: int = 0
    trainable_fraction: float = 0.0


@dataclass
class Environment:
    """How the run computed: `dropout_kernel` is "ftrun-cpu" or "torch", `attention` the kernels while
    training and serving, `fsdp` the sharding (None: none)."""

    precision: str = "fp32"
    dropout_kernel: str = "torch"
    attention: Any = None
    gradient_checkpointing: bool = False
    fsdp: str | None = None
    device: str = ""
    versions: dict[str, Any] = field(default_factory=dict)
    peak_memory_mb: dict[str, Any] | None = None


ENVIRONMENT_KEYS = [f.name for f in dataclasses.fields(Environment)]


@dataclass
class RunRecord:
    """What a finished run reports. Only `scores` is required, so a test or an older folder can make one
    from a few keys (`from_json`); `read` checks a folder's record is whole before anything uses it."""

    scores: Scores
    run_name: str = ""
    method: str = ""
    model: str = ""
    data: dict[str, Any] = field(default_factory=dict)  # source, splits, sizes, hashes, notes
    train: TrainingCost = field(default_factory=TrainingCost)
    params: Parameters = field(default_factory=Parameters)
    environment: Environment = field(default_factory=Environment)
    seed: int = 0
    data_seed: int = 0
    recipe_path: str = ""
    finished_at: str = ""
    model_path: str = ""
    pooling: str = ""
    validation: dict[str, Any] | None = None  # the scored weights on validation: metric, score, size...
    warnings: list[str] = field(default_factory=list)
    latency: dict[str, Any] | None = None
    latency_unmerged: dict[str, Any] | None = None  # adapter methods: adapters kept apart from the base
    extra: dict[str, Any] = field(default_factory=dict)  # what `ftrun eval` adds: evaluated_run, latency_from
    status: str = "finished"
    schema_version: int = SCHEMA_VERSION

    @property
    def task(self) -> str:
        return self.scores.task

    @property
    def metric(self) -> str:
        return self.scores.metric

    @property
    def score(self) -> float:
        """The headline score on the eval (test) split: a test figure, never read to choose."""
        return self.scores.score

    @property
    def validation_score(self) -> float | None:
        """The scored weights' headline score on the validation split; None for a run without one."""
        if not isinstance(self.validation, dict):
            return None
        value = self.validation.get("score", self.validation.get(OLDEST_METRIC))
        return value if _is_number(value) else None

    @property
    def eval_key(self) -> tuple[str, int]:
        """What makes two runs' test figures comparable: the same eval examples."""
        return (self.data["eval_hash"], self.data["eval_size"])

    def with_scores(self, scores: Scores, **changes: Any) -> RunRecord:
        """This record with another eval set's scores in place of all of its own (and other changes)."""
        return dataclasses.replace(self, scores=scores, **changes)

    def to_json(self) -> dict[str, Any]:
        """metrics.json's layout: the scores at the top level beside everything else."""
        environment = dataclasses.asdict(self.environment)
        return {
            "schema_version": self.schema_version,
            "status": self.status,
            "run_name": self.run_name,
            "recipe_path": self.recipe_path,
            "finished_at": self.finished_at,
            "method": self.method,
            "model": self.model,
            "model_path": self.model_path,
            "pooling": self.pooling,
            "data": self.data,
            **self.scores.to_json(),
            "validation": self.validation,
            "warnings": self.warnings,
            "latency": self.latency,
            "latency_unmerged": self.latency_unmerged,
            "train": dataclasses.asdict(self.train),
            "params": dataclasses.asdict(self.params),
            "peak_memory_mb": environment.pop("peak_memory_mb"),
            "seed": self.seed,
            "data_seed": self.data_seed,
            **environment,
            **self.extra,
        }

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> RunRecord:
        """A record from metrics.json's contents, as this or an older release wrote them."""
        rest = dict(values)
        taken = {name: rest.pop(name) for name in _TOP_LEVEL if name in rest}
        environment = {name: rest.pop(name) for name in ENVIRONMENT_KEYS if name in rest}
        extra = {name: rest.pop(name) for name in _EXTRA if name in rest}
        return cls(
            scores=Scores.from_json(rest),
            train=_dataclass_from(TrainingCost, taken.pop("train", {})),
            params=_dataclass_from(Parameters, taken.pop("params", {})),
            environment=_dataclass_from(Environment, environment),
            extra=extra,
            **taken,
        )


_RECORD_FIELDS = {f.name for f in dataclasses.fields(RunRecord)}
_TOP_LEVEL = sorted(_RECORD_FIELDS - {"scores", "train", "params", "environment", "extra"}) + [
    "train",
    "params",
]
_EXTRA = ("evaluated_run", "latency_from")


def write(folder: Path, record: RunRecord) -> Path:
    """metrics.json into `folder`, atomically; written last, it marks a finished run."""
    path = folder / FILE
    write_json(path, record.to_json())
    return path


def read(folder: Path) -> RunRecord:
    """A finished run's record, checked; a RunFolderError saying what is wrong otherwise."""
    path = folder / FILE
    if not path.exists():
        raise RunFolderError("unfinished: no metrics.json")
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as error:
        raise RunFolderError(f"corrupt metrics.json: {first_line(error)}") from None
    if not isinstance(values, dict):
        raise RunFolderError("corrupt metrics.json: not an object")
    version = values.get("schema_version")
    if version != SCHEMA_VERSION:
        raise RunFolderError(f"metrics.json schema_version {version!r}, this ftrun reads {SCHEMA_VERSION}")
    if values.get("status") != "finished":
        raise RunFolderError(f"status {values.get('status')!r}, not finished")
    check(values)
    try:
        return RunRecord.from_json(values)
    except TypeError as error:  # a field of the wrong shape that `check` does not look at
        raise RunFolderError(f"metrics.json does not fit this ftrun: {first_line(error)}") from None


# What the tables, tests and seed summaries read from every run's metrics.json, with each one's type.
_NUMBER = (int, float)
REQUIRED: dict[str, Any] = {
    "method": str,
    "model": str,
    "seed": int,
    "data.eval_hash": str,
    "data.eval_size": int,
    "data.train_size": int,
    "params.trainable": int,
    "params.trainable_fraction": _NUMBER,
    "train.seconds": _NUMBER,
}
# A run that records its headline score; one written before task types has accuracy in its place.
HEADLINE: dict[str, Any] = {"task": str, "metric": str, "score": _NUMBER, "score_ci95": list}
OLDEST_HEADLINE: dict[str, Any] = {OLDEST_METRIC: _NUMBER, f"{OLDEST_METRIC}_ci95": list}


def check(values: dict[str, Any]) -> None:
    """Every value the tables read is there with its type: a hand-edited file is skipped, never a crash.
    What a task's own figures must be is the task's to say (`runner.rundir.finished`)."""
    check_types(values, REQUIRED)
    key = "score" if "score" in values or "task" in values or "metric" in values else OLDEST_METRIC
    check_types(values, HEADLINE if key == "score" else OLDEST_HEADLINE)
    if key == "score":
        _check_task(values["task"], values["metric"])
    check_interval(values, "score_ci95" if key == "score" else f"{OLDEST_METRIC}_ci95")
    for name in ("latency", "peak_memory_mb"):  # optional sections, read with .get() when present
        if not isinstance(values.get(name) or {}, dict):
            raise RunFolderError(f"metrics.json {name} is not an object: {values[name]!r}")
    _check_validation(values, key)


def _check_task(task: str, metric: str) -> None:
    if task not in registry.TASKS:
        raise RunFolderError(f"metrics.json task {task!r} is not one of {', '.join(registry.TASKS)}")
    allowed = registry.task(task).metrics
    if metric not in allowed:
        raise RunFolderError(f"metrics.json metric {metric!r} is not one of {task}'s: {', '.join(allowed)}")


def check_types(values: dict[str, Any], required: dict[str, Any]) -> None:
    for key, kind in required.items():
        value: Any = values
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None or isinstance(value, bool) or not isinstance(value, kind):
            raise RunFolderError(f"metrics.json has no valid {key} (found {value!r})")


def check_interval(values: dict[str, Any], key: str) -> None:
    interval = values[key]
    if len(interval) != 2 or not all(_is_number(v) for v in interval):
        raise RunFolderError(f"metrics.json {key} is not [low, high]: {interval!r}")


def _check_validation(values: dict[str, Any], key: str) -> None:
    """`validation` is null (no validation split) or holds the score that selection chooses on: `score`
    in the run's own metric, or `accuracy` for a run written before task types."""
    validation = values.get("validation")
    if validation is None:
        return
    found = validation.get(key) if isinstance(validation, dict) else None
    if not _is_number(found):
        raise RunFolderError(f"metrics.json validation has no valid {key} (found {validation!r})")
    scored_by = validation.get("metric", values.get("metric"))
    if key == "score" and scored_by != values.get("metric"):
        raise RunFolderError(
            f"metrics.json validation is scored by {scored_by!r} but the run by {values.get('metric')!r}"
        )


def _dataclass_from(kind: type[Any], values: Any) -> Any:
    """A nested section, keeping the fields this release knows: a newer field is dropped, not fatal."""
    known = {f.name for f in dataclasses.fields(kind)}
    return kind(**{k: v for k, v in (values or {}).items() if k in known})


def _interval(value: Any) -> tuple[float, float] | None:
    return (value[0], value[1]) if isinstance(value, (list, tuple)) and len(value) == 2 else None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
