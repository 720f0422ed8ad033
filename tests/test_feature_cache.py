"""The feature cache: same parts give the same entry back; damaged or unfinished entries are misses."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch

from runner.tokens.feature_cache import (
    FeatureCache,
    default_root,
    feature_key,
    model_fingerprint,
)

PARTS = {"model": "m" * 64, "token_ids": "t" * 64, "pooling": "mean", "precision": "bf16"}


@pytest.fixture
def cache(tmp_path):
    return FeatureCache(tmp_path / "features")


def test_a_stored_tensor_comes_back_equal(cache):
    features = torch.randn(5, 7)
    cache.put("ab12", features, {"model": "minilm"})
    assert torch.equal(cache.get("ab12"), features)


def test_an_unknown_key_is_a_miss(cache):
    assert cache.get("cd34") is None
    assert cache.problems == []


def test_bf16_features_come_back_as_exact_float32(cache):
    features = torch.randn(3, 4).bfloat16()
    cache.put("ab12", features)
    back = cache.get("ab12")
    assert back.dtype == torch.float32 and torch.equal(back, features.float())


def mapped_files(address: int) -> list[str]:
    """The files mapped at `address` in this process (Linux)."""
    found = []
    for line in open("/proc/self/maps").read().splitlines():
        fields = line.split()
        low, high = (int(x, 16) for x in fields[0].split("-"))
        if low <= address < high and len(fields) > 5:
            found.append(fields[5])
    return found


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="reads Linux memory maps")
def test_entries_are_memory_mapped_and_writes_never_reach_the_file(cache):
    path = cache.put("ab12", torch.zeros(4, 2))
    back = cache.get("ab12")
    assert str(path) in mapped_files(back.data_ptr())  # read from the page cache, not copied in
    back += 1  # copy-on-write: this run's pages change, the shared file does not
    assert torch.equal(torch.from_numpy(np.load(path)), torch.zeros(4, 2))


def test_every_key_part_changes_the_key():
    base = feature_key(**PARTS)
    assert feature_key(**PARTS) == base
    for part in PARTS:
        assert feature_key(**{**PARTS, part: PARTS[part] + "x"}) != base, part
    assert feature_key(**PARTS, extra={"prompt": "Review: {text}"}) != base


def test_model_fingerprint_changes_when_a_weight_file_is_rewritten(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"0" * 10)
    (tmp_path / "README.md").write_text("notes")
    before = model_fingerprint(str(tmp_path))
    (tmp_path / "README.md").write_text("other notes")  # not a weight: same fingerprint
    assert model_fingerprint(str(tmp_path)) == before
    os.utime(weights, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))  # rewritten in place
    assert model_fingerprint(str(tmp_path)) != before


def test_model_fingerprint_of_a_hub_model_is_its_snapshot_folder(tmp_path, monkeypatch):
    # The hub cache keeps each commit in snapshots/<commit>/: another commit is another folder.
    for commit in ("a" * 40, "b" * 40):
        (tmp_path / commit).mkdir()
        (tmp_path / commit / "config.json").write_text("{}")
    monkeypatch.setattr(
        "huggingface_hub.try_to_load_from_cache",
        lambda repo_id, filename, revision=None: str(tmp_path / (revision or "a" * 40) / filename),
    )
    main = model_fingerprint("org/model")
    assert model_fingerprint("org/model") == main
    assert model_fingerprint("org/model", revision="b" * 40) != main


def test_model_fingerprint_of_an_uncached_hub_id_is_its_name_and_revision():
    assert model_fingerprint("no-such-org/no-such-model") == model_fingerprint("no-such-org/no-such-model")
    assert model_fingerprint("no-such-org/no-such-model", revision="v2") != model_fingerprint(
        "no-such-org/no-such-model"
    )


def test_a_half_written_temporary_file_is_never_returned(cache):
    # What a run killed mid-write leaves behind: a temporary file beside where the entry would go.
    folder = cache.root / "ab"
    folder.mkdir(parents=True)
    (folder / ".ab12.npy.x1y2.tmp").write_bytes(b"\x93NUMPY half")
    assert cache.get("ab12") is None
    assert cache.entries() == []


def test_a_crash_during_put_leaves_no_entry_and_no_temporary_file(cache, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", fail)
    with pytest.raises(OSError):
        cache.put("ab12", torch.ones(2, 2))
    assert cache.get("ab12") is None
    assert [p.name for p in (cache.root / "ab").iterdir()] == ["ab12.json"]


def test_a_truncated_entry_is_a_miss_and_reported(cache):
    path = cache.put("ab12", torch.randn(50, 8))
    path.write_bytes(path.read_bytes()[:100])
    assert cache.get("ab12") is None
    assert len(cache.problems) == 1 and "ab12" in cache.problems[0]


def test_an_entry_whose_shape_disagrees_with_its_description_is_a_miss(cache):
    path = cache.put("ab12", torch.randn(4, 3))
    np.save(path, np.zeros((3, 4), dtype=np.float32))
    assert cache.get("ab12") is None
    assert "expected float32[4, 3]" in cache.problems[0]


def test_entries_list_sizes_and_descriptions(cache):
    cache.put("ab12", torch.zeros(10, 4), {"model": "small"})
    cache.put("cd34", torch.zeros(100, 4), {"model": "large"})
    entries = cache.entries()
    assert [e.key for e in entries] == ["cd34", "ab12"]
    assert entries[0].meta["model"] == "large" and entries[0].meta["shape"] == [100, 4]
    assert cache.total_bytes() == sum(e.bytes for e in entries) > 100 * 4 * 4


def test_the_root_is_ftrun_cache_when_set(monkeypatch, tmp_path):
    monkeypatch.setenv("FTRUN_CACHE", str(tmp_path))
    assert default_root() == tmp_path / "features"
    monkeypatch.delenv("FTRUN_CACHE")
    assert default_root().parts[-3:] == (".cache", "ftrun", "features")


def test_a_sweep_of_heads_extracts_the_frozen_base_features_once(
    tiny_bert, data_folder, tmp_path, monkeypatch
):
    import json
    from pathlib import Path

    import runner.training.inputs as inputs_module
    from runner import rundir
    from runner.pipeline import run_recipe

    from .test_run import tiny_recipe

    monkeypatch.setenv("FTRUN_CACHE", str(tmp_path / "cache"))
    real, calls = inputs_module.extract_features, []

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(inputs_module, "extract_features", counted)

    def run(name, **train):
        method = {"cache_features": train.pop("cache", True)}
        recipe = tiny_recipe(tiny_bert, data_folder, tmp_path, "linear", train=train, method=method)
        folder = run_recipe(recipe, Path(f"{name}.toml"))
        metrics = json.loads((folder / "metrics.json").read_text())
        return rundir.read_jsonl(folder / "predictions.jsonl"), metrics["train"]["feature_extraction_seconds"]

    _, first_cost = run("first", lr=1e-3)
    assert len(calls) == 2  # train and eval features
    cached, cached_cost = run("second", lr=3e-3)
    assert len(calls) == 2 and cached_cost == first_cost  # reused, and costed at the first run's price
    fresh, _ = run("uncached", lr=3e-3, cache=False)
    assert len(calls) == 4 and fresh == cached
