"""Texts and sentence pairs -> token ids within `model.max_length`, cut where `data.truncation` says.

Single texts: `head` keeps the first tokens (the tokenizer's own truncation), `tail` the last,
`head+tail` both ends (Sun et al., 2019: the best cut for long reviews). Pairs: an encoder reads the
two texts as a pair (its own separator and token types) with the longer text cut first; a tokenizer
without a pair format (a decoder's) gets the two texts joined by `data.pair_separator`, cut the
same way, so the separator is never lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from runner.recipe.schema import DataSection


def has_pair_format(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether the tokenizer marks a pair itself (BERT's [SEP], RoBERTa's </s></s>); decoders do not."""
    return tokenizer.sep_token is not None


def uses_token_types(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether a pair's second text gets token type 1 (BERT-like models have type embeddings)."""
    return has_pair_format(tokenizer) and "token_type_ids" in tokenizer.model_input_names


def special_tokens(tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after one text ([CLS] / [SEP], a BOS, or none)."""
    bare = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    for start in range(len(full) - len(bare) + 1):
        if full[start : start + len(bare)] == bare:
            return list(full[:start]), list(full[start + len(bare) :])
    return [], []  # a tokenizer that rewrites the text around its special tokens: add none


def cut(ids: Sequence[int], room: int, truncation: str, head_share: float) -> list[int]:
    """At most `room` of `ids`: the first, the last, or `head_share` of the room from the start and
    the rest from the end."""
    ids = list(ids)
    if len(ids) <= room:
        return ids
    if truncation == "tail":
        return ids[len(ids) - room :] if room else []
    if truncation == "head+tail":
        head = round(room * head_share)
        return ids[:head] + (ids[len(ids) - (room - head) :] if room > head else [])
    return ids[:room]


def cut_longest_first(a: list[int], b: list[int], room: int) -> tuple[list[int], list[int]]:
    """Tokens taken from the end of the longer text until both fit in `room` (transformers'
    `longest_first`)."""
    while len(a) + len(b) > room and (a or b):
        if len(a) >= len(b):
            a = a[:-1]
        else:
            b = b[:-1]
    return a, b


def batch_encoder(
    tokenizer: PreTrainedTokenizerBase, max_length: int, data: DataSection
) -> Callable[[list[Any]], list[list[int]]]:
    """texts (or (text, text_pair) tuples) -> token ids, one batch at a time."""
    before, after = special_tokens(tokenizer)
    separator = tokenizer(data.pair_separator, add_special_tokens=False)["input_ids"]
    pair_format = has_pair_format(tokenizer)

    def batch(chunk: list[Any]) -> list[list[int]]:
        if chunk and isinstance(chunk[0], tuple):
            firsts, seconds = [a for a, _ in chunk], [b for _, b in chunk]
            if pair_format:
                encoded = tokenizer(firsts, seconds, truncation="longest_first", max_length=max_length)
                return encoded["input_ids"]  # type: ignore[no-any-return]
            room = max_length - len(before) - len(after) - len(separator)
            bare_a = tokenizer(firsts, add_special_tokens=False)["input_ids"]
            bare_b = tokenizer(seconds, add_special_tokens=False)["input_ids"]
            joined = []
            for a, b in zip(bare_a, bare_b, strict=True):
                a, b = cut_longest_first(list(a), list(b), max(room, 0))
                joined.append(before + a + separator + b + after)
            return joined
        if data.truncation == "head":
            return tokenizer(chunk, truncation=True, max_length=max_length)["input_ids"]  # type: ignore[no-any-return]
        room = max(max_length - len(before) - len(after), 0)
        bare = tokenizer(chunk, add_special_tokens=False)["input_ids"]
        return [before + cut(ids, room, data.truncation, data.head_share) + after for ids in bare]

    return batch
