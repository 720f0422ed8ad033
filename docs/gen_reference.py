"""Rewrite the recipe reference table in docs/reference/recipe.md from the schema.

    python docs/gen_reference.py          # rewrite the table between the markers
    python docs/gen_reference.py --check  # exit 1 if the page is out of date (what tests/test_docs.py checks)

The table is `runner.recipe.reference.reference_table()` with the sweep's `[sweep.executor]` keys
(`runner.sweep.settings.reference_tables()`); the rest of the page is left as it is.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "reference" / "recipe.md"
START, END = "<!-- reference:start -->", "<!-- reference:end -->"


def with_table(page: str, table: str) -> str:
    """`page` with the lines between the reference markers replaced by `table`."""
    if page.count(START) != 1 or page.count(END) != 1:
        raise SystemExit(f"{PAGE.relative_to(ROOT)}: needs one {START} line and one {END} line")
    head, rest = page.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


def table() -> str:
    """Every key a recipe can hold: the recipe's sections, then a sweep's executor settings."""
    sys.path.insert(0, str(ROOT))  # the checkout's runner, installed or not
    from runner.recipe.reference import reference_table
    from runner.sweep.settings import reference_tables

    return reference_table(reference_tables())


def main(argv: list[str]) -> int:
    page = PAGE.read_text()
    updated = with_table(page, table())
    if "--check" in argv:
        if updated != page:
            print(f"{PAGE.relative_to(ROOT)} is out of date: run python docs/gen_reference.py")
            return 1
        return 0
    if updated != page:
        PAGE.write_text(updated)
        print(f"rewrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
