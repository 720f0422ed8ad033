"""The run folder, the contract between a run and everything that reads it (`compare`, `predict`,
`eval`, `resume`): its lifecycle (`folder`), files written atomically (`atomic`), what a finished run
reports as one typed record (`record`, metrics.json), finished runs read back whole (`finished`), and
a run's ONNX export as compare reads it (`exported`, export.json).

The names below are the stage's public face; `from runner import rundir` then `rundir.write_json(...)`.
"""

from runner.rundir.atomic import one_writer, read_jsonl, replacing, write_json, write_jsonl, write_text
from runner.rundir.folder import (
    CHECKPOINT,
    check_run_name,
    ensure_output_dir,
    ensure_writable_folder,
    existing_run_folder,
    finish_run_folder,
    new_run_folder,
    staged_for,
)
from runner.rundir.record import SCHEMA_VERSION, RunRecord, Scores
from runner.rundir.record import read as read_record
from runner.rundir.record import write as write_record

__all__ = [
    "CHECKPOINT",
    "SCHEMA_VERSION",
    "check_run_name",
    "ensure_output_dir",
    "ensure_writable_folder",
    "existing_run_folder",
    "finish_run_folder",
    "new_run_folder",
    "one_writer",
    "read_jsonl",
    "read_record",
    "replacing",
    "RunRecord",
    "Scores",
    "staged_for",
    "write_json",
    "write_jsonl",
    "write_record",
    "write_text",
]
