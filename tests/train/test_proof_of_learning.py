"""Proof that the method learns: pretrained beats random init on held-out digits.

Runs the README's quickstart command unchanged (about 1.5 minutes on a 2-core
CPU), then compares the kNN accuracy of the pretrained encoder with the same
architecture at random initialization, on the held-out split.
"""
import os
import subprocess
import sys

import pytest
import torch

from core.eval.knn import knn_top1
from tests.conftest import REPO_ROOT
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


def readme_block(heading, page="docs/evaluation.md"):
    """The first ```python block of the section ``heading`` of a documentation page."""
    text = (REPO_ROOT / page).read_text()
    section = text.split(f"\n## {heading}\n", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_readme_encoder_snippet_runs_as_written(quickstart_run, tmp_path):
    """'Using the pretrained encoder' from a folder laid out like the repository after the quickstart."""
    assert quickstart_run.result.returncode == 0, quickstart_run.result.stderr
    (tmp_path / "assets" / "checkpoints").mkdir(parents=True)
    (tmp_path / "assets" / "checkpoints" / "quickstart").symlink_to(quickstart_run.saveDir)
    script = tmp_path / "snippet.py"
    script.write_text(readme_block("Using the pretrained encoder"))
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert "torch.Size([32, 128])" in done.stdout


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
