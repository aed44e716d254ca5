"""The encoder in torchvision's layout: ``torchvision.models.resnet18/34`` without ``fc``.

Downstream code (detection, segmentation, fine-tuning scripts) usually builds a
``torchvision.models.ResNet``. This project's ``ResNet`` has the same layers as
torchvision's when it is torchvision's architecture: basic blocks, BatchNorm,
ReLU, a width of 64, 512 output channels, global average pooling, and one of
two stems:

- ``'imagenet'``: 7x7 stride-2 conv + 3x3 stride-2 max pool, exactly torchvision's;
- ``'cifar'``: 3x3 stride-1 conv and no pool (SimCLR paper, Appendix B.9). The
  torchvision model then gets ``conv1 = Conv2d(3, 64, 3, 1, 1, bias=False)`` and
  ``maxpool = Identity()`` (``torchvision_resnet`` does this).

``torchvision_layout(encoder)`` says which (or why not); ``to_torchvision_state``
renames the weights; ``torchvision_resnet(path)`` returns a ready model whose
``fc`` is ``Identity``, so it maps ``[B, 3, H, W]`` to the same ``[B, 512]`` features.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Tuple, Union

from torch import Tensor, nn

from core.errors import CheckpointError

TORCHVISION_WEIGHTS = "encoder_torchvision.pt"
STEMS = {  # (firstKernelSize, strides, downType when the stem pools) of each torchvision-compatible stem
    "imagenet": (7, [2, 2, 1, 2, 2, 2], "maxpool"),
    "cifar": (3, [1, 1, 1, 2, 2, 2], None),
}


class NotTorchvisionError(ValueError):
    """The encoder's architecture is not one of torchvision's; the message says which setting differs."""


def torchvision_layout(spec: Dict) -> Tuple[str, str]:
    """``(arch, stem)`` of a ResNet's constructor arguments (``encoder.json``), e.g. ``('resnet18', 'cifar')``.

    Raises:
        NotTorchvisionError: naming the first setting that torchvision's ResNet does not have.
    """
    wanted = [("inChNo", 3), ("baseChNo", 64), ("outChNo", 512), ("norm", "BatchNorm2d"), ("activ", "ReLU"),
              ("lastPool", True)]
    for key, value in wanted:
        if spec.get(key) != value:
            raise NotTorchvisionError(f"{key}={spec.get(key)!r} where torchvision's ResNet has {value!r}")
    eps = dict(spec.get("normKwargs") or {}).get("eps", 1e-5)
    if eps != 1e-5 or dict(spec.get("activKwargs") or {}).keys() - {"inplace"}:
        raise NotTorchvisionError("normKwargs/activKwargs other than torchvision's (BatchNorm eps 1e-5, plain ReLU)")
    for stem, (kernel, strides, downType) in STEMS.items():
        if spec.get("firstKernelSize") == kernel and list(spec.get("strides", [])) == strides \
                and (downType is None or spec.get("downType") == downType):
            return f"resnet{spec.get('archType')}", stem
    raise NotTorchvisionError(f"the stem (firstKernelSize={spec.get('firstKernelSize')}, strides="
                              f"{spec.get('strides')}, downType={spec.get('downType')!r}) is neither torchvision's "
                              "(7, [2, 2, 1, 2, 2, 2], maxpool) nor the CIFAR stem (3, [1, 1, 1, 2, 2, 2])")


def rename(key: str) -> str:
    """One of our state-dict keys -> torchvision's (``stages.0.1.conv2.1.weight`` -> ``layer1.1.bn2.weight``)."""
    parts = key.split(".")
    if parts[0] == "stem":                       # stem.0 conv, stem.1 bn
        return {"0": "conv1", "1": "bn1"}[parts[1]] + "." + ".".join(parts[2:])
    if parts[0] == "stages":                     # stages.S.B.(conv1|conv2).(0|1) / shortcut.(0|1)
        stage, block, part, index = parts[1], parts[2], parts[3], parts[4]
        if part == "shortcut":
            name = f"downsample.{index}"
        else:
            name = {"0": part, "1": part.replace("conv", "bn")}[index]
        return f"layer{int(stage) + 1}.{block}.{name}." + ".".join(parts[5:])
    raise KeyError(key)


def to_torchvision_state(state: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Our encoder's state dict with torchvision's names (``resnet18/34`` without ``fc``)."""
    return {rename(key): value for key, value in state.items()}


def build_torchvision_resnet(arch: str, stem: str) -> nn.Module:
    """An untrained ``torchvision.models.resnet18/34`` with ``fc = Identity`` and, for ``'cifar'``, the CIFAR stem."""
    import torchvision

    model = getattr(torchvision.models, arch)(weights=None)
    if stem == "cifar":
        model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    model.fc = nn.Identity()
    return model


def torchvision_resnet(path: Union[str, Path], map_location: str = "cpu") -> nn.Module:
    """A ready ``torchvision.models.ResNet`` (eval mode, ``fc = Identity``) from an exported encoder.

    Args:
        path: the run's checkpoint folder, its ``encoder.pt`` or its ``encoder_torchvision.pt``.

    Example:
        >>> model = torchvision_resnet("assets/checkpoints/base_simclr")
        >>> h = model(images)          # [B, 3, H, W] -> [B, 512], the same features as load_encoder's

    Raises:
        CheckpointError: no export there, or an architecture torchvision does not have (says which setting).
    """
    from core.nn.utils.checkpoint import ENCODER_CONFIG, read_weights

    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    spec = folder / ENCODER_CONFIG
    if not spec.is_file():
        raise CheckpointError(f"{str(folder)!r} holds no exported encoder ({ENCODER_CONFIG} is missing)")
    try:
        arch, stem = torchvision_layout(json.loads(spec.read_text()))
    except (ValueError, TypeError, AttributeError, KeyError) as err:
        if not isinstance(err, NotTorchvisionError):
            raise CheckpointError(f"{str(spec)!r} is not an encoder description of this project ({err})") from None
        raise CheckpointError(f"{str(folder)!r}: not torchvision's architecture: {err}") from err
    weights = folder / TORCHVISION_WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{str(weights)!r} does not exist; export the encoder again (export_encoder)")
    model = build_torchvision_resnet(arch, stem)
    try:
        model.load_state_dict(read_weights(weights, map_location))
    except (RuntimeError, OSError, TypeError, AttributeError) as err:
        raise CheckpointError(f"{str(weights)!r} does not load into torchvision's {arch}: "
                              f"{str(err).splitlines()[0]}") from err
    return model.eval()
