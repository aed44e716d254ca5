"""A shuffling sampler whose order depends only on (seed, epoch), and can start mid-epoch.

With it, a run resumed from a checkpoint (even one written in the middle of an
epoch) sees exactly the batches an uninterrupted run would have seen. With
``seeded=True`` it also gives every item its own seed (``SeededItems`` reads it),
so the augmentation of an image depends on (seed, epoch, image) alone: the same
with 0 or 8 DataLoader workers, and after a resume in the middle of an epoch.
"""
from __future__ import annotations

import hashlib
import random
from typing import Any, Iterator, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, get_worker_info

from core.nn.utils.randomness import epoch_seeds


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
        seeded: yield ``(index, itemSeed)`` pairs for ``SeededItems`` instead of bare indices.
    """

    def __init__(self, size: int, seed: int = 0, rank: int = 0, worldSize: int = 1, seeded: bool = False):
        if not 0 <= rank < worldSize:
            raise ValueError(f"rank={rank} must be in [0, worldSize={worldSize})")
        self.size, self.seed, self.rank, self.worldSize = int(size), int(seed), int(rank), int(worldSize)
        self.perRank = self.size // self.worldSize
        self.epoch, self.startIndex, self.seeded = 0, 0, bool(seeded)

    def set_epoch(self, epoch: int, startIndex: int = 0) -> None:
        """Select the epoch's permutation; skip its first ``startIndex`` indices (resume mid-epoch)."""
        self.epoch, self.startIndex = int(epoch), int(startIndex)

    def __iter__(self) -> Iterator[Union[int, Tuple[int, int]]]:
        globalSeed, orderSeed = epoch_seeds(self.seed, self.epoch)
        gen = torch.Generator().manual_seed(orderSeed)
        order = torch.randperm(self.size, generator=gen)[:self.perRank * self.worldSize]
        mine = order[self.rank::self.worldSize][self.startIndex:].tolist()
        if not self.seeded:
            return iter(mine)
        return iter([(index, item_seed(globalSeed, index)) for index in mine])

    def __len__(self) -> int:
        return self.perRank - self.startIndex


def item_seed(epochSeed: int, index: int) -> int:
    """A 63-bit seed for image ``index`` in the epoch seeded ``epochSeed`` (a hash: no two pairs share a stream)."""
    digest = hashlib.blake2b(f"{epochSeed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class SeededItems(Dataset):
    """``dataset`` read at ``(index, itemSeed)`` keys: Python, NumPy and torch are seeded with ``itemSeed`` first.

    In a DataLoader worker the generators are the worker's own; in the main process
    (no workers) they are restored after the item, so the training step's draws do
    not depend on how the items were read.
    """

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: Tuple[int, int]) -> Any:
        index, seed = key
        if get_worker_info() is not None:
            seed_cpu_generators(seed)
            return self.dataset[index]
        states = torch.get_rng_state(), np.random.get_state(), random.getstate()
        try:
            seed_cpu_generators(seed)
            return self.dataset[index]
        finally:
            torch.set_rng_state(states[0])
            np.random.set_state(states[1])
            random.setstate(states[2])


def seed_cpu_generators(seed: int) -> None:
    """Seed torch's CPU generator, NumPy's and Python's (~15 us; ``torch.manual_seed`` also seeds CUDA, ~100 us)."""
    torch.default_generator.manual_seed(seed)
    np.random.seed(seed % 2 ** 32)
    random.seed(seed)
