"""TokenIds: token ids as flat int32 arrays, equal row by row to what the tokenizer returned."""

from __future__ import annotations

import numpy as np
import pytest

from runner.tokens.ids import TokenIds, encode_in_batches

ROWS = [[101, 7, 8, 102], [101, 9, 102], [101, 102]]


def test_rows_come_back_as_int32_views_of_one_array():
    ids = TokenIds.from_rows(ROWS)
    assert len(ids) == 3
    assert ids.tolist() == ROWS
    assert ids[-1].tolist() == [101, 102]
    assert [row.tolist() for row in ids[1:]] == ROWS[1:]
    assert ids.values.dtype == np.int32 and ids[0].base is ids.values
    assert ids.lengths() == [4, 3, 2]
    with pytest.raises(IndexError):
        ids[3]


def test_encoding_in_batches_equals_encoding_at_once():
    texts = [f"text {i}" for i in range(23)]

    def encode(batch):
        assert len(batch) <= 5
        return [[len(text), int(text.split()[1])] * (int(text.split()[1]) % 3 + 1) for text in batch]

    in_batches = encode_in_batches(texts, encode, batch=5)
    at_once = TokenIds.from_rows([row for i in range(0, 23, 5) for row in encode(texts[i : i + 5])])
    assert in_batches == at_once
    assert in_batches.tolist()[22] == [7, 22, 7, 22]  # "text 22": 7 characters, 22 % 3 + 1 repeats
    assert len(encode_in_batches([], encode)) == 0


def test_fingerprint_sees_order_values_and_row_boundaries():
    def fingerprint(rows):
        return TokenIds.from_rows(rows).fingerprint()

    ids = [[101, 7, 8, 102], [101, 9, 102]]
    assert fingerprint(ids) == fingerprint([list(row) for row in ids])
    assert fingerprint(ids[::-1]) != fingerprint(ids)
    assert fingerprint([[101, 7, 8, 102, 101], [9, 102]]) != fingerprint(ids)
    assert fingerprint([[101, 7, 8, 102], [101, 10, 102]]) != fingerprint(ids)


def test_the_runner_encodes_a_real_tokenizer_s_ids_exactly(minilm_path):
    from runner import registry
    from runner.model.classifier import load_tokenizer, resolve_source
    from runner.recipe.reading import build
    from runner.recipe.schema import ModelSection

    tokenizer = load_tokenizer(resolve_source(ModelSection(name=str(minilm_path))))
    texts = ["a fine film " * (i % 50) + "end" for i in range(2500)]  # three batches, varied lengths
    recipe = build({"model": {"max_length": 64}})
    ids = registry.method("full").encode(texts, tokenizer, recipe, None)
    assert ids.tolist() == tokenizer(texts, truncation=True, max_length=64)["input_ids"]
