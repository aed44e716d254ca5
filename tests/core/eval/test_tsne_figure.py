"""t-SNE figures are built without touching matplotlib's global state."""
import matplotlib
import torch
from matplotlib.figure import Figure

from core.eval.tsne_figure import tsne_figure


def test_figure_without_changing_the_backend_or_pyplot():
    import matplotlib.pyplot as plt

    before = matplotlib.get_backend()
    matplotlib.use("svg")                      # e.g. a notebook's own backend
    try:
        feats, labels = torch.randn(40, 8), torch.arange(40) % 4
        fig = tsne_figure(feats, labels, classes=["a", "b", "c", "d"], title="t", seed=0)
        assert isinstance(fig, Figure) and matplotlib.get_backend() == "svg"
        assert plt.get_fignums() == []          # not registered with pyplot: nothing to close
        assert len(fig.axes) == 1 and len(fig.axes[0].collections) == 4
    finally:
        matplotlib.use(before)
