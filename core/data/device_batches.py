"""A training set kept on the device as uint8, served in batches with no per-image stage.

For datasets that fit in the device's memory (CIFAR-10/100, the digits, a small image folder):
every image is decoded once, stacked into one ``[N, 3, H, W]`` uint8 tensor on the device,
and each step takes its batch by indexing that tensor. The views are then made from the whole
batch at once (``core.data.batch_augmentation.BatchImageTransforms``), so nothing per image runs
on the CPU and the step is bound by the model, not the data path.
"""
from __future__ import annotations

from typing import Iterable, Iterator, Tuple

import torch
from torch import Tensor
from torch.utils.data import Sampler


def stack_batches(batches: Iterable[Tuple[Tensor, Tensor]], device: torch.device) -> Tuple[Tensor, Tensor]:
    """``(images [N, 3, H, W] uint8, labels [N] long)`` on ``device`` from a loader of uint8 image batches.

    Raises:
        ValueError: the batches are not ``[B, 3, H, W]`` uint8 of one size.
    """
    images, labels = [], []
    for batch, targets in batches:
        if batch.ndim != 4 or batch.shape[1] != 3 or batch.dtype != torch.uint8:
            raise ValueError(f"expected [B, 3, H, W] uint8 batches, got {tuple(batch.shape)} {batch.dtype}")
        images.append(batch.to(device))
        labels.append(torch.as_tensor(targets).long().to(device))
    if not images:
        raise ValueError("no images to keep on the device")
    return torch.cat(images), torch.cat(labels)


class DeviceBatches:
    """Batches of a uint8 image tensor already on the device, in the order of ``sampler``.

    Behaves as the trainer's DataLoader does for training: ``len()`` is the number of full
    batches (the last, smaller one is dropped), and each item is ``(images [B, 3, H, W] uint8,
    labels [B])``. The sampler's epoch and start index (resume mid-epoch) are honoured.

    Args:
        images: ``[N, 3, H, W]`` uint8 on the device; labels: ``[N]`` on the same device.
        batchSize: images per batch.
        sampler: yields indices into ``images`` (e.g. ``core.data.samplers.EpochSampler``).
    """

    def __init__(self, images: Tensor, labels: Tensor, batchSize: int, sampler: Sampler):
        if images.ndim != 4 or images.dtype != torch.uint8 or len(images) != len(labels):
            raise ValueError(f"images must be [N, 3, H, W] uint8 with N labels, got {tuple(images.shape)} "
                             f"{images.dtype} and {len(labels)} labels")
        if batchSize < 1:
            raise ValueError(f"batchSize={batchSize} must be >= 1")
        self.images, self.labels, self.batchSize, self.sampler = images, labels, int(batchSize), sampler
        self.num_workers = 0        # DataLoader's attribute names, read by the benchmarks
        self.prefetch_factor = None

    def __len__(self) -> int:
        return len(self.sampler) // self.batchSize

    def __iter__(self) -> Iterator[Tuple[Tensor, Tensor]]:
        order = torch.as_tensor(list(self.sampler), dtype=torch.long)
        order = order[:len(self) * self.batchSize].to(self.images.device)
        for start in range(0, len(order), self.batchSize):
            index = order[start:start + self.batchSize]
            yield self.images[index], self.labels[index]

    @property
    def nbytes(self) -> int:
        """Device memory the images take."""
        return self.images.numel() * self.images.element_size()
