"""`ftrun serve` under load and under bad input, on loopback only, bounded in count and time.

Usage, from the repository root (a finished run; `ftrun export RUN --quantize int8` first for the
ONNX engines):
    python benchmarks/serve_load.py outputs/quickstart --json serve_load.json

For each engine (PyTorch, `--onnx`, `--int8`; `--engines` picks) it starts `ftrun serve RUN` on a free
127.0.0.1 port in a process of its own, waits for `GET /health`, sends a few untimed requests, then at
each concurrency (1, 8 and 32 clients; `--concurrency`) sends at most `--requests` requests (200) for
at most `--level-seconds` (60 s). Each request is one text, `{"texts": [text]}`: batch-1 serving from
the client's side, the server batching what arrives together. The texts are the run's own eval
examples, read again from its data source, in turn. Per level it reports throughput (answered
requests per second of the level's wall time), p50 and p99 latency of the answered ones, errors (any
answer but 200, or no answer), and the server's peak resident memory so far (the kernel's high-water
mark, VmHWM, where /proc has it; else psutil's RSS sampled every 50 ms).

Then it sends the malformed requests (not JSON, wrong types, an empty list, a 10 MB body, an unknown
field, an empty text, a text of a million characters), checks that each is answered 4xx and that
`/health` still answers 200 after it, stops the server with SIGTERM and records its exit code.

It prints a Markdown table with the date, machine and load average, and writes everything as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
ENGINES = {"pytorch": [], "onnx": ["--onnx"], "int8": ["--int8"]}
ENGINE_NAMES = {"pytorch": "PyTorch", "onnx": "ONNX fp32", "int8": "ONNX int8"}
WARMUP_REQUESTS = 5
START_SECONDS = 180  # loading a model (and torch) on a busy machine
STOP_SECONDS = 30


def free_port() -> int:
    """A port nothing listens on now, on loopback (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def eval_inputs(run: Path, count: int) -> list[Any]:
    """The run's first `count` eval texts (or pairs), as `ftrun export` reads them to check a graph."""
    sys.path.insert(0, str(REPO))
    from runner.use.export_check import check_examples

    return list(check_examples(run, count).inputs())


def percentile(sorted_values: list[float], share: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, round(share * (len(sorted_values) - 1)))]


class PeakMemory:
    """The server's peak resident memory: VmHWM from /proc (exact), else psutil's RSS, sampled."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.status = Path(f"/proc/{pid}/status")
        self.sampled_mb = 0.0
        self.source = "VmHWM" if self.status.is_file() else "psutil RSS sampled every 50 ms"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.source != "VmHWM":
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()

    def _sample(self) -> None:
        import psutil

        process = psutil.Process(self.pid)
        while not self._stop.wait(0.05):
            try:
                self.sampled_mb = max(self.sampled_mb, process.memory_info().rss / 2**20)
            except psutil.Error:
                return

    def peak_mb(self) -> float | None:
        if self.source == "VmHWM":
            for line in self.status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
            return None
        return self.sampled_mb or None

    def stop(self) -> None:
        self._stop.set()


def start_server(run: Path, flags: list[str], port: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "runner", "serve", str(run), "--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.setdefault("HF_HUB_OFFLINE", "1")
    with log.open("w") as out:
        return subprocess.Popen([*command, *flags], stdout=out, stderr=subprocess.STDOUT, env=env)


def wait_for_health(server: subprocess.Popen, base: str, log: Path) -> dict[str, Any]:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}:\n{log.read_text()[-2000:]}")
        try:
            answer = httpx.get(f"{base}/health", timeout=2)
            if answer.status_code == 200:
                return dict(answer.json())
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"no /health answer in {START_SECONDS} s:\n{log.read_text()[-2000:]}")


def body_for(item: Any, pairs: bool) -> dict[str, Any]:
    return {"pairs": [list(item)]} if pairs else {"texts": [item]}


async def load_level(
    base: str, inputs: list[Any], pairs: bool, clients: int, requests: int, seconds: float
) -> dict[str, Any]:
    """`clients` concurrent clients sending one-text requests until `requests` are sent or `seconds` pass."""
    latencies_ms: list[float] = []
    errors: list[str] = []
    sent = 0
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal sent
        while sent < requests and time.monotonic() < deadline:
            item = inputs[sent % len(inputs)]
            sent += 1
            started = time.perf_counter()
            try:
                answer = await http.post(f"{base}/predict", json=body_for(item, pairs))
            except httpx.HTTPError as error:
                errors.append(type(error).__name__)
                continue
            if answer.status_code == 200:
                latencies_ms.append((time.perf_counter() - started) * 1000)
            else:
                errors.append(str(answer.status_code))

    started = time.perf_counter()
    async with httpx.AsyncClient(limits=limits, timeout=max(seconds, 10)) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    wall = time.perf_counter() - started
    latencies_ms.sort()
    return {
        "concurrency": clients,
        "requests": sent,
        "answered": len(latencies_ms),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "seconds": wall,
        "time_capped": sent < requests,
        "throughput_per_s": len(latencies_ms) / wall,
        "p50_ms": statistics.median(latencies_ms) if latencies_ms else None,
        "p99_ms": percentile(latencies_ms, 0.99),
    }


def malformed_requests(pairs: bool) -> dict[str, tuple[bytes, str]]:
    """Each bad request's body and what it is; none of them may be answered but with a 4xx."""
    key = "pairs" if pairs else "texts"

    def encoded(body: Any) -> bytes:
        return json.dumps(body).encode()

    def one(text: str) -> Any:
        return [[text, text]] if pairs else [text]

    return {
        "not JSON": (b"this is not json {", "application/json"),
        "wrong types (a string for the list)": (encoded({key: "a text"}), "application/json"),
        "wrong types (numbers for texts)": (encoded({key: [1, 2]}), "application/json"),
        "empty list": (encoded({key: []}), "application/json"),
        "10 MB body": (encoded({key: one("a" * 10_000_000)}), "application/json"),
        "unknown field": (encoded({key: one("a good film"), "temperature": 2}), "application/json"),
        "empty text": (encoded({key: one("")}), "application/json"),
        "a million characters": (encoded({key: one("a" * 1_000_000)}), "application/json"),
    }


def send_malformed(base: str, pairs: bool) -> list[dict[str, Any]]:
    results = []
    with httpx.Client(timeout=30) as http:
        for name, (body, content_type) in malformed_requests(pairs).items():
            try:
                answer = http.post(f"{base}/predict", content=body, headers={"content-type": content_type})
                status, error = answer.status_code, answer.json().get("error", "")
            except (httpx.HTTPError, ValueError) as failure:
                status, error = None, f"{type(failure).__name__}: {failure}"
            try:
                healthy = http.get(f"{base}/health").status_code == 200
            except httpx.HTTPError:
                healthy = False
            results.append(
                {
                    "request": name,
                    "bytes": len(body),
                    "status": status,
                    "error": error,
                    "is_4xx": status is not None and 400 <= status < 500,
                    "health_after": healthy,
                }
            )
    return results


def stop_server(server: subprocess.Popen) -> int | None:
    """SIGTERM, then its exit code (a kill, and None, if it does not exit in time)."""
    server.send_signal(signal.SIGTERM)
    try:
        return server.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
        return None


def measure_engine(run: Path, engine: str, inputs: list[Any], args: argparse.Namespace, logs: Path) -> dict:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = logs / f"serve-{engine}.log"
    server = start_server(run, ENGINES[engine], port, log)
    memory = PeakMemory(server.pid)
    try:
        health = wait_for_health(server, base, log)
        pairs = health["input"] == "pairs"
        with httpx.Client(timeout=60) as http:  # untimed: first shapes, first batches
            for item in inputs[:WARMUP_REQUESTS]:
                http.post(f"{base}/predict", json=body_for(item, pairs)).raise_for_status()
        levels = []
        for clients in args.concurrency:
            level = asyncio.run(load_level(base, inputs, pairs, clients, args.requests, args.level_seconds))
            level["peak_memory_mb"] = memory.peak_mb()
            levels.append(level)
            print(f"{engine} x{clients}: {level}", file=sys.stderr)
        malformed = send_malformed(base, pairs)
        health_at_end = httpx.get(f"{base}/health", timeout=10).status_code == 200
    finally:
        memory.stop()
        exit_code = stop_server(server)
    return {
        "engine": engine,
        "serve_flags": ENGINES[engine],
        "health": health,
        "memory_source": memory.source,
        "levels": levels,
        "malformed": malformed,
        "health_at_end": health_at_end,
        "exit_code_after_sigterm": exit_code,
    }


def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line
        ]
        model = names[0] if names else model
    return {"cpu": model, "cpus": os.cpu_count(), "python": platform.python_version()}


def markdown(result: dict[str, Any]) -> str:
    def number(value: float | None, spec: str) -> str:
        return "–" if value is None else format(value, spec)

    lines = [
        f"{result['date']} · {result['machine']['cpu']} · {result['machine']['cpus']} CPUs · load average "
        f"{result['load_average_start'][0]:.2f} at the start, {result['load_average_end'][0]:.2f} at the end",
        "",
        "| engine | clients | requests | throughput (req/s) | p50 ms | p99 ms | errors | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for measured in result["engines"]:
        for level in measured["levels"]:
            cells = [
                ENGINE_NAMES[measured["engine"]],
                str(level["concurrency"]),
                f"{level['requests']}{' (time cap)' if level['time_capped'] else ''}",
                f"{level['throughput_per_s']:.1f}",
                number(level["p50_ms"], ".1f"),
                number(level["p99_ms"], ".1f"),
                str(level["errors"]),
                number(level["peak_memory_mb"], ".0f"),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "| bad request | " + " | ".join(ENGINE_NAMES[m["engine"]] for m in result["engines"]) + " |",
    ]
    lines.append("|---|" + "---|" * len(result["engines"]))
    names = [row["request"] for row in result["engines"][0]["malformed"]] if result["engines"] else []
    for index, name in enumerate(names):
        cells = []
        for measured in result["engines"]:
            row = measured["malformed"][index]
            cells.append(f"{row['status']}, health {'ok' if row['health_after'] else 'FAILED'}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines += [
        f"- {ENGINE_NAMES[m['engine']]}: /health at the end {'ok' if m['health_at_end'] else 'FAILED'}, "
        f"exit code after SIGTERM {m['exit_code_after_sigterm']}"
        for m in result["engines"]
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", type=Path, help="A finished run's folder.")
    parser.add_argument("--engines", nargs="+", choices=list(ENGINES), default=list(ENGINES))
    parser.add_argument("--concurrency", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=200, help="Most requests per concurrency level.")
    parser.add_argument("--level-seconds", type=float, default=60.0, help="Most seconds per level.")
    parser.add_argument("--texts", type=int, default=256, help="Eval examples the requests cycle through.")
    parser.add_argument("--json", type=Path, default=Path("serve_load.json"), help="Where to write JSON.")
    args = parser.parse_args(argv)
    inputs = eval_inputs(args.run, args.texts)
    result: dict[str, Any] = {
        "command": " ".join(
            ["python", "benchmarks/serve_load.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average_start": os.getloadavg(),
        "run": str(args.run.resolve()),
        "settings": {k: v for k, v in vars(args).items() if k not in ("run", "json")},
        "engines": [],
    }
    with tempfile.TemporaryDirectory(prefix="serve-load-") as logs:
        for engine in args.engines:
            result["engines"].append(measure_engine(args.run, engine, inputs, args, Path(logs)))
    result["load_average_end"] = os.getloadavg()
    args.json.write_text(json.dumps(result, indent=2, default=str))
    print(markdown(result))
    return result


if __name__ == "__main__":
    main()
