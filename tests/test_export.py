"""`ftrun export`: an ONNX graph that onnxruntime runs to PyTorch's outputs, for every task type, an
encoder and decoders; an int8 copy rescored; and one line for what cannot be exported."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from runner import rundir
from runner.errors import FtrunError, ModelError
from runner.use.export import export_run

from .conftest import ftrun_in_process
from .shipped_runs import CASES


@pytest.fixture(scope="module")
def exports(shipped_runs, tmp_path_factory) -> dict[str, dict]:
    """Each run exported once (the single-label encoder with int8 too): export.json's record."""
    root = tmp_path_factory.mktemp("exports")
    return {
        name: export_run(
            folder, root / name, "int8" if name == "single-bert-lora" else None, examples=256, tolerance=1e-4
        )
        | {"folder": str(root / name)}
        for name, folder in shipped_runs.items()
    }


def saved_rows(folder: Path) -> list[dict]:
    return sorted(rundir.read_jsonl(folder / "predictions.jsonl"), key=lambda row: row["id"])


@pytest.mark.parametrize("name", list(CASES))
def test_onnxruntime_gives_pytorchs_outputs_on_the_runs_eval_examples(exports, shipped_runs, name):
    record = exports[name]
    check = record["check"]
    assert check["examples"] == len(saved_rows(shipped_runs[name]))  # every eval example (< 256)
    assert check["onnx"]["within_tolerance"] and check["onnx"]["max_abs_difference"] < 1e-4
    assert check["onnx"]["score"] == pytest.approx(check["pytorch_score"], abs=1e-4)
    # PyTorch's score on the examples is the one the run reported on the same examples.
    # (to float rounding: the run scored its in-memory model, the check the saved and reloaded one)
    assert check["pytorch_score"] == pytest.approx(check["run_score"], abs=1e-5)
    if record["task"] != "regression":
        assert check["onnx"]["identical_predictions"] == 1.0
    folder = Path(record["folder"])
    assert {"model.onnx", "config.json", "tokenizer.json", "export.json"} <= {
        p.name for p in folder.iterdir()
    }
    assert json.loads((folder / "export.json").read_text())["check"] == check


def test_the_export_folder_alone_classifies_with_plain_onnxruntime_and_its_tokenizer(exports, shipped_runs):
    """No ftrun: the tokenizer beside the graph, onnxruntime, a softmax; the run's own probabilities."""
    import onnxruntime
    from transformers import AutoTokenizer

    folder = Path(exports["single-bert-lora"]["folder"])
    run = shipped_runs["single-bert-lora"]
    source = Path(json.loads((run / "metrics.json").read_text())["data"]["source"])
    texts = [json.loads(line)["text"] for line in (source / "test.jsonl").read_text().splitlines()]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    batch = tokenizer(texts, padding=True, truncation=True, max_length=48, return_tensors="np")
    (logits,) = session.run(["logits"], {k: batch[k] for k in ("input_ids", "attention_mask")})
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    expected = np.array([row["probabilities"] for row in saved_rows(run)])
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)


def test_a_pair_models_graph_takes_token_types_and_a_single_text_models_does_not(exports):
    assert exports["pairs-bert-full"]["graph"]["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]
    assert exports["single-bert-lora"]["graph"]["inputs"] == ["input_ids", "attention_mask"]
    assert exports["regression-bert-full"]["graph"]["output_means"] == "the predicted value"


def test_the_int8_graph_is_rescored_on_the_same_examples_beside_pytorch(exports, shipped_runs):
    import onnxruntime
    from transformers import AutoTokenizer

    record = exports["single-bert-lora"]
    int8 = record["int8"]
    folder = Path(record["folder"])
    assert (folder / "model.int8.onnx").stat().st_size < (folder / "model.onnx").stat().st_size / 2
    assert int8["metric"] == "accuracy" and int8["pytorch_score"] == record["check"]["pytorch_score"]
    assert int8["score_delta"] == pytest.approx(int8["score"] - int8["pytorch_score"])
    # Its accuracy recounted here from the int8 graph's own answers and the gold labels.
    rows = saved_rows(shipped_runs["single-bert-lora"])
    source = Path(
        json.loads((shipped_runs["single-bert-lora"] / "metrics.json").read_text())["data"]["source"]
    )
    texts = [json.loads(line)["text"] for line in (source / "test.jsonl").read_text().splitlines()]
    batch = AutoTokenizer.from_pretrained(folder)(texts, padding=True, return_tensors="np")
    session = onnxruntime.InferenceSession(
        str(folder / "model.int8.onnx"), providers=["CPUExecutionProvider"]
    )
    (logits,) = session.run(["logits"], {k: batch[k] for k in ("input_ids", "attention_mask")})
    assert int8["score"] == pytest.approx(np.mean(logits.argmax(-1) == [row["gold"] for row in rows]))
    assert 0 < int8["max_abs_difference"] < 0.2  # quantised: near PyTorch's, not equal to it


def test_a_graph_that_disagrees_with_pytorch_is_refused_and_not_kept(
    shipped_runs, tmp_path, monkeypatch, capsys
):
    from runner.use.onnx_model import OnnxClassifier

    forward = OnnxClassifier.forward

    def off_by_a_little(self, *args):
        logits = forward(self, *args)
        logits[:, 0] += 0.01  # far past the tolerance, though it may flip no prediction
        return logits

    monkeypatch.setattr(OnnxClassifier, "forward", off_by_a_little)
    out = tmp_path / "export"
    code, _, err = ftrun_in_process(
        monkeypatch, capsys, "export", str(shipped_runs["single-bert-lora"]), "--out", str(out)
    )
    errors = [line for line in err.splitlines() if line.startswith("ftrun: error:")]
    assert code == 2 and len(errors) == 1, err
    assert "disagrees with PyTorch" in err and "nothing was exported" in err
    assert not (out / "model.onnx").exists() and not (out / "export.json").exists()


def test_a_qlora_run_saved_without_its_merged_model_is_one_line(shipped_runs, tmp_path, monkeypatch, capsys):
    copy = shutil.copytree(
        shipped_runs["single-bert-lora"], tmp_path / "qlora", ignore=shutil.ignore_patterns("export")
    )
    (copy / "model" / "model.safetensors").unlink()
    config = json.loads((copy / "model" / "config.json").read_text())
    config["quantization"] = {"bits": 4}
    (copy / "model" / "config.json").write_text(json.dumps(config))
    code, _, err = ftrun_in_process(monkeypatch, capsys, "export", str(copy))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "save_merged = true" in err, err


def test_a_run_with_no_saved_model_or_no_onnx_install_is_one_line(
    shipped_runs, tmp_path, monkeypatch, capsys
):
    copy = shutil.copytree(shipped_runs["multi-bert-full"], tmp_path / "no-model")
    shutil.rmtree(copy / "model")
    code, _, err = ftrun_in_process(monkeypatch, capsys, "export", str(copy))
    assert code == 2 and "saved no model" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(ModelError, match="--quantize 'fp8'"):
        export_run(shipped_runs["multi-bert-full"], tmp_path / "x", "fp8", 8, 1e-4)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if the extra were not installed
    with pytest.raises(FtrunError, match=r"pip install 'ftrun\[onnx\]'"):
        export_run(shipped_runs["multi-bert-full"], tmp_path / "y", None, 8, 1e-4)


def test_the_export_times_each_graph_as_the_run_timed_pytorch(exports, shipped_runs):
    record = exports["single-bert-lora"]
    run_latency = rundir.read_record(shipped_runs["single-bert-lora"]).latency
    latency = record["latency"]
    assert latency["pytorch"]["batch1_ms_p50"] == run_latency["batch1_ms_p50"]
    for engine in ("onnx", "onnx_int8"):
        timed = latency[engine]
        assert timed["examples"] == run_latency["examples"]
        assert timed["throughput_batch_size"] == run_latency["throughput_batch_size"]
        assert 0 < timed["batch1_ms_p50"] <= timed["batch1_ms_p95"]
        assert timed["throughput_examples_per_s"] > 0 and "onnxruntime" in timed["runs_on"]
    assert exports["multi-bert-full"]["latency"]["onnx_int8"] is None  # no int8 graph, none timed


def test_compare_shows_what_an_exported_run_would_ship(shipped_runs, tmp_path, monkeypatch, capsys):
    """A run exported into RUN/export: its row carries the graphs' latency and the int8 delta, and the
    report gains the shipping table; a run without an export has the fields empty."""
    runs = tmp_path / "runs"
    for name in ("single-bert-lora", "pairs-bert-full"):
        shutil.copytree(shipped_runs[name], runs / name, ignore=shutil.ignore_patterns("export"))
    record = export_run(runs / "single-bert-lora", None, "int8", examples=256, tolerance=1e-4)
    code, out, _ = ftrun_in_process(
        monkeypatch, capsys, "compare", str(runs), "--format", "json", "--report", str(tmp_path / "report")
    )
    assert code in (0, None)
    rows = {row["run"]: row for row in json.loads(out)["runs"]}
    shipped, plain = rows["single-bert-lora"], rows["pairs-bert-full"]
    onnx, int8 = record["latency"]["onnx"], record["latency"]["onnx_int8"]
    assert shipped["export_onnx_p50_ms"] == onnx["batch1_ms_p50"]
    assert shipped["export_int8_p95_ms"] == int8["batch1_ms_p95"]
    assert shipped["export_int8_throughput_per_s"] == int8["throughput_examples_per_s"]
    assert shipped["export_int8_score_delta"] == record["int8"]["score_delta"]
    assert all(value is None for key, value in plain.items() if key.startswith("export_"))
    report = (tmp_path / "report" / "report.md").read_text()
    assert report.count("## What you would ship") == 1
    shipping = report.split("## What you would ship")[1]
    table = [line for line in shipping.splitlines() if line.startswith("| single-bert-lora | lora |")]
    assert len(table) == 1 and f"{onnx['batch1_ms_p50']:.1f}/{onnx['batch1_ms_p95']:.1f}" in table[0]
    assert "| pairs-bert-full |" not in shipping


def test_a_report_without_exports_has_no_shipping_table(shipped_runs, tmp_path, monkeypatch, capsys):
    runs = tmp_path / "runs"
    ignore = shutil.ignore_patterns("export")
    shutil.copytree(shipped_runs["regression-bert-full"], runs / "r", ignore=ignore)
    report = tmp_path / "rep"
    code, _, _ = ftrun_in_process(monkeypatch, capsys, "compare", str(runs), "--report", str(report))
    assert code in (0, None)
    assert "What you would ship" not in (tmp_path / "rep" / "report.md").read_text()
