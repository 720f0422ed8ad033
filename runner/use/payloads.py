"""What `POST /predict` accepts: a JSON body read within the limits and checked, or a one-line error.

A model trained on single texts takes `{"texts": ["...", ...]}`; one trained on sentence pairs takes
`{"pairs": [["text", "text_pair"], ...]}`. Anything else (not JSON, another shape, unknown fields, an
empty list or text, too many texts, too long a text, too large a body) is a `BadRequest` with the HTTP
status it answers and one line saying what to change.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

Input = str | tuple[str, str]


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1024 * 1024
    max_texts: int = 64  # per request
    max_chars: int = 20_000  # per text; the tokenizer cuts texts to the model's length anyway

    def describe(self) -> dict[str, int]:
        return {
            "max_body_bytes": self.max_body_bytes,
            "max_texts": self.max_texts,
            "max_chars": self.max_chars,
        }


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_body(declared_length: str | None, chunks: AsyncIterator[bytes], limits: Limits) -> bytes:
    """The body, refused (413) as soon as it is known to be larger than the limit: from its declared
    length before anything is read, or while it streams in."""
    too_large = BadRequest(
        413, f"the body is larger than this service's limit of {limits.max_body_bytes} bytes"
    )
    if (
        declared_length is not None
        and declared_length.isdigit()
        and int(declared_length) > limits.max_body_bytes
    ):
        raise too_large
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limits.max_body_bytes:
            raise too_large
    return bytes(body)


def parse_inputs(body: bytes, pairs: bool, limits: Limits) -> list[Input]:
    """The texts (or pairs) of a /predict body, in order."""
    try:
        request = json.loads(body)
    except ValueError as error:  # JSONDecodeError, and UnicodeDecodeError for bytes that are not text
        raise BadRequest(400, f"the body is not JSON ({str(error).splitlines()[0]})") from None
    field, example = (
        ("pairs", '{"pairs": [["text", "text pair"], ...]}') if pairs else ("texts", '{"texts": ["..."]}')
    )
    if not isinstance(request, dict):
        raise BadRequest(422, f"the body must be a JSON object: {example}")
    unknown = sorted(set(request) - {field})
    if unknown:
        hint = " (this model reads sentence pairs)" if "texts" in unknown and pairs else ""
        hint = " (this model reads single texts)" if "pairs" in unknown and not pairs else hint
        raise BadRequest(422, f"unknown field {unknown[0]!r}{hint}: give {example}")
    items = request.get(field)
    if not isinstance(items, list):
        raise BadRequest(422, f"{field!r} must be a list: {example}")
    if not items:
        raise BadRequest(422, f"{field!r} is empty: give at least one")
    if len(items) > limits.max_texts:
        raise BadRequest(
            422, f"{len(items)} {field}; this service takes at most {limits.max_texts} per request"
        )
    return [
        checked_pair(item, i, limits) if pairs else checked_text(item, f"texts[{i}]", limits)
        for i, item in enumerate(items)
    ]


def checked_text(text: Any, where: str, limits: Limits) -> str:
    if not isinstance(text, str):
        raise BadRequest(422, f"{where} must be a string, not {json_type(text)}")
    if not text.strip():
        raise BadRequest(422, f"{where} is empty")
    if len(text) > limits.max_chars:
        raise BadRequest(
            422, f"{where} has {len(text)} characters; this service takes at most {limits.max_chars} per text"
        )
    return text


def checked_pair(pair: Any, index: int, limits: Limits) -> tuple[str, str]:
    if not isinstance(pair, list) or len(pair) != 2:
        raise BadRequest(422, f"pairs[{index}] must be a list of two strings: [text, text_pair]")
    return checked_text(pair[0], f"pairs[{index}][0]", limits), checked_text(
        pair[1], f"pairs[{index}][1]", limits
    )


def json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
