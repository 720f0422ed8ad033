"""Shared fixtures: tiny random-weight models built from configs, and small labelled data files."""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# Frozen-base features cached by one test run must not leak into the user's cache or a later session.
os.environ["FTRUN_CACHE"] = tempfile.mkdtemp(prefix="ftrun-test-cache-")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SHARED_IMDB = SHARED_DATA / "imdb"

POSITIVE = ["great", "wonderful", "superb", "loved", "brilliant", "moving", "fun", "best"]
NEGATIVE = ["awful", "boring", "terrible", "hated", "dull", "worst", "weak", "mess"]
FILLER = ["the", "film", "movie", "plot", "actors", "story", "was", "and", "it", "a", "scene", "really"]


def sentiment_rows(n: int, seed: int) -> list[dict]:
    """Short synthetic reviews whose label follows from their words: learnable by a tiny model."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        words = rng.choices(FILLER, k=rng.randint(4, 20)) + rng.choices(POSITIVE if label else NEGATIVE, k=3)
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """Accelerate keeps one precision per process; each test may run a recipe with another."""
    yield
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=False)


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    from runner.model.classifier import resolve_source
    from runner.recipe.schema import ModelSection

    return Path(resolve_source(ModelSection()).name_or_path)


def save_tiny(folder: Path, config, tokenizer_source: Path, drop_pad: bool = False) -> Path:
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(0)
    AutoModel.from_config(config).save_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_source)
    if drop_pad:  # like most decoder LLMs, which ship with no pad token
        tokenizer.pad_token = None
    tokenizer.save_pretrained(folder)
    return folder


def tiny_bert_config(**overrides):
    """A 2-layer, 32-wide BERT with MiniLM's vocabulary (so MiniLM's tokenizer serves it)."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        **overrides,
    )


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory, minilm_path) -> Path:
    return save_tiny(tmp_path_factory.mktemp("tiny-bert"), tiny_bert_config(), minilm_path)


def tiny_llama_config(**overrides):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        **overrides,
    )


def tiny_opt_config():
    from transformers import OPTConfig

    # word_embed_proj_dim < hidden_size, as in OPT-350m: the head must size itself from the projection.
    return OPTConfig(
        vocab_size=30522,
        hidden_size=32,
        word_embed_proj_dim=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        ffn_dim=64,
        max_position_embeddings=128,
        pad_token_id=1,
    )


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory, minilm_path) -> Path:
    config = tiny_llama_config(pad_token_id=None)
    return save_tiny(tmp_path_factory.mktemp("tiny-llama"), config, minilm_path, drop_pad=True)


@pytest.fixture(scope="session")
def tiny_opt(tmp_path_factory, minilm_path) -> Path:
    return save_tiny(tmp_path_factory.mktemp("tiny-opt"), tiny_opt_config(), minilm_path)


@pytest.fixture
def data_folder(tmp_path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", sentiment_rows(48, seed=1))
    write_jsonl(folder / "test.jsonl", sentiment_rows(21, seed=2))
    return folder


def run_cli(*args: str) -> tuple[int, str, str]:
    """Run `ftrun ARGS` in a subprocess: the real exit code, stdout and stderr."""
    import subprocess

    done = subprocess.run([sys.executable, "-m", "runner", *args], capture_output=True, text=True, cwd=REPO)
    return done.returncode, done.stdout, done.stderr


def ftrun_in_process(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run `ftrun ARGS` in this process: exit code, stdout, stderr (fast; no interpreter start)."""
    from runner.cli import main

    monkeypatch.setattr(sys, "argv", ["ftrun", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    return exited.value.code, out, err


def reload_probabilities(folder: Path):
    """Eval-set probabilities from a run's saved model, reloaded through `runner.model.reload`."""
    import torch

    from runner import registry
    from runner.data.loading import load_data
    from runner.model.reload import load_saved
    from runner.recipe import reading as recipes
    from runner.training.batches import collate

    recipe = recipes.load(folder / "recipe.toml")
    classifier, tokenizer = load_saved(folder / "model")
    data = load_data(recipe.data)
    method = registry.method(recipe.method.name)
    ids = method.encode(data.eval.texts, tokenizer, recipe, method.prompt(recipe, tokenizer, data.train))
    batch = collate(
        [{"index": i, "input_ids": x, "label": 0} for i, x in enumerate(ids)], tokenizer.pad_token_id
    )
    with torch.no_grad():
        return classifier(batch["input_ids"], batch["attention_mask"]).softmax(-1)


@pytest.fixture(scope="session")
def shipped_runs(tmp_path_factory, tiny_bert, tiny_llama, minilm_path) -> dict[str, Path]:
    """Finished runs for `ftrun export` and `ftrun serve` (tests/shipped_runs.py), trained once."""
    from .shipped_runs import make_shipped_runs
    from .test_zero_shot import save_causal_lm

    causal = save_causal_lm(
        tmp_path_factory.mktemp("causal-llama"), tiny_llama_config(tie_word_embeddings=False), minilm_path
    )
    models = {"bert": tiny_bert, "llama": tiny_llama, "causal-llama": causal}
    return make_shipped_runs(tmp_path_factory.mktemp("shipped"), models)
