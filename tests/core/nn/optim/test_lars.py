"""LARS against steps computed by hand from its docstring's formula."""
import math

import pytest
import torch

from core.nn.optim import LARS


def two_steps(groups, rates=None, **kwargs):
    opt = LARS(groups, **kwargs)
    history = []
    for index in range(2):
        if rates:
            for group in opt.param_groups:
                group["lr"] = rates[index]
        for group in groups:
            for p in group["params"]:
                p.grad = torch.full_like(p, 0.0) + group["grad"]
        opt.step()
        history.append([p.detach().clone() for g in groups for p in g["params"]])
    return history


def test_trust_ratio_weight_decay_and_momentum():
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    groups = [{"params": [w], "grad": torch.tensor([0.6, 0.8])}]
    first, second = two_steps(groups, lr=0.5, momentum=0.9, weight_decay=0.1, eta=0.001)
    # Step 1: d = g + wd w = [0.9, 1.2], ||d|| = 1.5, trust = 0.001 * 5 / 1.5; v = trust d; w -= 0.5 v.
    trust1 = 0.001 * 5.0 / 1.5
    v1 = [trust1 * 0.9, trust1 * 1.2]
    w1 = [3.0 - 0.5 * v1[0], 4.0 - 0.5 * v1[1]]
    assert first[0].tolist() == pytest.approx(w1, rel=1e-6)
    # Step 2: the same gradient, the new weights; v = 0.9 v1 + trust2 d2.
    d2 = [0.6 + 0.1 * w1[0], 0.8 + 0.1 * w1[1]]
    trust2 = 0.001 * math.hypot(*w1) / math.hypot(*d2)
    v2 = [0.9 * v1[i] + trust2 * d2[i] for i in range(2)]
    assert second[0].tolist() == pytest.approx([w1[i] - 0.5 * v2[i] for i in range(2)], rel=1e-6)


def test_a_changing_learning_rate_is_folded_into_the_velocity():
    """The official SimCLR LARS: v = m v + lr_t trust d, w -= v (not w -= lr_t (m v + trust d))."""
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    groups = [{"params": [w], "grad": torch.tensor([0.6, 0.8])}]
    first, second = two_steps(groups, rates=[0.5, 0.1], lr=0.5, momentum=0.9, weight_decay=0.1, eta=0.001)
    trust1 = 0.001 * 5.0 / 1.5
    v1 = [0.5 * trust1 * 0.9, 0.5 * trust1 * 1.2]
    w1 = [3.0 - v1[0], 4.0 - v1[1]]
    assert first[0].tolist() == pytest.approx(w1, rel=1e-6)
    d2 = [0.6 + 0.1 * w1[0], 0.8 + 0.1 * w1[1]]
    trust2 = 0.001 * math.hypot(*w1) / math.hypot(*d2)
    v2 = [0.9 * v1[i] + 0.1 * trust2 * d2[i] for i in range(2)]
    assert second[0].tolist() == pytest.approx([w1[i] - v2[i] for i in range(2)], rel=1e-6)
    scaledAll = [w1[i] - 0.1 * (0.9 * v1[i] / 0.5 + trust2 * d2[i]) for i in range(2)]   # torch SGD's form
    assert second[0].tolist() != pytest.approx(scaledAll, rel=1e-6)


def test_excluded_groups_get_plain_momentum_sgd():
    w = torch.tensor([1.0], requires_grad=True)
    groups = [{"params": [w], "grad": torch.tensor([0.5]), "lars_exclude": True, "weight_decay": 0.1}]
    first, second = two_steps(groups, lr=0.5, momentum=0.9, weight_decay=0.1)
    assert first[0].item() == pytest.approx(1.0 - 0.5 * 0.5)                 # v = g, no decay, no trust ratio
    assert second[0].item() == pytest.approx(0.75 - 0.5 * (0.9 * 0.5 + 0.5))


def test_zero_weights_use_a_trust_ratio_of_one():
    w = torch.zeros(3, requires_grad=True)
    first, _ = two_steps([{"params": [w], "grad": torch.ones(3)}], lr=0.1, momentum=0.0)
    assert first[0].tolist() == pytest.approx([-0.1] * 3)


@pytest.mark.parametrize("kwargs, match", [(dict(lr=0), "lr=0"), (dict(lr=0.1, momentum=1.0), "momentum=1.0")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LARS([torch.zeros(1, requires_grad=True)], **kwargs)
