"""The Optuna side of an adaptive search: one study per method in a journal file, shared by processes.

`<sweep>/search/journal.log` (Optuna's `JournalStorage` over a file, no database server) holds a study
per method. The worker that fills a search slot opens it, asks the study for the slot's settings (or,
resumed, finds the trial the slot asked before: a trial is tagged with its slot's name), reports the
validation score after each epoch, is told by the pruner whether to stop, and tells the study how the
trial ended. Trials are asked as slots start, so TPE learns from every trial that ended before; a
sampler seeded with the search seed and the slot's number keeps parallel workers from drawing alike.
A trial whose run finished but whose process died before telling is told at the next launch.
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner import rundir
from runner.errors import RecipeError
from runner.sweep import adaptive
from runner.sweep.grid import Combination
from runner.sweep.search import SearchSpec

if TYPE_CHECKING:
    import optuna

JOURNAL = "journal.log"
SLOT_ATTR = "combination"  # the search slot a trial fills
PRUNED_ATTR = "pruned"
ORPHAN_SECONDS = 120  # a trial asked but never tagged this long ago: its process died in between


def journal_path(sweep_folder: Path) -> Path:
    return sweep_folder / adaptive.SEARCH_STAGE / JOURNAL


def open_study(sweep_folder: Path, method: str, spec: SearchSpec, slot: int = 0) -> optuna.Study:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = journal_path(sweep_folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(path)))
    sampler = optuna.samplers.TPESampler(
        seed=spec.seed * 100_003 + slot,  # slots asked at once must not draw the same point
        n_startup_trials=min(10, max(2, spec.trials // 3)),
        constant_liar=True,  # a running trial counts as a poor one: parallel slots spread out
    )
    pruner: optuna.pruners.BasePruner = {
        "halving": optuna.pruners.SuccessiveHalvingPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
        "none": optuna.pruners.NopPruner,
    }[spec.pruner]()
    return optuna.create_study(
        study_name=method,
        storage=storage,
        sampler=sampler,
        pruner=pruner,
        direction="maximize",  # every headline metric is higher-is-better
        load_if_exists=True,
    )


def distributions(ranges: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Each searched key as an Optuna distribution; a choice is asked by its index (any TOML value)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    found: dict[str, Any] = {}
    for key, spec in ranges.items():
        if "choices" in spec:
            found[key] = CategoricalDistribution(list(range(len(spec["choices"]))))
        elif spec["int"]:
            found[key] = IntDistribution(spec["low"], spec["high"], log=spec["log"])
        else:
            found[key] = FloatDistribution(float(spec["low"]), float(spec["high"]), log=spec["log"])
    return found


def settings_of(params: dict[str, Any], ranges: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A trial's parameters as recipe settings (`--set` values)."""
    return {
        key: ranges[key]["choices"][value] if "choices" in ranges[key] else value
        for key, value in params.items()
        if key in ranges
    }


@dataclasses.dataclass
class TrialLink:
    """A search slot's trial, for the worker running it: report each epoch, then tell how it ended."""

    study: optuna.Study
    trial: optuna.trial.Trial
    pruned: bool = False

    def on_epoch(self, epoch: int, score: float) -> bool:
        """Report the epoch's validation score; True where the pruner stops the trial here."""
        self.trial.report(score, step=epoch)  # a resumed run's repeat of a reported epoch is ignored
        if self.trial.should_prune():
            self.pruned = True
            self.trial.set_user_attr(PRUNED_ATTR, True)
        return self.pruned

    def tell(self, run_folder: Path) -> None:
        tell_from_run(self.study, self.trial.number, run_folder)


def tell_from_run(study: optuna.Study, number: int, run_folder: Path) -> None:
    """End a trial from its finished run: pruned, or complete with its validation headline score."""
    from optuna.trial import TrialState

    frozen = study.get_trials(deepcopy=False)[number]
    if frozen.state.is_finished():
        return
    score = rundir.read_record(run_folder).validation_score
    if frozen.user_attrs.get(PRUNED_ATTR):
        study.tell(number, state=TrialState.PRUNED)
    elif score is None:
        study.tell(number, state=TrialState.FAIL)
    else:
        study.tell(number, score)


def searched(
    sweep_folder: Path, combination: Combination, spec: SearchSpec
) -> tuple[Combination, TrialLink | None]:
    """The combination with its searched settings: a search slot's trial (asked now, or found again on
    a resumed start), or a confirmation's best setting of its method's finished search."""
    method = adaptive.method_of(combination)
    ranges = spec.ranges[method]
    if combination.stage == adaptive.CONFIRM_STAGE:
        best = best_settings(sweep_folder, method, spec)
        return dataclasses.replace(combination, overrides={**combination.overrides, **best}), None
    import optuna

    study = open_study(sweep_folder, method, spec, adaptive.slot_number(combination))
    mine = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get(SLOT_ATTR) == combination.name]
    if mine and mine[-1].state.is_finished():
        # Told already, its run folder since deleted: run it again at its settings, the study as it is.
        settings = settings_of(mine[-1].params, ranges)
        return dataclasses.replace(combination, overrides={**combination.overrides, **settings}), None
    if mine:  # resumed: the same settings as before, so the run resumes from its checkpoint
        trial = optuna.trial.Trial(study, mine[-1]._trial_id)
    else:
        trial = study.ask(distributions(ranges))
        trial.set_user_attr(SLOT_ATTR, combination.name)
    settings = settings_of(trial.params, ranges)
    return dataclasses.replace(combination, overrides={**combination.overrides, **settings}), TrialLink(
        study, trial
    )


def best_settings(sweep_folder: Path, method: str, spec: SearchSpec) -> dict[str, Any]:
    """The method's best setting on validation, once all its trials have ended (a user error before)."""
    best = _best_trial(sweep_folder, method, spec)
    return settings_of(best.params, spec.ranges[method])


def best_slot(sweep_folder: Path, method: str, spec: SearchSpec) -> str:
    """The search slot whose trial the method's confirmations repeat (a user error before it ended)."""
    return str(_best_trial(sweep_folder, method, spec).user_attrs[SLOT_ATTR])


def _best_trial(sweep_folder: Path, method: str, spec: SearchSpec) -> optuna.trial.FrozenTrial:
    from optuna.trial import TrialState

    study = open_study(sweep_folder, method, spec)
    ended = [t for t in _slotted(study) if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    complete = [t for t in ended if t.state == TrialState.COMPLETE]
    if len(ended) < spec.trials:
        raise RecipeError(
            f"the search of {method} has {len(ended)} of {spec.trials} trials ended; "
            "its confirmation runs after them (run the sweep again)"
        )
    if not complete:
        raise RecipeError(f"every trial of {method} was pruned or failed: no setting to confirm")
    return max(complete, key=lambda t: (t.value, -t.number))


def reconcile(sweep_folder: Path, search_slots: list[Combination], spec: SearchSpec) -> None:
    """Tell the trials whose run finished but whose process died before telling; fail the trials asked
    by a process that died before tagging them with a slot (they fill none)."""
    from optuna.trial import TrialState

    folders = {c.name: sweep_folder / c.stage / c.name for c in search_slots}
    now = datetime.datetime.now()
    for method in sorted({adaptive.method_of(c) for c in search_slots}):
        study = open_study(sweep_folder, method, spec)
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            slot = trial.user_attrs.get(SLOT_ATTR)
            if (
                slot is None
                and trial.datetime_start
                and (now - trial.datetime_start).seconds > ORPHAN_SECONDS
            ):
                study.tell(trial.number, state=TrialState.FAIL)
            elif slot in folders and (folders[slot] / "metrics.json").is_file():
                tell_from_run(study, trial.number, folders[slot])


def _slotted(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The study's trials that fill a slot, the last one of each slot (a slot is asked once)."""
    latest: dict[str, optuna.trial.FrozenTrial] = {}
    for trial in study.get_trials(deepcopy=False):
        slot = trial.user_attrs.get(SLOT_ATTR)
        if slot is not None:
            latest[str(slot)] = trial
    return list(latest.values())
