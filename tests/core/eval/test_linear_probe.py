"""Linear probe on frozen features."""
import numpy as np
import torch

from core.eval.linear_probe import linear_probe
from core.eval.subsets import few_labels


def test_linearly_separable_features_are_solved():
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(400) % 8                         # 8 classes: a top-5 of 1.0 is not automatic
    feats = torch.randn(400, 10, generator=gen) + 4 * torch.nn.functional.one_hot(labels, 10).float()
    result = linear_probe(feats[:300], labels[:300], feats[300:], labels[300:])
    assert result["top1"] >= 0.95 and result["top5"] == 1.0 and result["train_size"] == 300


def test_noise_scores_near_chance_in_top1_and_top5():
    gen = torch.Generator().manual_seed(0)
    feats, labels = torch.randn(1200, 8, generator=gen), torch.randint(0, 10, (1200,), generator=gen)
    result = linear_probe(feats[:800], labels[:800], feats[800:], labels[800:])
    assert result["top1"] < 0.2 and 0.35 < result["top5"] < 0.65       # chance: 0.1 and 0.5 of 10 classes


def test_few_labels_picks_k_per_class():
    labels = np.repeat(np.arange(3), 10)
    picked = few_labels(labels, 4, seed=1)
    assert list(np.bincount(labels[picked])) == [4, 4, 4]
    assert len(set(picked.tolist())) == 12 and np.array_equal(picked, few_labels(labels, 4, seed=1))
