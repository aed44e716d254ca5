"""The warmup + cosine schedule at the steps that matter, and resized on resume."""
import math

import pytest
import torch

from core.nn.optim import WarmupCosine


def schedule(warmup, total, base=1.0):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
    return opt, WarmupCosine(opt, warmup, total)


def lrs(opt, sched, steps):
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_warmup_then_cosine_to_zero():
    opt, sched = schedule(4, 10, base=2.0)
    got = lrs(opt, sched, 12)
    assert got[0] == pytest.approx(2.0 / 4)                       # step 0: first warmup step
    assert got[3] == pytest.approx(2.0)                           # last warmup step: the base lr
    assert got[4] == pytest.approx(2.0)                           # first cosine step: cos(0)
    assert got[5] == pytest.approx(2.0 * 0.5 * (1 + math.cos(math.pi / 6)))
    assert got[10] == pytest.approx(0.0, abs=1e-12) and got[11] == pytest.approx(0.0, abs=1e-12)


def test_no_warmup():
    opt, sched = schedule(0, 4)
    assert lrs(opt, sched, 3) == pytest.approx([1.0, 0.5 * (1 + math.cos(math.pi / 4)), 0.5])


def test_resume_with_more_steps_resizes_the_schedule():
    opt, sched = schedule(2, 10)
    lrs(opt, sched, 6)
    state = sched.state_dict()
    opt2, sched2 = schedule(2, 10)
    sched2.load_state_dict(state)
    sched2.resize(2, 20)                                          # e.g. train.epochs doubled
    assert sched2.last_epoch == 6
    want = 0.5 * (1 + math.cos(math.pi * (6 - 2) / 18))
    assert opt2.param_groups[0]["lr"] == pytest.approx(want)
    assert lrs(opt2, sched2, 1)[0] == pytest.approx(want)


def test_bad_lengths():
    with pytest.raises(ValueError, match="warmupSteps=-1"):
        schedule(-1, 10)
    with pytest.raises(ValueError, match="totalSteps=0"):
        schedule(0, 0)
