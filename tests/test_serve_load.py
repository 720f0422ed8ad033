"""benchmarks/serve_load.py's logic on a tiny run: two clients, five requests, every bad request, and
the server stopped by SIGTERM."""

from __future__ import annotations

import importlib.util
import json

import pytest

from .conftest import REPO


def load_benchmark():
    spec = importlib.util.spec_from_file_location("serve_load", REPO / "benchmarks" / "serve_load.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # a fresh interpreter loads torch and the model before the first answer
def test_the_load_benchmark_counts_answers_refuses_bad_requests_and_stops_the_server(shipped_runs, tmp_path):
    benchmark = load_benchmark()
    out = tmp_path / "load.json"
    argv = [str(shipped_runs["single-bert-lora"]), "--engines", "pytorch", "--concurrency", "2"]
    result = benchmark.main(
        [*argv, "--requests", "5", "--level-seconds", "60", "--texts", "4", "--json", str(out)]
    )
    assert json.loads(out.read_text())["engines"][0]["levels"] == result["engines"][0]["levels"]
    (measured,) = result["engines"]
    (level,) = measured["levels"]
    assert level["concurrency"] == 2 and level["requests"] == 5
    assert level["answered"] == 5 and level["errors"] == 0 and not level["time_capped"]
    assert level["p50_ms"] <= level["p99_ms"] and level["throughput_per_s"] > 0
    assert level["peak_memory_mb"] > 50  # torch and a model are resident
    bad = {row["request"]: row for row in measured["malformed"]}
    assert set(bad) == set(benchmark.malformed_requests(False))
    assert all(row["is_4xx"] and row["health_after"] for row in bad.values()), bad
    assert bad["10 MB body"]["status"] == 413 and bad["not JSON"]["status"] == 400
    assert measured["health_at_end"] and measured["exit_code_after_sigterm"] == 0


def test_a_port_it_picks_is_free_on_loopback():
    import socket

    port = load_benchmark().free_port()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))  # nothing else holds it
