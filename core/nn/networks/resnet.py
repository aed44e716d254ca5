"""A configurable ResNet-18/34 encoder (He et al., CVPR 2016).

``ResNet(inChNo, outChNo, ...).build()`` maps ``[B, inChNo, H, W]`` to
``[B, outChNo]`` (``lastPool=True``) or to a feature map ``[B, outChNo, h, w]``.

The six ``strides`` are, in order: stem convolution, stem pooling, stages 1-4.

- ImageNet stem: ``firstKernelSize=7, strides=[2, 2, 1, 2, 2, 2]`` (7x7 stride-2
  conv, 3x3 stride-2 max pool): a 224-px image leaves stage 4 at 7x7. With
  ``baseChNo=64`` this has exactly the parameters of torchvision's resnet18 /
  resnet34 without the ``fc`` layer.
- CIFAR stem: ``firstKernelSize=3, strides=[1, 1, 1, 2, 2, 2]``: a 32-px image
  keeps its resolution through the stem (the SimCLR paper, Appendix B.9,
  replaces the 7x7 stride-2 conv with a 3x3 stride-1 conv and drops the pool).

A stride of 1 at the stem pool means *no* pooling layer. ``downType`` picks the
layer used when the stem pool stride is above 1: ``'maxpool'`` (3x3, as in
torchvision), ``'avgpool'`` (3x3) or ``'conv'`` (a strided 3x3 conv block).
"""
from __future__ import annotations

import numbers
from typing import Tuple

from torch import Tensor, nn

from core.nn.blocks import BasicBlock, ConvBlock
from core.nn.blocks.registry import check_layer_kwargs, make_activation, make_norm
from core.nn.utils.configurable import MAX_WIDTH, Configurable, positive_ints

# Residual blocks per stage for each supported architecture.
ARCH_BLOCKS = {"18": (2, 2, 2, 2), "34": (3, 4, 6, 3)}
DOWN_TYPES = ("maxpool", "avgpool", "conv")


class ResNet(nn.Module, Configurable):
    """Configurable ResNet encoder built from ``BasicBlock`` stages.

    Args:
        inChNo: input channels (3 for RGB).
        outChNo: output channels. When it differs from the last stage's width
            (``8 * baseChNo``), a 1x1 conv block maps the last stage to it.
        **hparams: overrides of ``ResNet.DEFAULTS`` (see the module docstring).
    """

    DEFAULTS = {
        "archType": "18",           # '18' or '34'
        "baseChNo": 64,             # width of stage 1; stages double it
        "firstKernelSize": 3,       # 7 for the ImageNet stem, 3 for small images
        "strides": [1, 1, 1, 2, 2, 2],  # stem conv, stem pool, stage 1..4
        "downType": "maxpool",      # stem pooling layer: maxpool | avgpool | conv
        "norm": "BatchNorm2d",      # torch.nn name or None
        "normKwargs": {},
        "activ": "ReLU",            # torch.nn name or None
        "activKwargs": {},
        "lastPool": True,           # global average pool -> [B, outChNo]
    }

    def __init__(self, inChNo: int = 3, outChNo: int = 512, **hparams):
        super().__init__()
        sizes = positive_ints(inChNo=inChNo, outChNo=outChNo)
        self.inChNo, self.outChNo = sizes["inChNo"], sizes["outChNo"]
        self.configure(**hparams)

    def validate(self) -> None:
        """Reject values the builder cannot use, naming the allowed ones."""
        self.archType = str(self.archType)
        if self.archType not in ARCH_BLOCKS:
            raise ValueError(f"archType={self.archType!r} is not supported; accepted: {list(ARCH_BLOCKS)}")
        if self.downType not in DOWN_TYPES:
            raise ValueError(f"downType={self.downType!r} is not supported; accepted: {list(DOWN_TYPES)}")
        strides = list(self.strides) if isinstance(self.strides, (list, tuple)) else []
        if len(strides) != 6 or not all(isinstance(s, numbers.Real) and not isinstance(s, bool) and s >= 1
                                        and int(s) == s for s in strides):
            raise ValueError(f"strides={self.strides!r} (SimCLR's encoderStrides) must be 6 integers >= 1: stem "
                             "conv, stem pool, stages 1-4 (CIFAR stem: [1, 1, 1, 2, 2, 2])")
        self.strides = [int(s) for s in strides]
        if int(self.firstKernelSize) < 1 or int(self.firstKernelSize) % 2 == 0:
            raise ValueError(f"firstKernelSize={self.firstKernelSize!r} must be a positive odd integer")
        self.baseChNo = positive_ints(baseChNo=self.baseChNo)["baseChNo"]
        if self.baseChNo * 8 > MAX_WIDTH:
            raise ValueError(f"baseChNo={self.baseChNo} makes the last stage wider than {MAX_WIDTH} channels")
        self.normKwargs = check_layer_kwargs(self.normKwargs, "normKwargs")
        self.activKwargs = check_layer_kwargs(self.activKwargs, "activKwargs")
        make_norm(self.norm, int(self.baseChNo), "conv", **self.normKwargs)  # fail early on a bad name
        make_activation(self.activ, **self.activKwargs)

    @property
    def stageChannels(self) -> Tuple[int, int, int, int]:
        """Output channels of stages 1-4."""
        base = int(self.baseChNo)
        return (base, 2 * base, 4 * base, 8 * base)

    def build(self) -> "ResNet":
        """Create the layers; returns ``self`` so ``ResNet(...).build()`` chains."""
        layerKw = dict(norm=self.norm, normKwargs=self.normKwargs,
                       activ=self.activ, activKwargs=self.activKwargs)
        base = int(self.baseChNo)
        self.stem = ConvBlock(self.inChNo, base, int(self.firstKernelSize), self.strides[0], **layerKw)
        self.stemPool = self._make_stem_pool(base, self.strides[1], layerKw)
        stages, inCh = [], base
        for outCh, blocks, stride in zip(self.stageChannels, ARCH_BLOCKS[self.archType], self.strides[2:]):
            layers = [BasicBlock(inCh, outCh, stride, **layerKw)]
            layers += [BasicBlock(outCh, outCh, 1, **layerKw) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*layers))
            inCh = outCh
        self.stages = nn.Sequential(*stages)
        self.head = (nn.Identity() if inCh == self.outChNo
                     else ConvBlock(inCh, self.outChNo, 1, 1, **layerKw))
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1)) if self.lastPool else nn.Identity()
        return self

    def _make_stem_pool(self, channels: int, stride: int, layerKw: dict) -> nn.Module:
        if stride == 1:
            return nn.Identity()
        if self.downType == "maxpool":
            return nn.MaxPool2d(3, stride, 1)
        if self.downType == "avgpool":
            return nn.AvgPool2d(3, stride, 1)
        return ConvBlock(channels, channels, 3, stride, **layerKw)

    def forward(self, x: Tensor) -> Tensor:
        """``x [B, inChNo, H, W] -> [B, outChNo]`` (or ``[B, outChNo, h, w]`` without lastPool)."""
        if not hasattr(self, "stages"):
            raise RuntimeError("ResNet.forward called before build(); use ResNet(...).build()")
        return self.pool(self.head(self.stages(self.stemPool(self.stem(x)))))
