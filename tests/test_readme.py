"""The README is the front door: the quickstart's two commands, and links into docs/ that resolve.

The recipe reference moved to docs/reference/recipe.md (tests/test_docs.py checks it)."""

from __future__ import annotations

import re

from .conftest import REPO


def test_readme_quickstart_names_the_quickstart_recipe_and_the_test_command():
    readme = (REPO / "README.md").read_text()
    assert "ftrun recipes/quickstart.toml" in readme and ".venv/bin/nox" in readme
    assert (REPO / "recipes" / "quickstart.toml").is_file()


def test_readme_links_and_images_point_at_files_that_exist():
    readme = (REPO / "README.md").read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    local = [target.split("#", 1)[0] for target in targets if "://" not in target]
    assert any(target.startswith("docs/") for target in local)
    assert any(target.endswith(".png") for target in local)
    assert [target for target in local if not (REPO / target).exists()] == []
