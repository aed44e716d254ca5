"""Positive-pair accuracy: how often a view's nearest neighbour in the batch is its other view.

A monitoring number for training (``train/pos_top1``), computed from the
projections themselves so that it does not depend on how a loss is written.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


@torch.no_grad()
def positive_pair_top1(zA: Tensor, zB: Tensor) -> Tensor:
    """Fraction of the 2B projections whose most similar other projection is their pair.

    Args:
        zA: first views ``[B, D]``; zB: second views ``[B, D]`` (row i pairs with row i).

    Returns:
        A float32 scalar tensor in [0, 1] on the inputs' device (no host sync).
    """
    with torch.autocast(device_type=zA.device.type, enabled=False):
        unit = F.normalize(torch.cat([zA, zB]).float(), dim=1)      # [2B, D]
        cosine = unit @ unit.t()                                    # [2B, 2B], values in [-1, 1]
        cosine.fill_diagonal_(-2.0)                                 # never pick yourself
        batch = zA.shape[0]
        pair = torch.arange(2 * batch, device=zA.device)
        pair = torch.where(pair < batch, pair + batch, pair - batch)  # [2B]: the other view's row
        return (cosine.argmax(dim=1) == pair).float().mean()
