"""Sweeps: grid expansion, names, every combination checked up front, running, resuming, failures, CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from runner.errors import RecipeError
from runner.recipe.spelling import compact_number
from runner.sweep import combinations as sweeps
from runner.sweep import grid as sweep_grid

from .conftest import ftrun_in_process

ISSUE_EXAMPLE = {
    "method.name": ["full", "lora", "linear", "prompt-linear"],
    "train.seed": [1, 2, 3],
    "lora": {"train.lr": [1e-4, 3e-4, 1e-3]},
    "linear": {"train.lr": [1e-3, 3e-3]},
}


def names(table: dict, base_method: str = "full") -> list[str]:
    return [c.name for c in sweep_grid.expand(table, base_method)]


def write_sweep(folder: Path, text: str, name: str = "grid.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


GRID = """
[train]
epochs = 1
[output]
dir = "{out}"
[sweep]
"method.name" = ["full", "linear"]
"train.seed" = [1, 2]
[sweep.linear]
"train.lr" = [1e-3, 1e-2]
"""


@pytest.fixture
def grid(tmp_path) -> Path:
    return write_sweep(tmp_path, GRID.format(out=tmp_path / "outputs"))


# --- expansion and names --------------------------------------------------------------------------


def test_a_method_sub_table_adds_axes_only_for_that_method():
    combinations = sweep_grid.expand(ISSUE_EXAMPLE, "full")
    assert len(combinations) == 3 + 3 * 3 + 3 * 2 + 3
    by_method = {}
    for c in combinations:
        by_method.setdefault(c.overrides["method.name"], []).append(c)
    assert all("train.lr" not in c.overrides for c in by_method["full"] + by_method["prompt-linear"])
    assert {c.overrides["train.lr"] for c in by_method["lora"]} == {1e-4, 3e-4, 1e-3}


def test_names_put_the_method_first_then_each_varying_axis_and_the_seed_last():
    assert names(ISSUE_EXAMPLE)[:4] == ["full-seed1", "full-seed2", "full-seed3", "lora-lr1e-4-seed1"]
    assert "lora-lr3e-4-seed2" in names(ISSUE_EXAMPLE)
    assert "prompt-linear-seed3" in names(ISSUE_EXAMPLE)


def test_names_are_unique_and_safe_as_folder_names():
    table = {"model.name": ["org/model a", "org/model_a", "./local/model"], "train.lr": [1e-5, 2e-5]}
    found = names(table)
    assert len(set(found)) == len(found) == 6
    assert all(re.fullmatch(r"[A-Za-z0-9._+-]+", name) for name in found)


def test_an_axis_with_one_value_is_a_setting_and_not_part_of_the_name():
    table = {"method.name": ["full", "linear"], "linear": {"train.epochs": [20]}}
    assert names(table) == ["full", "linear"]
    assert sweep_grid.expand(table, "full")[1].overrides["train.epochs"] == 20


def test_a_method_axis_replaces_the_top_level_axis_of_the_same_key():
    table = {"method.name": ["full", "lora"], "train.lr": [2e-5], "lora": {"train.lr": [1e-4, 1e-3]}}
    assert names(table) == ["full-lr2e-5", "lora-lr1e-4", "lora-lr1e-3"]


def test_without_a_method_axis_names_start_with_the_recipes_method():
    assert names({"train.seed": [1, 2]}, base_method="lora") == ["lora-seed1", "lora-seed2"]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (3e-4, "3e-4"),
        (2e-5, "2e-5"),
        (1.5e-4, "1.5e-4"),
        (1e-2, "1e-2"),
        (0.1, "0.1"),
        (1.0, "1"),
        (1000, "1000"),
    ],
)
def test_numbers_in_names_take_their_shortest_exact_spelling(value, written):
    assert compact_number(value) == written


# --- mistakes in the table, one line each ---------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"train.lr": 1e-4}, "train.lr must be a list of values"),
        ({"train.lr": []}, "train.lr is an empty list"),
        ({"train.lrr": [1e-4]}, "unknown key train.lrr (did you mean train.lr?)"),
        ({"lorra": {"train.lr": [1e-4]}}, "[sweep.lorra] is not a method (did you mean lora?)"),
        ({"method.name": ["full"], "lora": {"train.lr": [1e-4]}}, "no combination uses it"),
        ({"train": {"lr": [1e-4]}}, 'write the key in quotes, "train.lr" = [...]'),
        ({"output.dir": ["a", "b"]}, "output.dir cannot be an axis"),
        ({"train.seed": [1, 1]}, "train.seed lists 1 twice"),
        ({}, "no axes"),
        ({"lora": {"method.name": ["full"]}}, "cannot be an axis inside a method's sub-table"),
    ],
)
def test_a_malformed_sweep_table_is_one_clear_line(table, message):
    with pytest.raises(RecipeError) as raised:
        sweep_grid.expand(table, "lora")
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_every_combination_is_validated_and_all_bad_ones_named_in_one_line(tmp_path):
    path = write_sweep(
        tmp_path,
        """
[sweep]
"method.name" = ["full", "lora", "linear"]
[sweep.lora]
"method.head_dropout" = [0.1, 2.0]
[sweep.linear]
"train.lr" = [1e-3, "fast"]
""",
    )
    with pytest.raises(RecipeError) as raised:
        sweeps.load_combinations(path)
    line = str(raised.value)
    assert "\n" not in line and "2 of 5 combinations are invalid" in line
    assert "sweep combination lora-head_dropout2: method.head_dropout = 2.0 must be at most 0.95" in line
    assert "sweep combination linear-lr-fast: train.lr must be a number, got 'fast'" in line


def test_the_same_error_in_many_combinations_is_named_once(tmp_path):
    path = write_sweep(tmp_path, '[sweep]\n"train.seed" = [1, 2, 3]\n"train.epochs" = [1, 0]\n')
    with pytest.raises(RecipeError) as raised:
        sweeps.load_combinations(path)
    assert str(raised.value).endswith(
        "3 of 6 combinations are invalid: "
        "sweep combination full-epochs0-seed1 (and 2 more): train.epochs = 0 must be at least 1"
    )


def test_a_mistake_outside_the_axes_is_reported_once_for_the_recipe(tmp_path):
    path = write_sweep(tmp_path, '[train]\nlr = -1.0\n[sweep]\n"train.seed" = [1, 2, 3]\n')
    with pytest.raises(RecipeError) as raised:
        sweeps.load_combinations(path)
    assert str(raised.value) == f"{path}: train.lr = -1.0 must be greater than 0 (in all 3 combinations)"


def test_each_combination_runs_into_the_sweep_folder_under_its_own_name(grid, tmp_path):
    planned = sweeps.load_combinations(grid)
    assert planned.folder == tmp_path / "outputs" / "grid"
    assert [c.name for c in planned.combinations] == [
        "full-seed1",
        "full-seed2",
        "linear-lr1e-3-seed1",
        "linear-lr1e-2-seed1",
        "linear-lr1e-3-seed2",
        "linear-lr1e-2-seed2",
    ]
    third = planned.recipes[2]
    assert (third.method.name, third.train.lr, third.train.seed, third.train.epochs) == ("linear", 1e-3, 1, 1)
    assert (third.output.dir, third.output.run_name) == (str(planned.folder), "linear-lr1e-3-seed1")


def test_output_run_name_names_the_sweep_folder(tmp_path):
    path = write_sweep(
        tmp_path, '[output]\ndir = "out"\nrun_name = "seed-sweep"\n[sweep]\n"train.seed" = [1]\n'
    )
    assert sweeps.load_combinations(path).folder == Path("out") / "seed-sweep"


def test_set_pins_a_key_and_drops_its_axis(grid):
    planned = sweeps.load_combinations(grid, ["train.seed=7", "train.epochs=2"])
    assert [c.name for c in planned.combinations] == ["full", "linear-lr1e-3", "linear-lr1e-2"]
    assert {(r.train.seed, r.train.epochs) for r in planned.recipes} == {(7, 2)}


def test_pinning_the_method_keeps_only_that_methods_axes(grid):
    planned = sweeps.load_combinations(grid, ["method.name=linear"])
    assert [c.name for c in planned.combinations][:2] == ["linear-lr1e-3-seed1", "linear-lr1e-2-seed1"]


def test_pinning_a_method_without_axes_of_its_own_leaves_the_other_methods_sub_tables_out(grid):
    # Rerunning one combination of a published sweep: its other methods' axes must not be an error.
    planned = sweeps.load_combinations(grid, ['method.name="full"', "train.seed=1"])
    assert [c.name for c in planned.combinations] == ["full"]
    assert planned.recipes[0].method.name == "full" and planned.recipes[0].train.seed == 1


def test_a_recipe_without_a_sweep_table_is_not_a_sweep():
    assert not sweeps.is_sweep(Path(__file__).parents[1] / "recipes" / "lora.toml")


# --- the command line -----------------------------------------------------------------------------


def test_validate_prints_the_number_of_combinations_and_their_names(grid, monkeypatch, capsys):
    code, out, _ = ftrun_in_process(monkeypatch, capsys, "validate", str(grid))
    assert code == 0
    assert out.startswith(f"ok   sweep {grid}: 6 combinations into ")
    assert "  full-seed1\n" in out and "  linear-lr1e-2-seed2" in out


def test_show_prints_each_combinations_overrides(grid, monkeypatch, capsys):
    code, out, _ = ftrun_in_process(monkeypatch, capsys, "show", str(grid))
    assert code == 0 and "6 combinations" in out
    assert re.search(r"linear-lr1e-3-seed1 +method.name=\"linear\"  train.seed=1  train.lr=0.001", out)


def test_a_bad_combination_is_one_line_and_exit_2_at_the_cli(tmp_path, monkeypatch, capsys):
    path = write_sweep(tmp_path, '[sweep]\n"train.seed" = [1, "two"]\n')
    code, _, err = ftrun_in_process(monkeypatch, capsys, str(path))
    assert code == 2
    assert (
        err.strip().count("\n") == 0
        and "sweep combination full-seed-two: train.seed must be an integer" in err
    )


def test_resume_is_refused_for_a_sweep(grid, monkeypatch, capsys):
    code, _, err = ftrun_in_process(monkeypatch, capsys, str(grid), "--resume", "x")
    assert code == 2 and "is a sweep; run it again" in err


# --- one real sweep -------------------------------------------------------------------------------


def test_a_real_sweep_on_a_tiny_model_writes_run_folders_and_a_report(
    tiny_bert, data_folder, tmp_path, monkeypatch, capsys
):
    path = write_sweep(
        tmp_path,
        f"""
[model]
name = "{tiny_bert}"
max_length = 48
[data]
source = "{data_folder}"
[method]
head_hidden = 0
[train]
epochs = 1
lr = 1e-3
precision = "fp32"
[eval]
latency_examples = 0
[output]
dir = "{tmp_path / "outputs"}"
[sweep]
"method.name" = ["full", "linear"]
[sweep.linear]
"train.lr" = [1e-3, 1e-2]
""",
    )
    code, _, err = ftrun_in_process(monkeypatch, capsys, str(path))
    assert code == 0, err
    folder = tmp_path / "outputs" / "grid"
    for name in ("full", "linear-lr1e-3", "linear-lr1e-2"):
        metrics = json.loads((folder / name / "metrics.json").read_text())
        assert metrics["status"] == "finished" and metrics["run_name"] == name
    assert "linear-lr1e-2" in (folder / "report" / "report.md").read_text()


# --- the shipped sweeps ---------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]


def test_the_seed_sweep_is_five_methods_at_three_learning_rates_and_three_seeds():
    planned = sweeps.load_combinations(REPO / "recipes" / "seed" / "sweep.toml")
    assert len(planned.combinations) == 45 and planned.folder == Path("outputs") / "seed-sweep"
    assert planned.combinations[0].name == "full-lr1e-5-seed1"
    assert planned.combinations[-1].name == "prompt-linear-lr1e-2-seed3"
    for recipe in planned.recipes:
        assert (recipe.model.name, recipe.data.source) == ("facebook/opt-350m", "stanfordnlp/imdb")
        assert (recipe.train.batch_size, recipe.train.epochs, recipe.method.head_hidden) == (8, 3, 1000)
        assert recipe.data.validation_size == 2500


def test_the_cpu_sweep_uses_the_hub_imdb_with_its_official_test_split():
    planned = sweeps.load_combinations(REPO / "benchmarks" / "recipes" / "cpu-sweep.toml")
    assert len(planned.combinations) == 24
    assert {r.data.source for r in planned.recipes} == {"stanfordnlp/imdb"}
    assert {r.data.eval_split for r in planned.recipes} == {"test"}
    assert {r.train.epochs for r in planned.recipes if r.method.name in ("linear", "prompt-linear")} == {20}


def test_the_seed_sweeps_slurm_recipe_is_the_same_combinations_on_a_cluster():
    local = sweeps.load_combinations(REPO / "recipes" / "seed" / "sweep.toml")
    cluster = sweeps.load_combinations(REPO / "recipes" / "seed" / "sweep-slurm.toml")
    assert cluster.combinations == local.combinations and cluster.recipes == local.recipes
    assert cluster.folder == local.folder
    settings = cluster.executor
    assert (settings.engine, settings.parallel, settings.gpus_per_run) == ("slurm", 16, 1)
