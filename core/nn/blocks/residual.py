"""The basic residual block of ResNet-18/34 (He et al., 2016, Fig. 2 left)."""
from __future__ import annotations

from typing import Any, Dict, Optional

from torch import Tensor, nn

from core.nn.blocks.conv import ConvBlock
from core.nn.blocks.registry import make_activation, make_norm


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity (or 1x1 projection) shortcut.

    ``[B, inCh, H, W] -> [B, outCh, H/stride, W/stride]``. The shortcut is a
    strided 1x1 convolution + norm when the shape changes, as in torchvision.
    """

    def __init__(self, inCh: int, outCh: int, stride: int = 1,
                 norm: Optional[str] = "BatchNorm2d", normKwargs: Optional[Dict[str, Any]] = None,
                 activ: Optional[str] = "ReLU", activKwargs: Optional[Dict[str, Any]] = None):
        super().__init__()
        normKwargs = normKwargs or {}
        self.conv1 = ConvBlock(inCh, outCh, 3, stride, norm, normKwargs, activ, activKwargs)
        self.conv2 = ConvBlock(outCh, outCh, 3, 1, norm, normKwargs, None)
        if stride != 1 or inCh != outCh:
            normLayer = make_norm(norm, outCh, "conv", **normKwargs)
            self.shortcut = nn.Sequential(
                nn.Conv2d(inCh, outCh, 1, stride, bias=isinstance(normLayer, nn.Identity)),
                normLayer,
            )
        else:
            self.shortcut = nn.Identity()
        self.activ = make_activation(activ, **(activKwargs or {}))

    def forward(self, x: Tensor) -> Tensor:
        """``x [B, inCh, H, W] -> [B, outCh, H', W']``."""
        return self.activ(self.conv2(self.conv1(x)) + self.shortcut(x))
