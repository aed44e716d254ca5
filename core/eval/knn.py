"""Weighted k-nearest-neighbour classification of features (the kNN monitor).

The protocol of Wu et al., "Unsupervised Feature Learning via Non-Parametric
Instance Discrimination" (CVPR 2018), used by lightly and solo-learn: cosine
similarity to a labeled memory bank, the top-k neighbours vote with weight
``exp(sim / T)``; k = 200, T = 0.1 by default.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


@torch.no_grad()
def knn_predict(query: Tensor, bank: Tensor, bankLabels: Tensor, numClasses: int,
                k: int = 200, temperature: float = 0.1, chunk: int = 1024) -> Tensor:
    """Class scores of each query by weighted kNN vote.

    Args:
        query: ``[Q, D]`` features to classify.
        bank: ``[N, D]`` labeled features.
        bankLabels: ``[N]`` int labels in ``[0, numClasses)``.
        numClasses: number of classes C.
        k: neighbours (clipped to N).
        temperature: vote weight ``exp(sim / temperature)``.
        chunk: queries per block (memory is ``chunk x N``).

    Returns:
        ``[Q, C]`` scores; ``argmax`` is the prediction.
    """
    if k < 1 or temperature <= 0:
        raise ValueError(f"k={k} must be >= 1 and temperature={temperature} > 0")
    k = min(k, bank.shape[0])
    bank = F.normalize(bank.float(), dim=1)
    out = []
    for start in range(0, query.shape[0], chunk):
        q = F.normalize(query[start:start + chunk].float(), dim=1)    # [q, D]
        sim, idx = (q @ bank.t()).topk(k, dim=1)                       # [q, k]
        weights = (sim / temperature).exp()                            # [q, k]
        votes = F.one_hot(bankLabels[idx], numClasses).float()         # [q, k, C]
        out.append((votes * weights.unsqueeze(-1)).sum(dim=1))         # [q, C]
    return torch.cat(out)


def knn_top1(trainFeats: Tensor, trainLabels: Tensor, testFeats: Tensor, testLabels: Tensor,
             k: int = 200, temperature: float = 0.1) -> float:
    """Top-1 accuracy in [0, 1] of the weighted kNN classifier."""
    numClasses = int(max(trainLabels.max(), testLabels.max())) + 1
    scores = knn_predict(testFeats, trainFeats, trainLabels, numClasses, k, temperature)
    return (scores.argmax(dim=1) == testLabels).float().mean().item()
