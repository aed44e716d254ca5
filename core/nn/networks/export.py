"""Export and reload the trained encoder for downstream use."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Union

import torch

from core.files import atomic_write_text
from core.nn.networks.resnet import ResNet
from core.nn.networks.torchvision_export import (TORCHVISION_WEIGHTS, NotTorchvisionError, to_torchvision_state,
                                                 torchvision_layout)
from core.nn.utils.checkpoint import (ENCODER_CONFIG, ENCODER_WEIGHTS, Checkpoint, atomic_save,
                                      model_difference, read_checkpoint)


def export_encoder(encoder: ResNet, folder: Union[str, Path]) -> Optional[str]:
    """Write ``encoder.pt`` (a plain state dict), ``encoder.json`` (its constructor arguments) and, when the
    architecture is torchvision's, ``encoder_torchvision.pt`` (``resnet18/34`` layout, no ``fc``).

    Returns:
        None when the torchvision export was written, else why not (``"baseChNo=16 (torchvision's ResNet
        has 64)"``); a stale torchvision export of an earlier architecture is then removed.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in encoder.state_dict().items()}
    atomic_save(state, folder / ENCODER_WEIGHTS)
    spec = {"inChNo": encoder.inChNo, "outChNo": encoder.outChNo, **encoder.hparams()}
    atomic_write_text(json.dumps(spec, indent=2) + "\n", folder / ENCODER_CONFIG)   # a kill never leaves it empty
    try:
        torchvision_layout(spec)
    except NotTorchvisionError as err:
        (folder / TORCHVISION_WEIGHTS).unlink(missing_ok=True)
        return str(err)
    atomic_save(to_torchvision_state(state), folder / TORCHVISION_WEIGHTS)
    return None


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
    return encoder_from_checkpoint(checkpoint).eval()


def encoder_from_checkpoint(checkpoint: Checkpoint) -> ResNet:
    """The encoder a checkpoint already read holds, rebuilt from its stored arguments with its weights.

    A training checkpoint gives its ``SimCLR``'s encoder, an exported one its ``ResNet``; either way
    the stored arguments pass the same checks as a config's (widths at most ``MAX_WIDTH``, known
    names) before anything is allocated.

    Raises:
        CheckpointError: arguments that are refused, or weights that do not fit them.
    """
    from core.errors import CheckpointError
    from core.nn.networks.simclr import SimCLR

    what = "modelArgs" if checkpoint.kind == "training" else ENCODER_CONFIG
    training = checkpoint.kind == "training"
    weights = checkpoint.state["model"] if training else checkpoint.state
    try:
        def build():
            return SimCLR(**checkpoint.modelArgs).build() if training else ResNet(**checkpoint.modelArgs).build()

        with torch.device("meta"):        # shapes only: arguments asking for terabytes allocate nothing
            difference = model_difference(build().state_dict(), weights)
        if difference:
            raise CheckpointError(f"{str(checkpoint.path)!r}: the weights do not fit its {what}: {difference}")
        model = build()
        model.load_state_dict(weights)
        return model.encoder if training else model
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{str(checkpoint.path)!r}: the arguments in its {what} are refused: {err}") from err
    except RuntimeError as err:
        raise CheckpointError(f"{str(checkpoint.path)!r}: the weights do not fit its {what}: "
                              f"{str(err).splitlines()[0]}") from err
