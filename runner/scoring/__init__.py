"""Scoring a run: classification metrics, exact statistics (Wilson intervals, McNemar), batch-1 latency,
and what a finished run reports in `metrics.json` and `predictions.jsonl`.
"""
