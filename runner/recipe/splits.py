"""Split expressions such as `train`, `train[:2000]`, `test[1000:2000]` or `train[:10%]`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from runner.errors import RecipeError

_PATTERN = re.compile(r"^(?P<name>[\w.-]+)(\[(?P<start>-?\d+%?)?:(?P<stop>-?\d+%?)?\])?$")


@dataclass(frozen=True)
class SplitExpr:
    name: str
    start: str | None = None
    stop: str | None = None

    def indices(self, length: int) -> range:
        """The rows of a split of `length` rows that this expression selects."""
        return range(length)[slice(_bound(self.start, length), _bound(self.stop, length))]


def parse(expression: str, key: str) -> SplitExpr:
    match = _PATTERN.match(expression.strip())
    if not match:
        raise RecipeError(
            f"{key} = {expression!r} is not a split expression; "
            "write e.g. 'train', 'train[:2000]' or 'test[10%:]'"
        )
    return SplitExpr(match["name"], match["start"], match["stop"])


def _bound(text: str | None, length: int) -> int | None:
    if text is None:
        return None
    if text.endswith("%"):
        return round(int(text[:-1]) * length / 100)
    return int(text)
