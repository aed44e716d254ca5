"""The warmup + cosine learning-rate schedule, as a scheduler whose length can change on resume."""
from __future__ import annotations

import math
from typing import List

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


def warmup_cosine_factor(step: int, warmupSteps: int, totalSteps: int, minFactor: float = 0.0) -> float:
    """Multiplier of the base lr after ``step`` optimizer steps.

    Linear warmup over the first ``warmupSteps`` steps (step 0 already uses
    ``1 / warmupSteps``), then a cosine from 1 down to ``minFactor`` at
    ``totalSteps``; it stays at ``minFactor`` after that.
    """
    if step < warmupSteps:
        return (step + 1) / warmupSteps
    span = max(1, totalSteps - warmupSteps)
    progress = min(1.0, (step - warmupSteps) / span)
    return minFactor + (1 - minFactor) * 0.5 * (1 + math.cos(math.pi * progress))


class WarmupCosine(LRScheduler):
    """Linear warmup, then cosine decay (SimCLR, Appendix B.1); step it once per optimizer step.

    Args:
        optimizer: the optimizer whose groups' ``lr`` it sets (from each group's initial lr).
        warmupSteps: steps of linear warmup (>= 0).
        totalSteps: steps of the whole run (>= 1).
        minFactor: the final lr as a fraction of the base lr.

    Raises:
        ValueError: negative warmup, or no steps at all.
    """

    def __init__(self, optimizer: Optimizer, warmupSteps: int, totalSteps: int, minFactor: float = 0.0):
        check_lengths(warmupSteps, totalSteps)
        self.warmupSteps, self.totalSteps, self.minFactor = int(warmupSteps), int(totalSteps), float(minFactor)
        super().__init__(optimizer)

    def factor(self, step: int) -> float:
        return warmup_cosine_factor(step, self.warmupSteps, self.totalSteps, self.minFactor)

    def get_lr(self) -> List[float]:
        return [base * self.factor(self.last_epoch) for base in self.base_lrs]

    def resize(self, warmupSteps: int, totalSteps: int) -> None:
        """Change the schedule's length (resume with more epochs) and set each group's lr for the current step."""
        check_lengths(warmupSteps, totalSteps)
        self.warmupSteps, self.totalSteps = int(warmupSteps), int(totalSteps)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


def check_lengths(warmupSteps: int, totalSteps: int) -> None:
    if warmupSteps < 0 or totalSteps < 1:
        raise ValueError(f"warmupSteps={warmupSteps} must be >= 0 and totalSteps={totalSteps} >= 1")


def warmup_cosine(optimizer: Optimizer, warmupSteps: int, totalSteps: int, minFactor: float = 0.0) -> WarmupCosine:
    """``WarmupCosine(optimizer, warmupSteps, totalSteps, minFactor)`` (the name the trainer has always used)."""
    return WarmupCosine(optimizer, warmupSteps, totalSteps, minFactor)
