"""Learning-rate schedules built on ``torch.optim.lr_scheduler.LambdaLR``."""
from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


class WarmupCosineFactor:
    """Multiplier of the base lr at step t: linear warmup, then cosine decay to ``minFactor``.

    A class rather than a lambda so the scheduler pickles (DataLoader workers,
    checkpoints).
    """

    def __init__(self, warmupSteps: int, totalSteps: int, minFactor: float = 0.0):
        self.warmupSteps, self.totalSteps, self.minFactor = warmupSteps, totalSteps, minFactor

    def __call__(self, step: int) -> float:
        if step < self.warmupSteps:
            return (step + 1) / self.warmupSteps
        span = max(1, self.totalSteps - self.warmupSteps)
        progress = min(1.0, (step - self.warmupSteps) / span)
        return self.minFactor + (1 - self.minFactor) * 0.5 * (1 + math.cos(math.pi * progress))


def warmup_cosine(optimizer: Optimizer, warmupSteps: int, totalSteps: int,
                  minFactor: float = 0.0) -> LambdaLR:
    """Linear warmup for ``warmupSteps`` optimizer steps, then cosine decay (SimCLR, Sec. B.1).

    Step it once per optimizer step.

    Raises:
        ValueError: negative warmup, or no steps at all.
    """
    if warmupSteps < 0 or totalSteps < 1:
        raise ValueError(f"warmupSteps={warmupSteps} must be >= 0 and totalSteps={totalSteps} >= 1")
    return LambdaLR(optimizer, WarmupCosineFactor(warmupSteps, totalSteps, minFactor))
