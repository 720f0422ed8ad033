"""Scoring a run: each task's metrics (`metrics`) and the one headline score it is ranked by
(`task_metrics`, read back with old runs' fallbacks by `headline`), statistics (Wilson intervals, exact
McNemar, the bootstrap: `stats`), batch-1 latency, and what a finished run reports in `metrics.json` and
`predictions.jsonl`.
"""
