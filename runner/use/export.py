"""`ftrun export`: a finished run's model as an ONNX graph (and an int8 copy), checked before it is kept.

The graph is torch's TorchScript-based ONNX exporter's trace of the saved classifier: the backbone
(adapters were merged into it when the run saved), its pooling and the head, from token ids to the
head's logits, with dynamic batch and sequence axes. The tokenizer and config.json (labels, task,
thresholds, prompt) go beside it. Before the export is called done, onnxruntime scores the run's own
eval examples and must give PyTorch's outputs within a tolerance; `--quantize int8` then quantises the
weights (onnxruntime's dynamic quantisation) and rescores the same examples. `export.json` records
what was checked and what it measured.
"""

from __future__ import annotations

import copy
import datetime
import json
import warnings
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from runner import registry, rundir
from runner.errors import ModelError, first_line
from runner.model.reload import SavedModel, finished_run, load_saved_model
from runner.rundir import exported
from runner.use.export_check import check_examples, compare_outputs, headline_score
from runner.use.export_latency import shipped_latency
from runner.use.onnx_model import INPUT_NAMES, OUTPUT_NAME, load_exported_model, require_onnx
from runner.use.predict import predict_outputs

GRAPH = "model.onnx"
INT8_GRAPH = "model.int8.onnx"
RECORD = exported.RECORD
OPSET = 17  # LayerNorm as one op; every onnxruntime since 1.14 runs it
CHECK_BATCH = 32
QUANTIZATIONS = ("int8",)


def export_run(
    run_dir: Path, out: Path | None, quantize: str | None, examples: int, tolerance: float
) -> dict[str, Any]:
    """Export, check (and quantise) the run's model into `out` (default RUN/export); export.json's record."""
    from runner.console import quiet_libraries

    folder = finished_run(run_dir)
    check_exportable(folder / "model")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ModelError(f"--quantize {quantize!r}: choose one of {', '.join(QUANTIZATIONS)}")
    require_onnx("ftrun export")
    quiet_libraries()
    console = Console(stderr=True)
    target = out or folder / exported.FOLDER
    checked = check_examples(folder, examples)
    saved = load_saved_model(folder / "model")
    saved.classifier.float()  # onnxruntime's CPU kernels are fp32 ones; a bf16 save is widened
    target.mkdir(parents=True, exist_ok=True)
    for stale in (RECORD, GRAPH, INT8_GRAPH):  # a folder is never left half old, half new
        (target / stale).unlink(missing_ok=True)
    console.print(f"[bold]ftrun export[/] {folder} -> {target}", soft_wrap=True)
    inputs = write_graph(saved, list(checked.inputs()[:2]), target / GRAPH)
    write_beside(saved, target)
    reference = predict_outputs(saved, checked.inputs(), CHECK_BATCH, torch.device("cpu"))
    pytorch_score = headline_score(folder, saved, checked, reference)
    metric = pytorch_score["metric"]
    fp32 = compare_outputs(saved, checked, reference, scored(target, GRAPH, checked), tolerance, metric)
    if not fp32["within_tolerance"]:
        (target / GRAPH).unlink()
        raise ModelError(
            f"the ONNX graph disagrees with PyTorch on {len(checked)} eval examples: largest difference "
            f"{fp32['max_abs_difference']:.3g} > --tolerance {fp32['tolerance']:.3g}; nothing was exported"
        )
    record = export_record(folder, saved, inputs, len(checked), pytorch_score, fp32)
    console.print(graph_line(target / GRAPH, fp32, pytorch_score, len(checked)), soft_wrap=True)
    graphs = {"onnx": GRAPH}
    if quantize == "int8":
        quantize_int8(target / GRAPH, target / INT8_GRAPH)
        int8_outputs = scored(target, INT8_GRAPH, checked)
        int8 = compare_outputs(saved, checked, reference, int8_outputs, tolerance, metric)
        record["int8"] = int8_record(int8, pytorch_score)
        console.print(int8_line(target / INT8_GRAPH, record["int8"]), soft_wrap=True)
        graphs["onnx_int8"] = INT8_GRAPH
    pad = saved.tokenizer.pad_token_id
    latency = shipped_latency(folder, target, graphs, list(checked.inputs()), saved.encode, pad)
    record["latency"] = latency.to_json()
    console.print(latency_line(latency), soft_wrap=True)
    rundir.write_json(target / RECORD, record)  # last: it marks a finished export
    console.print(f"wrote {target / RECORD}", soft_wrap=True)
    return record


def check_exportable(model_dir: Path) -> None:
    """One line for a model folder no ONNX graph can hold (weights only a 4-bit base gives)."""
    config = json.loads((model_dir / "config.json").read_text())
    if config.get("method") in registry.METHODS and registry.method(config["method"]).fits_outside_torch:
        raise ModelError(
            f"{model_dir}: a {config['method']} run holds a scikit-learn model, which ftrun export does "
            "not write as ONNX; use ftrun predict or ftrun eval with it"
        )
    weights = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
    if config.get("quantization") and not any((model_dir / name).is_file() for name in weights):
        raise ModelError(
            f"{model_dir}: the run saved its adapter over a 4-bit base and no merged model "
            "(method.save_merged = false); ONNX cannot hold bitsandbytes' 4-bit weights: "
            "train with method.save_merged = true to export it"
        )


def write_graph(saved: SavedModel, sample: list[Any], path: Path) -> list[str]:
    """Trace the classifier on `sample` (two eval texts: padding in the trace) into `path`; its inputs."""
    from runner.training.batches import collate

    ids = saved.encode(sample)
    rows = [{"index": i, "input_ids": ids[i], "label": 0} for i in range(len(ids))]
    batch = collate(rows, saved.tokenizer.pad_token_id, segment_token=saved.segment_token)
    # Token types only where predict passes them (pairs on a model that has them).
    names = list(INPUT_NAMES if saved.segment_token is not None else INPUT_NAMES[:2])
    axes: dict[str, dict[int, str]] = {name: {0: "batch", 1: "sequence"} for name in names}
    axes[OUTPUT_NAME] = {0: "batch"}
    arguments = tuple(batch[name] for name in names)
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's notes on Python values it keeps as constants
        try:
            torch.onnx.export(
                saved.classifier,
                arguments,
                str(path),
                input_names=names,
                output_names=[OUTPUT_NAME],
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
        except Exception as error:  # the exporter's own failures name the operator it cannot write
            raise ModelError(f"torch.onnx.export cannot export this model: {first_line(error)}") from None
    return names


def write_beside(saved: SavedModel, target: Path) -> None:
    """The tokenizer and config.json (labels, task, thresholds, prompt) beside the graph."""
    saved.tokenizer.save_pretrained(target)
    config = copy.deepcopy(saved.config)
    if hasattr(config, "auto_map"):  # no modeling code ships here: the graph is the model
        del config.auto_map
    config.save_pretrained(target)


def scored(target: Path, graph: str, checked: Any) -> torch.Tensor:
    """The graph's outputs on the checked examples, through predict's batching and task outputs."""
    exported = load_exported_model(target, graph)
    return predict_outputs(exported, checked.inputs(), CHECK_BATCH, torch.device("cpu"))


def quantize_int8(graph: Path, int8: Path) -> None:
    """onnxruntime's dynamic quantisation: int8 weights, activations quantised per batch as it runs."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Past 2 GB the exporter keeps the weights in files beside the graph; the int8 copy does too.
    skeleton = onnx.load(str(graph), load_external_data=False)
    external = any(t.data_location == onnx.TensorProto.EXTERNAL for t in skeleton.graph.initializer)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice (on the root logger) to pre-process the graph first
    try:
        quantize_dynamic(graph, int8, weight_type=QuantType.QInt8, use_external_data_format=external)
    finally:
        root.setLevel(level)


def export_record(
    folder: Path, saved: SavedModel, inputs: list[str], examples: int, score: dict[str, Any], fp32: dict
) -> dict[str, Any]:
    import onnx
    import onnxruntime
    import transformers

    return {
        "run": str(folder.resolve()),
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "method": saved.config.method,
        "task": saved.task,
        "labels": saved.labels,
        "graph": {
            "file": GRAPH,
            "opset": OPSET,
            "exporter": "torch.onnx.export (TorchScript)",
            "inputs": inputs,
            "output": OUTPUT_NAME,
            "output_means": saved.task_type.logits_mean,
            "dynamic_axes": ["batch", "sequence"],
        },
        "check": {"examples": examples, **score, "onnx": fp32},
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
    }


def int8_record(int8: dict[str, Any], pytorch: dict[str, Any]) -> dict[str, Any]:
    """What quantising cost: measured and reported, not refused (the metric's delta is the user's call)."""
    measured = {key: value for key, value in int8.items() if key not in ("tolerance", "within_tolerance")}
    return {
        "file": INT8_GRAPH,
        "quantization": "onnxruntime quantize_dynamic: QInt8 weights, activations quantised per batch",
        **measured,
        "metric": pytorch["metric"],
        "pytorch_score": pytorch["pytorch_score"],
        "score_delta": int8["score"] - pytorch["pytorch_score"],
    }


def graph_line(path: Path, fp32: dict[str, Any], pytorch: dict[str, Any], examples: int) -> str:
    identical = fp32["identical_predictions"]
    same = "" if identical is None else f", {identical:.1%} identical predictions"
    return (
        f"{path} ({size_mb(path)}): onnxruntime matches PyTorch on {examples} eval examples "
        f"(largest difference {fp32['max_abs_difference']:.2g}{same}; "
        f"{pytorch['metric']} {fp32['score']:.4f}, PyTorch's {pytorch['pytorch_score']:.4f})"
    )


def int8_line(path: Path, int8: dict[str, Any]) -> str:
    identical = int8["identical_predictions"]
    same = "" if identical is None else f", {identical:.1%} identical predictions"
    return (
        f"{path} ({size_mb(path)}): {int8['metric']} {int8['score']:.4f} vs PyTorch's "
        f"{int8['pytorch_score']:.4f} ({int8['score_delta']:+.4f}){same}, "
        f"largest difference {int8['max_abs_difference']:.2g}"
    )


def latency_line(latency: exported.ShippedLatency) -> str:
    """Batch-1 p50 and batched throughput of each engine timed."""
    engines = {"PyTorch (the run's)": latency.pytorch, "onnxruntime fp32": latency.onnx}
    engines["onnxruntime int8"] = latency.onnx_int8
    shown = [
        f"{name} {timed.p50_ms:.1f} ms p50, {timed.throughput_per_s:.0f}/s"
        for name, timed in engines.items()
        if timed is not None
    ]
    return "batch-1 latency and throughput: " + "; ".join(shown)


def size_mb(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB"
