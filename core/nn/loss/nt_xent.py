"""Task 4: NT-Xent, the normalized temperature-scaled cross-entropy loss.

Paper: Chen et al., ICML 2020, Sec. 2.1, Eq. (1) and Algorithm 1.

For a batch of B images, each augmented twice, the projections ``zA [B, D]``
and ``zB [B, D]`` are stacked into 2B vectors. For every anchor i, its positive
is the other view of the same image (i <-> i + B) and the remaining 2B - 2
vectors are negatives:

    l(i, j) = -log( exp(sim(z_i, z_j) / t) / sum_{k != i} exp(sim(z_i, z_k) / t) )

with ``sim`` the cosine similarity and ``t`` the temperature. The loss is the
mean of ``l`` over all 2B anchors. This is a 2B-way classification of "which
column is my positive", so it is computed as a cross-entropy over the
``[2B, 2B]`` similarity matrix with the diagonal (self-similarity) masked out.
"""
from __future__ import annotations

import math
from typing import Dict, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class NTXent(nn.Module):
    """NT-Xent loss; sizes are read from the inputs, so any batch size works.

    Args:
        temperature: the softmax temperature t > 0 (paper default 0.5 for
            CIFAR-10, Appendix B.9; 0.1 with LARS at large batch, Table 5).

    Example:
        >>> loss = NTXent(0.5)
        >>> value = loss(zA, zB)           # zA, zB: [B, D] -> scalar
        >>> value, logits, targets = loss(zA, zB, return_logits=True)
    """

    def __init__(self, temperature: float = 0.5):
        super().__init__()
        temperature = float(temperature)
        if not math.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"temperature={temperature!r} must be a finite number > 0")
        self.temperature = temperature
        # (B, device) -> positive index [2B]; the tutorial's optional task: do not
        # rebuild it for every batch.
        self._indexCache: Dict[Tuple[int, str], Tensor] = {}

    def _positive_index(self, batch: int, device: torch.device) -> Tensor:
        """The ``[2B]`` column of each row's positive (row i <-> row i + B), cached per (B, device)."""
        key = (batch, str(device))
        if key not in self._indexCache:
            if len(self._indexCache) >= 8:      # the last, smaller batch adds one entry per epoch
                self._indexCache.clear()
            # --- Task 4 begin: the positive index (build once per batch size and device) ---
            targets = torch.arange(2 * batch, device=device).roll(batch)           # [2B]: i -> i +- B
            # --- Task 4 end ---
            self._indexCache[key] = targets
        return self._indexCache[key]

    def forward(self, zA: Tensor, zB: Tensor, return_logits: bool = False
                ) -> Union[Tensor, Tuple[Tensor, Tensor, Tensor]]:
        """Compute the loss.

        Args:
            zA: projections of the first views, ``[B, D]``.
            zB: projections of the second views, ``[B, D]``; row i pairs with ``zA[i]``.
            return_logits: also return the detached ``[2B, 2B]`` logits and the
                ``[2B]`` positive indices (for the positive-pair accuracy).

        Returns:
            The scalar loss, or ``(loss, logits, targets)``.

        Raises:
            ValueError: the inputs are not two 2-D tensors of the same shape.
        """
        self.check_inputs(zA, zB)
        # --- Task 4 begin: NT-Xent over the 2B projections ---
        batch = zA.shape[0]
        # Similarities in float32 even under autocast: bf16/fp16 logits lose the
        # small differences the softmax has to rank.
        with torch.autocast(device_type=zA.device.type, enabled=False):
            z = torch.cat([zA, zB], dim=0).float()                      # [2B, D]
            # Unit rows (dot product = cosine), scaled by 1/sqrt(t) so that one
            # matrix product gives sim / t directly.
            z = F.normalize(z, dim=1) * self.temperature ** -0.5        # [2B, D]
            logits = z @ z.t()                                          # [2B, 2B]: sim(i, k) / t
            logits.fill_diagonal_(float("-inf"))                        # mask self-similarity: k != i
            targets = self._positive_index(batch, z.device)             # [2B]
            loss = F.cross_entropy(logits, targets)                     # mean over the 2B anchors
        # --- Task 4 end ---
        if return_logits:
            return loss, logits.detach(), targets
        return loss

    @staticmethod
    def check_inputs(zA: Tensor, zB: Tensor) -> None:
        """Raise ``ValueError`` unless ``zA`` and ``zB`` are both ``[B, D]`` with B >= 1."""
        if zA.ndim != 2 or zA.shape != zB.shape or zA.shape[0] < 1:
            raise ValueError(f"zA and zB must both be [B, D] with B >= 1, got "
                             f"{tuple(zA.shape)} and {tuple(zB.shape)}")

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
