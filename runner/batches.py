"""Datasets, length-grouped batching and padding: the shapes the training loop consumes."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset


class TokenDataset(Dataset):  # type: ignore[type-arg]
    def __init__(self, input_ids: list[list[int]], labels: list[int]) -> None:
        self.input_ids = input_ids
        self.labels = labels

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"index": index, "input_ids": self.input_ids[index], "label": self.labels[index]}


class FeatureDataset(Dataset):  # type: ignore[type-arg]
    """Cached base-model features of a frozen-base method: the head trains on these alone."""

    def __init__(self, features: torch.Tensor, labels: list[int]) -> None:
        self.features = features
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"index": index, "features": self.features[index], "label": self.labels[index]}


class Batches:
    """A fixed list of index batches; accelerate shards it across processes like a BatchSampler."""

    def __init__(self, batches: list[list[int]], batch_size: int) -> None:
        self.batches = batches
        self.batch_size = batch_size

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def training_batches(lengths: list[int], batch_size: int, seed: int, epoch: int) -> Batches:
    """Shuffled batches of similar-length texts: far less padding than random batches, still random.

    Texts are shuffled, cut into pools of 50 batches, sorted by length inside each pool, batched,
    and the batches shuffled again.
    """
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i], reverse=True)
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return Batches(batches, batch_size)


def inference_batches(lengths: list[int], batch_size: int) -> Batches:
    """Batches sorted by length, longest first: the least padding; results are put back by index."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    return Batches([order[i : i + batch_size] for i in range(0, len(order), batch_size)], batch_size)


def make_loader(dataset: Dataset, batches: Batches, pad_token_id: int) -> DataLoader:  # type: ignore[type-arg]
    return DataLoader(dataset, batch_sampler=batches, collate_fn=lambda rows: collate(rows, pad_token_id))


def collate(rows: list[dict[str, Any]], pad_token_id: int) -> dict[str, torch.Tensor]:
    batch = {
        "index": torch.tensor([row["index"] for row in rows]),
        "labels": torch.tensor([row["label"] for row in rows]),
    }
    if "features" in rows[0]:
        batch["features"] = torch.stack([row["features"] for row in rows])
        return batch
    width = max(len(row["input_ids"]) for row in rows)
    input_ids = torch.full((len(rows), width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, : len(row["input_ids"])] = torch.tensor(row["input_ids"])
        attention_mask[i, : len(row["input_ids"])] = 1
    batch["input_ids"] = input_ids
    batch["attention_mask"] = attention_mask
    return batch
