"""t-SNE scatter plots of representations, colored by label."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from torch import Tensor


def tsne_figure(features: Tensor, labels: Tensor, classes: Optional[Sequence[str]] = None,
                title: str = "t-SNE of h", seed: int = 0):
    """Embed ``features [N, D]`` in 2-D with scikit-learn's TSNE and draw a scatter.

    Returns:
        A ``matplotlib.figure.Figure`` made without pyplot: no global backend or
        figure registry is touched (a notebook keeps its inline backend), and
        nothing needs closing.
    """
    from matplotlib.figure import Figure
    from sklearn.manifold import TSNE

    feats = features.float().numpy()
    perplexity = float(min(30, max(2, (len(feats) - 1) // 3)))
    points = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(feats)
    labelsNp = labels.numpy()
    fig = Figure(figsize=(6, 6), dpi=100)
    ax = fig.subplots()
    for cls in np.unique(labelsNp):
        mask = labelsNp == cls
        name = classes[cls] if classes is not None and 0 <= cls < len(classes) else str(cls)
        ax.scatter(points[mask, 0], points[mask, 1], s=6, label=name)
    if len(np.unique(labelsNp)) <= 20:
        ax.legend(markerscale=2, fontsize=7, loc="best")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig
