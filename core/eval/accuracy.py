"""Top-k accuracy from ranked class predictions: the one count the probe and fine-tuning share."""
from __future__ import annotations

from typing import Dict

import numpy as np


def ranked_hits(ranked: np.ndarray, targets: np.ndarray) -> Dict[str, int]:
    """How many rows have their target first (``top1``) and among the first five (``top5``).

    Args:
        ranked: ``[N, C]`` class labels, most likely first (``C`` may be below 5).
        targets: ``[N]`` true labels.

    Returns:
        ``{"top1": int, "top5": int}`` counts (divide by N for accuracies).
    """
    ranked, targets = np.asarray(ranked), np.asarray(targets)
    return {"top1": int((ranked[:, 0] == targets).sum()),
            "top5": int((ranked[:, :5] == targets[:, None]).any(axis=1).sum())}
