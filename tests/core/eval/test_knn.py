"""Weighted kNN monitor."""
import pytest
import torch

from core.eval.knn import knn_predict, knn_top1


def clustered(n, classes=3, dim=8, spread=0.1, seed=0):
    gen = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, dim, generator=gen) * 3
    labels = torch.arange(n) % classes
    return centers[labels] + spread * torch.randn(n, dim, generator=gen), labels


def test_separable_clusters_are_classified_perfectly():
    feats, labels = clustered(90)
    assert knn_top1(feats[:60], labels[:60], feats[60:], labels[60:], k=10) == 1.0


def test_random_features_score_near_chance():
    bank, bankLabels = torch.randn(300, 16), torch.randint(0, 4, (300,))
    query, queryLabels = torch.randn(300, 16), torch.randint(0, 4, (300,))
    assert knn_top1(bank, bankLabels, query, queryLabels, k=20) < 0.45


def test_k_is_clipped_to_the_bank_and_votes_are_weighted():
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.1, 1.0]])
    labels = torch.tensor([0, 1, 1])
    scores = knn_predict(torch.tensor([[1.0, 0.05]]), bank, labels, 2, k=200, temperature=0.1)
    assert scores.shape == (1, 2) and scores.argmax().item() == 0  # one close neighbour beats two far ones


def test_bad_arguments():
    with pytest.raises(ValueError, match="k=0"):
        knn_predict(torch.randn(2, 2), torch.randn(3, 2), torch.tensor([0, 1, 0]), 2, k=0)
