"""One definition of "the same configuration, another seed", shared by compare, selection and trackers."""

from __future__ import annotations

from runner.compare import selection
from runner.recipe import identity
from runner.recipe import reading as recipes
from runner.recipe.schema import Recipe
from runner.rundir.record import RunRecord


def recipe_text(**overrides: str) -> str:
    raw = recipes.apply_overrides({}, [f"{key}={value}" for key, value in overrides.items()])
    return recipes.to_toml(recipes.build(raw))


def test_seed_and_everything_under_output_are_not_part_of_a_configuration():
    one = recipe_text(**{"train.seed": "1", "output.dir": '"a"', "output.run_name": '"x"'})
    other = recipe_text(**{"train.seed": "2", "output.dir": '"b"', "output.run_name": '"y"'})
    assert identity.configuration(one, "x") == identity.configuration(other, "y")
    assert "train.lr" in identity.configuration(one, "x")


def test_any_other_setting_makes_another_configuration():
    one, other = recipe_text(**{"train.lr": "1e-4"}), recipe_text(**{"train.lr": "3e-4"})
    assert identity.configuration_key(identity.configuration(one, "a")) != identity.configuration_key(
        identity.configuration(other, "b")
    )


def test_an_unreadable_recipe_is_a_configuration_of_its_own():
    assert identity.configuration("not = [toml", "a") != identity.configuration("not = [toml", "b")


def test_selection_groups_runs_by_the_shared_configuration():
    texts = [recipe_text(**{"train.seed": str(s), "output.dir": f'"{d}"'}) for s, d in ((1, "a"), (2, "b"))]
    runs = [
        selection.run_result(f"r{i}", RunRecord.from_json({"method": "full", "seed": i, "accuracy": 0.5}), t)
        for i, t in enumerate(texts)
    ]
    assert runs[0].configuration == runs[1].configuration
    assert runs[0].configuration == identity.configuration_key(identity.configuration(texts[0], "r0"))


def test_flat_settings_put_method_options_under_method():
    flat = identity.flatten(identity.as_tables(Recipe()))
    assert flat["method.name"] == "full" and "train.lr" in flat and "method.options" not in flat
