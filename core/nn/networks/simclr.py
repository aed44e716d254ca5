"""Tasks 2 and 3: the SimCLR model, an encoder f(.) and a projection head g(.).

Paper: Chen et al., "A Simple Framework for Contrastive Learning of Visual
Representations", ICML 2020, Sec. 2.1 and Fig. 2.

- Task 2, the encoder: a ResNet turning an image batch ``x [B, C, H, W]`` into
  the representation ``h [B, latentChNo]`` (the vector you keep after training).
- Task 3, the projection head: an MLP mapping ``h`` to ``z [B, outChNo]``, the
  space where the contrastive loss is applied (the paper finds the loss works
  better on ``z`` than on ``h``, Sec. 4.2).

``forward(x)`` returns both: ``h, z = model(x)``.

Build it with keywords, ``SimCLR(3, 512, 128, baseChNo=16).build()``, or from a
config as the original tutorial does, ``SimCLR(cfg).build()`` (the whole config
or its ``model`` section: ``inChNo``, ``latentChNo``, ``outChNo`` and ``kwargs``).
"""
from __future__ import annotations

import contextlib
from typing import Any, Dict, List, Mapping, Tuple

from torch import Tensor, nn

from core.nn.networks.mlp import MLP
from core.nn.networks.resnet import ResNet
from core.nn.utils.configurable import Configurable, positive_ints


class SimCLR(nn.Module, Configurable):
    """Encoder + projection head.

    Args:
        inChNo: image channels (3 for RGB); or a config (``cfg`` or ``cfg.model``)
            holding ``inChNo``, ``latentChNo``, ``outChNo`` and ``kwargs``.
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

    def __init__(self, inChNo: Any = 3, latentChNo: int = 512, outChNo: int = 128, **hparams):
        super().__init__()
        if isinstance(inChNo, Mapping):
            inChNo, latentChNo, outChNo, fromConfig = sizes_from_config(inChNo)
            hparams = {**fromConfig, **hparams}
        sizes = positive_ints(inChNo=inChNo, latentChNo=latentChNo, outChNo=outChNo)
        self.inChNo, self.latentChNo, self.outChNo = sizes["inChNo"], sizes["latentChNo"], sizes["outChNo"]
        self.configure(**hparams)

    @property
    def mlpLayer(self) -> List[int]:
        """The original tutorial's name for ``mlpLayers`` (its hint writes ``layerCfg = self.mlpLayer``)."""
        return self.mlpLayers

    def added_defaults(self) -> contextlib.ExitStack:
        """A context in which ``ResNet``/``MLP`` default to the hyperparameters this project adds.

        The tutorial's hint does not pass ``baseChNo``, ``firstKernelSize``, ``downType`` or
        ``projNorm``; inside this context a build written from it still gets the configured
        width, stem and head norm, and ``check_added_arguments()`` catches the rest.
        """
        stack = contextlib.ExitStack()
        stack.enter_context(ResNet.using_defaults(baseChNo=self.baseChNo, firstKernelSize=self.firstKernelSize,
                                                  downType=self.downType))
        stack.enter_context(MLP.using_defaults(norm=self.projNorm, normKwargs=self.projNormKwargs))
        return stack

    def build(self) -> "SimCLR":
        """Create the encoder and the projection head; returns ``self``."""
        with self.added_defaults():
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
        self.check_added_arguments()
        return self

    def check_added_arguments(self) -> None:
        """Refuse a model that lost a hyperparameter this project adds to the tutorial's list.

        The tutorial's hint hard-codes ``downType='maxpool'`` and a head without
        normalization; a config asking for something else must fail loudly, not
        train another network.

        Raises:
            ValueError: naming the hyperparameter, the configured and the built value.
        """
        encoder, head = getattr(self, "encoder", None), getattr(self, "project", None)
        checks = []
        if isinstance(encoder, ResNet):
            checks += [("Task 2", "baseChNo", self.baseChNo, encoder.baseChNo, "ResNet"),
                       ("Task 2", "firstKernelSize", self.firstKernelSize, encoder.firstKernelSize, "ResNet")]
            if int(self.encoderStrides[1]) > 1:  # the stem pool exists only then
                checks.append(("Task 2", "downType", self.downType, encoder.downType, "ResNet"))
        if isinstance(head, MLP):
            checks += [("Task 3", "projNorm", self.projNorm, head.norm, "MLP as norm"),
                       ("Task 3", "projNormKwargs", dict(self.projNormKwargs or {}), dict(head.normKwargs or {}),
                        "MLP as normKwargs")]
        for task, name, wanted, built, where in checks:
            if wanted != built and not (isinstance(wanted, int) and str(wanted) == str(built)):
                raise ValueError(f"{task}: SimCLR was configured with {name}={wanted!r} but the model was built "
                                 f"with {built!r}; pass self.{name} to {where} in SimCLR.build")

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


def sizes_from_config(cfg: Mapping) -> Tuple[Any, Any, Any, Dict[str, Any]]:
    """``(inChNo, latentChNo, outChNo, kwargs)`` from a config or its ``model`` section.

    Raises:
        ValueError: a size is missing (names it).
    """
    section = cfg["model"] if "model" in cfg else cfg
    missing = [key for key in ("inChNo", "latentChNo", "outChNo") if key not in section]
    if missing:
        raise ValueError(f"SimCLR(cfg): the config has no model.{missing[0]}; pass the whole config or its "
                         "model section (inChNo, latentChNo, outChNo, kwargs)")
    return section["inChNo"], section["latentChNo"], section["outChNo"], plain(section.get("kwargs") or {})


def plain(value: Any) -> Any:
    """Nested mappings (e.g. yacs ``CfgNode``) as plain dicts."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    return value
