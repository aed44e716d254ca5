"""Run-time helpers: seeding and device selection."""
from __future__ import annotations

import logging
import random
import re

import numpy as np
import torch

log = logging.getLogger(__name__)
DEVICE_PATTERN = re.compile(r"^(cpu|cuda|cuda:\d+)$")


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def epoch_seeds(seed: int, epoch: int) -> tuple:
    """The two seeds of one epoch, from the run's seed alone: ``(global, order)``.

    ``global`` reseeds python, numpy and torch at the epoch's start (the
    augmentations' draws); ``order`` seeds the sampler's permutation and the
    DataLoader's generator (the workers' base seeds). A resumed run recomputes
    them, so it replays exactly what an uninterrupted one does.
    """
    return seed + epoch, seed * 100003 + epoch


def resolve_device(name: str) -> torch.device:
    """``'cpu'``, ``'cuda'`` or ``'cuda:N'`` -> a usable device.

    A CUDA device that is not there falls back to the CPU with one warning.

    Raises:
        ValueError: ``name`` is none of the accepted forms.
    """
    if not DEVICE_PATTERN.match(str(name)):
        raise ValueError(f"general.device={name!r} is not supported; use 'cpu', 'cuda' or 'cuda:N'")
    if name == "cpu":
        return torch.device("cpu")
    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(name.split(":")[1]) if ":" in name else 0
    if index >= available:
        log.warning("general.device=%s requested but %s; running on the CPU", name,
                    "CUDA is not available" if available == 0 else f"only {available} CUDA device(s) exist")
        return torch.device("cpu")
    return torch.device(name)
