"""The recipe format: defaults, extends, --set precedence, and one clear line for every bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.errors import RecipeError
from runner.recipe import loading as recipes
from runner.recipe.schema import Recipe

from .conftest import REPO, SHARED_DATA, ftrun_in_process, run_cli


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_an_empty_recipe_is_all_defaults(tmp_path):
    assert recipes.load(write(tmp_path, "r.toml", "")) == Recipe()


def test_extends_merges_base_then_recipe_then_set(tmp_path):
    write(tmp_path, "base.toml", "[train]\nlr = 1e-3\nepochs = 5\nbatch_size = 4\n")
    path = write(tmp_path, "r.toml", 'extends = "base.toml"\n[train]\nlr = 3e-4\nepochs = 2\n')
    recipe = recipes.load(path, ["train.epochs=7"])
    assert recipe.train.batch_size == 4  # base
    assert recipe.train.lr == 3e-4  # recipe beats base
    assert recipe.train.epochs == 7  # --set beats recipe
    assert recipe.train.seed == Recipe().train.seed  # default


def test_extends_chains_resolve_relative_to_each_file(tmp_path):
    (tmp_path / "sub").mkdir()
    write(tmp_path, "root.toml", "[model]\nmax_length = 64\n")
    write(tmp_path / "sub", "mid.toml", 'extends = "../root.toml"\n[train]\nepochs = 2\n')
    recipe = recipes.load(write(tmp_path / "sub", "top.toml", 'extends = "mid.toml"\n'))
    assert (recipe.model.max_length, recipe.train.epochs) == (64, 2)


def test_set_parses_values_to_the_key_type(tmp_path):
    recipe = recipes.load(
        write(tmp_path, "r.toml", ""),
        [
            "method.name=lora",
            "train.lr=1e-4",
            'method.lora_target_modules=["query"]',
            "eval.every_epoch=false",
            "train.max_grad_norm=2",
        ],
    )
    assert recipe.method.name == "lora"
    assert recipe.train.lr == 1e-4
    assert recipe.method.lora_target_modules == ["query"]
    assert recipe.eval.every_epoch is False
    assert recipe.train.max_grad_norm == 2.0 and isinstance(recipe.train.max_grad_norm, float)


def test_show_prints_a_resolved_recipe_that_loads_back_identically(tmp_path, monkeypatch, capsys):
    code, out, _ = ftrun_in_process(monkeypatch, capsys, "show", str(REPO / "recipes" / "lora.toml"))
    assert code == 0
    assert "[method]" in out and 'name = "lora"' in out and "lr = 2e-05" in out
    again = recipes.load(write(tmp_path, "shown.toml", out))
    assert again == recipes.load(REPO / "recipes" / "lora.toml")


SHIPPED = sorted([*(REPO / "recipes").rglob("*.toml"), *(REPO / "benchmarks").rglob("*.toml")])


def reads_shared_data(path: Path) -> bool:
    """Whether the recipe, its `extends` bases merged in, reads ../shared/data (published results' data)."""
    source = recipes.read_raw(path).get("data", {}).get("source", "")
    return isinstance(source, str) and source.startswith("../shared/")


ON_SHARED_DATA = [p for p in SHIPPED if reads_shared_data(p)]


def test_every_shipped_recipe_validates(monkeypatch, capsys):
    paths = [str(p) for p in SHIPPED if p not in ON_SHARED_DATA]
    code, out, err = ftrun_in_process(monkeypatch, capsys, "validate", *paths)
    assert code == 0, err
    assert out.count("ok ") == len(paths) >= 12


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent (a user's clone)")
def test_shipped_recipes_on_the_shared_data_validate_where_it_is_present(monkeypatch, capsys):
    code, out, err = ftrun_in_process(monkeypatch, capsys, "validate", *map(str, ON_SHARED_DATA))
    assert code == 0, err
    assert out.count("ok ") == len(ON_SHARED_DATA) >= 1


def test_seed_method_recipes_share_everything_but_the_method():
    loaded = {
        m: recipes.load(REPO / "recipes" / f"{m}.toml") for m in ("full", "lora", "linear", "prompt-linear")
    }
    for recipe in loaded.values():
        assert recipe.model.name == "facebook/opt-350m"
        assert (recipe.train.lr, recipe.train.batch_size, recipe.train.epochs) == (2e-5, 8, 3)
        assert recipe.method.head_hidden == 1000
        assert recipe.data == loaded["full"].data and recipe.train.seed == loaded["full"].train.seed
    assert {r.method.name for r in loaded.values()} == set(loaded)


BAD_RECIPES = {
    "toml syntax": ("[train]\nlr = = 3\n", "line 2"),
    "unknown section": ("[trian]\nlr = 1e-4\n", "[trian]"),
    "unknown key": ("[train]\nlearning_rate = 1e-4\n", "train.learning_rate"),
    "misspelled method": ('[method]\nname = "lorra"\n', "method.name"),
    "negative lr": ("[train]\nlr = -1e-4\n", "train.lr"),
    "zero lr": ("[train]\nlr = 0.0\n", "train.lr"),
    "zero epochs": ("[train]\nepochs = 0\n", "train.epochs"),
    "batch size as string": ('[train]\nbatch_size = "8"\n', "train.batch_size"),
    "missing data file": ('[data]\nsource = "./nope/reviews.csv"\n', "./nope/reviews.csv"),
    "bad split expression": ('[data]\ntrain_split = "train[:x]"\n', "data.train_split"),
    "template without slot": ('[method]\nprompt_template = "Review:"\n', "method.prompt_template"),
    "unknown dropout kernel": ('[train]\ndropout_kernel = "fast"\n', "train.dropout_kernel"),
}


@pytest.mark.parametrize("case", sorted(BAD_RECIPES))
def test_bad_recipe_is_one_line_naming_the_key_and_exit_2(case, tmp_path, monkeypatch, capsys):
    text, named = BAD_RECIPES[case]
    path = write(tmp_path, "bad.toml", text)
    code, out, err = ftrun_in_process(monkeypatch, capsys, "validate", str(path))
    assert code == 2
    assert named in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_unknown_key_suggests_the_close_one(tmp_path, monkeypatch, capsys):
    path = write(tmp_path, "bad.toml", "[train]\nepoch = 2\n")
    _, _, err = ftrun_in_process(monkeypatch, capsys, "validate", str(path))
    assert "did you mean train.epochs?" in err


def test_misspelled_method_lists_the_methods(tmp_path, monkeypatch, capsys):
    path = write(tmp_path, "bad.toml", '[method]\nname = "lorra"\n')
    _, _, err = ftrun_in_process(monkeypatch, capsys, "validate", str(path))
    assert "did you mean lora?" in err and "prompt-linear" in err


@pytest.mark.parametrize(
    "files, named",
    [
        ({"a.toml": 'extends = "b.toml"\n', "b.toml": 'extends = "a.toml"\n'}, "cycle"),
        ({"a.toml": 'extends = "missing.toml"\n'}, "missing.toml"),
    ],
)
def test_bad_extends_is_one_line_and_exit_2(files, named, tmp_path, monkeypatch, capsys):
    for name, text in files.items():
        write(tmp_path, name, text)
    code, _, err = ftrun_in_process(monkeypatch, capsys, "show", str(tmp_path / "a.toml"))
    assert code == 2 and named in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "override, named",
    [
        ("trian.lr=1e-4", "trian"),
        ("train.learning_rate=1", "train.learning_rate"),
        ("train.epochs=two", "train.epochs"),
        ("train.epochs=1.5", "train.epochs"),
        ("train.lr", "SECTION.KEY=VALUE"),
    ],
)
def test_bad_set_is_one_line_and_exit_2(override, named, monkeypatch, capsys):
    code, _, err = ftrun_in_process(
        monkeypatch, capsys, "show", str(REPO / "recipes" / "quickstart.toml"), "--set", override
    )
    assert code == 2 and named in err and err.count("\n") == 1


@pytest.mark.parametrize("target", ["missing.toml", "."])
def test_bad_recipe_path_is_one_line_and_exit_2(target, tmp_path, monkeypatch, capsys):
    code, _, err = ftrun_in_process(monkeypatch, capsys, str(tmp_path / target))
    assert code == 2 and str(tmp_path) in err and err.count("\n") == 1


def test_console_script_runs_a_recipe_path_without_a_subcommand(tmp_path):
    bad = write(tmp_path, "bad.toml", "[train]\nepochs = 0\n")
    code, _, err = run_cli(str(bad))
    assert code == 2 and "train.epochs" in err and "Traceback" not in err


def test_help_shows_examples(monkeypatch, capsys):
    code, out, _ = ftrun_in_process(monkeypatch, capsys, "--help")
    assert code == 0 and "ftrun recipes/quickstart.toml" in out and "compare" in out


def test_extends_takes_a_list_of_bases_merged_in_order(tmp_path):
    (tmp_path / "task.toml").write_text(
        '[data]\ntask = "regression"\nlabel_column = "score"\n[train]\nepochs = 3\n'
    )
    (tmp_path / "axes.toml").write_text("[train]\nepochs = 2\nlr = 1e-4\n")
    (tmp_path / "both.toml").write_text('extends = ["task.toml", "axes.toml"]\n[train]\nlr = 3e-4\n')
    recipe = recipes.load(tmp_path / "both.toml")
    assert (recipe.data.task, recipe.train.epochs, recipe.train.lr) == ("regression", 2, 3e-4)
    (tmp_path / "bad.toml").write_text('extends = ["task.toml", 3]\n')
    with pytest.raises(RecipeError, match="a path string or a list of them"):
        recipes.load(tmp_path / "bad.toml")
