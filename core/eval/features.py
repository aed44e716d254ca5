"""Extract representations ``h`` from a frozen encoder."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from tqdm import tqdm


@torch.no_grad()
def extract_features(encoder: nn.Module, loader: DataLoader, device: torch.device,
                     channelsLast: bool = False, progress: Optional[str] = None) -> Tuple[Tensor, Tensor]:
    """Run ``encoder`` in eval mode over ``loader`` (with a tqdm bar titled ``progress`` when given).

    Returns:
        ``(features [N, D] float32 on CPU, labels [N] long on CPU)``. The
        encoder's train/eval mode is restored afterwards.
    """
    wasTraining = encoder.training
    encoder.eval()
    feats, labels = [], []
    try:
        for images, targets in tqdm(loader, desc=progress, disable=progress is None, leave=False, unit="batch"):
            images = images.to(device, non_blocking=True)
            if channelsLast:
                images = images.contiguous(memory_format=torch.channels_last)
            feats.append(encoder(images).float().cpu())
            labels.append(torch.as_tensor(targets))
    finally:
        encoder.train(wasTraining)
    return torch.cat(feats), torch.cat(labels).long()
