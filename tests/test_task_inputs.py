"""What each task reads and feeds the model: targets from every shape users bring, stratified draws
that keep rare labels, truncation that keeps a text's head and tail, sentence pairs with their
separator and token types, class weights and the regression scale."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from runner.data.examples import strata, stratified
from runner.data.loading import load_data
from runner.errors import DataError
from runner.recipe import reading as recipes
from runner.recipe.schema import DataSection
from runner.tokens.encoding import batch_encoder, cut, cut_longest_first
from runner.training.batches import collate
from runner.training.objective import Objective, balanced_weights, objective_for

from .conftest import SHARED_DATA, write_jsonl

LABELS = ["joy", "anger", "fear"]


def multi(folder: Path, rows: list[dict], name: str = "train.jsonl", **data) -> DataSection:
    write_jsonl(folder / name, rows)
    return DataSection(
        source=str(folder / name), eval_split="train", task="multi_label", labels=LABELS, **data
    )


def test_multi_label_targets_come_from_lists_names_ids_and_delimited_strings(tmp_path):
    rows = [
        {"text": "a", "label": ["joy", "fear"]},
        {"text": "b", "label": "anger,joy"},
        {"text": "c", "label": "2, 0"},
        {"text": "d", "label": []},
        {"text": "e", "label": [1]},
    ]
    data = load_data(multi(tmp_path, rows))
    assert data.train.labels == [(0, 2), (0, 1), (0, 2), (), (1,)]


def test_multi_label_targets_from_one_column_per_label(tmp_path):
    (tmp_path / "train.csv").write_text("text,joy,anger,fear\na,1,0,1\nb,0,0,0\nc,0,1,0\n")
    cfg = DataSection(
        source=str(tmp_path / "train.csv"),
        eval_split="train",
        task="multi_label",
        labels=LABELS,
        label_column="",
    )
    assert load_data(cfg).train.labels == [(0, 2), (), (1,)]


def test_goemotions_original_shape_of_comma_separated_ids_reads_as_label_sets(tmp_path):
    (tmp_path / "train.tsv").write_text("text\tlabels\tid\nso happy\t0,2\tx1\nugh\t1\tx2\n")
    cfg = DataSection(
        source=str(tmp_path / "train.tsv"),
        eval_split="train",
        task="multi_label",
        labels=LABELS,
        label_column="labels",
    )
    assert load_data(cfg).train.labels == [(0, 2), (1,)]


def test_regression_targets_are_floats_and_bad_ones_name_their_rows(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"text": "a", "score": "1.5"}, {"text": "b", "score": 4}])
    cfg = DataSection(
        source=str(tmp_path / "train.jsonl"), eval_split="train", task="regression", label_column="score"
    )
    assert load_data(cfg).train.labels == [1.5, 4.0]
    write_jsonl(
        tmp_path / "bad.jsonl",
        [{"text": "a", "score": 1}, {"text": "b", "score": "x"}, {"text": "c", "score": None}],
    )
    cfg.source = str(tmp_path / "bad.jsonl")
    with pytest.raises(DataError, match=r"column 'score': 2 regression targets .*row 1: 'x', row 2: None"):
        load_data(cfg)


def test_a_stratified_draw_keeps_rare_labels_and_the_spread_of_values():
    rows = [(0,)] * 900 + [(1,)] * 90 + [(0, 2)] * 10  # label 2 in 1% of rows
    chosen = stratified(rows, 100, seed=3)
    assert sum(2 in rows[i] for i in chosen) == 1 and len(set(chosen)) == 100
    values = [float(v) for v in range(1000)]
    bins = Counter(strata(values))
    assert len(bins) == 10 and set(bins.values()) == {100}
    drawn = sorted(values[i] for i in stratified(values, 50, seed=1))
    assert sum(v < 100 for v in drawn) == 5 and sum(v >= 900 for v in drawn) == 5


def test_cut_keeps_the_head_the_tail_or_both_ends():
    ids = list(range(10))
    assert cut(ids, 4, "head", 0.25) == [0, 1, 2, 3]
    assert cut(ids, 4, "tail", 0.25) == [6, 7, 8, 9]
    assert cut(ids, 4, "head+tail", 0.25) == [0, 7, 8, 9]
    assert cut(ids, 4, "head+tail", 0.5) == [0, 1, 8, 9]
    assert cut(ids, 20, "tail", 0.5) == ids
    assert cut_longest_first([1, 2, 3, 4, 5], [6, 7], 5) == ([1, 2, 3], [6, 7])


def test_head_and_tail_truncation_on_a_real_tokenizer_keeps_the_special_tokens(minilm_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    text = "start " + " ".join(["middle"] * 50) + " finish"
    for truncation, kept in (("head", "start"), ("tail", "finish"), ("head+tail", "start")):
        encode = batch_encoder(tokenizer, 12, DataSection(truncation=truncation, head_share=0.25))
        (ids,) = encode([text])
        assert len(ids) == 12 and ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
        words = tokenizer.decode(ids[1:-1]).split()
        assert kept in words and (truncation == "head") != ("finish" in words)
    (both,) = batch_encoder(tokenizer, 12, DataSection(truncation="head+tail", head_share=0.5))([text])
    assert (
        tokenizer.decode(both[1:-1]).split()[0] == "start"
        and tokenizer.decode(both[1:-1]).split()[-1] == "finish"
    )


def test_pairs_on_an_encoder_are_the_tokenizers_own_pairs_and_carry_token_types(minilm_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    pairs = [("a long first sentence about films", "short"), ("one", "two words")]
    ids = batch_encoder(tokenizer, 8, DataSection(text_pair_column="b"))(pairs)
    expected = tokenizer([a for a, _ in pairs], [b for _, b in pairs], truncation=True, max_length=8)
    assert ids == expected["input_ids"]
    rows = [{"index": i, "input_ids": row, "label": 0} for i, row in enumerate(ids)]
    batch = collate(rows, tokenizer.pad_token_id, segment_token=tokenizer.sep_token_id)
    for i, types in enumerate(expected["token_type_ids"]):
        assert batch["token_type_ids"][i, : len(types)].tolist() == types
    assert batch["token_type_ids"][1, len(expected["token_type_ids"][1]) :].sum() == 0  # padding


def test_pairs_for_a_tokenizer_without_a_pair_format_are_joined_by_the_separator(minilm_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    tokenizer.sep_token = None  # as a decoder's tokenizer: no pair format of its own
    encode = batch_encoder(tokenizer, 9, DataSection(text_pair_column="b", pair_separator=" | "))
    (ids,) = encode([("first words here and more", "second")])
    assert len(ids) <= 9
    assert tokenizer.decode(ids, skip_special_tokens=True).split(" | ")[-1] == "second"


def test_balanced_class_weights_follow_the_training_counts():
    single = Objective("single_label", 3)
    assert balanced_weights(single, [0, 0, 0, 1]) == [4 / 9, 4 / 3, 1.0]
    per_label = Objective("multi_label", 2)
    assert balanced_weights(per_label, [(0,), (0, 1), (), ()]) == [1.0, 3.0]
    recipe = recipes.build({"data": {"labels": ["a", "b"]}, "train": {"class_weights": [1.0, 2.5]}})
    assert objective_for(recipe, [0, 1]).class_weights == [1.0, 2.5]
    loss = objective_for(recipe, [0, 1]).loss_function()
    logits, target = torch.tensor([[0.0, 1.0], [2.0, 0.0]]), torch.tensor([0, 1])
    plain = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    assert loss(logits, target) == pytest.approx(float((plain * torch.tensor([1.0, 2.5])).sum() / 3.5))


def test_regression_trains_on_standardised_targets_and_the_folded_head_outputs_raw_values():
    recipe = recipes.build({"data": {"task": "regression"}})
    objective = objective_for(recipe, [1.0, 3.0, 5.0])
    assert objective.targets([1.0, 3.0, 5.0]).tolist() == pytest.approx([-1.2247, 0.0, 1.2247], abs=1e-4)
    head = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    features = torch.randn(5, 4)
    standardised = head(features).squeeze(-1)
    objective.fold_scale(head)
    raw = head(features).squeeze(-1)
    torch.testing.assert_close(raw, standardised * objective_for(recipe, [1.0, 3.0, 5.0]).target_std + 3.0)


def test_outputs_read_as_numbers_leave_the_head_in_float32_under_bf16_autocast():
    """A bf16 output layer would round every regression value to 8 significant bits (4.09375, 3.671875)."""
    from runner.model.modeling_ftrun import Head

    torch.manual_seed(0)
    features = torch.randn(64, 32)
    value_head, label_head = Head(32, 16, 1, 0.0).eval(), Head(32, 16, 3, 0.0).eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        values = Objective("regression", 1).outputs(value_head(features))
        logits = label_head(features)
        probabilities = Objective("single_label", 3).outputs(logits)
    assert values.dtype == logits.dtype == probabilities.dtype == torch.float32
    representable = values.bfloat16().float() == values
    assert not representable.all() and not (logits.bfloat16().float() == logits).all()
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the same layers left to autocast: bf16
        assert label_head.layers(features).dtype == torch.bfloat16


def test_the_texts_cut_to_max_length_are_counted_in_the_run_record(tmp_path, tiny_bert):
    from runner.pipeline import run_recipe

    from .test_run import tiny_recipe

    rows = [{"text": " ".join(["word"] * (5 if i % 2 else 80)), "label": i % 2} for i in range(20)]
    write_jsonl(tmp_path / "train.jsonl", rows)
    write_jsonl(tmp_path / "test.jsonl", rows[:10])
    recipe = tiny_recipe(tiny_bert, tmp_path, tmp_path / "out", "linear", data={"truncation": "head+tail"})
    folder = run_recipe(recipe, Path("cut.toml"))
    cut_counts = json.loads((folder / "metrics.json").read_text())["data"]["cut_to_max_length"]
    assert cut_counts == {"train": 10, "eval": 5}


@pytest.mark.skipif(
    not (SHARED_DATA / "goemotions").is_dir(), reason="../shared/data is not beside the checkout"
)
def test_goemotions_subsample_keeps_every_label_and_mrpc_reads_pairs():
    labels = (SHARED_DATA / "goemotions" / "labels.txt").read_text().split()
    cfg = DataSection(
        source=str(SHARED_DATA / "goemotions"),
        task="multi_label",
        label_column="labels",
        labels=labels,
        train_size=2000,
        eval_size=500,
    )
    data = load_data(cfg)
    present = Counter(label for row in data.train.labels for label in row)
    assert len(data.train) == 2000 and len(present) == 28 and min(present.values()) >= 3
    mrpc = load_data(
        DataSection(
            source=str(SHARED_DATA / "mrpc"),
            text_column="sentence1",
            text_pair_column="sentence2",
            eval_size=50,
        )
    )
    assert len(mrpc.train) == 2576 and mrpc.train.pairs is not None and len(mrpc.train.pairs) == 2576
    assert np.mean(mrpc.train.labels) == pytest.approx(1753 / 2576)
