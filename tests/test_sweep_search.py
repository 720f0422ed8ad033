"""`[sweep.search]`: as many settings for every method, drawn before any run, chosen on validation."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from runner.compare import write_runs_report
from runner.errors import RecipeError
from runner.sweep import combinations as sweeps
from runner.sweep import execution

SEARCHED = """
[train]
epochs = 1
[output]
dir = "{out}"
[sweep]
"method.name" = ["full", "lora", "linear"]
"train.seed" = [1, 2]
[sweep.search]
trials = {trials}
"train.lr" = {{ low = 1e-5, high = 1e-3, log = true }}
[sweep.search.lora]
"train.lr" = {{ low = 1e-4, high = 1e-2, log = true }}
"method.lora_r" = {{ choices = [4, 8, 16] }}
[sweep.linear]
"train.epochs" = [20]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "searched.toml"
    path.write_text(text)
    return path


@pytest.fixture
def searched(tmp_path) -> Path:
    return write(tmp_path, SEARCHED.format(out=tmp_path / "outputs", trials=5))


def settings_by_method(path: Path) -> dict[str, set[tuple]]:
    planned = sweeps.load_combinations(path)
    found: dict[str, set[tuple]] = {}
    for recipe in planned.recipes:
        found.setdefault(recipe.method.name, set()).add(
            (recipe.train.lr, getattr(recipe.method, "lora_r", None))
        )
    return found


def test_every_method_gets_the_same_number_of_settings_each_with_every_seed(searched):
    planned = sweeps.load_combinations(searched)
    assert len(planned.combinations) == 3 * 5 * 2
    found = settings_by_method(searched)
    assert {method: len(settings) for method, settings in found.items()} == {
        "full": 5,
        "lora": 5,
        "linear": 5,
    }
    for recipe in planned.recipes:
        low, high = (1e-4, 1e-2) if recipe.method.name == "lora" else (1e-5, 1e-3)
        assert low <= recipe.train.lr <= high
        assert float(f"{recipe.train.lr:.1e}") == recipe.train.lr  # two significant digits
    assert {r.train.epochs for r in planned.recipes if r.method.name == "linear"} == {20}
    assert {lora_r for _, lora_r in found["lora"]} <= {4, 8, 16}


def test_the_draw_covers_a_log_range_and_is_the_same_every_time(searched, tmp_path):
    first = settings_by_method(searched)
    assert settings_by_method(searched) == first  # a worker reloading the sweep finds the same runs
    exponents = sorted(math.log10(lr) for lr, _ in first["full"])
    assert exponents[0] < -4.2 and exponents[-1] > -3.8  # spread over the range, not bunched
    other = write(
        tmp_path, SEARCHED.format(out=tmp_path / "o", trials=5).replace("trials = 5", "trials = 5\nseed = 7")
    )
    assert settings_by_method(other)["full"] != first["full"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("trials = 5", "trials = 0"), "trials must be a whole number of settings per method"),
        (("low = 1e-5, high = 1e-3", "low = 1e-3, high = 1e-5"), "needs numbers low < high"),
        (
            ("low = 1e-5, high = 1e-3, log = true", "low = 0.0, high = 1e-3, log = true"),
            "log = true needs low > 0",
        ),
        (('"train.lr" = { low = 1e-5', '"train.lrr" = { low = 1e-5'), "unknown key train.lrr"),
        (('"method.lora_r" = { choices = [4, 8, 16] }', '"method.lora_r" = 8'), "must be a range"),
        (
            ('[sweep.linear]\n"train.epochs"', '[sweep.linear]\n"train.lr" = [1e-3]\n"train.epochs"'),
            "both an axis and searched",
        ),
        (("[sweep.search.lora]", "[sweep.search.lorra]"), "'lorra' is neither a setting"),
    ],
)
def test_a_bad_search_table_is_one_line(tmp_path, change, message):
    text = SEARCHED.format(out=tmp_path / "outputs", trials=5).replace(*change)
    with pytest.raises(RecipeError, match=message) as error:
        sweeps.load_combinations(write(tmp_path, text))
    assert len(error.value.problems or [str(error.value)]) == 1


def test_pinning_the_method_keeps_that_methods_settings(searched):
    pinned = sweeps.load_combinations(searched, ['method.name="lora"'])
    everything = sweeps.load_combinations(searched)
    assert {r.method.name for r in pinned.recipes} == {"lora"} and len(pinned.recipes) == 10
    lora = [r for r in everything.recipes if r.method.name == "lora"]
    assert {(r.train.lr, r.method.lora_r) for r in pinned.recipes} == {
        (r.train.lr, r.method.lora_r) for r in lora
    }


def test_a_searched_sweep_runs_and_compare_chooses_each_method_on_validation(tmp_path, monkeypatch):
    from runner.compare import comparison

    path = write(tmp_path, SEARCHED.format(out=tmp_path / "outputs", trials=3))
    monkeypatch.setenv("FTRUN_PROGRESS_SECONDS", "3600")
    fake = (sys.executable, str(Path(__file__).with_name("sweep_fakes.py")))
    code = execution.run_sweep(
        path, [], write_runs_report, {"parallel": 2}, echo=lambda line: None, worker=fake
    )
    assert code == 0
    selected = comparison.compare([tmp_path / "outputs" / "searched"]).selections[0].selected
    planned = sweeps.load_combinations(path)
    for method in ("full", "lora", "linear"):
        # The fake runs score 0.5 + lr on validation: the largest learning rate drawn must win.
        best = max(r.train.lr for r in planned.recipes if r.method.name == method)
        assert {run.settings["train.lr"] for run in selected[method].runs} == {best}
        assert len(selected[method].runs) == 2  # both seeds
