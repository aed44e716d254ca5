"""Export and reload the trained encoder for downstream use."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Union

from core.nn.networks.resnet import ResNet
from core.nn.utils.checkpoint import ENCODER_CONFIG, ENCODER_WEIGHTS, atomic_save, read_checkpoint


def export_encoder(encoder: ResNet, folder: Union[str, Path]) -> Path:
    """Write ``encoder.pt`` (a plain state dict) and ``encoder.json`` (its constructor arguments)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in encoder.state_dict().items()}
    atomic_save(state, folder / ENCODER_WEIGHTS)
    spec = {"inChNo": encoder.inChNo, "outChNo": encoder.outChNo, **encoder.hparams()}
    (folder / ENCODER_CONFIG).write_text(json.dumps(spec, indent=2) + "\n")
    return folder / ENCODER_WEIGHTS


def load_encoder(path: Union[str, Path], map_location: str = "cpu") -> ResNet:
    """Rebuild the exported ResNet from its folder or its ``encoder.pt`` and load the weights (eval mode).

    Example:
        >>> encoder = load_encoder("assets/checkpoints/quickstart")          # or .../encoder.pt
        >>> h = encoder(images)    # [B, 3, H, W] -> [B, latentChNo]

    Raises:
        CheckpointError: not an exported encoder, or weights that do not fit its arguments.
    """
    from core.errors import CheckpointError

    checkpoint = read_checkpoint(path, map_location)
    if checkpoint.kind != "encoder":
        raise CheckpointError(f"{str(path)!r} is a training checkpoint; load_encoder reads an exported "
                              f"encoder ({ENCODER_WEIGHTS} with {ENCODER_CONFIG})")
    encoder = ResNet(**checkpoint.modelArgs).build()
    try:
        encoder.load_state_dict(checkpoint.state)
    except RuntimeError as err:
        raise CheckpointError(f"{str(checkpoint.path)!r} does not fit {ENCODER_CONFIG}: "
                              f"{str(err).splitlines()[0]}") from err
    return encoder.eval()
