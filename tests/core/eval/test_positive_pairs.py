"""The positive-pair monitor (train/pos_top1) against a brute-force nearest-neighbour loop."""
import pytest
import torch

from core.eval import positive_pairs
from core.eval.positive_pairs import positive_pair_top1


def brute_force(zA, zB):
    z = torch.nn.functional.normalize(torch.cat([zA, zB]).double(), dim=1)
    n, batch, hits = z.shape[0], zA.shape[0], 0
    for i in range(n):
        best = max((k for k in range(n) if k != i), key=lambda k: float(z[i] @ z[k]))
        hits += best == (i + batch) % n
    return hits / n


@pytest.mark.parametrize("batch, chunk", [(1, 1024), (5, 1024), (16, 3), (33, 7)])
def test_matches_a_brute_force_search(monkeypatch, batch, chunk):
    monkeypatch.setattr(positive_pairs, "CHUNK", chunk)
    torch.manual_seed(batch)
    zA = torch.randn(batch, 8)
    zB = zA + 0.9 * torch.randn(batch, 8)          # some pairs found, some not
    got = positive_pair_top1(zA, zB)
    assert got.dtype == torch.float32 and got.ndim == 0
    assert got.item() == pytest.approx(brute_force(zA, zB))


def test_perfect_pairs_and_scale_invariance():
    zA = torch.randn(12, 6)
    assert positive_pair_top1(zA, 5 * zA).item() == 1.0
    assert positive_pair_top1(3 * zA, zA).item() == 1.0
