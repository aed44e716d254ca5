"""A configurable multilayer perceptron, used as the SimCLR projection head."""
from __future__ import annotations

from torch import Tensor, nn

from core.nn.blocks import LinearBlock
from core.nn.blocks.registry import check_layer_kwargs, make_activation, make_norm
from core.nn.utils.configurable import Configurable, positive_ints


class MLP(nn.Module, Configurable):
    """``[B, inChNo] -> [B, outChNo]`` through hidden layers of sizes ``layerCfg``.

    Each hidden layer is Linear -> norm -> activ (-> dropout); the output layer
    is Linear -> ``lastActiv``.

    Args:
        inChNo: input features.
        outChNo: output features.
        **hparams: overrides of ``MLP.DEFAULTS``. ``dropLayers`` is the number of
            *last* hidden layers followed by dropout with probability ``dropRate``.
    """

    DEFAULTS = {
        "layerCfg": [512],
        "useBias": True,
        "norm": None,
        "normKwargs": {},
        "activ": "ReLU",
        "activKwargs": {},
        "dropRate": 0.0,
        "dropLayers": 0,
        "lastActiv": None,
        "lastActivKwargs": {},
    }

    def __init__(self, inChNo: int = 512, outChNo: int = 128, **hparams):
        super().__init__()
        sizes = positive_ints(inChNo=inChNo, outChNo=outChNo)
        self.inChNo, self.outChNo = sizes["inChNo"], sizes["outChNo"]
        self.configure(**hparams)

    def validate(self) -> None:
        """Reject values the builder cannot use."""
        if not isinstance(self.layerCfg, (list, tuple, type(None))):
            raise ValueError(f"layerCfg={self.layerCfg!r} must be a list of hidden widths")
        self.layerCfg = [positive_ints(**{f"layerCfg[{i}]": c})[f"layerCfg[{i}]"]
                         for i, c in enumerate(self.layerCfg or [])]
        if self.dropRate is None:          # the original tutorial's config writes None for "no dropout"
            self.dropRate = 0.0
        if self.dropLayers is None:
            self.dropLayers = 0
        if isinstance(self.dropRate, bool) or not 0.0 <= float(self.dropRate) < 1.0:
            raise ValueError(f"dropRate={self.dropRate!r} must be in [0, 1) (or None: no dropout)")
        if not 0 <= int(self.dropLayers) <= len(self.layerCfg):
            raise ValueError(f"dropLayers={self.dropLayers!r} must be between 0 and "
                             f"len(layerCfg)={len(self.layerCfg)}")
        for name in ("normKwargs", "activKwargs", "lastActivKwargs"):
            setattr(self, name, check_layer_kwargs(getattr(self, name), name))
        make_norm(self.norm, 2, "linear", **self.normKwargs)
        make_activation(self.activ, **self.activKwargs)
        make_activation(self.lastActiv, **self.lastActivKwargs)

    def build(self) -> "MLP":
        """Create the layers; returns ``self``."""
        layers, inCh = [], self.inChNo
        firstDrop = len(self.layerCfg) - int(self.dropLayers)
        for i, width in enumerate(self.layerCfg):
            layers.append(LinearBlock(
                inCh, width, self.useBias, self.norm, self.normKwargs, self.activ,
                self.activKwargs, float(self.dropRate) if i >= firstDrop else 0.0))
            inCh = width
        layers.append(LinearBlock(inCh, self.outChNo, self.useBias, None, None,
                                  self.lastActiv, self.lastActivKwargs))
        self.layers = nn.Sequential(*layers)
        return self

    def forward(self, x: Tensor) -> Tensor:
        """``x [B, inChNo] -> [B, outChNo]``."""
        if not hasattr(self, "layers"):
            raise RuntimeError("MLP.forward called before build(); use MLP(...).build()")
        return self.layers(x)
