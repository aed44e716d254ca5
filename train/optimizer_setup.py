"""Optimizers and schedulers by name, from the config's ``optimizer`` section."""
from __future__ import annotations

import inspect
import math
import numbers

import torch
from torch.optim import Optimizer

from core.nn.optim import LARS, warmup_cosine

OPTIMIZERS = ("Adam", "AdamW", "SGD", "LARS")
SCHED_PACK = "torch.optim.lr_scheduler"
OWN_SCHEDULERS = ("WarmupCosine", "None")
# Schedulers of torch.optim.lr_scheduler that step once per epoch with kwargs only.
TORCH_SCHEDULERS = ("StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "ConstantLR",
                    "LinearLR", "PolynomialLR")


def build_optimizer(name: str, paramGroups, lr: float, weightDecay: float, momentum: float) -> Optimizer:
    """Create optimizer ``name`` over ``paramGroups`` (see ``SimCLR.get_params``).

    Raises:
        ValueError: unknown ``name``.
    """
    if name == "Adam":
        return torch.optim.Adam(paramGroups, lr=lr, weight_decay=weightDecay)
    if name == "AdamW":
        return torch.optim.AdamW(paramGroups, lr=lr, weight_decay=weightDecay)
    if name == "SGD":
        return torch.optim.SGD(paramGroups, lr=lr, momentum=momentum, weight_decay=weightDecay, nesterov=False)
    if name == "LARS":
        return LARS(paramGroups, lr=lr, momentum=momentum, weight_decay=weightDecay)
    raise ValueError(f"optimizer.name={name!r} is not supported; accepted: {list(OPTIMIZERS)}")


def build_scheduler(name: str, optimizer: Optimizer, schedPack: str, schedKwargs: dict,
                    warmupEpochs: int, epochs: int, stepsPerEpoch: int):
    """Create scheduler ``name``; returns ``(scheduler or None, steps_per_iteration: bool)``.

    ``WarmupCosine`` steps every optimizer step; the ``torch.optim.lr_scheduler``
    classes step once per epoch, so their kwargs count epochs. Schedulers can
    come only from ``torch.optim.lr_scheduler`` (``optimizer.schedPack``): a
    config must not be able to import arbitrary code.

    Raises:
        ValueError: unknown scheduler or a schedPack other than torch's.
    """
    if schedPack != SCHED_PACK:
        raise ValueError(f"optimizer.schedPack={schedPack!r} is not allowed; only {SCHED_PACK!r}")
    if name == "None":
        return None, False
    if name == "WarmupCosine":
        return warmup_cosine(optimizer, warmupEpochs * stepsPerEpoch, epochs * stepsPerEpoch), True
    if name in TORCH_SCHEDULERS:
        cls = getattr(torch.optim.lr_scheduler, name)
        check_sched_kwargs(cls, dict(schedKwargs))
        try:
            # A rehearsal on a throwaway optimizer: values that construct but fail when stepped (a
            # string where a number belongs) fail here, not after the first epoch.
            probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
            rehearsal = cls(probe, **dict(schedKwargs))
            for _ in range(min(epochs, 3)):
                probe.step()
                rehearsal.step()
            return cls(optimizer, **dict(schedKwargs)), False
        except (TypeError, ValueError, KeyError, ZeroDivisionError) as err:
            raise ValueError(f"optimizer.schedKwargs={dict(schedKwargs)} do not fit {name}: {err}") from err
    raise ValueError(f"optimizer.scheduler={name!r} is not supported; accepted: "
                     f"{list(OWN_SCHEDULERS + TORCH_SCHEDULERS)}")


def check_sched_kwargs(cls: type, kwargs: dict) -> None:
    """Each value of ``optimizer.schedKwargs`` has a type the scheduler can use.

    Numbers are finite, lists hold numbers (``milestones``), text only where the scheduler's
    default is text (``mode``). ``MultiStepLR(milestones='abc')`` would construct and silently
    never decay.

    Raises:
        ValueError: naming the key, the value and the scheduler.
    """
    parameters = inspect.signature(cls).parameters

    def number(value) -> bool:
        return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)

    for key, value in kwargs.items():
        default = parameters[key].default if key in parameters else None
        if isinstance(value, str):
            ok = isinstance(default, str)
        elif isinstance(value, (list, tuple)):
            ok = all(number(v) for v in value)
        elif isinstance(value, bool):
            ok = isinstance(default, bool)
        else:
            ok = number(value)
        if not ok:
            raise ValueError(f"optimizer.schedKwargs: {key}={value!r} does not fit {cls.__name__} (numbers, lists "
                             "of numbers, or text where the scheduler takes text)")
