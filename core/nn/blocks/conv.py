"""Convolution -> normalization -> activation, the unit every CNN here is made of."""
from __future__ import annotations

from typing import Any, Dict, Optional

from torch import nn

from core.nn.blocks.registry import make_activation, make_norm


class ConvBlock(nn.Sequential):
    """``Conv2d`` + norm + activation; ``[B, inCh, H, W] -> [B, outCh, H/stride, W/stride]``.

    The convolution has no bias when a normalization follows it (the norm's
    shift makes it redundant), and ``padding = kernel // 2`` keeps "same" size
    at stride 1.
    """

    def __init__(self, inCh: int, outCh: int, kernel: int = 3, stride: int = 1,
                 norm: Optional[str] = "BatchNorm2d", normKwargs: Optional[Dict[str, Any]] = None,
                 activ: Optional[str] = "ReLU", activKwargs: Optional[Dict[str, Any]] = None):
        normLayer = make_norm(norm, outCh, "conv", **(normKwargs or {}))
        super().__init__(
            nn.Conv2d(inCh, outCh, kernel, stride, kernel // 2,
                      bias=isinstance(normLayer, nn.Identity)),
            normLayer,
            make_activation(activ, **(activKwargs or {})),
        )
