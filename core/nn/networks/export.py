"""Export and reload the trained encoder for downstream use."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Union

import torch

from core.nn.networks.resnet import ResNet

ENCODER_WEIGHTS = "encoder.pt"
ENCODER_CONFIG = "encoder.json"


def export_encoder(encoder: ResNet, folder: Union[str, Path]) -> Path:
    """Write ``encoder.pt`` (a plain state dict) and ``encoder.json`` (its constructor arguments)."""
    from core.nn.utils.checkpoint import atomic_save

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in encoder.state_dict().items()}
    atomic_save(state, folder / ENCODER_WEIGHTS)
    spec = {"inChNo": encoder.inChNo, "outChNo": encoder.outChNo, **encoder.hparams()}
    (folder / ENCODER_CONFIG).write_text(json.dumps(spec, indent=2) + "\n")
    return folder / ENCODER_WEIGHTS


def load_encoder(folder: Union[str, Path], map_location: str = "cpu") -> ResNet:
    """Rebuild the exported ResNet from ``folder`` and load its weights (eval mode).

    Example:
        >>> encoder = load_encoder("assets/checkpoints/quickstart")
        >>> h = encoder(images)    # [B, 3, H, W] -> [B, latentChNo]
    """
    folder = Path(folder)
    spec = json.loads((folder / ENCODER_CONFIG).read_text())
    encoder = ResNet(**spec).build()
    encoder.load_state_dict(torch.load(folder / ENCODER_WEIGHTS, map_location=map_location, weights_only=True))
    return encoder.eval()
