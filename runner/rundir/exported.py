"""A run's ONNX export as compare reads it: `export.json`'s latency of each engine and the int8 metric
delta, written by `ftrun export` through the same types.

`export.json` sits in the export's folder (`RUN/export/` unless `ftrun export --out` put it elsewhere;
compare looks only there). Its `latency` section holds one block per engine, timed by one method
(`runner.scoring.latency.time_batches`): `pytorch`, copied from the run's own record (timed where and
as the run computed), and `onnx` and `onnx_int8`, timed by onnxruntime when the export was made. An
export written before latency was measured reads with `latency` None.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.errors import RunFolderError, first_line

FOLDER = "export"
RECORD = "export.json"


@dataclass(frozen=True)
class EngineLatency:
    """One engine's batch-1 latency and batched throughput, as `time_batches` measured them."""

    p50_ms: float
    p95_ms: float
    throughput_per_s: float
    throughput_batch_size: int
    examples: int
    runs_on: str  # "cpu, bf16, 2 threads" or "onnxruntime CPUExecutionProvider, 2 threads"

    @classmethod
    def from_measured(cls, measured: dict[str, Any], runs_on: str) -> EngineLatency:
        return cls(
            p50_ms=float(measured["batch1_ms_p50"]),
            p95_ms=float(measured["batch1_ms_p95"]),
            throughput_per_s=float(measured["throughput_examples_per_s"]),
            throughput_batch_size=int(measured["throughput_batch_size"]),
            examples=int(measured["examples"]),
            runs_on=runs_on,
        )

    @classmethod
    def from_run_record(cls, latency: dict[str, Any]) -> EngineLatency:
        """The run's own PyTorch timing (`RunRecord.latency`), with where it ran."""
        where = (latency.get("device", "?"), latency.get("precision", "?"), latency.get("threads", "?"))
        runs_on = f"{where[0]}, {where[1]}, {where[2]} threads"
        return cls.from_measured(latency, runs_on)

    def to_json(self) -> dict[str, Any]:
        return {
            "batch1_ms_p50": self.p50_ms,
            "batch1_ms_p95": self.p95_ms,
            "throughput_examples_per_s": self.throughput_per_s,
            "throughput_batch_size": self.throughput_batch_size,
            "examples": self.examples,
            "runs_on": self.runs_on,
        }


@dataclass(frozen=True)
class ShippedLatency:
    """export.json's `latency`: PyTorch's (None where the run timed none) beside the graphs'."""

    onnx: EngineLatency
    pytorch: EngineLatency | None = None
    onnx_int8: EngineLatency | None = None

    def to_json(self) -> dict[str, Any]:
        blocks = {"pytorch": self.pytorch, "onnx": self.onnx, "onnx_int8": self.onnx_int8}
        return {name: None if block is None else block.to_json() for name, block in blocks.items()}

    @classmethod
    def from_json(cls, section: dict[str, Any]) -> ShippedLatency:
        def block(name: str) -> EngineLatency | None:
            value = section.get(name)
            if value is None:
                return None
            return EngineLatency.from_measured(value, str(value.get("runs_on", "")))

        onnx = block("onnx")
        if onnx is None:
            raise KeyError("onnx")
        return cls(onnx=onnx, pytorch=block("pytorch"), onnx_int8=block("onnx_int8"))


@dataclass(frozen=True)
class Exported:
    """What compare shows of a run's export."""

    folder: Path
    metric: str
    pytorch_score: float
    int8_score_delta: float | None  # int8's headline metric minus PyTorch's; None without an int8 graph
    latency: ShippedLatency | None  # None for an export made before latency was measured


def read_export(run_folder: Path) -> Exported | None:
    """The run's export (RUN/export/export.json); None where it has none. A file that cannot be read
    as one is a RunFolderError naming it."""
    path = run_folder / FOLDER / RECORD
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        int8 = data.get("int8")
        latency = data.get("latency")
        return Exported(
            folder=path.parent,
            metric=str(data["check"]["metric"]),
            pytorch_score=float(data["check"]["pytorch_score"]),
            int8_score_delta=None if int8 is None else float(int8["score_delta"]),
            latency=None if latency is None else ShippedLatency.from_json(latency),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise RunFolderError(f"{path}: not an export record ftrun can read: {first_line(error)}") from None
