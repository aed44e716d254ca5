"""How a run is laid out in TensorBoard: one x-axis, a custom-scalars page, the projector's newest embedding first.

- Every scalar is indexed by the optimizer step (``train/epoch`` maps steps to
  epochs), so per-step and per-epoch curves share the x-axis; evaluation before
  training is step 0.
- ``add_layout``: a CUSTOM SCALARS page whose charts are not smoothed, so the few
  points of the kNN curve read as they are.
- ``add_projector``: ``add_embedding`` plus a ``projector_config.pbtxt`` that keeps
  the embeddings of earlier launches of a resumed run (a new writer would forget
  them) and names them so that the projector opens on the newest: it selects the
  first tensor name in alphabetical order (after those with metadata and the
  most points), so the newest is ``h, latest (step N)`` and the others
  ``h, step 00000``, ``h, step 00005``...
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import List

from torch import Tensor

from core.files import atomic_write_text

log = logging.getLogger("simclr")
PROJECTOR_CONFIG = "projector_config.pbtxt"

LAYOUT = {
    "SimCLR": {
        "kNN top-1 of h on the held-out images (step 0 = untrained)": ["Multiline", ["eval/knn_top1"]],
        "NT-Xent loss (per step, and the epoch mean)": ["Multiline", ["train/loss", "train/epoch_loss"]],
        "positive-pair top-1 within the batch": ["Multiline", ["train/pos_top1"]],
        "learning rate": ["Multiline", ["train/lr"]],
        "epoch": ["Multiline", ["train/epoch"]],
    },
}


def add_layout(writer) -> None:
    """Write the CUSTOM SCALARS layout of a run (once per launch; TensorBoard keeps the newest)."""
    writer.add_custom_scalars(LAYOUT)


def read_projector_config(logDir: Path):
    """The ``ProjectorConfig`` on disk in ``logDir`` (empty if none or unreadable)."""
    from google.protobuf import text_format
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

    config = ProjectorConfig()
    path = Path(logDir) / PROJECTOR_CONFIG
    if path.is_file():
        try:
            text_format.Parse(path.read_text(), config)
        except (text_format.ParseError, UnicodeDecodeError, OSError) as err:
            log.warning("%s could not be read (%s); it is written anew", path, err)
            config.Clear()
    return config


def projector_name(tag: str, step: str, latest: bool) -> str:
    """The tensor name the projector lists: ``'h, latest (step 400)'`` sorts before ``'h, step 00300'``."""
    return f"{tag}, latest (step {int(step)})" if latest else f"{tag}, step {step}"


def add_projector(writer, logDir: Path, feats: Tensor, names: List[str], images: Tensor, step: int,
                  tag: str = "h") -> None:
    """``feats [N, D]`` with class names and ``images [N, 3, H, W]`` in [0, 1]; the projector opens on these."""
    from google.protobuf import text_format

    earlier = read_projector_config(logDir)
    writer.add_embedding(feats, metadata=names, label_img=images, global_step=step, tag=tag)
    newest = writer._projector_config.embeddings[-1]   # what add_embedding just described
    merged = type(earlier)()
    merged.embeddings.add().CopyFrom(newest)
    for info in earlier.embeddings:
        if info.tensor_path != newest.tensor_path:
            merged.embeddings.add().CopyFrom(info)
    for index, info in enumerate(merged.embeddings):   # tensor_path is "<step>/<tag>/tensors.tsv"
        info.tensor_name = projector_name(tag, info.tensor_path.split("/")[0], latest=index == 0)
    atomic_write_text(text_format.MessageToString(merged), Path(logDir) / PROJECTOR_CONFIG)   # a kill keeps the old
