"""The trainer's evaluation of the representation, and the features of a dataset (shared with the tools).

- ``RunEvaluator``: what the trainer logs before the first step and every
  ``log.evalEpoch`` (kNN top-1 of ``h``, the embedding projector, the t-SNE
  figure of a fixed stratified sample) and the view-pair image.
- ``dataset_features``: the features of a dataset, for the trainer and the
  evaluation tools (``train/encoder_setup.py``) alike.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.utils.data import Subset, default_collate
from torchvision.utils import make_grid

from core.data.data_augmentation import IMAGENET_MEAN, IMAGENET_STD
from core.eval.features import extract_features
from core.eval.knn import knn_top1
from core.eval.subsets import capped_subset, stratified_order
from train.augmentation_setup import views_on_device
from train.board_layout import add_projector
from train.results import save_figure
from train.builders import make_loader

log = logging.getLogger("simclr")
PIXEL_BANK_MAX = 20000   # the raw-pixel kNN baseline's bank (a 20,000 x 3,072 float32 bank is 245 MB)


def denormalize(images: Tensor) -> Tensor:
    """``[N, 3, H, W]`` ImageNet-normalized -> values in [0, 1] for display."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
    return (images.float() * std + mean).clamp(0, 1)


def class_names(dataset) -> Optional[list]:
    classes = getattr(dataset, "classes", None)
    return list(classes) if classes else None


def dataset_features(cfg, encoder: nn.Module, dataset, device: torch.device, channelsLast: bool = False,
                     progress: Optional[str] = None) -> Tuple[Tensor, Tensor]:
    """``(features [N, D], labels [N])`` of ``dataset`` through ``encoder``, in batches of ``train.valBatch``.

    The one way the trainer's evaluation and the evaluation tools compute features.
    """
    loader = make_loader(dataset, cfg.train.valBatch, cfg.data.numWorkers, device)
    return extract_features(encoder, loader, device, channelsLast, progress=progress)


class RunEvaluator:
    """The trainer's evaluation: kNN, projector and t-SNE of ``h`` on the held-out split, to TensorBoard.

    The projector and the t-SNE figure show a seeded, class-stratified subset of the
    held-out images (``core.eval.subsets.stratified_order``), the same at every evaluation.

    Args:
        cfg: the run's config (``log``, ``train.valBatch``, ``data.numWorkers``, ``general.seed``).
        memorySet, testSet: the labeled bank and held-out splits (eval transform).
        device, channelsLast: where features are computed.
        writer: the run's ``SummaryWriter``; logDir: where ``tsne_epochNNNN.png`` goes.
    """

    def __init__(self, cfg, memorySet, testSet, device: torch.device, channelsLast: bool, writer, logDir: Path):
        self.cfg, self.memorySet, self.testSet = cfg, memorySet, testSet
        self.device, self.channelsLast, self.writer, self.logDir = device, channelsLast, writer, logDir
        self._shown: Optional[Tensor] = None
        self.baselines: Dict[str, float] = {}   # kNN of the untrained encoder (step 0) and of raw pixels

    def features(self, encoder: nn.Module, dataset) -> Tuple[Tensor, Tensor]:
        return dataset_features(self.cfg, encoder, dataset, self.device, self.channelsLast)

    def shown(self, labels: Tensor) -> Tensor:
        """Indices of the held-out images the pictures show: stratified, seeded, fixed for the run."""
        if self._shown is None:
            count = max(self.cfg.log.embeddingSamples, self.cfg.log.tsneSamples, 0)
            self._shown = torch.from_numpy(stratified_order(labels.numpy(), count, self.cfg.general.seed))
        return self._shown

    def evaluate(self, encoder: nn.Module, epoch: int, labeled: bool, step: int) -> Dict[str, float]:
        """kNN top-1 (``eval/knn_top1`` at optimizer step ``step``), projector and t-SNE; {} without labels."""
        if not labeled:
            log.info("evaluation skipped: %s has no labels for kNN/t-SNE", self.cfg.data.dataset)
            return {}
        bankFeats, bankLabels = self.features(encoder, self.memorySet)
        testFeats, testLabels = self.features(encoder, self.testSet)
        k, t = self.cfg.log.knnK, self.cfg.log.knnT
        top1 = knn_top1(bankFeats, bankLabels, testFeats, testLabels, k, t)
        if step == 0:
            self.baselines["knn_top1_step0"] = top1
        if "knn_top1_pixels" not in self.baselines:
            self.baselines["knn_top1_pixels"] = self.pixel_knn(bankLabels, testFeats.shape[0])
        self.writer.add_scalar("eval/knn_top1", top1, step)
        self.writer.add_scalar("eval/knn_top1_pixels", self.baselines["knn_top1_pixels"], step)
        beside = [f"raw pixels: {self.baselines['knn_top1_pixels']:.4f}"]
        if step > 0 and "knn_top1_step0" in self.baselines:
            beside.insert(0, f"step 0: {self.baselines['knn_top1_step0']:.4f}")
        log.info("epoch %d%s  kNN top-1 %.4f (k=%d, T=%.2f, %d bank / %d test images) | %s", epoch,
                 " (untrained)" if step == 0 else "", top1, min(k, len(bankFeats)), t, len(bankFeats),
                 len(testFeats), ", ".join(beside))
        shown = self.shown(testLabels)
        self.log_projector(testFeats, testLabels, shown[:max(0, self.cfg.log.embeddingSamples)], step)
        self.log_tsne(testFeats, testLabels, shown[:max(0, self.cfg.log.tsneSamples)], epoch, step)
        self.writer.flush()
        return {"knn_top1": top1, **self.baselines}

    def pixel_knn(self, bankLabels: Tensor, testCount: int) -> float:
        """The same kNN on raw pixels (the eval transform's normalized images, centered on the bank's mean).

        The bank is capped at ``PIXEL_BANK_MAX`` class-stratified images (the log says how many
        when it is); the test set is the one the encoder's kNN uses.
        """
        bankIdx = capped_subset(bankLabels.numpy(), PIXEL_BANK_MAX, self.cfg.general.seed)
        flatten = nn.Flatten()
        bank, labels = dataset_features(self.cfg, flatten, Subset(self.memorySet, bankIdx.tolist()), self.device)
        test, testLabels = dataset_features(self.cfg, flatten, self.testSet, self.device)
        mean = bank.mean(dim=0)
        top1 = knn_top1(bank - mean, labels, test - mean, testLabels, self.cfg.log.knnK, self.cfg.log.knnT)
        if len(bankIdx) < len(bankLabels):
            log.info("raw-pixel kNN baseline: %d of the %d bank images (class-stratified), %d test images: %.4f",
                     len(bankIdx), len(bankLabels), testCount, top1)
        return top1

    def log_projector(self, feats: Tensor, labels: Tensor, shown: Tensor, step: int) -> None:
        """The embedding projector: ``h`` of the ``shown`` images, with class names and image sprites."""
        if len(shown) == 0:
            return
        classes = class_names(self.testSet)
        names = [classes[i] if classes and 0 <= i < len(classes) else str(i) for i in labels[shown].tolist()]
        images = denormalize(torch.stack([self.testSet[i][0] for i in shown.tolist()]))
        try:
            add_projector(self.writer, self.logDir, feats[shown], names, images, step)
        except Exception as err:  # e.g. a TensorFlow install that breaks tensorboard's gfile
            log.warning("embedding projector skipped (%s: %s)", type(err).__name__, err)

    def log_tsne(self, feats: Tensor, labels: Tensor, shown: Tensor, epoch: int, step: int) -> None:
        """t-SNE figure of the ``shown`` images to TensorBoard and as ``tsne_epochNNNN.png`` in the run folder."""
        if len(shown) < 5:
            return
        from core.eval.tsne_figure import tsne_figure

        fig = tsne_figure(feats[shown], labels[shown], class_names(self.testSet),
                          title=f"t-SNE of h, epoch {epoch}" + (" (untrained)" if step == 0 else ""),
                          seed=self.cfg.general.seed)
        save_figure(fig, self.logDir / f"tsne_epoch{epoch:04d}.png")
        self.writer.add_figure("eval/tsne", fig, step, close=False)


def log_view_pairs(writer, trainSet, batchAugment, count: int) -> None:
    """An image grid of augmented view pairs (first views above the second), without moving the RNG."""
    count = min(count, len(trainSet))
    if count <= 0:
        return
    from core.nn.utils.randomness import capture_rng, restore_rng

    state = capture_rng()        # every generator: showing images must not change the training's randomness
    try:
        items = default_collate([trainSet[i][0] for i in range(count)])   # as a loader batches them
        viewsA, viewsB = views_on_device(items, batchAugment, torch.device("cpu"))
    finally:
        restore_rng(state)
    writer.add_image("train/view_pairs", make_grid(denormalize(torch.cat([viewsA, viewsB])), nrow=count,
                                                   padding=1), 0)
