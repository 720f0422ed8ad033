"""`ftrun serve`: a finished run's model (or its checked ONNX export) as an HTTP JSON service.

Built on FastAPI and uvicorn: both maintained and widely deployed, async (the requests and the batcher
share one event loop, so requests that arrive together are scored in one forward pass), and FastAPI
describes the service as standard OpenAPI (`/docs`). LitServe would bring its own worker processes
and request lifecycle, more machinery and opinion than one model in one process needs.

`POST /predict` takes `{"texts": [...]}` (or `{"pairs": [[text, text_pair], ...]}` for a model trained
on pairs) and answers `{"predictions": [...]}`, one row per input in order: the rows `ftrun predict
--json` prints, without the echoed text. `GET /health` says what is served. Every refused request gets
a 4xx and `{"error": "one line"}`; SIGTERM (or Ctrl-C) stops taking requests, lets those in flight
finish, stops the batcher and exits 0.
"""

# No `from __future__ import annotations` here: FastAPI reads the handlers' annotations (`Request`,
# imported inside `create_app` since fastapi is an extra) when the routes are declared.
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from rich.console import Console

from runner.errors import FtrunError, RunFolderError
from runner.model.reload import SavedModel, finished_run, load_saved_model, torch_model
from runner.use.batching import Batcher, QueueFull, Rows, Stopping
from runner.use.payloads import BadRequest, Input, Limits, parse_inputs, read_body
from runner.use.predict import choose_device, json_lines, predict_outputs

SERVE_EXTRA = "pip install 'ftrun[serve]'"
# The documented request body (the handler reads and checks it itself, to answer in one line).
REQUEST_SCHEMA = {
    "type": "object",
    "properties": {
        "texts": {"type": "array", "items": {"type": "string"}},
        "pairs": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
    },
    "additionalProperties": False,
}


@dataclass
class Service:
    """What is served: the model (PyTorch's, or an onnxruntime session in its place) and where."""

    model: SavedModel
    engine: str  # pytorch, onnx or onnx-int8
    run: str
    device: torch.device  # where predict puts each batch (the CPU for onnxruntime, which copies it)
    max_batch: int
    runs_on: str  # the device, or onnxruntime's execution provider

    def score(self, inputs: list[Input]) -> Rows:
        """One row per input, as `ftrun predict --json` prints it, less the text it was given."""
        outputs = predict_outputs(self.model, inputs, self.max_batch, self.device)
        rows = [json.loads(line) for line in json_lines(inputs, outputs, self.model)]
        return [
            {key: value for key, value in row.items() if key not in ("text", "text_pair")} for row in rows
        ]

    def describe(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "engine": self.engine,
            "task": self.model.task,
            "labels": self.model.labels,
            "input": "pairs" if self.model.pairs else "texts",
            "runs_on": self.runs_on,
        }


def require_serving() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise FtrunError(f"ftrun serve needs fastapi and uvicorn: {SERVE_EXTRA}") from None


def create_app(service: Service, limits: Limits, max_wait_ms: float) -> Any:
    """The FastAPI app; its lifespan starts the batcher and stops it at shutdown."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    batcher = Batcher(service.score, service.max_batch, max_wait_ms / 1000)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(title=f"ftrun serve: {service.run}", lifespan=lifespan)
    app.state.batcher = batcher

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exception: HTTPException) -> JSONResponse:
        return error(exception.status_code, str(exception.detail))  # 404, 405: one line too

    @app.get("/health")
    async def health() -> dict[str, Any]:
        waiting = len(batcher.waiting)
        settings = {"max_batch": service.max_batch, "max_wait_ms": max_wait_ms, **limits.describe()}
        return {"status": "ok", **service.describe(), "waiting": waiting, **settings}

    @app.post(
        "/predict",
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": REQUEST_SCHEMA}}}
        },
    )
    async def predict(request: Request) -> JSONResponse:
        try:
            body = await read_body(request.headers.get("content-length"), request.stream(), limits)
            inputs = parse_inputs(body, service.model.pairs, limits)
            rows = await batcher.submit(inputs)
        except BadRequest as refused:
            return error(refused.status, refused.message)
        except (QueueFull, Stopping) as unavailable:
            return error(503, str(unavailable))
        return JSONResponse({"predictions": rows})

    return app


def load_service(
    run_dir: Path, onnx: bool, int8: bool, export_dir: Path | None, device: str, max_batch: int
) -> Service:
    """The run's model, or its export's graph in an onnxruntime session (int8: the quantised one)."""
    from runner.console import quiet_libraries

    folder = finished_run(run_dir)
    quiet_libraries()
    if not (onnx or int8):
        target = choose_device(device)
        return Service(
            torch_model(load_saved_model(folder / "model"), "serve"),
            "pytorch",
            folder.name,
            target,
            max_batch,
            str(target),
        )
    from runner.use.onnx_model import load_exported_model

    export = export_dir or folder / "export"
    graph = "model.int8.onnx" if int8 else "model.onnx"
    if not (export / "export.json").is_file() or not (export / graph).is_file():
        flag = " --quantize int8" if int8 else ""
        raise RunFolderError(f"{export}: no checked export with {graph}; run ftrun export {folder}{flag}")
    model = load_exported_model(export, graph, device)
    runs_on = cast(Any, model.classifier).session.get_providers()[0]  # the onnxruntime session's
    engine = "onnx-int8" if int8 else "onnx"
    return Service(model, engine, folder.name, torch.device("cpu"), max_batch, runs_on)


def check_port(host: str, port: int) -> None:
    """A one-line error now rather than uvicorn's traceback after the model has loaded."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise FtrunError(f"--host {host} --port {port}: cannot listen there ({error.strerror})") from None


def serve(service: Service, host: str, port: int, limits: Limits, max_wait_ms: float) -> None:
    """Serve until SIGTERM or Ctrl-C: uvicorn drains requests in flight, the lifespan stops the batcher."""
    import uvicorn

    app = create_app(service, limits, max_wait_ms)
    console = Console(stderr=True)
    shown = f"{service.describe()['task']}: {', '.join(service.model.labels)}"
    console.print(
        f"[bold]ftrun serve[/] {service.run} ({service.engine} on {service.runs_on}, {shown}) at "
        f"http://{host}:{port}  POST /predict  GET /health  /docs",
        soft_wrap=True,
    )
    # uvicorn raises the signal again once it has shut down cleanly: exit 0 then, not killed by it.
    signal.signal(signal.SIGTERM, lambda signum, frame: exit_cleanly())
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=10)


def exit_cleanly() -> None:
    """Once uvicorn has shut down cleanly: exit 0 at once. Everything is closed by then, and the
    interpreter's own teardown of torch and onnxruntime took seconds more on a busy machine."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
