"""Task 4: NT-Xent, the normalized temperature-scaled cross-entropy loss.

Paper: Chen et al., ICML 2020, Sec. 2.1, Eq. (1) and Algorithm 1.

For a batch of B images, each augmented twice, the projections ``zA [B, D]``
and ``zB [B, D]`` are stacked into 2B vectors. For every anchor i, its positive
is the other view of the same image (i <-> i + B) and the remaining 2B - 2
vectors are negatives:

    l(i, j) = -log( exp(sim(z_i, z_j) / t) / sum_{k != i} exp(sim(z_i, z_k) / t) )

with ``sim`` the cosine similarity and ``t`` the temperature. The loss is the
mean of ``l`` over all 2B anchors. Any correct form is fine for the tutorial
(a loop over anchors, a masked matrix, ...); the optional part is efficiency:
no ``[2B, 2B, D]`` tensor, and what depends only on B (the positive index, a
mask) built once per batch size.
"""
from __future__ import annotations

import math
from typing import Dict, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

INDEX_CACHE_SIZE = 8  # batch sizes remembered at once (a caller may mix sizes)


class NTXent(nn.Module):
    """NT-Xent loss; sizes are read from the inputs, so any batch size works.

    Args:
        temperature: the softmax temperature t > 0 (paper default 0.5 for
            CIFAR-10, Appendix B.9; 0.1 with LARS at large batch, Table 5).

    Example:
        >>> loss = NTXent(0.5)
        >>> value = loss(zA, zB)           # zA, zB: [B, D] -> scalar
    """

    def __init__(self, temperature: float = 0.5):
        super().__init__()
        temperature = float(temperature)
        if not math.isfinite(temperature) or temperature <= 0:
            raise ValueError(f"temperature={temperature!r} must be a finite number > 0")
        self.temperature = temperature
        # For the tutorial's optional part: tensors that depend only on (B, device),
        # kept between calls instead of being rebuilt for every batch.
        self._cache: Dict[Tuple[int, str], Tensor] = {}

    def forward(self, zA: Tensor, zB: Tensor) -> Tensor:
        """Compute the loss.

        Args:
            zA: projections of the first views, ``[B, D]``.
            zB: projections of the second views, ``[B, D]``; row i pairs with ``zA[i]``.

        Returns:
            The scalar loss, a 0-d float tensor (the mean over the 2B anchors).

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
            key = (batch, str(z.device))
            if key not in self._cache:                                  # the optional part: once per B
                if len(self._cache) >= INDEX_CACHE_SIZE:
                    self._cache.clear()
                self._cache[key] = torch.arange(2 * batch, device=z.device).roll(batch)  # [2B]: i -> i +- B
            loss = F.cross_entropy(logits, self._cache[key])           # mean over the 2B anchors
        # --- Task 4 end ---
        return loss

    @staticmethod
    def check_inputs(zA: Tensor, zB: Tensor) -> None:
        """Raise ``ValueError`` unless ``zA`` and ``zB`` are both ``[B, D]`` with B >= 1."""
        if zA.ndim != 2 or zA.shape != zB.shape or zA.shape[0] < 1:
            raise ValueError(f"zA and zB must both be [B, D] with B >= 1, got "
                             f"{tuple(zA.shape)} and {tuple(zB.shape)}")

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
