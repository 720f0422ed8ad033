"""What you would ship: per run with an ONNX export (`ftrun export`, in RUN/export), onnxruntime's
batch-1 latency and throughput, fp32 and int8, beside the run's own PyTorch timing, and what int8 did
to the headline metric. The numbers are export.json's (`runner.rundir.exported`); compare only shows
them, as fields of each run's row and as one table in report.md when some run has an export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.errors import RunFolderError
from runner.formatting import difference_text
from runner.rundir.exported import read_export

FIELDS = (
    "export_onnx_p50_ms",
    "export_onnx_p95_ms",
    "export_onnx_throughput_per_s",
    "export_int8_p50_ms",
    "export_int8_p95_ms",
    "export_int8_throughput_per_s",
    "export_int8_score_delta",
)


def export_fields(run_folder: Path) -> dict[str, Any]:
    """A run's row fields for its export; each None where it has none (or an export.json unreadable,
    which leaves the rest of the comparison whole)."""
    fields: dict[str, Any] = dict.fromkeys(FIELDS)
    try:
        shipped = read_export(run_folder)
    except RunFolderError:
        return fields
    if shipped is None:
        return fields
    fields["export_int8_score_delta"] = shipped.int8_score_delta
    latency = shipped.latency
    for prefix, timed in (("onnx", latency and latency.onnx), ("int8", latency and latency.onnx_int8)):
        if timed:
            fields[f"export_{prefix}_p50_ms"] = timed.p50_ms
            fields[f"export_{prefix}_p95_ms"] = timed.p95_ms
            fields[f"export_{prefix}_throughput_per_s"] = timed.throughput_per_s
    return fields


def has_export(row: dict[str, Any]) -> bool:
    return any(row.get(name) is not None for name in FIELDS)


def shipping_markdown(rows: list[dict[str, Any]]) -> list[str]:
    """The report's table of exported runs; no lines when no run has an export."""
    exported = [row for row in rows if has_export(row)]
    if not exported:
        return []
    lines = [
        "",
        "## What you would ship: onnxruntime latency fp32/int8 vs PyTorch, int8 metric delta",
        "",
        "Batch-1 latency p50/p95 (ms) and throughput at the eval batch size (examples/s), each engine timed "
        "the same way on the run's first eval examples: PyTorch by the run itself (on its device and "
        "precision), onnxruntime on the CPU when `ftrun export` made the graphs. The int8 delta is the "
        "int8 graph's headline metric minus PyTorch's on the examples the export was checked on.",
        "",
        "| run | method | PyTorch p50/p95 | PyTorch ex/s | ONNX fp32 p50/p95 | ONNX fp32 ex/s "
        "| ONNX int8 p50/p95 | ONNX int8 ex/s | int8 metric delta |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in exported:
        cells = [
            row["run"],
            row["method"],
            _pair(row["latency_p50_ms"], row["latency_p95_ms"]),
            _number(row["throughput_per_s"]),
            _pair(row["export_onnx_p50_ms"], row["export_onnx_p95_ms"]),
            _number(row["export_onnx_throughput_per_s"]),
            _pair(row["export_int8_p50_ms"], row["export_int8_p95_ms"]),
            _number(row["export_int8_throughput_per_s"]),
            _delta(row),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _pair(p50: float | None, p95: float | None) -> str:
    return "–" if p50 is None or p95 is None else f"{p50:.1f}/{p95:.1f}"


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _delta(row: dict[str, Any]) -> str:
    delta = row["export_int8_score_delta"]
    return "–" if delta is None else f"{difference_text(row['metric'], delta)} {row['metric']}"
