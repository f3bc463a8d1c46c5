"""LR schedules: closed forms of every kind, the torch schedulers follow them, resume positions."""

from __future__ import annotations

import math

import pytest
import torch

from common.engine.schedules import LrSchedule, lr_factor, make_scheduler


def lrs(schedule: LrSchedule, steps: int, start: int = 0) -> list[float]:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=2.0)
    sched = make_scheduler(opt, schedule, start)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_exponential_is_dvgo_multiplicative_decay():
    s = LrSchedule("exponential", decay_steps=4)
    got = lrs(s, 9)
    expected, lr = [], 2.0
    for _ in range(9):  # the official loop: lr *= 0.1 ** (1 / decay_steps) after every step
        expected.append(lr)
        lr = lr * 0.1 ** (1 / 4)
    assert got == expected  # bit-identical, not only close
    assert got[8] == pytest.approx(2.0 * 0.01, rel=1e-12)


def test_warmup_cosine_is_the_neus_formula():
    s = LrSchedule("warmup_cosine", warmup_steps=5, final_factor=0.05, total=25)
    for step in range(25):
        if step < 5:
            ref = step / 5
        else:
            progress = (step - 5) / 20
            ref = (math.cos(math.pi * progress) + 1) * 0.5 * 0.95 + 0.05
        assert lr_factor(s, step) == pytest.approx(ref, abs=1e-15)
    assert lrs(s, 25) == pytest.approx([2.0 * lr_factor(s, i) for i in range(25)], rel=1e-12)


def test_step_and_constant():
    s = LrSchedule("step", milestones=(2, 5), gamma=0.5)
    assert lrs(s, 7) == pytest.approx([2.0, 2.0, 1.0, 1.0, 1.0, 0.5, 0.5])
    assert lrs(LrSchedule(), 3) == [2.0, 2.0, 2.0]


def test_rebuilt_optimizer_keeps_its_place_in_the_schedule():
    s = LrSchedule("step", milestones=(3,), gamma=0.1)
    assert lrs(s, 3, start=2)[0] == pytest.approx(2.0) and lrs(s, 3, start=2)[1] == pytest.approx(0.2)
    e = LrSchedule("exponential", decay_steps=10)
    assert lrs(e, 1, start=10)[0] == pytest.approx(0.2, rel=1e-12)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kind": "linear"}, "unknown kind"),
        ({"kind": "exponential"}, "lr_decay_steps"),
        ({"kind": "exponential", "decay_steps": -1}, "lr_decay_steps"),
        ({"kind": "warmup_cosine", "warmup_steps": 30, "total": 10}, "lr_warmup_steps"),
        ({"kind": "step", "gamma": float("nan")}, "finite"),
    ],
)
def test_bad_schedules_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LrSchedule(**kwargs)
