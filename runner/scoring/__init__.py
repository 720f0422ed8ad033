"""Scoring a run: the one headline score it is ranked by and its interval (`task_metrics`, over the
task's own metrics from `runner.tasks`; read back with old runs' fallbacks by `headline`), decision
thresholds tuned on validation, batch-1 latency, and what a finished run reports in `metrics.json` and
`predictions.jsonl`.
"""
