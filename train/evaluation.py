"""Evaluation of the representation, shared by the trainer and the evaluation CLIs.

- ``RunEvaluator``: what the trainer logs every ``log.evalEpoch`` (kNN top-1 of
  ``h``, the embedding projector, the t-SNE figure) and the view-pair image.
- ``frozen_encoder_from_args`` / ``split_features``: the CLIs' encoder (from
  ``--ckpt`` alone, a training checkpoint or an exported encoder; ``-l`` and
  ``--opts`` only override the config stored with it) and their features.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.utils.data import default_collate
from torchvision.utils import make_grid

from core.data.data_augmentation import IMAGENET_MEAN, IMAGENET_STD, EvalTransform
from core.data.datasets import DatasetError, build_dataset
from core.errors import CheckpointError
from core.eval.features import extract_features
from core.eval.knn import knn_top1
from core.nn.utils.checkpoint import read_checkpoint
from core.nn.utils.runtime import resolve_device, seed_everything
from train.augmentation import views_on_device
from train.builders import build_model, config_value, make_loader

log = logging.getLogger("simclr")


def denormalize(images: Tensor) -> Tensor:
    """``[N, 3, H, W]`` ImageNet-normalized -> values in [0, 1] for display."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
    return (images.float() * std + mean).clamp(0, 1)


def class_names(dataset) -> Optional[list]:
    classes = getattr(dataset, "classes", None)
    return list(classes) if classes else None


class RunEvaluator:
    """The trainer's evaluation: kNN, projector and t-SNE of ``h`` on the held-out split, to TensorBoard.

    Args:
        cfg: the run's config (``log``, ``train.valBatch``, ``data.numWorkers``, ``general.seed``).
        memorySet, testSet: the labeled bank and held-out splits (eval transform).
        device, channelsLast: where features are computed.
        writer: the run's ``SummaryWriter``; logDir: where ``tsne_epochNNNN.png`` goes.
    """

    def __init__(self, cfg, memorySet, testSet, device: torch.device, channelsLast: bool, writer, logDir: Path):
        self.cfg, self.memorySet, self.testSet = cfg, memorySet, testSet
        self.device, self.channelsLast, self.writer, self.logDir = device, channelsLast, writer, logDir

    def loader(self, dataset):
        return make_loader(dataset, self.cfg.train.valBatch, self.cfg.data.numWorkers, self.device)

    def features(self, encoder: nn.Module, dataset) -> Tuple[Tensor, Tensor]:
        return extract_features(encoder, self.loader(dataset), self.device, self.channelsLast)

    def evaluate(self, encoder: nn.Module, epoch: int, labeled: bool) -> Dict[str, float]:
        """kNN top-1 (logged as ``eval/knn_top1``), projector and t-SNE at ``epoch``; {} without labels."""
        if not labeled:
            log.info("evaluation skipped: %s has no labels for kNN/t-SNE", self.cfg.data.dataset)
            return {}
        bankFeats, bankLabels = self.features(encoder, self.memorySet)
        testFeats, testLabels = self.features(encoder, self.testSet)
        k, t = self.cfg.log.knnK, self.cfg.log.knnT
        top1 = knn_top1(bankFeats, bankLabels, testFeats, testLabels, k, t)
        self.writer.add_scalar("eval/knn_top1", top1, epoch)
        log.info("epoch %d  kNN top-1 %.4f (k=%d, T=%.2f, %d bank / %d test images)", epoch, top1,
                 min(k, len(bankFeats)), t, len(bankFeats), len(testFeats))
        self.log_projector(testFeats, testLabels, epoch)
        self.log_tsne(testFeats, testLabels, epoch)
        self.writer.flush()
        return {"knn_top1": top1}

    def log_projector(self, feats: Tensor, labels: Tensor, epoch: int) -> None:
        """``add_embedding`` of ``h`` with labels and image sprites."""
        count = min(self.cfg.log.embeddingSamples, len(feats))
        if count <= 0:
            return
        classes = class_names(self.testSet)
        names = [classes[i] if classes and 0 <= i < len(classes) else str(i) for i in labels[:count].tolist()]
        images = denormalize(torch.stack([self.testSet[i][0] for i in range(count)]))
        try:
            self.writer.add_embedding(feats[:count], metadata=names, label_img=images, global_step=epoch, tag="h")
        except Exception as err:  # e.g. a TensorFlow install that breaks tensorboard's gfile
            log.warning("embedding projector skipped (%s: %s)", type(err).__name__, err)

    def log_tsne(self, feats: Tensor, labels: Tensor, epoch: int) -> None:
        """t-SNE figure to TensorBoard and as PNG in the run folder."""
        count = min(self.cfg.log.tsneSamples, len(feats))
        if count < 5:
            return
        from core.eval.tsne import tsne_figure

        fig = tsne_figure(feats[:count], labels[:count], class_names(self.testSet),
                          title=f"t-SNE of h, epoch {epoch}", seed=self.cfg.general.seed)
        fig.savefig(self.logDir / f"tsne_epoch{epoch:04d}.png")
        self.writer.add_figure("eval/tsne", fig, epoch, close=False)


def log_view_pairs(writer, trainSet, batchAugment, count: int) -> None:
    """An image grid of augmented view pairs (first views above the second), without moving the RNG."""
    count = min(count, len(trainSet))
    if count <= 0:
        return
    state = torch.get_rng_state()
    items = default_collate([trainSet[i][0] for i in range(count)])   # as a loader batches them
    viewsA, viewsB = views_on_device(items, batchAugment, torch.device("cpu"))
    torch.set_rng_state(state)  # showing images must not change the training's randomness
    writer.add_image("train/view_pairs", make_grid(denormalize(torch.cat([viewsA, viewsB])), nrow=count,
                                                   padding=1), 0)


# ---------------------------------------------------------------- the evaluation CLIs
def load_eval_config(args):
    """The config of an evaluation: the one stored with ``--ckpt``, then ``-l``, then ``--opts``.

    Raises:
        ConfigError / CheckpointError: nothing to take the config from, or a bad file.
    """
    from train.config import ConfigError, load_config

    stored = read_checkpoint(args.ckpt).config if args.ckpt else None
    if stored is None and not args.load:
        why = f"{args.ckpt} holds no config" if args.ckpt else "--random-init needs the experiment's YAML"
        raise ConfigError(f"give -l CONFIG: {why}")
    return load_config(args.load, args.opts, base=stored)


def build_encoder(cfg, ckpt: Optional[str], randomInit: bool) -> nn.Module:
    """The frozen encoder (eval mode, no gradients): from ``ckpt``, or ``cfg.model`` at random init.

    The architecture comes from the checkpoint itself (``modelArgs`` or ``encoder.json``), so it
    always fits its weights.

    Raises:
        CheckpointError: neither ``ckpt`` nor ``randomInit``, or weights that cannot be loaded.
    """
    from core.nn.networks import ResNet

    if not ckpt and not randomInit:
        raise CheckpointError("give --ckpt PATH (a checkpoint_epochNNNN.pt, an encoder.pt or its folder) "
                              "or --random-init")
    seed_everything(cfg.general.seed)
    if randomInit:
        encoder = build_model(cfg.model).encoder
    else:
        checkpoint = read_checkpoint(ckpt)
        if checkpoint.kind == "training":
            model = build_model(None, checkpoint.modelArgs)
            target, state = model, checkpoint.state["model"]
            encoder = model.encoder
        else:
            encoder = ResNet(**checkpoint.modelArgs).build()
            target, state = encoder, checkpoint.state
        try:
            target.load_state_dict(state)
        except RuntimeError as err:
            raise CheckpointError(f"--ckpt {ckpt!r}: the weights do not fit the stored model arguments: "
                                  f"{str(err).splitlines()[0]}") from err
    encoder.eval()
    for param in encoder.parameters():
        param.requires_grad_(False)
    return encoder


def split_features(cfg, encoder: nn.Module, split: str, device: torch.device) -> Tuple[Tensor, Tensor]:
    """``(features [N, D], labels [N])`` of ``split`` ('memory' or 'test') with the eval transform."""
    data = cfg.data
    dataset = config_value("data", lambda: build_dataset(data.dataset, split, root=data.rootPath,
                                                         transform=EvalTransform(data.imgSize),
                                                         download=data.download, valFraction=data.valFraction,
                                                         seed=0))
    loader = make_loader(dataset, cfg.train.valBatch, data.numWorkers, device)
    feats, labels = extract_features(encoder, loader, device)
    if len(labels) == 0 or bool((labels < 0).any()):
        raise DatasetError(f"{data.dataset} split {split!r} has no labels; evaluation needs a labeled dataset")
    return feats, labels


def run_folder(cfg) -> Path:
    """The run's log folder (where evaluation results are written)."""
    return Path(cfg.general.logsDir) / cfg.general.name


def frozen_encoder_from_args(args) -> Tuple[object, torch.device, nn.Module]:
    """``(cfg, device, frozen encoder)`` from an evaluation CLI's ``--ckpt / -l / --opts / --random-init``."""
    cfg = load_eval_config(args)
    device = config_value("general.device", lambda: resolve_device(cfg.general.device))
    return cfg, device, build_encoder(cfg, args.ckpt, args.random_init).to(device)
