"""The training augmentation a config asks for: where it runs (``data.augDevice``) and how views reach the device."""
from __future__ import annotations

import logging
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from core.data.batch_augmentation import BatchImageTransforms, LoadTransform
from core.data.data_augmentation import ImageTransforms, image_size
from core.nn.utils.device import free_memory

log = logging.getLogger("simclr")

BLUR = {"auto": None, "on": True, "off": False}


def build_augmentation(data, device: torch.device) -> Tuple[Callable, Optional[BatchImageTransforms]]:
    """``(dataset transform, batched view maker or None)`` for the config's ``data`` section.

    ``data.augDevice cpu``: the dataset yields two augmented views per image
    (Task 1's ``ImageTransforms``). ``cuda``: it yields uint8 images and the
    batched transform makes the views on ``device``.
    """
    blur = BLUR[data.blur]
    if data.augDevice == "cuda":
        batchAugment = BatchImageTransforms(data.imgSize, jitterStrength=data.jitterStrength,
                                            minScale=data.minScale, blur=blur)
        try:
            batchAugment.sample_params(1, 8, 8)
        except NotImplementedError:  # the starter: the batched recipe is Task 1's optional part
            log.warning("data.augDevice=cuda: the batched recipe (optional part of Task 1, "
                        "core/data/batch_augmentation.py) is not written; augmenting each image with "
                        "ImageTransforms in the DataLoader instead")
        else:
            if device.type != "cuda":
                log.warning("data.augDevice=cuda but this run is on %s: the batched augmentation runs there",
                            device)
            return LoadTransform(data.imgSize), batchAugment
    return ImageTransforms(data.imgSize, backend=data.augBackend, jitterStrength=data.jitterStrength,
                           minScale=data.minScale, blur=blur), None


def views_on_device(items: Union[Tensor, Sequence[Tensor]], batchAugment: Optional[BatchImageTransforms],
                    device: torch.device) -> List[Tensor]:
    """A loader batch's first element -> the two views ``[B, 3, S, S]`` on ``device``.

    ``items`` is the pair of views (per-image augmentation) or the ``[B, 3, H, W]``
    uint8 images (batched augmentation, applied here after the copy).
    """
    if batchAugment is None:
        return [view.to(device, non_blocking=True) for view in items]
    raw = items.to(device, non_blocking=True)
    return [batchAugment(raw), batchAugment(raw)]


KEEP_FRACTION = 0.25   # data.keepOnDevice auto: the uint8 training images may take this share of free memory


def keep_on_device(data, batchAugment: Optional[BatchImageTransforms], count: int,
                   device: torch.device) -> Tuple[bool, str]:
    """Whether the training images stay on ``device`` as uint8 (``core.data.device_batches``), and why.

    Only with the batched augmentation (``data.augDevice cuda``); ``data.keepOnDevice`` ``on``
    always, ``off`` never, ``auto`` when ``count`` images of ``data.imgSize`` take at most
    ``KEEP_FRACTION`` of the device's free memory.

    Returns:
        ``(keep, a line for the run's log)`` (the line is empty without the batched augmentation).
    """
    if batchAugment is None:
        return False, ""
    if data.keepOnDevice == "off":
        return False, "data.keepOnDevice=off: the workers decode the training images every epoch"
    height, width = image_size(data.imgSize)
    need = count * 3 * height * width
    free = free_memory(device)
    keep = data.keepOnDevice == "on" or need <= KEEP_FRACTION * free
    verdict = "kept" if keep else "NOT kept (too large)"
    return keep, (f"data.keepOnDevice={data.keepOnDevice}: {count} training images ({need / 2 ** 20:.0f} MB as "
                  f"uint8) {verdict} on {device} ({free / 2 ** 20:.0f} MB free)")
