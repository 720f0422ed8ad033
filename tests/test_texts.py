"""Texts read from Arrow on demand behave as the list of strings they stand for."""

from __future__ import annotations

import pyarrow as pa
import pytest

from runner.data.texts import ArrowTexts, string_column, take, usable

WORDS = ["a good film", "  ", "bad", None, "", "fine\n", "dull"]


def chunked():
    return pa.chunked_array([WORDS[:3], WORDS[3:]], type=pa.string())


def test_arrow_texts_index_slice_and_iterate_like_a_list():
    texts = ArrowTexts(chunked())
    assert len(texts) == 7
    assert texts[0] == "a good film" and texts[-1] == "dull"
    assert texts[2:5] == WORDS[2:5]  # across the chunk boundary
    assert texts[::3] == WORDS[::3]
    assert list(texts) == WORDS
    assert texts == WORDS and WORDS == texts and texts != WORDS[:-1]
    with pytest.raises(IndexError):
        texts[7]


def test_taking_positions_keeps_positions_not_copies():
    texts = ArrowTexts(chunked()).take([6, 0, 5])
    assert list(texts) == ["dull", "a good film", "fine\n"]
    assert texts[1:] == ["a good film", "fine\n"]
    assert texts.take([2, 0])[:] == ["fine\n", "dull"]
    assert texts.column is not None and len(texts.column) == 7  # the column itself is shared


def test_usable_finds_the_same_texts_in_arrow_and_in_a_list():
    assert usable(ArrowTexts(chunked())) == usable(WORDS) == [0, 2, 5, 6]
    assert usable(ArrowTexts(chunked()).take([1, 2, 3, 6])) == [1, 3]
    assert take(WORDS, [0, 2]) == ["a good film", "bad"]


def test_a_dataset_s_string_column_is_read_from_arrow_and_other_tables_are_not():
    import datasets

    table = datasets.Dataset.from_dict({"text": ["x", "y", "z", "w"], "number": [1, 2, 3, 4]})
    texts = string_column(table, "text", range(1, 3))
    assert isinstance(texts, ArrowTexts) and list(texts) == ["y", "z"]
    assert string_column(table, "number", range(0, 4)) is None  # not strings: read as Python values
    assert string_column(table.select([3, 0]), "text", range(0, 2)) is None  # an index mapping
    assert string_column({"text": ["x"]}, "text", range(0, 1)) is None


def test_a_split_loaded_from_a_file_keeps_its_texts_in_arrow(tmp_path):
    import json

    from runner.data.loading import load_data
    from runner.recipe.reading import build

    rows = [{"text": f"review {i}", "label": i % 2} for i in range(40)] + [{"text": " ", "label": 0}]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:10]))
    data = load_data(build({"data": {"source": str(tmp_path), "bad_texts": "skip"}}).data)
    assert isinstance(data.train.texts, ArrowTexts) and isinstance(data.eval.texts, ArrowTexts)
    assert list(data.train.texts) == [f"review {i}" for i in range(40)]  # the blank review skipped
    assert data.description["train_eval_overlap"] == 10
    recipe = build({"data": {"source": str(tmp_path), "bad_texts": "skip", "validation_size": 8}})
    carved = load_data(recipe.data)
    assert len(carved.train) == 32 and len(carved.validation) == 8
    seen = dict(zip(carved.train.texts, carved.train.labels, strict=True))
    seen |= dict(zip(carved.validation.texts, carved.validation.labels, strict=True))
    assert seen == {f"review {i}": i % 2 for i in range(40)}
