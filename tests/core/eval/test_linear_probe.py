"""Linear probe on frozen features."""
import numpy as np
import torch

from core.eval.linear_probe import linear_probe
from core.eval.subsets import few_labels


def test_linearly_separable_features_are_solved():
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(200) % 4
    feats = torch.randn(200, 6, generator=gen) + 4 * torch.nn.functional.one_hot(labels, 6).float()
    result = linear_probe(feats[:150], labels[:150], feats[150:], labels[150:])
    assert result["top1"] >= 0.95 and result["top5"] == 1.0 and result["train_size"] == 150


def test_noise_scores_near_chance():
    gen = torch.Generator().manual_seed(0)
    feats, labels = torch.randn(400, 8, generator=gen), torch.randint(0, 5, (400,), generator=gen)
    assert linear_probe(feats[:300], labels[:300], feats[300:], labels[300:])["top1"] < 0.4


def test_few_labels_picks_k_per_class():
    labels = np.repeat(np.arange(3), 10)
    picked = few_labels(labels, 4, seed=1)
    assert list(np.bincount(labels[picked])) == [4, 4, 4]
    result = linear_probe(torch.randn(30, 4), torch.as_tensor(labels), torch.randn(9, 4),
                          torch.as_tensor(labels[:9]), labelsPerClass=2)
    assert result["train_size"] == 6
