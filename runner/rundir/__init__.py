"""The run folder, the contract between a run and everything that reads it (`compare`, `predict`,
`eval`, `resume`): its lifecycle (`folder`), files written atomically (`atomic`), and finished runs read
back whole (`finished`).

The names below are the stage's public face; `from runner import rundir` then `rundir.write_json(...)`.
"""

from runner.rundir.atomic import one_writer, read_jsonl, replacing, write_json, write_jsonl, write_text
from runner.rundir.folder import (
    CHECKPOINT,
    SCHEMA_VERSION,
    check_run_name,
    ensure_output_dir,
    ensure_writable_folder,
    existing_run_folder,
    finish_run_folder,
    new_run_folder,
    staged_for,
)

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
    "replacing",
    "staged_for",
    "write_json",
    "write_jsonl",
    "write_text",
]
