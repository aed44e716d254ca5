"""The SimCLR augmentation recipe applied to a whole batch at once, on any device (``data.augDevice: cuda``).

Same recipe as Task 1 (``data_augmentation.py``; paper, Appendix A), with the
same distributions, drawn independently for every image and every view:

1. random resized crop (area ``minScale``-100%, aspect 3/4-4/3, torchvision's
   ten tries then the central fallback), resized bilinearly to ``imgSize``;
2. horizontal flip with p = 0.5;
3. with p = 0.8, brightness, contrast and saturation factors in
   [1 - 0.8 s, 1 + 0.8 s] and a hue shift in [-0.2 s, 0.2 s], in a random
   order per image;
4. grayscale with p = 0.2;
5. optional Gaussian blur with p = 0.5 (kernel 10% of the side, sigma in
   [0.1, 2.0]);
6. ImageNet mean/std normalization.

The DataLoader then only decodes and batches uint8 images (``LoadTransform``);
the trainer copies the batch to the GPU and calls ``BatchImageTransforms``
twice for the two views. Use it when the CPU cores cannot augment as fast as
the GPU trains (the data path alone can be timed apart from the model).

The random parameters are drawn on the CPU from torch's generator (a few
numbers per image), so ``torch.manual_seed`` makes the views reproducible on
any device and checkpoints resume them exactly.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torchvision.transforms import v2

from core.data.data_augmentation import (BLUR_MIN_SIZE, IMAGENET_MEAN, IMAGENET_STD, ImageLike,
                                         blur_kernel_size, check_recipe, image_size, to_rgb_tensor)

CROP_TRIES = 10
RATIO = (3.0 / 4.0, 4.0 / 3.0)
GRAY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R 601-2 luma, as torchvision and PIL use


class LoadTransform:
    """Dataset side of batched augmentation: ``image -> [3, H, W]`` uint8 tensor.

    ``size`` is an int (square) or ``(H, W)``, as ``imgSize`` everywhere. Images already that
    size pass unchanged; others are resized (shorter side to the longer of H and W) and
    center-cropped, so that a batch stacks into one tensor.
    """

    def __init__(self, size: Union[int, Sequence[int]]):
        self.size = image_size(size)
        self.resize = v2.Compose([v2.Resize(max(self.size), antialias=True), v2.CenterCrop(self.size)])

    def __call__(self, image: ImageLike) -> Tensor:
        if isinstance(image, Image.Image) and image.size != self.size[::-1]:
            image = self.resize(image.convert("RGB"))
        tensor = to_rgb_tensor(image)                                       # [3, H, W] uint8
        if tuple(tensor.shape[1:]) != self.size:
            tensor = self.resize(tensor)
        return tensor.contiguous()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"


class BatchImageTransforms:
    """One SimCLR view of every image of a uint8 batch; call it twice for two views.

    Args:
        imgSize: side of the square output views, in pixels, or their ``(H, W)``.
        jitterStrength: color distortion strength s.
        minScale: smallest crop area, as a fraction of the image.
        blur: Gaussian blur on/off; ``None`` turns it on for ``imgSize >= 64``.

    Example:
        >>> augment = BatchImageTransforms(32, jitterStrength=0.5)
        >>> images = images.cuda()                    # [B, 3, H, W] uint8
        >>> viewA, viewB = augment(images), augment(images)   # each [B, 3, 32, 32] float32
    """

    def __init__(self, imgSize: int, jitterStrength: float = 1.0, minScale: float = 0.08,
                 blur: Optional[bool] = None):
        check_recipe(imgSize, jitterStrength, minScale)
        self.size = image_size(imgSize)                       # (H, W)
        self.imgSize = self.size[0] if self.size[0] == self.size[1] else self.size
        self.jitterStrength = float(jitterStrength)
        self.minScale = float(minScale)
        self.blur = min(self.size) >= BLUR_MIN_SIZE if blur is None else bool(blur)
        self.kernelSize = blur_kernel_size(self.size)

    def __call__(self, images: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
        """``images`` ``[B, 3, H, W]`` uint8 (any device) -> one view ``[B, 3, imgSize, imgSize]`` float32."""
        if images.ndim != 4 or images.shape[1] != 3 or images.dtype != torch.uint8:
            raise ValueError(f"expected a [B, 3, H, W] uint8 batch, got {tuple(images.shape)} {images.dtype}")
        params = self.sample_params(images.shape[0], images.shape[2], images.shape[3], generator)
        return self.apply(images, params)

    # ------------------------------------------------------------------ parameters
    def sample_params(self, n: int, height: int, width: int,
                      generator: Optional[torch.Generator] = None) -> Dict[str, Tensor]:
        """Every random choice of one view for ``n`` images, as CPU tensors.

        Returns:
            ``box`` [n, 4] (top, left, height, width in pixels), ``flip`` [n] bool,
            ``jitter`` [n, 4] (brightness, contrast, saturation factors, hue shift;
            identity where the jitter is not applied), ``order`` [n, 4] (a
            permutation of the four jitter operations), ``gray`` [n] bool,
            ``sigma`` [n] (0 where no blur).
        """
        def uniform(*shape):
            return torch.rand(*shape, generator=generator, dtype=torch.float64)

        params = {"box": self.sample_boxes(n, height, width, generator)}
        # --- Task 1 begin: the batched recipe's random choices (optional, for data.augDevice cuda) ---
        s = self.jitterStrength
        params["flip"] = uniform(n) < 0.5
        low = max(0.0, 1 - 0.8 * s)
        factors = low + (1 + 0.8 * s - low) * uniform(n, 3)                # brightness, contrast, saturation
        hue = 0.2 * s * (2 * uniform(n, 1) - 1)
        jitter = torch.cat([factors, hue], dim=1).float()
        applied = uniform(n) < 0.8
        params["jitter"] = torch.where(applied[:, None], jitter, torch.tensor([1.0, 1.0, 1.0, 0.0]))
        params["order"] = uniform(n, 4).argsort(dim=1)
        params["gray"] = uniform(n) < 0.2
        sigma = 0.1 + 1.9 * uniform(n)
        params["sigma"] = torch.where(uniform(n) < 0.5, sigma, 0.0).float() if self.blur else torch.zeros(n)
        # --- Task 1 end ---
        return params

    def sample_boxes(self, n: int, height: int, width: int,
                     generator: Optional[torch.Generator] = None) -> Tensor:
        """Crop boxes ``[n, 4]`` (top, left, h, w) drawn as torchvision's ``RandomResizedCrop`` draws them."""
        area = height * width
        scale = self.minScale + (1 - self.minScale) * torch.rand(n, CROP_TRIES, generator=generator,
                                                                 dtype=torch.float64)
        logRatio = math.log(RATIO[0]) + (math.log(RATIO[1]) - math.log(RATIO[0])) * torch.rand(
            n, CROP_TRIES, generator=generator, dtype=torch.float64)
        ratio = logRatio.exp()
        w = (area * scale * ratio).sqrt().round()
        h = (area * scale / ratio).sqrt().round()
        valid = (w > 0) & (w <= width) & (h > 0) & (h <= height)
        first = valid.double().argmax(dim=1, keepdim=True)                  # the first try that fits
        w, h = w.gather(1, first)[:, 0], h.gather(1, first)[:, 0]
        # No try fits: the whole image, clipped to the aspect range, centered (torchvision's fallback).
        inRatio = width / height
        if inRatio < RATIO[0]:
            fw, fh = width, round(width / RATIO[0])
        elif inRatio > RATIO[1]:
            fw, fh = round(height * RATIO[1]), height
        else:
            fw, fh = width, height
        anyValid = valid.any(dim=1)
        w = torch.where(anyValid, w, float(fw))
        h = torch.where(anyValid, h, float(fh))
        top = ((height - h + 1) * torch.rand(n, generator=generator, dtype=torch.float64)).floor()
        left = ((width - w + 1) * torch.rand(n, generator=generator, dtype=torch.float64)).floor()
        top = torch.where(anyValid, top, float((height - fh) // 2))
        left = torch.where(anyValid, left, float((width - fw) // 2))
        return torch.stack([top, left, h, w], dim=1)

    # ------------------------------------------------------------------ operations
    def apply(self, images: Tensor, params: Dict[str, Tensor]) -> Tensor:
        """The view of ``images`` (``[B, 3, H, W]`` uint8) under ``params`` from ``sample_params``."""
        device = images.device
        x = crop_resize_flip(images.float().div_(255), params["box"], params["flip"], self.size)
        jitter = params["jitter"].to(device, non_blocking=True)
        ops = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)
        for position in range(4):
            for op, fn in enumerate(ops):
                rows = (params["order"][:, position] == op) & jitter_changes(params["jitter"], op)
                if rows.any():
                    index = rows.nonzero()[:, 0].to(device, non_blocking=True)
                    x = x.index_copy(0, index, fn(x.index_select(0, index), jitter.index_select(0, index)[:, op]))
        gray = params["gray"].to(device, non_blocking=True)[:, None, None, None]
        x = torch.where(gray, grayscale(x).expand_as(x), x)
        if bool((params["sigma"] > 0).any()):
            rows = (params["sigma"] > 0).nonzero()[:, 0]
            index = rows.to(device, non_blocking=True)
            sigma = params["sigma"][rows].to(device, non_blocking=True)
            x = x.index_copy(0, index, gaussian_blur(x.index_select(0, index), sigma, self.kernelSize))
        mean, std, _ = constants(device)
        return (x - mean) / std

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(imgSize={self.imgSize}, jitterStrength={self.jitterStrength}, "
                f"minScale={self.minScale}, blur={self.blur})")


@lru_cache(maxsize=None)
def constants(device: torch.device) -> Tuple[Tensor, Tensor, Tensor]:
    """ImageNet mean and std ``[3, 1, 1]`` and the HSV->RGB channel offsets ``[1, 3, 1, 1]`` on ``device``.

    Made once per device: a fresh small tensor on a GPU costs a host-to-device copy at every call.
    """
    mean = torch.tensor(IMAGENET_MEAN, device=device)[:, None, None]
    std = torch.tensor(IMAGENET_STD, device=device)[:, None, None]
    offsets = torch.tensor([5.0, 3.0, 1.0], device=device).view(1, 3, 1, 1)
    return mean, std, offsets


def jitter_changes(jitter: Tensor, op: int) -> Tensor:
    """Rows ``[n]`` whose factor for ``op`` changes the image (1 for the first three, 0 for hue is a no-op)."""
    return jitter[:, op] != (0.0 if op == 3 else 1.0)


def crop_resize_flip(x: Tensor, box: Tensor, flip: Tensor, size: Tuple[int, int]) -> Tensor:
    """Crop ``box`` ``[B, 4]`` (top, left, h, w) of each image, resize to ``size`` ``(H, W)`` (bilinear), flip.

    Output pixel centers map to input pixel centers exactly as a crop followed
    by a bilinear resize does (``align_corners=False``).
    """
    _, _, height, width = x.shape
    top, left, h, w = box.double().unbind(dim=1)
    sign = 1.0 - 2.0 * flip.double()
    theta = torch.zeros(x.shape[0], 2, 3, dtype=torch.float64)
    theta[:, 0, 0] = sign * w / width
    theta[:, 0, 2] = (2 * left + w) / width - 1
    theta[:, 1, 1] = h / height
    theta[:, 1, 2] = (2 * top + h) / height - 1
    theta = theta.to(device=x.device, dtype=x.dtype, non_blocking=True)
    grid = F.affine_grid(theta, [x.shape[0], x.shape[1], *size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def grayscale(x: Tensor) -> Tensor:
    """``[B, 3, H, W]`` in [0, 1] -> luma ``[B, 1, H, W]``."""
    r, g, b = x.unbind(dim=1)
    return (GRAY_WEIGHTS[0] * r + GRAY_WEIGHTS[1] * g + GRAY_WEIGHTS[2] * b).unsqueeze(1)


def _blend(x: Tensor, other: Tensor, factor: Tensor) -> Tensor:
    factor = factor.view(-1, 1, 1, 1)
    return (factor * x + (1 - factor) * other).clamp_(0, 1)


def adjust_brightness(x: Tensor, factor: Tensor) -> Tensor:
    """Scale by ``factor`` ``[B]``, clipped to [0, 1] (torchvision's ``adjust_brightness``)."""
    return (x * factor.view(-1, 1, 1, 1)).clamp_(0, 1)


def adjust_contrast(x: Tensor, factor: Tensor) -> Tensor:
    """Blend with each image's mean gray level (torchvision's ``adjust_contrast``)."""
    return _blend(x, grayscale(x).mean(dim=(1, 2, 3), keepdim=True), factor)


def adjust_saturation(x: Tensor, factor: Tensor) -> Tensor:
    """Blend with the image's grayscale version (torchvision's ``adjust_saturation``)."""
    return _blend(x, grayscale(x), factor)


def adjust_hue(x: Tensor, shift: Tensor) -> Tensor:
    """Rotate the hue by ``shift`` ``[B]`` (fractions of a turn, in [-0.5, 0.5]) in HSV space."""
    maxc, _ = x.max(dim=1)
    minc, _ = x.min(dim=1)
    delta = maxc - minc
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    r, g, b = x.unbind(dim=1)
    hue = torch.where(maxc == r, (g - b) / safe,
                      torch.where(maxc == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe))
    hue = torch.where(delta > 0, hue / 6.0, torch.zeros_like(hue))
    hue = (hue + shift.view(-1, 1, 1)) % 1.0
    sat = torch.where(maxc > 0, delta / torch.where(maxc > 0, maxc, torch.ones_like(maxc)), torch.zeros_like(maxc))
    # HSV -> RGB: each channel is V - V*S*clamp(min(k, 4 - k), 0, 1), k = (n + 6 H) mod 6.
    n = constants(x.device)[2]
    k = (n + 6.0 * hue.unsqueeze(1)) % 6.0
    amount = torch.minimum(k, 4.0 - k).clamp_(0, 1)
    value = maxc.unsqueeze(1)
    return value - value * sat.unsqueeze(1) * amount


def gaussian_blur(x: Tensor, sigma: Tensor, kernelSize: int) -> Tensor:
    """Blur each image with its own ``sigma`` ``[B]``: separable kernel, reflected borders."""
    batch, channels, height, width = x.shape
    half = (kernelSize - 1) / 2
    offsets = torch.linspace(-half, half, kernelSize, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (offsets[None] / sigma[:, None].to(x.dtype)) ** 2)       # [B, k]
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(channels, dim=0)  # [B*C, k]
    pad = kernelSize // 2
    flat = x.reshape(1, batch * channels, height, width)
    flat = F.pad(flat, (pad, pad, pad, pad), mode="reflect")
    flat = F.conv2d(flat, kernel[:, None, None, :], groups=batch * channels)         # along the width
    flat = F.conv2d(flat, kernel[:, None, :, None], groups=batch * channels)         # along the height
    return flat.reshape(batch, channels, height, width)
