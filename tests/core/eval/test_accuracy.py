"""Top-1 / top-5 counts from ranked predictions."""
import numpy as np

from core.eval.accuracy import ranked_hits


def test_counts_first_and_first_five():
    ranked = np.array([[3, 1, 2, 0, 4, 5], [0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0]])
    assert ranked_hits(ranked, np.array([3, 4, 0])) == {"top1": 1, "top5": 2}


def test_fewer_than_five_classes():
    assert ranked_hits(np.array([[1, 0], [1, 0]]), np.array([0, 1])) == {"top1": 1, "top5": 2}
