"""The README's recipe reference is the schema's, word for word."""

from __future__ import annotations

from runner.recipe.schema import reference_table

from .conftest import REPO


def test_readme_reference_table_matches_the_schema():
    readme = (REPO / "README.md").read_text()
    table = readme.split("<!-- reference:start -->\n", 1)[1].split("\n<!-- reference:end -->", 1)[0]
    assert table == reference_table()


def test_readme_quickstart_names_the_quickstart_recipe_and_the_test_command():
    readme = (REPO / "README.md").read_text()
    assert "ftrun recipes/quickstart.toml" in readme and ".venv/bin/nox" in readme
    assert (REPO / "recipes" / "quickstart.toml").is_file()
