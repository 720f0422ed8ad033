"""export.json as compare reads it (`runner.rundir.exported`): the latency blocks and the int8 delta,
an export made before latency was timed, and a file that is not a record."""

from __future__ import annotations

import json

import pytest

from runner.errors import RunFolderError
from runner.rundir.exported import EngineLatency, ShippedLatency, read_export


def timed(p50: float) -> dict:
    return {
        "batch1_ms_p50": p50,
        "batch1_ms_p95": 2 * p50,
        "throughput_examples_per_s": 100.0 / p50,
        "throughput_batch_size": 32,
        "examples": 50,
    }


def write_export(run, **sections) -> None:
    (run / "export").mkdir(parents=True)
    record = {"check": {"metric": "accuracy", "pytorch_score": 0.8}, **sections}
    (run / "export" / "export.json").write_text(json.dumps(record))


def test_a_run_without_an_export_reads_as_none(tmp_path):
    assert read_export(tmp_path) is None


def test_the_latency_written_reads_back_the_same(tmp_path):
    latency = ShippedLatency(
        onnx=EngineLatency.from_measured(timed(4.0), "onnxruntime, 2 threads"),
        pytorch=EngineLatency.from_run_record(
            {**timed(8.0), "device": "cpu", "precision": "no", "threads": 2}
        ),
        onnx_int8=EngineLatency.from_measured(timed(2.0), "onnxruntime, 2 threads"),
    )
    write_export(tmp_path, latency=latency.to_json(), int8={"score_delta": -0.01})
    shipped = read_export(tmp_path)
    assert shipped is not None and shipped.latency == latency
    assert shipped.int8_score_delta == -0.01 and shipped.metric == "accuracy"
    assert latency.pytorch is not None and latency.pytorch.runs_on == "cpu, no, 2 threads"


def test_an_export_made_before_latency_was_timed_has_none(tmp_path):
    write_export(tmp_path)
    shipped = read_export(tmp_path)
    assert shipped is not None and shipped.latency is None and shipped.int8_score_delta is None


NOT_RECORDS = [
    "{not json",
    '{"check": {}}',
    '{"check": {"metric": "a", "pytorch_score": 1}, "latency": {"pytorch": null}}',  # no onnx block
]


@pytest.mark.parametrize("text", NOT_RECORDS)
def test_an_export_record_ftrun_cannot_read_is_one_line_naming_it(tmp_path, text):
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "export.json").write_text(text)
    with pytest.raises(RunFolderError, match="export.json: not an export record"):
        read_export(tmp_path)
