"""Data sources, split expressions, label mapping, subsampling and the errors for bad data."""

from __future__ import annotations

import csv
from collections import Counter

import pytest

from runner.data.embedded import IMDB_TEST_SIZE as EMBEDDED_TEST_SIZE
from runner.data.loading import load_data
from runner.errors import DataError
from runner.recipe.schema import DataSection

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
    rows = [{"text": "a b c", "label": written}, {"text": "d", "label": 0}, {"text": "e", "label": 1}]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
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
    from runner.data.raw_splits import hub_dataset

    splits = hub_dataset(str(data_folder))
    assert sorted(splits) == ["test", "train"] and len(splits["train"]) == 48


def test_a_hub_dataset_is_loaded_with_its_configuration(monkeypatch):
    import datasets

    asked = []
    table = {"sentence1": ["a", "b"] * 4, "sentence2": ["c", "d"] * 4, "label": [0, 1] * 4}

    def load_dataset(name, config=None):
        asked.append((name, config))
        return datasets.DatasetDict({split: datasets.Dataset.from_dict(table) for split in ("train", "test")})

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    cfg = section(source="nyu-mll/glue", config="mrpc", text_column="sentence1", text_pair_column="sentence2")
    data = load_data(cfg)
    assert asked == [("nyu-mll/glue", "mrpc")] and len(data.train) == 8
    assert data.description["config"] == "mrpc"


def test_a_configuration_for_a_local_source_is_a_data_error(data_folder):
    expect_data_error(section(source=str(data_folder), config="mrpc"), "data.config")


def write_bytes(tmp_path, name: str, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


BAD_FILES = {
    "zero bytes": ("train.jsonl", b"", "is empty (0 bytes)"),
    "only blank lines": ("train.jsonl", b"\n\n", "has no rows"),
    "csv header only": ("train.csv", b"text,label\n", "header line but no rows"),
    "unsupported .txt": ("reviews.txt", b"a fine film\n", "unsupported file type .txt"),
    "gz that is not gzip": ("train.jsonl.gz", b'{"text": "a", "label": 0}\n', "not gzip-compressed"),
    "malformed jsonl line": (
        "train.jsonl",
        b'{"text": "a", "label": 0}\n{"text": "b", "lab\n{"text": "c", "label": 1}\n',
        "line 2: not valid JSON",
    ),
    "malformed json document": ("train.json", b'[{"text": "a", "label": 0},\n {"text" "b"}]\n', "line 2"),
    "latin-1 csv": ("train.csv", b"text,label\ncaf\xe9,0\nok,1\n", "line 2 is not UTF-8"),
    "latin-1 jsonl": (
        "train.jsonl",
        b'{"text": "ok", "label": 1}\n{"text": "caf\xe9", "label": 0}\n',
        "line 2",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_data_file_is_one_line_naming_the_file_and_the_cause(case, tmp_path):
    name, content, cause = BAD_FILES[case]
    path = write_bytes(tmp_path, name, content)
    with pytest.raises(DataError) as raised:
        load_data(section(source=str(path), eval_split="train"))
    message = str(raised.value)
    assert str(path) in message and cause in message and "\n" not in message


def test_a_bad_file_inside_a_folder_source_is_named(data_folder):
    (data_folder / "test.jsonl").write_bytes(b"")
    with pytest.raises(DataError, match="test.jsonl is empty"):
        load_data(section(source=str(data_folder)))


def test_a_valid_gzipped_file_still_reads(tmp_path):
    import gzip

    rows = "".join(f'{{"text": "review {i}", "label": {i % 2}}}\n' for i in range(6)).encode()
    path = write_bytes(tmp_path, "train.jsonl.gz", gzip.compress(rows))
    assert len(load_data(section(source=str(path), eval_split="train")).train) == 6


def test_training_data_of_one_class_is_an_error_naming_the_missing_labels(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": f"t{i}", "label": 0} for i in range(4)])
    with pytest.raises(
        DataError, match=r"all 4 training examples have label 'negative' \(none of \['positive'\]\)"
    ):
        load_data(section(source=str(path), eval_split="train"))


def test_aclimdb_folder_with_an_empty_pos_folder_is_refused(tmp_path):
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            (tmp_path / split / label).mkdir(parents=True)
        for i in range(3):
            (tmp_path / split / "neg" / f"{i}_2.txt").write_text(f"bad review {i}")
    with pytest.raises(DataError, match="'positive'"):
        load_data(section(source=str(tmp_path)))


def test_training_data_missing_one_of_three_labels_warns(tmp_path):
    rows = [{"text": f"t{i}", "label": i % 2} for i in range(6)]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    data = load_data(
        section(source=str(path), eval_split="train", labels=["negative", "positive", "neutral"])
    )
    assert any("data.train_split" in n and "['neutral']" in n for n in data.notes)
    assert any("data.eval_split" in n and "['neutral']" in n for n in data.notes)
    assert data.description["notes"] == data.notes  # what metrics.json records


def test_an_eval_split_missing_a_class_warns(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", sentiment_rows(8, seed=1))
    write_jsonl(tmp_path / "test.jsonl", [{"text": "fine", "label": 1}, {"text": "good", "label": 1}])
    data = load_data(section(source=str(tmp_path)))
    assert [n for n in data.notes if "data.eval_split" in n and "['negative']" in n]
    assert not [n for n in data.notes if "data.train_split" in n]


def test_sizes_larger_than_the_data_warn_and_use_all_rows(data_folder):
    data = load_data(section(source=str(data_folder), train_size=500, eval_size=21))
    assert len(data.train) == 48 and len(data.eval) == 21
    (note,) = [n for n in data.notes if "size" in n]
    assert "data.train_size = 500" in note and "using all 48" in note
