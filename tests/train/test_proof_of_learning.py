"""Proof that the method learns: pretrained beats random init on held-out digits.

Runs the README's quickstart command for 40 of its 80 epochs (the shared
``quickstart_run``, 1.5 minutes on the 2-core CPU), then compares the kNN
accuracy of the pretrained encoder with the same architecture at random
initialization, on the held-out split.
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


def test_quickstart_pretraining_beats_random_init(quickstart_run):
    result = quickstart_run.result
    assert result.returncode == 0, result.stderr
    cfg = load_config("assets/experiments/quickstart.yaml", quickstart_run.opts)
    pretrained = knn_of(cfg, build_encoder(cfg, str(quickstart_run.saveDir / "encoder.pt"), False))
    random = knn_of(cfg, build_encoder(cfg, None, randomInit=True))
    assert f"kNN top-1 {pretrained:.4f}" in result.stdout  # the trainer's own monitor agrees
    assert pretrained >= random + 0.03, (pretrained, random)


def test_base_simclr_encoder_exports_for_torchvision(tmp_path):
    """The README's torchvision example: base_simclr's encoder is torchvision's resnet18 with the CIFAR stem."""
    from core.nn.networks.export import export_encoder
    from core.nn.networks.torchvision_export import torchvision_resnet
    from train.builders import build_model

    encoder = build_model(load_config("assets/experiments/base_simclr.yaml").model).encoder.eval()
    assert export_encoder(encoder, tmp_path / "base_simclr") is None
    model = torchvision_resnet(tmp_path / "base_simclr")
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(images), encoder(images), rtol=1e-4, atol=1e-4)
