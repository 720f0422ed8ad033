"""A recipe key as a dataclass field: its default, help text and limits, and how to read them back."""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Sequence
from dataclasses import field
from typing import Any


def option(
    default: Any,
    help: str,
    *,
    choices: Sequence[str] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool = False,
    contains: str | None = None,
) -> Any:
    """A recipe key: its default, what it means, and the values it allows."""
    metadata = {
        "help": help,
        "choices": choices,
        "minimum": minimum,
        "maximum": maximum,
        "positive": positive,
        "contains": contains,
    }
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def fields_of(options_class: type) -> dict[str, dataclasses.Field[Any]]:
    """The recipe keys a section or options dataclass declares (a nested `options` is not a key)."""
    return {f.name: f for f in dataclasses.fields(options_class) if not f.metadata.get("nested")}


@functools.cache
def field_types(options_class: type) -> dict[str, Any]:
    """Each key's real type (`int`, `list[str]`...), read from the annotations, not their source text."""
    return typing.get_type_hints(options_class)


def default_value(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc,operator]
