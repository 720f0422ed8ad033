"""Data sources, split expressions, label mapping, subsampling and the errors for bad data."""

from __future__ import annotations

import csv
from collections import Counter

import pytest

from runner.data import EMBEDDED_TEST_SIZE, load_data
from runner.errors import DataError
from runner.schema import DataSection

from .conftest import SHARED_IMDB, sentiment_rows, write_jsonl


def section(**values) -> DataSection:
    return DataSection(**values)


def test_folder_of_split_files_gives_named_splits(data_folder):
    data = load_data(section(source=str(data_folder)))
    assert (len(data.train), len(data.eval)) == (48, 21)
    assert data.eval.ids == list(range(21))
    assert data.description["eval_hash"] == data.eval.fingerprint()


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_each_file_format_reads_the_same_rows(tmp_path, suffix):
    rows = sentiment_rows(10, seed=3)
    path = tmp_path / f"reviews{suffix}"
    if suffix == ".jsonl":
        write_jsonl(path, rows)
    elif suffix == ".parquet":
        import datasets

        datasets.Dataset.from_list(rows).to_parquet(str(path))
    else:
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, ["text", "label"], delimiter="\t" if suffix == ".tsv" else ",")
            writer.writeheader()
            writer.writerows(rows)
    data = load_data(section(source=str(path), train_split="train[:6]", eval_split="train[6:]"))
    assert data.train.texts == [r["text"] for r in rows[:6]]
    assert data.eval.labels == [r["label"] for r in rows[6:]]
    assert data.eval.ids == [6, 7, 8, 9]


def test_aclimdb_folder_with_string_labels(tmp_path):
    for split, n in (("train", 3), ("test", 2)):
        for label in ("pos", "neg"):
            folder = tmp_path / "aclImdb" / split / label
            folder.mkdir(parents=True)
            for i in range(n):
                (folder / f"{i}_7.txt").write_text(f"{label} review {i}")
    data = load_data(section(source=str(tmp_path / "aclImdb")))
    assert len(data.train) == 6 and len(data.eval) == 4
    assert all(("pos" in t) == bool(y) for t, y in zip(data.train.texts, data.train.labels, strict=True))


@pytest.mark.parametrize("written, expected", [("positive", 1), ("NEG", 0), ("1", 1), (0, 0), ("pos", 1)])
def test_labels_map_from_names_prefixes_and_integers(tmp_path, written, expected):
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "a b c", "label": written}, {"text": "d", "label": 0}])
    assert load_data(section(source=str(path), eval_split="train")).train.labels[0] == expected


def test_stratified_subsample_is_balanced_seeded_and_repeatable(data_folder):
    first = load_data(section(source=str(data_folder), train_size=20, seed=5))
    again = load_data(section(source=str(data_folder), train_size=20, seed=5))
    other = load_data(section(source=str(data_folder), train_size=20, seed=6))
    assert first.train.ids == again.train.ids != other.train.ids
    assert Counter(first.train.labels) == {0: 10, 1: 10}


def test_embedded_imdb_holds_out_a_disjoint_stratified_test_split():
    data = load_data(section(train_size=400, eval_size=200))
    assert data.description["train_eval_overlap"] == 0
    assert Counter(data.eval.labels) == {0: 100, 1: 100}
    assert "held out" in data.notes[0]
    full = load_data(section())
    assert len(full.eval) == EMBEDDED_TEST_SIZE and len(full.train) == 25000 - EMBEDDED_TEST_SIZE


def test_overlap_between_train_and_eval_is_counted_and_warned(data_folder):
    data = load_data(section(source=str(data_folder), eval_split="train[:5]"))
    assert data.description["train_eval_overlap"] == 5
    assert any("5 eval texts also appear" in note for note in data.notes)


def expect_data_error(cfg: DataSection, *named: str) -> str:
    with pytest.raises(DataError) as error:
        load_data(cfg)
    for word in named:
        assert word in str(error.value)
    return str(error.value)


def test_missing_column_lists_the_columns(data_folder):
    expect_data_error(
        section(source=str(data_folder), text_column="review"),
        "data.text_column",
        "'review'",
        "['text', 'label']",
    )


def test_missing_split_lists_the_splits(data_folder):
    expect_data_error(
        section(source=str(data_folder), eval_split="validation"), "validation", "['test', 'train']"
    )


def test_empty_split_selection(data_folder):
    expect_data_error(
        section(source=str(data_folder), train_split="train[100:]"), "data.train_split", "selects no rows"
    )


def test_labels_outside_the_declared_set_show_rows(tmp_path):
    rows = [{"text": "x", "label": "positive"}, {"text": "y", "label": "neutral"}, {"text": "z", "label": 7}]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    expect_data_error(section(source=str(path)), "2 labels", "row 1: 'neutral'", "row 2: 7")


def test_empty_texts_fail_by_default_and_can_be_skipped(tmp_path):
    rows = sentiment_rows(6, seed=4) + [{"text": "  ", "label": 0}, {"text": None, "label": 1}]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    expect_data_error(
        section(source=str(path), eval_split="train"), "2 empty or non-string texts", "bad_texts"
    )
    data = load_data(section(source=str(path), eval_split="train", bad_texts="skip"))
    assert len(data.train) == 6 and any("skipped 2" in note for note in data.notes)


def test_missing_local_file_names_the_path():
    expect_data_error(section(source="./no/such/file.csv"), "./no/such/file.csv")


def test_unreachable_hub_dataset_is_a_data_error():
    expect_data_error(section(source="nobody-here/no-such-dataset-xyz"), "nobody-here/no-such-dataset-xyz")


@pytest.mark.skipif(not SHARED_IMDB.is_dir(), reason="../shared/data/imdb is absent")
def test_shared_official_imdb_split_reads_as_a_folder_source():
    data = load_data(section(source=str(SHARED_IMDB), train_split="train[:300]", eval_size=400))
    assert len(data.train) == 300 and len(data.eval) == 400
    # Stratified: the subsample keeps the split's label shares (12,266 negative of 24,678).
    assert abs(Counter(data.eval.labels)[0] - 400 * 12266 / 24678) <= 1
    assert data.description["train_eval_overlap"] == 0


def test_hub_loader_turns_a_dataset_dict_into_named_splits(data_folder):
    """The hub path is `datasets.load_dataset(name)`; a local folder stands in for a hub repo here."""
    from runner.data import _hub_dataset

    splits = _hub_dataset(str(data_folder))
    assert sorted(splits) == ["test", "train"] and len(splits["train"]) == 48
