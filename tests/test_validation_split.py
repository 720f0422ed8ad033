"""Validation: a split of the source, or a seeded stratified carve-out of train that never trains."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from runner.data.loading import load_data
from runner.errors import DataError
from runner.recipe.schema import DataSection

from .conftest import sentiment_rows, write_jsonl


@dataclass
class WithValidation(DataSection):
    """DataSection with the keys the schema is to gain (`data.validation_split`, `data.validation_size`)."""

    validation_split: str = ""
    validation_size: int = 0


@pytest.fixture
def skewed_folder(tmp_path):
    """80 train rows, 3 negative to 1 positive, so stratification is visible."""
    folder = tmp_path / "skewed"
    folder.mkdir()
    rows = [{**row, "label": 0 if i % 4 else 1} for i, row in enumerate(sentiment_rows(80, seed=3))]
    write_jsonl(folder / "train.jsonl", rows)
    write_jsonl(folder / "test.jsonl", sentiment_rows(10, seed=4))
    return folder


def carve(folder, **keys):
    return load_data(WithValidation(source=str(folder), **keys))


def test_the_carve_out_is_disjoint_from_what_trains_and_together_they_are_the_train_split(skewed_folder):
    data = carve(skewed_folder, validation_size=20)
    assert data.validation is not None
    assert not set(data.validation.ids) & set(data.train.ids)
    assert sorted(data.validation.ids + data.train.ids) == list(range(80))


def test_the_carve_out_keeps_each_labels_share(skewed_folder):
    data = carve(skewed_folder, validation_size=20)
    assert Counter(data.validation.labels) == {0: 15, 1: 5}
    assert Counter(data.train.labels) == {0: 45, 1: 15}


def test_the_carve_out_is_the_same_for_the_same_data_seed_and_differs_for_another(skewed_folder):
    first, again = carve(skewed_folder, validation_size=20), carve(skewed_folder, validation_size=20)
    other = carve(skewed_folder, validation_size=20, seed=1)
    assert first.validation.ids == again.validation.ids
    assert first.validation.ids != other.validation.ids


def test_train_size_counts_what_trains_and_does_not_move_the_validation_set(skewed_folder):
    whole = carve(skewed_folder, validation_size=20)
    sampled = carve(skewed_folder, validation_size=20, train_size=30)
    assert len(sampled.train) == 30 and Counter(sampled.train.labels) == {0: 23, 1: 7}
    assert sampled.validation.ids == whole.validation.ids
    assert not set(sampled.train.ids) & set(sampled.validation.ids)


def test_the_description_records_the_validation_size_and_hash(skewed_folder):
    data = carve(skewed_folder, validation_size=20)
    described = data.description
    assert described["validation_size"] == 20 and described["train_size"] == 60
    assert described["validation_hash"] == data.validation.fingerprint()
    assert described["validation_split"] == "train (stratified carve-out, data.seed 0)"


def test_a_validation_split_expression_selects_rows_of_the_source(data_folder):
    data = carve(data_folder, train_split="train[12:]", validation_split="train[:12]")
    assert data.validation.ids == list(range(12)) and len(data.train) == 36
    assert data.description["validation_split"] == "train[:12]"
    assert data.description["validation_size"] == 12


def test_without_validation_keys_nothing_changes(data_folder):
    plain = load_data(DataSection(source=str(data_folder)))
    assert plain.validation is None
    assert not [key for key in plain.description if key.startswith("validation")]
    assert load_data(WithValidation(source=str(data_folder))).description == plain.description


def test_a_carve_out_as_large_as_the_train_split_is_refused(data_folder):
    with pytest.raises(DataError, match="data.validation_size = 48 leaves nothing to train on"):
        carve(data_folder, validation_size=48)


def test_a_split_and_a_carve_out_together_are_refused(data_folder):
    with pytest.raises(DataError, match="set one of them, not both"):
        carve(data_folder, validation_split="test", validation_size=5)


def test_the_eval_split_is_untouched_by_a_carve_out(skewed_folder):
    plain = load_data(DataSection(source=str(skewed_folder)))
    data = carve(skewed_folder, validation_size=20)
    assert data.eval == plain.eval and data.description["eval_hash"] == plain.description["eval_hash"]
