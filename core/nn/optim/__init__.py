"""Optimizers and learning-rate schedules the trainer can pick by name."""
from core.nn.optim.lars import LARS
from core.nn.optim.schedulers import WarmupCosine, warmup_cosine

__all__ = ["LARS", "WarmupCosine", "warmup_cosine"]
