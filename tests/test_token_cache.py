"""The token id cache: a split is tokenised once, written to disk as it goes, and mapped by every
run that encodes the same texts with the same tokenizer the same way."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from runner import registry
from runner.model.classifier import load_tokenizer, resolve_source
from runner.recipe.reading import build
from runner.recipe.schema import ModelSection
from runner.tokens.id_cache import TokenIdCache
from runner.tokens.ids import TokenIds, encode_in_batches, encode_to_file

TEXTS = [f"review {i}: " + "a fine film " * (i % 7) for i in range(30)]


@pytest.fixture(scope="module")
def tokenizer(minilm_path):
    return load_tokenizer(resolve_source(ModelSection(name=str(minilm_path))))


def counting(method, calls):
    """`method` with its batch encoder counting the texts it tokenises."""
    real = method.batch_encoder

    def batch_encoder(tokenizer, recipe, prompt):
        encode = real(tokenizer, recipe, prompt)

        def counted(chunk):
            calls.append(len(chunk))
            return encode(chunk)

        return counted

    method.batch_encoder = batch_encoder
    return method


def test_ids_written_to_a_file_equal_the_ids_kept_in_memory():
    def encode(batch):
        return [[len(text)] * (len(text) % 4 + 1) for text in batch]

    file = io.BytesIO()
    offsets = encode_to_file(TEXTS, encode, file, batch=4)
    written = TokenIds(np.frombuffer(file.getvalue(), dtype="<i4"), offsets)
    assert written == encode_in_batches(TEXTS, encode, batch=4)


def test_a_second_encoding_maps_the_first_one_s_ids_without_tokenising(tokenizer, tmp_path):
    recipe = build({"model": {"max_length": 16}})
    calls: list[int] = []
    method = counting(registry.method("full"), calls)
    cache = TokenIdCache(tmp_path)
    first = method.encode(TEXTS, tokenizer, recipe, None, cache=cache)
    assert sum(calls) == len(TEXTS)
    again = method.encode(TEXTS, tokenizer, recipe, None, cache=cache)
    assert sum(calls) == len(TEXTS)  # nothing tokenised the second time
    assert again == first
    assert again.tolist() == tokenizer(TEXTS, truncation=True, max_length=16)["input_ids"]
    assert isinstance(again.values, np.memmap)  # on disk, not in memory
    assert not cache.problems


def test_what_the_ids_depend_on_is_in_the_key(tokenizer, tmp_path):
    calls: list[int] = []
    cache = TokenIdCache(tmp_path)

    def encode(texts, method="full", max_length=16, prompt=None):
        recipe = build({"model": {"max_length": max_length}, "method": {"name": method}})
        counting(registry.method(method), calls).encode(texts, tokenizer, recipe, prompt, cache=cache)
        return len(calls)

    tokenised = encode(TEXTS)
    assert encode(TEXTS, method="lora") == tokenised  # full, lora and linear encode alike
    assert encode(TEXTS, method="linear") == tokenised
    assert encode(TEXTS, max_length=24) > tokenised
    tokenised = len(calls)
    assert encode(TEXTS[::-1]) > tokenised
    tokenised = len(calls)
    assert encode(TEXTS[:-1] + [TEXTS[-1] + "!"]) > tokenised
    tokenised = len(calls)
    prompt = {"before": "Review: ", "after": " Sentiment:"}
    assert encode(TEXTS, method="prompt-linear", prompt=prompt) > tokenised


def test_another_tokenizer_misses(tokenizer, tmp_path):
    import copy

    recipe = build({"model": {"max_length": 16}})
    cache = TokenIdCache(tmp_path)
    calls: list[int] = []
    method = counting(registry.method("full"), calls)
    method.encode(TEXTS, tokenizer, recipe, None, cache=cache)
    other = copy.deepcopy(tokenizer)
    other.add_tokens(["fine film"])
    ids = method.encode(TEXTS, other, recipe, None, cache=cache)
    assert len(calls) == 2  # tokenised again
    assert ids.tolist() == other(TEXTS, truncation=True, max_length=16)["input_ids"]


def test_a_damaged_entry_is_tokenised_again_and_said(tokenizer, tmp_path):
    recipe = build({"model": {"max_length": 16}})
    cache = TokenIdCache(tmp_path)
    method = registry.method("full")
    expected = method.encode(TEXTS, tokenizer, recipe, None, cache=cache).tolist()
    (values,) = Path(tmp_path).glob("??/*.values")
    values.write_bytes(values.read_bytes()[:-8])  # a disk that filled up, say
    again = method.encode(TEXTS, tokenizer, recipe, None, cache=cache)
    assert again.tolist() == expected
    assert len(cache.problems) == 1 and "unreadable" in cache.problems[0]
    fresh = TokenIdCache(tmp_path)
    assert method.encode(TEXTS, tokenizer, recipe, None, cache=fresh).tolist() == expected
    assert not fresh.problems


def test_a_failed_tokenisation_leaves_no_entry(tmp_path):
    cache = TokenIdCache(tmp_path)

    def failing(file):
        file.write(b"\0" * 16)
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        cache.put("ab" * 32, failing)
    assert cache.get("ab" * 32) is None
    assert not [p for p in Path(tmp_path).rglob("*") if p.is_file()]


def test_runs_share_a_split_s_token_ids_and_the_recipe_can_turn_it_off(
    tiny_bert, data_folder, tmp_path, monkeypatch
):
    from runner.pipeline import run_recipe

    from .test_run import tiny_recipe

    monkeypatch.setenv("FTRUN_CACHE", str(tmp_path / "cache"))
    calls: list[int] = []
    real = registry.method

    def get(name):
        return counting(real(name), calls)

    monkeypatch.setattr(registry, "method", get)
    recipe = tiny_recipe(tiny_bert, data_folder, tmp_path / "out", "full", train={"epochs": 1})
    run_recipe(recipe, Path("first.toml"))
    tokenised = sum(calls)
    assert tokenised and list((tmp_path / "cache" / "token-ids").glob("??/*.values"))
    run_recipe(recipe, Path("second.toml"))
    assert sum(calls) == tokenised
    uncached = tiny_recipe(
        tiny_bert, data_folder, tmp_path / "out", "full", train={"epochs": 1}, data={"cache_token_ids": False}
    )
    run_recipe(uncached, Path("third.toml"))
    assert sum(calls) == 2 * tokenised
