"""An exported ONNX graph run by onnxruntime, called as ftrun calls its PyTorch classifier.

`OnnxClassifier` takes the token-id tensors `predict_outputs` batches and gives back the head's
logits, so `ftrun predict`'s own code turns them into probabilities or values: the export is checked,
and `ftrun serve --onnx` answers, through the same batching and the same task outputs as the model
it came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from runner.errors import FtrunError, ModelError, RunFolderError
from runner.model.modeling_ftrun import FtrunConfig
from runner.model.reload import SavedModel

if TYPE_CHECKING:
    from runner.model.classifier import Classifier

ONNX_EXTRA = "pip install 'ftrun[onnx]'"
# The graph's names: what an onnxruntime user feeds it and reads back.
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "logits"


def require_onnx(command: str) -> Any:
    """onnxruntime, or a one-line error naming the extra that installs it."""
    try:
        import onnx  # noqa: F401  (the exporter writes with it)
        import onnxruntime
    except ImportError:
        raise FtrunError(f"{command} needs onnx and onnxruntime: {ONNX_EXTRA}") from None
    return onnxruntime


def providers(device: str) -> list[str]:
    """onnxruntime's execution providers: the GPU's first where one is asked for (or `auto` finds one)."""
    available = require_onnx("ONNX").get_available_providers()
    wanted = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    chosen = [name for name in wanted if name in available and (device != "cpu" or name.startswith("CPU"))]
    if device == "cuda" and "CUDAExecutionProvider" not in chosen:
        raise ModelError("--device cuda: this onnxruntime has no CUDA provider (pip install onnxruntime-gpu)")
    return chosen


class OnnxClassifier(nn.Module):
    """The graph in an onnxruntime session, with the PyTorch classifier's call: ids in, logits out."""

    def __init__(self, graph: Path, device: str = "cpu", threads: int | None = None) -> None:
        super().__init__()
        runtime = require_onnx("ONNX")
        options = runtime.SessionOptions()
        options.log_severity_level = 3  # errors only: its graph-optimisation notes are noise here
        if threads is not None:  # else onnxruntime's own choice: one per physical core
            options.intra_op_num_threads = threads
        self.graph = graph
        self.session = runtime.InferenceSession(str(graph), options, providers=providers(device))
        self.input_names = [node.name for node in self.session.get_inputs()]

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        given = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        feed = {}
        for name in self.input_names:
            tensor = given[name]
            if tensor is None:  # a graph with token types, fed a single text: all type 0
                tensor = torch.zeros_like(input_ids)
            feed[name] = tensor.detach().cpu().numpy()
        (logits,) = self.session.run([OUTPUT_NAME], feed)
        return torch.from_numpy(logits)


def load_exported_model(
    folder: Path, graph_file: str = "model.onnx", device: str = "cpu", threads: int | None = None
) -> SavedModel:
    """An export folder as `predict` uses a saved model: its config and tokenizer, the graph computing.

    Its `classifier` is the onnxruntime session; nothing of PyTorch's weights is loaded.
    """
    from transformers import AutoTokenizer

    graph = folder / graph_file
    if not graph.is_file() or not (folder / "config.json").is_file():
        raise RunFolderError(
            f"{folder}: no ONNX export ({graph_file} and config.json); run ftrun export first"
        )
    config = FtrunConfig.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder, config=config)
    return SavedModel(cast("Classifier", OnnxClassifier(graph, device, threads)), tokenizer, config)
