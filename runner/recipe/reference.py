"""The docs' recipe reference table, generated from the schema so that it cannot drift from it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runner.recipe.fields import default_value, field_types, fields_of
from runner.recipe.schema import METHODS, method_options, sections
from runner.registry import method_class

_TYPE_NAMES = {
    int: "int",
    float: "float",
    str: "str",
    bool: "bool",
    list[str]: "list of strings",
    list[float]: "list of numbers",
    str | list[float]: "str or list of numbers",
    dict[str, Any]: "table",
    dict[str, list[str]]: "table of lists of strings",
}


def type_name(options_class: type, name: str) -> str:
    return _TYPE_NAMES[field_types(options_class)[name]]


def reference_table(later_tables: Sequence[tuple[str, type]] = ()) -> str:
    """The docs' recipe reference, generated so it cannot drift from the schema.

    `later_tables` are (section, settings class) pairs that later stages read from a recipe (a sweep's
    `[sweep.executor]`); a key that two of a section's classes share is listed once.
    """
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for section, cls in sections().items():
        rows += [_reference_row(section, cls, name, "") for name in fields_of(cls)]
        if section == "method":
            # Methods that share an options class (dora reads lora's keys) share its rows.
            users: dict[type, list[str]] = {}
            for method, options in method_options().items():
                users.setdefault(options, []).append(method)
            for options, names in users.items():
                only_for = ", ".join(f"`{name}`" for name in names)
                rows += [_reference_row(section, options, name, only_for) for name in fields_of(options)]
    listed: set[tuple[str, str]] = set()
    for section, cls in later_tables:
        rows += [
            _reference_row(section, cls, name, "") for name in fields_of(cls) if (section, name) not in listed
        ]
        listed |= {(section, name) for name in fields_of(cls)}
    return "\n".join(rows)


def _reference_row(section: str, cls: type, name: str, only_for: str) -> str:
    f = fields_of(cls)[name]
    default = default_value(f)
    shown = repr(default).replace("'", '"') if not isinstance(default, bool) else str(default).lower()
    shown = "{}" if default == {} else shown
    meaning = (f"{only_for} only: " if only_for else "") + f.metadata["help"]
    if f.metadata["choices"]:
        meaning += " One of " + ", ".join(f"`{c}`" for c in f.metadata["choices"]) + "."
    by_method = {m: method_class(m).defaults.get(section, {}).get(name) for m in METHODS}
    by_method = {m: value for m, value in by_method.items() if value is not None}
    if by_method:
        meaning += " Unset, methods use their own: " + ", ".join(f"`{m}` {v:g}" for m, v in by_method.items())
        meaning += "; the resolved recipe records the value used."
    return f"| `{section}.{name}` | {type_name(cls, name)} | `{shown}` | {meaning.replace(chr(10), ' ')} |"
