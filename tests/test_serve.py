"""`ftrun serve`: answers in each task's shape (predict's rows), batches requests that arrive together
into one forward pass, refuses bad requests with a 4xx and one-line JSON and keeps answering, and
exits 0 on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from runner.use.payloads import Limits
from runner.use.serve import create_app, load_service

from .conftest import REPO, ftrun_in_process


def client_for(service, limits: Limits | None = None, max_wait_ms: float = 5.0):
    from fastapi.testclient import TestClient

    return TestClient(create_app(service, limits or Limits(), max_wait_ms))


def predicted_rows(monkeypatch, capsys, run: Path, *args: str) -> list[dict]:
    """What `ftrun predict --json` prints, less the echoed texts."""
    code, out, _ = ftrun_in_process(monkeypatch, capsys, "predict", str(run), *args, "--json")
    assert code in (0, None)
    rows = [json.loads(line) for line in out.splitlines()]
    return [{k: v for k, v in row.items() if k not in ("text", "text_pair")} for row in rows]


def assert_rows_close(got: list[dict], expected: list[dict]) -> None:
    assert len(got) == len(expected)
    for answer, row in zip(got, expected, strict=True):
        assert answer.keys() == row.keys()
        for key, value in row.items():
            if isinstance(value, dict):
                assert answer[key] == pytest.approx(value, abs=1e-5)
            elif isinstance(value, float):
                assert answer[key] == pytest.approx(value, abs=1e-5)
            else:
                assert answer[key] == value


CASES = {
    "single-bert-lora": ({"texts": ["a great film", "dull and awful"]}, ("a great film", "dull and awful")),
    "multi-bert-full": ({"texts": ["great plot", "boring"]}, ("great plot", "boring")),
    "regression-bert-full": ({"texts": ["great fun", "the film"]}, ("great fun", "the film")),
    "pairs-bert-full": (
        {"pairs": [["great", "superb"], ["awful", "great"]]},
        ("great", "awful", "--pair", "superb", "--pair", "great"),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_predict_answers_each_task_with_the_rows_ftrun_predict_prints(
    shipped_runs, name, monkeypatch, capsys
):
    body, predict_args = CASES[name]
    service = load_service(shipped_runs[name], False, False, None, "cpu", max_batch=8)
    with client_for(service) as client:
        response = client.post("/predict", json=body)
        health = client.get("/health").json()
    assert response.status_code == 200, response.text
    assert_rows_close(
        response.json()["predictions"], predicted_rows(monkeypatch, capsys, shipped_runs[name], *predict_args)
    )
    assert health["status"] == "ok" and health["engine"] == "pytorch" and health["input"] == list(body)[0]


def test_requests_that_arrive_together_share_one_forward_pass(shipped_runs):
    import httpx

    service = load_service(shipped_runs["single-bert-lora"], False, False, None, "cpu", max_batch=8)
    batch_sizes: list[int] = []
    service.model.classifier.register_forward_hook(
        lambda module, args, output: batch_sizes.append(len(args[0]))
    )
    app = create_app(service, Limits(), max_wait_ms=2000)  # long enough for all 8 to gather
    texts = [f"{word} film" for word in ("great", "awful", "fun", "dull", "superb", "weak", "moving", "mess")]

    async def send_together() -> list[dict]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://serve") as client:
                posts = [client.post("/predict", json={"texts": [text]}) for text in texts]
                return [response.json() for response in await asyncio.gather(*posts)]

    started = time.monotonic()
    answers = asyncio.run(send_together())
    assert batch_sizes == [8] and time.monotonic() - started < 2.0  # full: it did not wait out the 2 s
    alone = service.score(texts)  # each text's answer is its own, not a neighbour's
    for answer, expected in zip(answers, alone, strict=True):
        assert_rows_close(answer["predictions"], [expected])


BAD_REQUESTS = {
    "not JSON": (b"{texts: nope", 400),
    "a list, not an object": (b'["a great film"]', 422),
    "texts not a list": (b'{"texts": "a great film"}', 422),
    "a number for a text": (b'{"texts": [1, 2]}', 422),
    "a pair for a single-text model": (b'{"texts": [["a", "b"]]}', 422),
    "pairs for a single-text model": (b'{"pairs": [["a", "b"]]}', 422),
    "an empty list": (b'{"texts": []}', 422),
    "an unknown field": (b'{"texts": ["fine"], "top_k": 3}', 422),
    "an empty text": (b'{"texts": ["fine", "  "]}', 422),
    "a text of a million characters": (json.dumps({"texts": ["a" * 1_000_000]}).encode(), 422),
    "a 10 MB body": (json.dumps({"texts": ["great " * 1000] * 1700}).encode(), 413),
    "too many texts": (json.dumps({"texts": ["fine"] * 65}).encode(), 422),
    "not UTF-8": (b'{"texts": ["\xff\xfe"]}', 400),
    "no body": (b"", 400),
}


def test_each_bad_request_gets_a_4xx_with_a_one_line_error_and_the_service_keeps_answering(shipped_runs):
    service = load_service(shipped_runs["single-bert-lora"], False, False, None, "cpu", max_batch=8)
    with client_for(service) as client:
        for what, (body, status) in BAD_REQUESTS.items():
            response = client.post("/predict", content=body, headers={"content-type": "application/json"})
            error = response.json()
            assert response.status_code == status, (what, response.text[:300])
            assert list(error) == ["error"] and "\n" not in error["error"] and len(error["error"]) < 200, what
            assert client.post("/predict", json={"texts": ["still fine"]}).status_code == 200, what
        assert client.get("/nowhere").json() == {"error": "Not Found"}
        assert client.get("/predict").status_code == 405
        assert client.get("/health").json()["status"] == "ok"


def test_a_pair_model_refuses_single_texts_and_says_what_it_reads(shipped_runs):
    service = load_service(shipped_runs["pairs-bert-full"], False, False, None, "cpu", max_batch=8)
    with client_for(service) as client:
        response = client.post("/predict", json={"texts": ["great"]})
        assert response.status_code == 422 and "reads sentence pairs" in response.json()["error"]
        response = client.post("/predict", json={"pairs": [["great", "fine", "extra"]]})
        assert response.status_code == 422 and "two strings" in response.json()["error"]


def test_the_onnx_export_serves_pytorchs_answers(shipped_runs, tmp_path):
    from runner.use.export import export_run

    run = shipped_runs["single-llama-lora"]
    export_run(run, tmp_path / "export", "int8", examples=8, tolerance=1e-4)
    texts = ["a great film", "dull", "the plot was weak and the actors boring"]
    answers = {}
    for engine, flags in {
        "pytorch": (False, False),
        "onnx": (True, False),
        "onnx-int8": (False, True),
    }.items():
        service = load_service(run, *flags, tmp_path / "export", "cpu", max_batch=8)
        with client_for(service) as client:
            assert client.get("/health").json()["engine"] == engine
            answers[engine] = client.post("/predict", json={"texts": texts}).json()["predictions"]
    assert_rows_close(answers["onnx"], answers["pytorch"])
    assert [row["label"] for row in answers["onnx-int8"]] and len(answers["onnx-int8"]) == 3


def test_serving_without_an_export_or_the_extra_is_one_line(shipped_runs, monkeypatch, capsys):
    run = str(shipped_runs["multi-bert-full"])
    code, _, err = ftrun_in_process(monkeypatch, capsys, "serve", run, "--onnx", "--port", str(free_port()))
    assert code == 2 and "no checked export" in err and f"ftrun export {run}" in err
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if the extra were not installed
    code, _, err = ftrun_in_process(monkeypatch, capsys, "serve", run)
    assert (
        code == 2
        and err.strip() == "ftrun: error: ftrun serve needs fastapi and uvicorn: pip install 'ftrun[serve]'"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.slow  # a fresh interpreter loads torch and the model: seconds before the first answer
def test_a_real_ftrun_serve_answers_and_exits_0_promptly_on_sigterm(shipped_runs):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [
        sys.executable,
        "-m",
        "runner",
        "serve",
        str(shipped_runs["single-bert-lora"]),
        "--port",
        str(port),
    ]
    server = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert get(f"http://127.0.0.1:{port}/health")["status"] == "ok"
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, server.communicate()
                time.sleep(0.2)
        answer = get(f"http://127.0.0.1:{port}/predict", {"texts": ["a great film"]})
        assert answer["predictions"][0]["label"] in ("negative", "positive")
        server.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        assert server.wait(timeout=15) == 0
        assert time.monotonic() - stopped < 10
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
