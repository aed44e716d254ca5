"""Proof that the method learns: pretrained beats random init on held-out digits.

Runs the students' first run (the shared ``first_run``: the quickstart's recipe
with batch 64 for 20 epochs, about a minute on the 2-core CPU), then compares the
kNN accuracy of the pretrained encoder with the same architecture at random
initialization, on the held-out split.
"""
import re

import pytest
import torch

from core.eval.knn import knn_top1
from train.config import load_config
from train.encoder_setup import build_encoder, split_features

pytestmark = [pytest.mark.slow, pytest.mark.pipeline]


def knn_of(cfg, encoder):
    device = torch.device("cpu")
    bank, bankLabels = split_features(cfg, encoder, "memory", device)
    test, testLabels = split_features(cfg, encoder, "test", device)
    return knn_top1(bank, bankLabels, test, testLabels, cfg.log.knnK, cfg.log.knnT)


def test_pretraining_beats_random_init(first_run):
    result = first_run.result
    assert result.returncode == 0, result.stderr
    cfg = load_config(first_run.config, first_run.opts)
    pretrained = knn_of(cfg, build_encoder(cfg, str(first_run.saveDir / "encoder.pt"), False))
    random = knn_of(cfg, build_encoder(cfg, None, randomInit=True))
    assert f"kNN top-1 {pretrained:.4f}" in result.stdout  # the trainer's own monitor agrees
    assert pretrained >= random + 0.03, (pretrained, random)


def test_the_first_run_lifts_the_knn_clearly_above_the_untrained_encoder(first_run):
    """What docs/tasks.md tells a student to expect from first_run.yaml after the four tasks."""
    found = [float(v) for v in re.findall(r"kNN top-1 (\d\.\d+)", first_run.result.stdout + first_run.result.stderr)]
    assert len(found) >= 3, first_run.result.stderr[-2000:]       # step 0, epoch 10, epoch 20
    untrained, final = found[0], found[-1]
    assert final >= untrained + 0.05, (untrained, final)


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
