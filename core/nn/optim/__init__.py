"""Optimizers and learning-rate schedules the trainer can pick by name."""
from core.nn.optim.lars import LARS
from core.nn.optim.schedulers import warmup_cosine

__all__ = ["LARS", "warmup_cosine"]
