"""Positive-pair accuracy: how often a view's nearest neighbour in the batch is its other view.

A monitoring number for training (``train/pos_top1``), computed from the
projections themselves so that it does not depend on how a loss is written.
It is a nearest-neighbour search by Euclidean distance between unit vectors
(the same ranking as cosine similarity), in chunks of rows, so it shares no
code path with a contrastive loss.
"""
from __future__ import annotations

import torch
from torch import Tensor

CHUNK = 1024  # rows searched at once: bounds the [chunk, 2B] distance block


@torch.no_grad()
def positive_pair_top1(zA: Tensor, zB: Tensor) -> Tensor:
    """Fraction of the 2B projections whose nearest other projection is their pair.

    Args:
        zA: first views ``[B, D]``; zB: second views ``[B, D]`` (row i pairs with row i).

    Returns:
        A float32 scalar tensor in [0, 1] on the inputs' device (no host sync).
    """
    with torch.autocast(device_type=zA.device.type, enabled=False):
        points = torch.cat([zA, zB]).float()                                    # [2B, D]
        points = points / points.norm(dim=1, keepdim=True).clamp_min(1e-12)     # on the unit sphere
        count, batch = points.shape[0], zA.shape[0]
        hits = torch.zeros((), device=points.device)
        for first in range(0, count, CHUNK):
            rows = torch.arange(first, min(first + CHUNK, count), device=points.device)   # [c]
            distance = torch.cdist(points[rows], points)                        # [c, 2B]
            distance[torch.arange(len(rows), device=points.device), rows] = float("inf")   # not itself
            nearest = distance.argmin(dim=1)                                    # [c]
            partner = (rows + batch) % count                                    # [c]: the other view
            hits = hits + (nearest == partner).sum()
        return hits / count
