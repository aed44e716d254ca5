"""Evaluation of the representation, shared by the trainer and the evaluation CLIs.

- ``RunEvaluator``: what the trainer logs before the first step and every
  ``log.evalEpoch`` (kNN top-1 of ``h``, the embedding projector, the t-SNE
  figure of a fixed stratified sample) and the view-pair image.
- ``encoder_from_args`` / ``split_features``: the CLIs' encoder (from
  ``--ckpt`` alone, a training checkpoint or an exported encoder; ``-l`` and
  ``--opts`` only override the config stored with it) and their features.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, NamedTuple, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.utils.data import Subset, default_collate
from torchvision.utils import make_grid

from core.data.data_augmentation import IMAGENET_MEAN, IMAGENET_STD, EvalTransform
from core.data.datasets import DatasetError, dataset_labels
from core.errors import CheckpointError, UserInputError
from core.eval.features import extract_features
from core.eval.knn import knn_top1
from core.eval.subsets import capped_subset, stratified_order
from core.nn.networks.export import encoder_from_checkpoint
from core.nn.utils.checkpoint import Checkpoint, read_checkpoint
from core.nn.utils.device import enter_device
from core.nn.utils.runtime import seed_everything
from core.nn.utils.threads import apply_threads
from train.augmentation import views_on_device
from train.board_layout import add_projector
from train.results import save_figure
from train.builders import build_model, config_value, dataset_from_config, make_loader

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

    def loader(self, dataset):
        return make_loader(dataset, self.cfg.train.valBatch, self.cfg.data.numWorkers, self.device)

    def features(self, encoder: nn.Module, dataset) -> Tuple[Tensor, Tensor]:
        return extract_features(encoder, self.loader(dataset), self.device, self.channelsLast)

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
        bank, labels = extract_features(flatten, self.loader(Subset(self.memorySet, bankIdx.tolist())), self.device)
        test, testLabels = extract_features(flatten, self.loader(self.testSet), self.device)
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
        from core.eval.tsne import tsne_figure

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
    from core.nn.utils.runtime import capture_rng, restore_rng

    state = capture_rng()        # every generator: showing images must not change the training's randomness
    try:
        items = default_collate([trainSet[i][0] for i in range(count)])   # as a loader batches them
        viewsA, viewsB = views_on_device(items, batchAugment, torch.device("cpu"))
    finally:
        restore_rng(state)
    writer.add_image("train/view_pairs", make_grid(denormalize(torch.cat([viewsA, viewsB])), nrow=count,
                                                   padding=1), 0)


# ---------------------------------------------------------------- the evaluation CLIs
def load_eval_config(args, checkpoint: Optional[Checkpoint] = None):
    """The config of an evaluation: the one stored with ``--ckpt`` (``checkpoint``, read once by the
    caller), then ``-l``, then ``--opts``. The stored config passes the trainer's checks.

    Raises:
        ConfigError / CheckpointError: nothing to take the config from, or a bad file.
    """
    from train.config import ConfigError, load_config

    stored = checkpoint.config if checkpoint is not None else None
    if stored is None and not args.load:
        why = f"{args.ckpt} holds no config" if args.ckpt else "--random-init needs the experiment's YAML"
        raise ConfigError(f"give -l CONFIG: {why}")
    base = without_foreign_paths(stored, args.ckpt) if stored else None
    if base is not None:
        try:
            load_config(base=base)              # the stored config alone passes the trainer's checks
        except ConfigError as err:
            raise CheckpointError(f"--ckpt {args.ckpt}: its stored config is refused: {err}") from err
    return load_config(args.load, args.opts, base=base)


WRITE_PATHS = {"general": ("logsDir", "saveDir")}
READ_PATHS = {"data": ("rootPath", "testPath")}


def without_foreign_paths(stored: dict, ckpt: str) -> dict:
    """The stored config, less the folders a checkpoint must not choose.

    Where the evaluation tools write is never decided by the file they read: the stored
    ``general.logsDir``/``saveDir`` always fall back to the defaults, and ``-l`` / ``--opts`` set
    them. What they read (``data.rootPath``/``testPath``) is kept only for a checkpoint in
    ``<saveDir>/<name>/`` of its own config (written by that run here); a checkpoint from elsewhere
    (downloaded, copied, crafted) falls back to the defaults there too.
    """
    general = stored.get("general") if isinstance(stored, dict) else None
    if not isinstance(general, dict):
        return stored
    folder = Path(ckpt) if Path(ckpt).is_dir() else Path(ckpt).parent
    own = Path(str(general.get("saveDir", ""))) / str(general.get("name", ""))
    try:
        isOwn = own.resolve() == folder.resolve()
    except (OSError, ValueError):
        isOwn = False
    dropped = {**WRITE_PATHS, **({} if isOwn else READ_PATHS)}
    cleaned = dict(stored)
    for section, keys in dropped.items():
        if isinstance(stored.get(section), dict):
            cleaned[section] = {k: v for k, v in stored[section].items() if k not in keys}
    return cleaned


def build_encoder(cfg, ckpt: Optional[str], randomInit: bool, checkpoint: Optional[Checkpoint] = None,
                  frozen: bool = True) -> nn.Module:
    """The encoder of ``ckpt`` (or of ``checkpoint``, already read), or ``cfg.model``'s at random init.

    The architecture comes from the checkpoint itself (``modelArgs`` or ``encoder.json``), so it
    always fits its weights (``core.nn.networks.export.encoder_from_checkpoint``).

    Args:
        frozen: eval mode and no gradients (the linear probe, t-SNE); False for fine-tuning.

    Raises:
        CheckpointError: neither ``ckpt`` nor ``randomInit``, or a file that cannot be used.
    """
    if not ckpt and not randomInit:
        raise CheckpointError("give --ckpt PATH (a checkpoint_epochNNNN.pt, an encoder.pt or its folder) "
                              "or --random-init")
    seed_everything(cfg.general.seed)
    if randomInit:
        encoder = build_model(cfg.model).encoder
    else:
        encoder = encoder_from_checkpoint(checkpoint if checkpoint is not None else read_checkpoint(ckpt))
    if frozen:
        encoder.eval()
    for param in encoder.parameters():
        param.requires_grad_(not frozen)
    return encoder


def split_features(cfg, encoder: nn.Module, split: str, device: torch.device, indices=None,
                   progress: bool = False) -> Tuple[Tensor, Tensor]:
    """``(features [N, D], labels [N])`` of ``split`` ('memory' or 'test') with the eval transform.

    Args:
        indices: only these images of the split (e.g. a capped subset), in this order.
        progress: a tqdm bar over the batches.
    """
    data = cfg.data
    dataset = dataset_from_config(data, split, EvalTransform(data.imgSize))
    if indices is not None:
        dataset = Subset(dataset, [int(i) for i in indices])
    loader = make_loader(dataset, cfg.train.valBatch, data.numWorkers, device)
    feats, labels = extract_features(encoder, loader, device, progress=f"features of {split}" if progress else None)
    if not bool(torch.isfinite(feats).all()):
        raise UserInputError(f"the encoder's features of {data.dataset} split {split!r} hold NaN or infinite "
                             "values; its weights cannot be evaluated (did its training diverge?)")
    if len(labels) == 0 or bool((labels < 0).any()):
        raise DatasetError(f"{data.dataset} split {split!r} has no labels; evaluation needs a labeled dataset")
    return feats, labels


def split_labels(cfg, split: str) -> Tensor:
    """``[N]`` labels of ``split`` without decoding an image (``DatasetError`` when it has none)."""
    labels = dataset_labels(dataset_from_config(cfg.data, split))
    if labels is None:
        raise DatasetError(f"{cfg.data.dataset} split {split!r} has no labels; evaluation needs a labeled dataset")
    return labels


class EvalSetup(NamedTuple):
    """What an evaluation CLI starts from: the config, the device, the encoder (on it), the CPU threads and
    the ``ThreadGovernor`` that follows the free cores (None when the threads are fixed)."""

    cfg: Any
    device: torch.device
    encoder: nn.Module
    threads: int
    governor: Any


def encoder_from_args(args, frozen: bool = True) -> EvalSetup:
    """The set-up of every evaluation CLI from ``--ckpt / -l / --opts / --random-init``; ``--ckpt`` is read once.

    Also sets PyTorch's CPU threads as the trainer does (``general.threads``).
    """
    checkpoint = read_checkpoint(args.ckpt) if args.ckpt else None
    cfg = load_eval_config(args, checkpoint)
    threads, _, governor = apply_threads(cfg.general.threads, cfg.data.numWorkers, follow=True)
    device = config_value("general.device", lambda: enter_device(cfg.general.device))
    encoder = build_encoder(cfg, args.ckpt, args.random_init, checkpoint, frozen=frozen)
    broken = [name for name, tensor in encoder.state_dict().items()
              if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]
    if broken:
        raise CheckpointError(f"--ckpt {args.ckpt}: the encoder's weights hold NaN or infinite values ({broken[0]}"
                              f"{f' and {len(broken) - 1} more' if len(broken) > 1 else ''}); it cannot be "
                              "evaluated (did its training diverge?)")
    return EvalSetup(cfg, device, encoder.to(device), threads, governor)
