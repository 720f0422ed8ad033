"""How a recipe's keys and values are spelled back to the user: in errors, in names and in tables.

A leaf (difflib and tomli_w only), so recipe errors, sweep combination names and compare's tables all
spell a value the same way.
"""

from __future__ import annotations

import difflib
from typing import Any

import tomli_w


def suggest(word: Any, candidates: Any, prefix: str = "") -> str:
    """` (did you mean KEY?)` for the closest of `candidates` to a misspelt `word`, or nothing."""
    close = difflib.get_close_matches(str(word), list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {prefix}{close[0]}?)" if close else ""


def toml_value(value: Any) -> str:
    """A value as it is written in a recipe (and after `--set KEY=`): `0.0003`, `"lora"`, `[1, 2]`."""
    return tomli_w.dumps({"v": value}).partition("=")[2].strip()


def compact_number(value: int | float) -> str:
    """The shortest exact spelling: 3e-4, 1e-2, 1.5e-4, 0.1, 0.25, 1000 (as learning rates are written)."""
    if isinstance(value, int):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    if 0 < abs(value) < 0.1 or "e" in repr(value):
        for digits in range(17):
            text = f"{value:.{digits}e}"
            if float(text) == value:
                mantissa, exponent = text.split("e")
                return f"{mantissa}e{int(exponent)}"
    return repr(value)
