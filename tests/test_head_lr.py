"""`train.head_lr` and `train.warmup_ratio`: the fresh head's own rate, warm-up as a share of the steps."""

from __future__ import annotations

import torch
from torch import nn

from runner.recipe.schema import TrainSection
from runner.training.loop import optimizer_and_scheduler, parameter_groups, warmup_steps
from runner.training.step_plan import plan_steps


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.head = nn.Linear(4, 3)


def test_the_head_trains_at_its_own_rate_and_the_body_at_train_lr():
    model = Tiny()
    groups = parameter_groups(model, TrainSection(lr=5e-5, head_lr=1e-3))
    assert [g["lr"] for g in groups] == [5e-5, 1e-3]
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in model.head.parameters()}
    plan = plan_steps(10, 1, TrainSection(epochs=1))
    optimizer, _ = optimizer_and_scheduler(model, TrainSection(lr=5e-5, head_lr=1e-3), plan)
    assert [g["lr"] for g in optimizer.param_groups] == [5e-5, 1e-3]  # no warm-up: the peaks at once


def test_without_head_lr_or_without_a_training_body_every_weight_takes_train_lr():
    model = Tiny()
    assert [g["lr"] for g in parameter_groups(model, TrainSection(lr=5e-5, head_lr=0.0))] == [5e-5]
    model.body.requires_grad_(False)  # only the head trains: head_lr has no body to differ from
    groups = parameter_groups(model, TrainSection(lr=5e-5, head_lr=1e-3))
    assert [g["lr"] for g in groups] == [5e-5] and len(groups[0]["params"]) == 2


def test_by_default_the_head_trains_at_its_own_measured_rate():
    assert [g["lr"] for g in parameter_groups(Tiny(), TrainSection(lr=5e-5))] == [5e-5, 3e-3]


def test_warmup_ratio_is_a_share_of_the_steps_unless_warmup_steps_is_given():
    assert warmup_steps(TrainSection(warmup_ratio=0.1), 200) == 20
    assert warmup_steps(TrainSection(warmup_ratio=0.1, warmup_steps=7), 200) == 7
    assert warmup_steps(TrainSection(), 200) == 0
    model = Tiny()
    plan = plan_steps(10, 1, TrainSection(epochs=1))
    optimizer, scheduler = optimizer_and_scheduler(model, TrainSection(lr=1.0, warmup_ratio=0.5), plan)
    rates = []
    for _ in range(plan.total_steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] == 0.0 and max(rates) == rates[5] == torch.tensor(1.0).item()
