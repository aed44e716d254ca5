"""Tasks 2 and 3: the SimCLR model, an encoder f(.) and a projection head g(.).

Paper: Chen et al., "A Simple Framework for Contrastive Learning of Visual
Representations", ICML 2020, Sec. 2.1 and Fig. 2.

- Task 2, the encoder: a ResNet turning an image batch ``x [B, C, H, W]`` into
  the representation ``h [B, latentChNo]`` (the vector you keep after training).
- Task 3, the projection head: an MLP mapping ``h`` to ``z [B, outChNo]``, the
  space where the contrastive loss is applied (the paper finds the loss works
  better on ``z`` than on ``h``, Sec. 4.2).

``forward(x)`` returns both: ``h, z = model(x)``.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

from torch import Tensor, nn

from core.nn.networks.mlp import MLP
from core.nn.networks.resnet import ResNet
from core.nn.utils.configurable import Configurable, positive_ints


class SimCLR(nn.Module, Configurable):
    """Encoder + projection head.

    Args:
        inChNo: image channels (3 for RGB).
        latentChNo: size of the representation ``h`` (512 for a ResNet-18).
        outChNo: size of the projection ``z`` (the paper uses 128).
        **hparams: overrides of ``SimCLR.DEFAULTS``.

    Example:
        >>> model = SimCLR(3, 512, 128, baseChNo=16).build()
        >>> h, z = model(torch.randn(4, 3, 32, 32))   # h [4, 512], z [4, 128]
    """

    DEFAULTS = {
        # Encoder (Task 2)
        "archType": "18",
        "baseChNo": 64,
        "firstKernelSize": 3,
        "encoderStrides": [1, 1, 1, 2, 2, 2],
        "downType": "maxpool",
        "norm": "BatchNorm2d",
        "normKwargs": {},
        "activ": "ReLU",
        "activKwargs": {"inplace": True},
        # Projection head (Task 3)
        "mlpLayers": [512],
        "useBias": True,
        "projNorm": None,
        "projNormKwargs": {},
        "dropRate": 0.0,
        "dropLayers": 0,
    }

    def __init__(self, inChNo: int = 3, latentChNo: int = 512, outChNo: int = 128, **hparams):
        super().__init__()
        sizes = positive_ints(inChNo=inChNo, latentChNo=latentChNo, outChNo=outChNo)
        self.inChNo, self.latentChNo, self.outChNo = sizes["inChNo"], sizes["latentChNo"], sizes["outChNo"]
        self.configure(**hparams)

    def build(self) -> "SimCLR":
        """Create the encoder and the projection head; returns ``self``."""
        # --- Task 2 begin: the encoder, x [B, C, H, W] -> h [B, latentChNo] ---
        self.encoder = ResNet(
            inChNo=self.inChNo,
            outChNo=self.latentChNo,
            archType=self.archType,
            baseChNo=self.baseChNo,
            firstKernelSize=self.firstKernelSize,
            strides=self.encoderStrides,
            downType=self.downType,
            norm=self.norm,
            normKwargs=self.normKwargs,
            activ=self.activ,
            activKwargs=self.activKwargs,
            lastPool=True,
        ).build()
        # --- Task 2 end ---
        # --- Task 3 begin: the projection head, h [B, latentChNo] -> z [B, outChNo] ---
        self.project = MLP(
            inChNo=self.latentChNo,
            outChNo=self.outChNo,
            layerCfg=self.mlpLayers,
            useBias=self.useBias,
            norm=self.projNorm,
            normKwargs=self.projNormKwargs,
            activ=self.activ,
            activKwargs=self.activKwargs,
            dropRate=self.dropRate,
            dropLayers=self.dropLayers,
            lastActiv=None,
            lastActivKwargs={},
        ).build()
        # --- Task 3 end ---
        return self

    def forward(self, inTensor: Tensor) -> Tuple[Tensor, Tensor]:
        """``inTensor [B, C, H, W] -> (h [B, latentChNo], z [B, outChNo])``."""
        if not hasattr(self, "encoder"):
            raise RuntimeError("SimCLR.forward called before build(); use SimCLR(...).build()")
        h = self.encoder(inTensor)
        z = self.project(h)
        return h, z

    def init_weights(self) -> "SimCLR":
        """Kaiming-normal convolutions, unit-gamma/zero-beta norms, zero linear biases."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)):
                if getattr(module, "weight", None) is not None:
                    nn.init.ones_(module.weight)
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.kaiming_uniform_(module.weight, a=5 ** 0.5)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        return self

    def get_params(self, baseLr: float) -> List[Dict]:
        """Optimizer parameter groups: weights with decay, norm/bias params without.

        Excluding BatchNorm and bias parameters from weight decay (and from LARS
        adaptation) follows the paper's setup (Appendix B.1) and common practice.

        Returns:
            ``[{"params": [...], "lr": baseLr}, {"params": [...], "lr": baseLr,
            "weight_decay": 0.0, "lars_exclude": True}]``.
        """
        decay, noDecay = [], []
        for param in self.parameters():
            if not param.requires_grad:
                continue
            (noDecay if param.ndim <= 1 else decay).append(param)
        return [
            {"params": decay, "lr": baseLr},
            {"params": noDecay, "lr": baseLr, "weight_decay": 0.0, "lars_exclude": True},
        ]
