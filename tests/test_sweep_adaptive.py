"""`[sweep.search] mode = "optuna"`: each method's trials asked of a study, pruned, resumed, confirmed."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip("optuna")

from runner.compare import write_runs_report  # noqa: E402
from runner.errors import RecipeError  # noqa: E402
from runner.sweep import combinations as sweeps  # noqa: E402
from runner.sweep import execution, studies  # noqa: E402
from runner.sweep.search import SearchSpec  # noqa: E402

from .conftest import ftrun_in_process  # noqa: E402
from .sweep_fakes import calls  # noqa: E402

ADAPTIVE = """
[data]
validation_size = 20
[train]
epochs = 3
[output]
dir = "{out}"
[sweep]
"method.name" = {methods}
"train.seed" = {seeds}
[sweep.search]
mode = "optuna"
trials = {trials}
seed = 3
"train.lr" = {{ low = 1e-4, high = 1e-1, log = true }}
"""
FAKE = (sys.executable, str(Path(__file__).with_name("sweep_fakes.py")))


def write(tmp_path: Path, methods='["full", "lora"]', seeds="[1, 2]", trials=4, change=("", "")) -> Path:
    text = ADAPTIVE.format(out=tmp_path / "outputs", methods=methods, seeds=seeds, trials=trials)
    path = tmp_path / "adaptive.toml"
    path.write_text(text.replace(*change))
    return path


def run(path: Path, monkeypatch, **env: str) -> int:
    monkeypatch.setenv("FTRUN_PROGRESS_SECONDS", "3600")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return execution.run_sweep(
        path, [], write_runs_report, {"parallel": 2}, echo=lambda line: None, worker=FAKE
    )


def slotted_trials(sweep: sweeps.Sweep, method: str) -> list:
    assert sweep.search is not None
    study = studies.open_study(sweep.folder, method, sweep.search)
    return [t for t in study.get_trials() if studies.SLOT_ATTR in t.user_attrs]


def test_each_method_has_its_trials_on_the_first_seed_then_a_confirmation_per_seed(tmp_path):
    sweep = sweeps.load_combinations(write(tmp_path))
    names = [c.name for c in sweep.combinations]
    assert names[:6] == [*(f"full-trial{n}" for n in range(1, 5)), "full-seed1", "full-seed2"]
    trials = [r for c, r in zip(sweep.combinations, sweep.recipes, strict=True) if c.stage == "search"]
    assert len(trials) == 8 and {r.train.seed for r in trials} == {1}
    assert sweep.run_folder("lora-trial2") == sweep.folder / "search" / "lora-trial2"
    assert sweep.report_runs == sweep.folder / "confirm"


def test_a_search_runs_confirms_the_best_on_validation_and_never_reads_the_test_split(tmp_path, monkeypatch):
    path = write(tmp_path)
    # The test split ranks runs the other way round: a choice that read it would pick the smallest rate.
    assert run(path, monkeypatch, FAKE_BLIND_TEST="1", FAKE_CALLS=str(tmp_path / "calls.jsonl")) == 0
    sweep = sweeps.load_combinations(path)
    for method in ("full", "lora"):
        trials = slotted_trials(sweep, method)
        assert sorted(t.user_attrs[studies.SLOT_ATTR] for t in trials) == [
            f"{method}-trial{n}" for n in range(1, 5)
        ]
        complete = [t for t in trials if t.state.name == "COMPLETE"]
        best = max(complete, key=lambda t: t.value)
        assert best.value == pytest.approx(0.5 + best.params["train.lr"])  # told the validation score
        for seed in (1, 2):
            confirmed = json.loads(
                (sweep.folder / "confirm" / f"{method}-seed{seed}" / "metrics.json").read_text()
            )
            assert confirmed["seed"] == seed
        recipe = (sweep.folder / "confirm" / f"{method}-seed2" / "recipe.toml").read_text()
        assert f"lr = {best.params['train.lr']!r}" in recipe
    # The confirmation on the search's seed is the best trial's run: copied, not run again.
    ran = {call["name"] for call in calls(tmp_path / "calls.jsonl")}
    assert {"full-seed2", "lora-seed2"} <= ran and not {"full-seed1", "lora-seed1"} & ran
    for method in ("full", "lora"):
        best = max((t for t in slotted_trials(sweep, method) if t.value is not None), key=lambda t: t.value)
        trial = sweep.folder / "search" / best.user_attrs[studies.SLOT_ATTR]
        copied = json.loads((sweep.folder / "confirm" / f"{method}-seed1" / "metrics.json").read_text())
        assert copied["run_name"] == f"{method}-seed1"
        assert copied["accuracy"] == json.loads((trial / "metrics.json").read_text())["accuracy"]
    used = json.loads((sweep.folder / "report" / "search.json").read_text())
    assert used["full"]["trials"] == 4 and used["full"]["complete"] + used["full"]["pruned"] == 4
    assert used["full"]["search"]["runs"] == 4 and used["full"]["search"]["steps"] == 40
    # Seed 1's confirmation is the best trial's copy: only seed 2's run trained.
    assert used["full"]["confirm"] == {"runs": 1, "copied": 1, "steps": 10, "seconds": 1.0}
    report = (sweep.folder / "report" / "report.md").read_text()
    assert "What each method's search was given and used" in report
    assert "trial" not in report.partition("## What each method")[0]  # the comparison is of confirmations


def test_the_progress_counts_the_confirmations_still_to_come_as_not_done(tmp_path, monkeypatch):
    from runner.sweep.executors.local import LocalExecutor

    launched = []
    original = LocalExecutor.run

    def recording(self, launch):
        launched.append((len(launch.names), launch.total))
        return original(self, launch)

    monkeypatch.setattr(LocalExecutor, "run", recording)
    assert run(write(tmp_path, trials=2), monkeypatch) == 0
    # 2 methods x (2 trials + 2 seeds): the search's 4 of 4 first, then the confirmations' 4 of all 8.
    assert launched == [(4, 4), (4, 8)]


def test_a_killed_search_resumes_without_losing_or_repeating_a_trial(tmp_path, monkeypatch):
    path = write(tmp_path, methods='["full"]', seeds="[1]", trials=4)
    log = tmp_path / "calls.jsonl"
    assert run(path, monkeypatch, FAKE_KILL="full-trial3", FAKE_CALLS=str(log)) == 1
    sweep = sweeps.load_combinations(path)
    assert not (sweep.folder / "confirm" / "full-seed1").exists()  # confirmation waits for the search
    before = {t.user_attrs[studies.SLOT_ATTR]: t.number for t in slotted_trials(sweep, "full")}
    monkeypatch.delenv("FAKE_KILL")
    assert run(path, monkeypatch, FAKE_CALLS=str(log)) == 0
    trials = slotted_trials(sweep, "full")
    assert len(trials) == 4 and all(t.state.is_finished() for t in trials)
    assert {t.user_attrs[studies.SLOT_ATTR]: t.number for t in trials} == before  # the killed one resumed
    ran = [c["name"] for c in calls(log)]
    # Each trial finished once (the killed one when resumed); full-seed1 is the best trial's run, copied.
    assert sorted(ran) == ["full-trial1", "full-trial2", "full-trial3", "full-trial4"]
    assert (sweep.folder / "confirm" / "full-seed1" / "metrics.json").is_file()


def test_a_finished_trial_whose_folder_was_deleted_runs_again_without_touching_its_study(
    tmp_path, monkeypatch
):
    path = write(tmp_path, methods='["full"]', seeds="[1]", trials=3)
    assert run(path, monkeypatch) == 0
    sweep = sweeps.load_combinations(path)
    told = [(t.number, t.state, t.value, t.params) for t in slotted_trials(sweep, "full")]
    shutil.rmtree(sweep.folder / "search" / "full-trial2")
    (sweep.folder / ".sweep" / "full-trial2.json").unlink()
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_CALLS", str(log))
    said: list[str] = []
    settings = {"parallel": 2}
    assert execution.run_sweep(path, [], write_runs_report, settings, echo=said.append, worker=FAKE) == 0
    assert [c["name"] for c in calls(log)] == ["full-trial2"]
    # The finished trials' settings came from the study: nothing calls them stale.
    assert any("full-trial1: finished already, skipped" in line for line in said)
    assert not any("differs" in line for line in said)
    assert [(t.number, t.state, t.value, t.params) for t in slotted_trials(sweep, "full")] == told
    (given,) = [
        t.params for t in slotted_trials(sweep, "full") if t.user_attrs[studies.SLOT_ATTR] == "full-trial2"
    ]
    recipe = (sweep.folder / "search" / "full-trial2" / "recipe.toml").read_text()
    assert f"lr = {given['train.lr']!r}" in recipe  # at the settings its trial was given


def test_the_pruner_stops_a_trial_that_trails_the_others(tmp_path):
    spec = SearchSpec(
        "optuna",
        8,
        0,
        "halving",
        {"full": {"train.lr": {"low": 1e-4, "high": 1e-1, "log": True, "int": False}}},
    )
    study = studies.open_study(tmp_path, "full", spec)
    for score in (0.9, 0.85, 0.8, 0.88):
        trial = study.ask()
        for epoch in (1, 2, 3):
            trial.report(score, epoch)
        study.tell(trial, score)
    good = studies.TrialLink(study, study.ask())
    assert not good.on_epoch(1, 0.95)
    bad = studies.TrialLink(study, study.ask())
    assert bad.on_epoch(1, 0.1) and bad.pruned


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (("low = 1e-4, high = 1e-1", "low = 1e-3, high = 1e-3"), "train.lr needs numbers low < high"),
        (("low = 1e-4, high = 1e-1", "low = 1e-1, high = 1e-4"), "train.lr needs numbers low < high"),
        (("low = 1e-4, high = 1e-1", "low = -1.0, high = 1e-1"), "train.lr with log = true needs low > 0"),
        (("trials = 4", "trials = 0"), "trials must be a whole number"),
        (("validation_size = 20", "validation_size = 0"), "chooses on the validation split"),
        (('mode = "optuna"', 'mode = "optuna"\npruner = "median"'), "pruner must be one of"),
        (
            ("epochs = 3", 'epochs = 3\n[sweep.full]\n"train.batch_size" = [4, 8]'),
            "train.batch_size has several",
        ),
    ],
)
def test_a_bad_adaptive_search_is_one_line_exit_2_and_writes_nothing(
    tmp_path, monkeypatch, capsys, change, named
):
    path = write(tmp_path, change=change)
    with pytest.raises(RecipeError, match=named):
        sweeps.load_combinations(path)
    code, _, err = ftrun_in_process(monkeypatch, capsys, str(path))
    assert code == 2 and named in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "outputs").exists()
