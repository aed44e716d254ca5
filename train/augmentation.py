"""The training augmentation a config asks for: where it runs (``data.augDevice``) and how views reach the device."""
from __future__ import annotations

import logging
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from core.data.batch_augmentation import BatchImageTransforms, LoadTransform
from core.data.data_augmentation import ImageTransforms

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
