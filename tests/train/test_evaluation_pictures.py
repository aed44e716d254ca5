"""What the run's pictures show: every class of a class-sorted folder, the same images at every evaluation."""
import csv

import numpy as np
import pytest
import torch
from torch.utils.tensorboard import SummaryWriter

from core.data.data_augmentation import EvalTransform
from core.data.datasets import build_dataset
from tests.conftest import write_image_folder
from train.config import load_config
from train.encoder_setup import build_encoder
from train.evaluation import RunEvaluator

pytestmark = pytest.mark.pipeline
CLASSES = tuple(f"class{c}" for c in range(6))


def metadata(path):
    with open(path) as handle:
        return [row[0] for row in csv.reader(handle, delimiter="\t")]


def test_projector_and_tsne_show_every_class_of_a_class_sorted_folder(tmp_path):
    root = write_image_folder(tmp_path / "images", classes=CLASSES, perClass=10, size=12)
    cfg = load_config("assets/experiments/quickstart.yaml", [
        "data.dataset", "ImageFolder", "data.rootPath", str(root), "data.valFraction", "0.5", "data.imgSize", "12",
        "model.kwargs.baseChNo", "4", "model.latentChNo", "16", "log.embeddingSamples", "12",
        "log.tsneSamples", "18", "log.knnK", "5"])
    common = dict(root=str(root), transform=EvalTransform(12), valFraction=0.5)
    memory, test = build_dataset("ImageFolder", "memory", **common), build_dataset("ImageFolder", "test", **common)
    assert test.labels == sorted(test.labels)                 # held-out images come sorted by class
    encoder = build_encoder(cfg, None, randomInit=True)
    logDir = tmp_path / "run"
    with SummaryWriter(str(logDir)) as writer:
        evaluator = RunEvaluator(cfg, memory, test, torch.device("cpu"), False, writer, logDir)
        shownTsne = []
        original = evaluator.log_tsne
        evaluator.log_tsne = lambda feats, labels, shown, *a: (shownTsne.append(labels[shown].tolist()),
                                                               original(feats, labels, shown, *a))
        evaluator.evaluate(encoder, 0, True, 0)
        evaluator.evaluate(encoder, 1, True, 7)
    first, second = metadata(logDir / "00000" / "h" / "metadata.tsv"), metadata(logDir / "00007" / "h" / "metadata.tsv")
    assert len(first) == 12 and sorted(set(first)) == list(CLASSES)  # every class, 2 images each
    assert first == second                                              # the same images at every evaluation
    assert all(len(set(labels)) == 6 and np.bincount(labels).tolist() == [3] * 6 for labels in shownTsne)
    assert shownTsne[0] == shownTsne[1]
    assert (logDir / "tsne_epoch0000.png").is_file() and (logDir / "tsne_epoch0001.png").is_file()
