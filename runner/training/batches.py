"""Datasets, length-grouped batching and padding: the shapes the training loop consumes."""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


class TokenDataset(Dataset):  # type: ignore[type-arg]
    # rows: lists or arrays; labels: the objective's targets (ids, 0/1 rows or values)
    def __init__(self, input_ids: Sequence[Any], labels: Sequence[Any] | np.ndarray) -> None:
        self.input_ids = input_ids
        self.labels = labels

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"index": index, "input_ids": self.input_ids[index], "label": self.labels[index]}


class FeatureDataset(Dataset):  # type: ignore[type-arg]
    """Cached base-model features of a frozen-base method: the head trains on these alone."""

    def __init__(self, features: torch.Tensor, labels: Sequence[Any] | np.ndarray) -> None:
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

    The scheme of transformers' `LengthGroupedSampler` (Trainer's `group_by_length`): texts are
    shuffled, cut into pools of 50 batches, sorted by length inside each pool and batched; the batches
    are shuffled again, and the one holding the longest text goes first, as there, so that a batch
    too large for the device fails at step 1 rather than an hour in. Seeded per epoch, so a resumed
    run can skip to the exact batch.
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
    if batches:
        longest = max(range(len(batches)), key=lambda b: max(lengths[i] for i in batches[b]))
        batches[0], batches[longest] = batches[longest], batches[0]
    return Batches(batches, batch_size)


def inference_batches(lengths: list[int], batch_size: int) -> Batches:
    """Batches sorted by length, longest first: the least padding; results are put back by index."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    return Batches([order[i : i + batch_size] for i in range(0, len(order), batch_size)], batch_size)


def make_loader(
    dataset: Dataset,  # type: ignore[type-arg]
    batches: Batches,
    pad_token_id: int,
    pad_to_multiple_of: int = 1,
    segment_token: int | None = None,
) -> DataLoader:  # type: ignore[type-arg]
    # Its own generator: starting an epoch then draws nothing from the global RNG, so a run resumed
    # mid-epoch sees the same dropout masks as one that never stopped.
    return DataLoader(
        dataset,
        batch_sampler=batches,
        collate_fn=functools.partial(
            collate,
            pad_token_id=pad_token_id,
            pad_to_multiple_of=pad_to_multiple_of,
            segment_token=segment_token,
        ),
        generator=torch.Generator(),
    )


def collate(
    rows: list[dict[str, Any]],
    pad_token_id: int,
    pad_to_multiple_of: int = 1,
    segment_token: int | None = None,
) -> dict[str, torch.Tensor]:
    """Right-padded tensors; under mixed precision a width that is a multiple of 8 suits tensor cores.

    With a `segment_token` (a pair's separator, for models with token types), every token after the
    first separator has token type 1, as the tokenizer itself marks a pair's second text.
    """
    batch = {
        "index": torch.tensor([row["index"] for row in rows]),
        "labels": torch.as_tensor(np.asarray([row["label"] for row in rows])),
    }
    if "features" in rows[0]:
        batch["features"] = torch.stack([row["features"] for row in rows])
        return batch
    ids = [torch.as_tensor(row["input_ids"], dtype=torch.long) for row in rows]
    width = -(-max(len(t) for t in ids) // pad_to_multiple_of) * pad_to_multiple_of
    input_ids = torch.nn.utils.rnn.pad_sequence(ids, batch_first=True, padding_value=pad_token_id)
    lengths = torch.tensor([len(t) for t in ids])
    if input_ids.shape[1] < width:
        input_ids = torch.nn.functional.pad(input_ids, (0, width - input_ids.shape[1]), value=pad_token_id)
    batch["input_ids"] = input_ids
    batch["attention_mask"] = (torch.arange(width)[None, :] < lengths[:, None]).long()
    if segment_token is not None:
        separators = (input_ids == segment_token).long()
        batch["token_type_ids"] = ((separators.cumsum(1) - separators) > 0).long() * batch["attention_mask"]
    # Counted here, on the CPU: summing the mask on a GPU would wait for it at every step.
    batch["num_tokens"] = int(lengths.sum())  # type: ignore[assignment]
    return batch
