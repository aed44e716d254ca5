"""A shuffling sampler whose order depends only on (seed, epoch), and can start mid-epoch.

With it, a run resumed from a checkpoint (even one written in the middle of an
epoch) sees exactly the batches an uninterrupted run would have seen.
"""
from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import Sampler

from core.nn.utils.runtime import epoch_seeds


class EpochSampler(Sampler[int]):
    """Random permutation of ``range(size)`` seeded by ``seed`` and the epoch, sharded over processes.

    Under torchrun each of the ``worldSize`` processes takes every
    ``worldSize``-th index of the same permutation (the tail that does not
    divide evenly is dropped, as ``DistributedSampler(drop_last=True)`` does).

    Args:
        size: dataset length.
        seed: base seed of the run.
        rank: this process's index.
        worldSize: number of processes.
    """

    def __init__(self, size: int, seed: int = 0, rank: int = 0, worldSize: int = 1):
        if not 0 <= rank < worldSize:
            raise ValueError(f"rank={rank} must be in [0, worldSize={worldSize})")
        self.size, self.seed, self.rank, self.worldSize = int(size), int(seed), int(rank), int(worldSize)
        self.perRank = self.size // self.worldSize
        self.epoch, self.startIndex = 0, 0

    def set_epoch(self, epoch: int, startIndex: int = 0) -> None:
        """Select the epoch's permutation; skip its first ``startIndex`` indices (resume mid-epoch)."""
        self.epoch, self.startIndex = int(epoch), int(startIndex)

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(epoch_seeds(self.seed, self.epoch)[1])
        order = torch.randperm(self.size, generator=gen)[:self.perRank * self.worldSize]
        mine = order[self.rank::self.worldSize]
        return iter(mine[self.startIndex:].tolist())

    def __len__(self) -> int:
        return self.perRank - self.startIndex
