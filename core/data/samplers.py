"""A shuffling sampler whose order depends only on (seed, epoch), and can start mid-epoch.

With it, a run resumed from a checkpoint (even one written in the middle of an
epoch) sees exactly the batches an uninterrupted run would have seen.
"""
from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import Sampler


class EpochSampler(Sampler[int]):
    """Random permutation of ``range(size)`` seeded by ``seed`` and the epoch.

    Args:
        size: dataset length.
        seed: base seed of the run.
    """

    def __init__(self, size: int, seed: int = 0):
        self.size, self.seed = int(size), int(seed)
        self.epoch, self.startIndex = 0, 0

    def set_epoch(self, epoch: int, startIndex: int = 0) -> None:
        """Select the epoch's permutation; skip its first ``startIndex`` indices (resume mid-epoch)."""
        self.epoch, self.startIndex = int(epoch), int(startIndex)

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        order = torch.randperm(self.size, generator=gen)[self.startIndex:]
        return iter(order.tolist())

    def __len__(self) -> int:
        return self.size - self.startIndex
