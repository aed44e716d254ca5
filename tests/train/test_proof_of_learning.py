"""Proof that the method learns: pretrained beats random init on held-out digits.

Runs the README's quickstart command unchanged (about 1.5 minutes on a 2-core
CPU), then compares the kNN accuracy of the pretrained encoder with the same
architecture at random initialization, on the held-out split.
"""
import pytest
import torch

from core.eval.knn import knn_top1
from train.config import load_config
from train.evaluation import build_encoder, split_features

pytestmark = [pytest.mark.slow, pytest.mark.pipeline]


def knn_of(cfg, encoder):
    device = torch.device("cpu")
    bank, bankLabels = split_features(cfg, encoder, "memory", device)
    test, testLabels = split_features(cfg, encoder, "test", device)
    return knn_top1(bank, bankLabels, test, testLabels, cfg.log.knnK, cfg.log.knnT)


def test_quickstart_pretraining_beats_random_init(cli, tmp_path):
    out = ["general.logsDir", str(tmp_path / "logs"), "general.saveDir", str(tmp_path / "ckpt")]
    result = cli("train/main.py", "-l", "assets/experiments/quickstart.yaml", "--opts", *out)
    assert result.returncode == 0, result.stderr
    cfg = load_config("assets/experiments/quickstart.yaml", out)
    pretrained = knn_of(cfg, build_encoder(cfg, str(tmp_path / "ckpt" / "quickstart" / "encoder.pt"), False))
    random = knn_of(cfg, build_encoder(cfg, None, randomInit=True))
    assert f"kNN top-1 {pretrained:.4f}" in result.stdout  # the trainer's own monitor agrees
    assert pretrained >= random + 0.03, (pretrained, random)
