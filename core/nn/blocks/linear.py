"""Linear -> normalization -> activation -> dropout, the unit of the MLP head."""
from __future__ import annotations

from typing import Any, Dict, Optional

from torch import nn

from core.nn.blocks.registry import make_activation, make_norm


class LinearBlock(nn.Sequential):
    """``Linear`` + norm + activation + dropout; ``[B, inCh] -> [B, outCh]``.

    Layers that would do nothing (no norm, no activation, ``dropRate == 0``)
    are left out, so ``print(block)`` shows only what runs.
    """

    def __init__(self, inCh: int, outCh: int, useBias: bool = True,
                 norm: Optional[str] = None, normKwargs: Optional[Dict[str, Any]] = None,
                 activ: Optional[str] = "ReLU", activKwargs: Optional[Dict[str, Any]] = None,
                 dropRate: float = 0.0):
        layers = [nn.Linear(inCh, outCh, bias=useBias)]
        for layer in (make_norm(norm, outCh, "linear", **(normKwargs or {})),
                      make_activation(activ, **(activKwargs or {}))):
            if not isinstance(layer, nn.Identity):
                layers.append(layer)
        if dropRate > 0:
            layers.append(nn.Dropout(dropRate))
        super().__init__(*layers)
