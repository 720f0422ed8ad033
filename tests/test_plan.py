"""Step arithmetic: optimizer steps per epoch and in total, under processes and accumulation."""

from __future__ import annotations

from runner.recipe.schema import TrainSection
from runner.training.step_plan import StepPlan, plan_steps


def plan(batches=10, processes=1, accumulation=1, epochs=3, max_steps=0, batch_size=8) -> StepPlan:
    return StepPlan(batches, processes, accumulation, epochs, max_steps, batch_size)


def test_one_process_takes_one_step_per_batch():
    assert (plan().steps_per_epoch, plan().total_steps) == (10, 30)


def test_processes_share_the_batches_and_the_last_one_may_repeat_some():
    assert plan(batches=10, processes=4).batches_per_process == 3
    assert plan(batches=10, processes=4).steps_per_epoch == 3


def test_an_epochs_last_partial_accumulation_window_still_steps():
    assert plan(batches=10, accumulation=3).steps_per_epoch == 4


def test_max_steps_caps_the_total():
    assert plan(max_steps=7).total_steps == 7
    assert plan(max_steps=100).total_steps == 30


def test_the_effective_batch_counts_processes_and_accumulation():
    assert plan(processes=2, accumulation=3, batch_size=8).effective_batch_size == 48


def test_a_prepared_scheduler_steps_once_per_process():
    assert plan(processes=4).scheduler_steps(5) == 20


def test_plan_steps_reads_the_recipe():
    cfg = TrainSection(epochs=2, gradient_accumulation=2, max_steps=0, batch_size=4)
    assert plan_steps(9, 1, cfg) == StepPlan(9, 1, 2, 2, 0, 4)
