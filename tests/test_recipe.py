"""The recipe format: defaults, extends, --set precedence, and one clear line for every bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.errors import RecipeError
from runner.recipe import reading as recipes
from runner.recipe.schema import Recipe
from runner.sweep import combinations as sweeps

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

# Where a development checkout keeps local copies of the published recipes' data sets (../shared/data),
# the overrides that read them instead of the hub (docs/development.md; benchmarks/tasks.sh's LOCAL_DATA).
LOCAL_COPIES = {
    "stanfordnlp/imdb": [f"data.source={SHARED_DATA / 'imdb'}"],
    "mrpc": [f"data.source={SHARED_DATA / 'mrpc'}", "data.config=", "data.eval_split=test"],
    "stsb": [f"data.source={SHARED_DATA / 'stsb'}", "data.config=", "data.eval_split=test"]
    + ["data.label_column=score"],
    "simplified": [f"data.source={SHARED_DATA / 'goemotions'}", "data.config="],
}


def public_data(path: Path) -> str:
    """What names a shipped recipe's hub data set: its configuration if it has one, else its id."""
    data = recipes.read_raw(path).get("data", {})
    return data.get("config") or data.get("source", "")


ON_PUBLIC_DATA = [p for p in SHIPPED if public_data(p) in LOCAL_COPIES]


def test_every_shipped_recipe_validates(monkeypatch, capsys):
    paths = [str(p) for p in SHIPPED]
    code, out, err = ftrun_in_process(monkeypatch, capsys, "validate", *paths)
    assert code == 0, err
    assert out.count("ok ") == len(paths) >= 12


def test_every_shipped_recipe_reads_data_a_user_has():
    """The embedded sets, a hub data set, or a file a documented command writes: never a folder beside
    the checkout, so a user with network access reruns the published recipes as they are."""
    sources = {
        p.relative_to(REPO).as_posix(): recipes.read_raw(p).get("data", {}).get("source") for p in SHIPPED
    }
    assert {name: source for name, source in sources.items() if str(source).startswith("../")} == {}
    assert len(ON_PUBLIC_DATA) >= 8


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="no local copies of the data sets (a user's clone)")
@pytest.mark.parametrize("path", ON_PUBLIC_DATA, ids=lambda p: p.relative_to(REPO).as_posix())
def test_the_published_recipes_read_the_local_copies_of_their_data_with_the_documented_overrides(path):
    overrides = LOCAL_COPIES[public_data(path)]
    if sweeps.is_sweep(path):
        built = sweeps.load_combinations(path, overrides).recipes
    else:
        built = [recipes.load(path, overrides)]
    assert {(Path(r.data.source).is_dir(), r.data.config) for r in built} == {(True, "")}


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="no local copies of the data sets (a user's clone)")
@pytest.mark.parametrize("name", ["mrpc", "stsb", "goemotions"])
def test_each_task_recipe_reads_its_local_copy_with_the_documented_overrides(name):
    from runner.data.loading import load_data

    path = REPO / "recipes" / "tasks" / f"{name}.toml"
    sizes = ["data.train_size=60", "data.eval_size=30"]
    data = load_data(recipes.load(path, LOCAL_COPIES[public_data(path)] + sizes).data)
    assert (len(data.train), len(data.eval)) == (60, 30) and data.validation is not None


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
    "config of a local source": ('[data]\nsource = "embedded-imdb"\nconfig = "plain_text"\n', "data.config"),
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
