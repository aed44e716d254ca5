"""``SimCLRTrainer``: the only place that reads the config.

It translates the config into keyword arguments for the ``core`` modules,
runs the optimisation (``optimize_parameters``), evaluates the representation
(kNN, embedding projector, t-SNE), logs to TensorBoard and writes checkpoints.
"""
from __future__ import annotations

import logging
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch.utils.data import DataLoader, default_collate
from torchvision.utils import make_grid
from tqdm import tqdm

from core.data.data_augmentation import IMAGENET_MEAN, IMAGENET_STD, EvalTransform
from core.data.datasets import build_dataset, dataset_labels
from core.data.samplers import EpochSampler
from core.eval.features import extract_features
from core.eval.knn import knn_top1
from core.eval.positive_pairs import positive_pair_top1
from core.nn.blocks.sync_batchnorm import convert_sync_batchnorm
from core.nn.loss import NTXent
from core.nn.loss.nt_xent_distributed import DistributedNTXent
from core.nn.networks import SimCLR
from core.nn.networks.export import export_encoder
from core.nn.utils.base_trainer import BaseTrainer
from core.nn.utils.checkpoint import (atomic_save, checkpoint_name, latest_checkpoint, list_checkpoints,
                                      load_checkpoint)
from core.nn.utils.runtime import resolve_device, seed_everything
from train.augmentation import build_augmentation, views_on_device
from train.config import to_plain
from train.optim import build_optimizer, build_scheduler

log = logging.getLogger("simclr")
CKPT_FORMAT = "simclr-tutorial/1"
KEEP_CHECKPOINTS = 3


class RunExistsError(RuntimeError):
    """The run folders already hold a run and no resume was asked for."""


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite."""


def denormalize(images: torch.Tensor) -> torch.Tensor:
    """``[N, 3, H, W]`` ImageNet-normalized -> values in [0, 1] for display."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
    return (images.float() * std + mean).clamp(0, 1)


class SimCLRTrainer(BaseTrainer):
    """SimCLR pretraining driven by a frozen yacs config.

    Args:
        cfg: the merged config (``train.config.load_config``).
        resume: a checkpoint path, ``'auto'`` (newest in the run's checkpoint
            folder, or a fresh start if there is none) or None.

    Raises:
        ValueError / DatasetError: a config value cannot be used. Nothing is
            written to disk before every part has been built.
        RunExistsError: the run folder holds a run and ``resume`` is None.
    """

    def __init__(self, cfg, resume: Optional[str] = None):
        self.cfg = cfg
        self.init_distributed()
        self.epochs = cfg.train.epochs
        self.evalEvery = cfg.log.evalEpoch
        self.saveEvery = cfg.log.saveEpoch
        self.epoch, self.globalStep = 0, 0
        self.stepInEpoch = 0          # batches already done in the current epoch (resume mid-epoch)
        self.stopRequested = False    # set by Ctrl-C: finish the step, save, exit
        self.abortNow = False         # set by a second Ctrl-C: exit without saving
        self.logDir = Path(cfg.general.logsDir) / cfg.general.name
        self.saveDir = Path(cfg.general.saveDir) / cfg.general.name
        seed_everything(cfg.general.seed)
        self.device = self.pick_device(cfg.general.device)
        self.init_precision()
        self.setup()
        self._resumeCkpt: Optional[dict] = None   # loaded once by find_resume when a path is given
        self.resumePath = self.find_resume(resume)
        self.barrier()  # every process decided before the main one writes anything
        self.writer = None
        if self.isMain:
            self.init_logging()
        if self.resumePath is not None:
            self.load_checkpoint(self.resumePath)

    # ------------------------------------------------------------------ processes
    def init_distributed(self) -> None:
        """Join the torchrun process group when launched by torchrun (WORLD_SIZE > 1)."""
        self.rank, self.worldSize, self.localRank = 0, 1, 0
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            wantCuda = str(self.cfg.general.device).startswith("cuda") and torch.cuda.is_available()
            if not dist.is_initialized():
                dist.init_process_group(backend="nccl" if wantCuda else "gloo")
            self.rank, self.worldSize = dist.get_rank(), dist.get_world_size()
            self.localRank = int(os.environ.get("LOCAL_RANK", "0"))
        self.isMain = self.rank == 0
        if not self.isMain:
            log.setLevel(logging.WARNING)

    def pick_device(self, name: str) -> torch.device:
        """The configured device; under torchrun with CUDA, this process's local GPU."""
        device = resolve_device(name)
        if device.type == "cuda" and self.worldSize > 1:
            device = torch.device("cuda", self.localRank)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        return device

    @property
    def distributed(self) -> bool:
        return self.worldSize > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    # ------------------------------------------------------------------ setup
    def init_precision(self) -> None:
        """Autocast dtype and grad scaler: bf16 or fp16 on CUDA, fp32 on CPU."""
        cuda = self.device.type == "cuda"
        self.useAmp = bool(self.cfg.general.amp) and cuda
        self.ampDtype = (torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float16)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.useAmp and self.ampDtype == torch.float16)
        self.channelsLast = bool(self.cfg.general.channelsLast) and cuda

    def init_train_data(self) -> None:
        """Training set with two-view augmentation; memory/test sets for evaluation."""
        data = self.cfg.data
        self.augment, self.batchAugment = build_augmentation(data, self.device)
        common = dict(root=data.rootPath, download=data.download, valFraction=data.valFraction,
                      seed=0)
        self.trainSet = build_dataset(data.dataset, "train", transform=self.augment, **common)
        if len(self.trainSet) < self.cfg.train.trainBatch * self.worldSize:
            times = f" x {self.worldSize} processes" if self.distributed else ""
            raise ValueError(f"train.trainBatch={self.cfg.train.trainBatch}{times} is larger than the training "
                             f"set ({len(self.trainSet)} images of {data.dataset}); lower it")
        evalTransform = EvalTransform(data.imgSize)
        self.memorySet = build_dataset(data.dataset, "memory", transform=evalTransform, **common)
        self.testSet = build_dataset(data.dataset, "test", transform=evalTransform, **common)
        self.memoryLabels = dataset_labels(self.memorySet) if len(self.memorySet) else None
        self.testLabels = dataset_labels(self.testSet) if len(self.testSet) else None
        self.loaderGenerator = torch.Generator()
        self.trainLoader = self.make_loader(self.trainSet, self.cfg.train.trainBatch, train=True)
        self.stepsPerEpoch = len(self.trainLoader)

    def make_sampler(self, dataset):
        """The training sampler; a distributed trainer swaps in its own."""
        self.sampler = EpochSampler(len(dataset), seed=self.cfg.general.seed, rank=self.rank,
                                    worldSize=self.worldSize)
        return self.sampler

    def make_loader(self, dataset, batchSize: int, train: bool) -> DataLoader:
        """A DataLoader with the device-appropriate settings."""
        workers = self.cfg.data.numWorkers
        cuda = self.device.type == "cuda"
        return DataLoader(
            dataset, batch_size=batchSize, sampler=self.make_sampler(dataset) if train else None,
            shuffle=False, drop_last=train, num_workers=workers, pin_memory=cuda,
            # Persistent workers keep their RNG across epochs; only on CUDA, where
            # worker start-up time matters, so CPU runs stay exactly resumable.
            persistent_workers=cuda and workers > 0,
            prefetch_factor=4 if workers > 0 else None,
            generator=self.loaderGenerator if train else None,
        )

    def init_networks(self) -> None:
        """``SimCLR(inChNo, latentChNo, outChNo, **model.kwargs)``, initialized and on device."""
        m = self.cfg.model
        self.model = SimCLR(m.inChNo, m.latentChNo, m.outChNo, **dict(m.kwargs)).build().init_weights()
        if self.distributed and m.syncBN:
            self.model = convert_sync_batchnorm(self.model, self.device)
        self.model.to(self.device)
        if self.channelsLast:
            self.model.to(memory_format=torch.channels_last)
        self.forwardModel = self.model
        if self.distributed:
            from torch.nn.parallel import DistributedDataParallel

            self.forwardModel = DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if self.cfg.general.compile:
            self.forwardModel = torch.compile(self.forwardModel)

    def init_losses(self) -> None:
        """NT-Xent with the configured temperature."""
        gather = self.distributed and self.cfg.loss.gatherDistributed
        self.lossFn = (DistributedNTXent if gather else NTXent)(self.cfg.loss.temperature)

    def init_optimizers(self) -> None:
        """Optimizer over ``SimCLR.get_params`` groups and the scheduler."""
        o = self.cfg.optimizer
        self.optimizer = build_optimizer(o.name, self.model.get_params(o.lr), o.lr, o.weightDecay, o.momentum)
        self.scheduler, self.schedPerStep = build_scheduler(
            o.scheduler, self.optimizer, o.schedPack, dict(o.schedKwargs), o.warmupEpochs,
            self.epochs, self.stepsPerEpoch)

    def find_resume(self, resume: Optional[str]) -> Optional[Path]:
        """Pick the checkpoint to resume from and refuse to overwrite an existing run."""
        if resume == "auto":
            found = latest_checkpoint(self.saveDir)
            if found is None and self.run_exists():
                raise RunExistsError(f"--resume auto: {self.logDir} holds a run but {self.saveDir} has no "
                                     "checkpoint to resume from; start a new run with --opts general.name NEW")
            return found
        if resume:
            path = Path(resume)
            # Load now: fail before anything is written if it is not a checkpoint.
            self._resumeCkpt = load_checkpoint(path, map_location=self.device)
            return path
        if self.run_exists():
            raise RunExistsError(
                f"run folder {self.logDir} (or {self.saveDir}) already holds a run; continue it with "
                f"--resume auto, or start a new one with --opts general.name NEW_NAME")
        return None

    def run_exists(self) -> bool:
        """Whether the log or checkpoint folder already holds a run's files."""
        return (any(self.logDir.glob("events.out.tfevents.*")) or bool(list_checkpoints(self.saveDir)))

    def init_logging(self) -> None:
        """Create the run folders, the log file, TensorBoard, and save the resolved config."""
        from torch.utils.tensorboard import SummaryWriter

        for folder in (self.logDir, self.saveDir):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise ValueError(f"cannot create {folder} ({err.strerror}); set general.logsDir/"
                                 "general.saveDir to a writable folder") from None
        handler = logging.FileHandler(self.logDir / "train.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        self._fileHandler = handler
        (self.logDir / "config.yaml").write_text(yaml.safe_dump(to_plain(self.cfg), sort_keys=False))
        self.writer = SummaryWriter(str(self.logDir))
        log.info("device %s%s | train %d images, %d steps/epoch | memory %d, test %d",
                 self.device, f" (autocast {self.ampDtype})" if self.useAmp else "",
                 len(self.trainSet), self.stepsPerEpoch, len(self.memorySet), len(self.testSet))
        if self.distributed:
            log.info("torchrun: %d processes, %d images per process and step, global batch %d%s%s",
                     self.worldSize, self.cfg.train.trainBatch, self.cfg.train.trainBatch * self.worldSize,
                     ", SyncBN" if self.cfg.model.syncBN else "",
                     ", negatives from all processes" if self.cfg.loss.gatherDistributed else "")
        log.info("TensorBoard logs: %s (tensorboard --logdir %s)", self.logDir, self.logDir.parent)
        log.info("checkpoints: %s", self.saveDir)

    # ------------------------------------------------------------------ steps
    def optimize_parameters(self, batch: Any) -> Dict[str, float]:
        """One SimCLR step: both views through the model, NT-Xent, backward, update."""
        images = torch.cat(views_on_device(batch[0], self.batchAugment, self.device))  # [2B, 3, H, W]
        if self.channelsLast:
            images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=self.ampDtype, enabled=self.useAmp):
            _, z = self.forwardModel(images)                                      # [2B, outChNo]
            zA, zB = z.chunk(2)
            loss = self.lossFn(zA, zB)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"the loss is {loss.item()} at epoch {self.epoch + 1}, step {self.globalStep + 1}; lower "
                f"optimizer.lr (now {self.cfg.optimizer.lr}) or raise loss.temperature "
                f"(now {self.cfg.loss.temperature})")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.scheduler is not None and self.schedPerStep:
            self.scheduler.step()
        # This process's pairs only (also under torchrun): a monitor, independent of how the loss is written.
        stats = torch.stack([loss.detach().float(), positive_pair_top1(zA.detach(), zB.detach())])
        if self.distributed:
            dist.all_reduce(stats)
            stats /= self.worldSize
        return {"loss": stats[0].item(), "pos_top1": stats[1].item()}

    def train_one_epoch(self) -> Dict[str, float]:
        """One pass over the training loader, logging every step.

        Every epoch's data order and augmentations derive from (seed, epoch)
        alone, so a resumed run replays exactly what an uninterrupted one would.
        After a mid-epoch checkpoint (Ctrl-C) the restored RNG state and the
        sampler's start offset continue the epoch where it stopped.
        """
        batch = self.cfg.train.trainBatch
        if self.stepInEpoch == 0:
            seed_everything(self.cfg.general.seed + self.epoch)
        self.loaderGenerator.manual_seed(self.cfg.general.seed * 100003 + self.epoch)
        self.sampler.set_epoch(self.epoch, startIndex=self.stepInEpoch * batch)
        self.model.train()
        totals = {"loss": 0.0, "pos_top1": 0.0}
        steps = seen = 0
        start = time.perf_counter()
        bar = tqdm(self.trainLoader, desc=f"epoch {self.epoch + 1}/{self.epochs}", leave=False,
                   disable=not self.isMain or not sys.stderr.isatty(), dynamic_ncols=True)
        if self.epoch == 0 and self.stepInEpoch == 0 and self.isMain:
            self.log_view_pairs()
        for data in bar:
            lr = self.optimizer.param_groups[0]["lr"]
            stats = self.optimize_parameters(data)
            self.globalStep += 1
            self.stepInEpoch += 1
            steps += 1
            seen += len(data[1]) * self.worldSize
            imgPerS = seen / max(time.perf_counter() - start, 1e-9)
            for key in totals:
                totals[key] += stats[key]
            if self.isMain:
                self.writer.add_scalar("train/loss", stats["loss"], self.globalStep)
                self.writer.add_scalar("train/pos_top1", stats["pos_top1"], self.globalStep)
                self.writer.add_scalar("train/lr", lr, self.globalStep)
                bar.set_postfix(loss=f"{stats['loss']:.4f}", lr=f"{lr:.2e}", img_s=f"{imgPerS:.0f}")
            if self.stopRequested:
                bar.close()
                raise KeyboardInterrupt
        self.stepInEpoch = 0
        if self.scheduler is not None and not self.schedPerStep:
            self.scheduler.step()
        elapsed = time.perf_counter() - start
        metrics = {key: value / max(1, steps) for key, value in totals.items()}
        metrics["img_per_s"] = seen / max(elapsed, 1e-9)
        if self.isMain:
            self.writer.add_scalar("train/img_per_s", metrics["img_per_s"], self.epoch + 1)
            self.writer.add_scalar("train/epoch_loss", metrics["loss"], self.epoch + 1)
            log.info("epoch %d/%d  loss %.4f  pos_top1 %.3f  lr %.2e  %.0f img/s  %.1f s",
                     self.epoch + 1, self.epochs, metrics["loss"], metrics["pos_top1"],
                     self.optimizer.param_groups[0]["lr"], metrics["img_per_s"], elapsed)
        return metrics

    def train(self) -> Dict[str, float]:
        """Train to ``train.epochs``; Ctrl-C finishes the step, saves and re-raises KeyboardInterrupt."""
        def request_stop(signum, frame):
            if self.stopRequested:  # a second Ctrl-C: stop now, without saving a half-done step
                self.abortNow = True
                raise KeyboardInterrupt
            self.stopRequested = True
            log.info("Ctrl-C: finishing the current step, then saving a checkpoint (Ctrl-C again to abort)")

        previous = signal.signal(signal.SIGINT, request_stop)
        try:
            return super().train()
        except KeyboardInterrupt:
            if self.stopRequested and not self.abortNow and self.isMain:
                self.save_checkpoint()
            raise
        finally:
            signal.signal(signal.SIGINT, previous)

    def log_view_pairs(self) -> None:
        """An image grid of augmented view pairs (first view above the second)."""
        count = min(self.cfg.log.imagePairs, len(self.trainSet))
        if count <= 0:
            return
        state = torch.get_rng_state()
        items = default_collate([self.trainSet[i][0] for i in range(count)])   # as a loader batches them
        viewsA, viewsB = views_on_device(items, self.batchAugment, torch.device("cpu"))
        torch.set_rng_state(state)  # showing images must not change the training's randomness
        grid = make_grid(denormalize(torch.cat([viewsA, viewsB])), nrow=count, padding=1)
        self.writer.add_image("train/view_pairs", grid, 0)

    # ------------------------------------------------------------------ evaluation
    def eval_loader(self, dataset) -> DataLoader:
        return DataLoader(dataset, batch_size=self.cfg.train.valBatch, shuffle=False,
                          num_workers=self.cfg.data.numWorkers, pin_memory=self.device.type == "cuda")

    def evaluate(self) -> Dict[str, float]:
        """kNN top-1 of ``h``, the embedding projector and the t-SNE figure (main process only)."""
        try:
            return self._evaluate() if self.isMain else {}
        finally:
            self.barrier()

    def _evaluate(self) -> Dict[str, float]:
        if self.memoryLabels is None or self.testLabels is None:
            log.info("evaluation skipped: %s has no labels for kNN/t-SNE", self.cfg.data.dataset)
            return {}
        encoder = self.model.encoder
        bankFeats, bankLabels = extract_features(encoder, self.eval_loader(self.memorySet), self.device,
                                                 self.channelsLast)
        testFeats, testLabels = extract_features(encoder, self.eval_loader(self.testSet), self.device,
                                                 self.channelsLast)
        top1 = knn_top1(bankFeats, bankLabels, testFeats, testLabels, self.cfg.log.knnK, self.cfg.log.knnT)
        self.writer.add_scalar("eval/knn_top1", top1, self.epoch)
        log.info("epoch %d  kNN top-1 %.4f (k=%d, T=%.2f, %d bank / %d test images)", self.epoch, top1,
                 min(self.cfg.log.knnK, len(bankFeats)), self.cfg.log.knnT, len(bankFeats), len(testFeats))
        self.log_projector(testFeats, testLabels)
        self.log_tsne(testFeats, testLabels)
        self.writer.flush()
        return {"knn_top1": top1}

    def class_names(self, dataset):
        classes = getattr(dataset, "classes", None)
        return list(classes) if classes else None

    def log_projector(self, feats: torch.Tensor, labels: torch.Tensor) -> None:
        """``add_embedding`` of ``h`` with labels and image sprites."""
        count = min(self.cfg.log.embeddingSamples, len(feats))
        if count <= 0:
            return
        classes = self.class_names(self.testSet)
        names = [classes[i] if classes and 0 <= i < len(classes) else str(i) for i in labels[:count].tolist()]
        images = denormalize(torch.stack([self.testSet[i][0] for i in range(count)]))
        try:
            self.writer.add_embedding(feats[:count], metadata=names, label_img=images,
                                      global_step=self.epoch, tag="h")
        except Exception as err:  # e.g. a TensorFlow install that breaks tensorboard's gfile
            log.warning("embedding projector skipped (%s: %s)", type(err).__name__, err)

    def log_tsne(self, feats: torch.Tensor, labels: torch.Tensor) -> None:
        """t-SNE figure to TensorBoard and as PNG in the run folder."""
        count = min(self.cfg.log.tsneSamples, len(feats))
        if count < 5:
            return
        import matplotlib.pyplot as plt

        from core.eval.tsne import tsne_figure

        fig = tsne_figure(feats[:count], labels[:count], self.class_names(self.testSet),
                          title=f"t-SNE of h, epoch {self.epoch}", seed=self.cfg.general.seed)
        fig.savefig(self.logDir / f"tsne_epoch{self.epoch:04d}.png")
        self.writer.add_figure("eval/tsne", fig, self.epoch, close=False)
        plt.close(fig)

    # ------------------------------------------------------------------ checkpoints
    def rng_state(self) -> Dict[str, Any]:
        npState = np.random.get_state()
        return {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": [npState[0], torch.from_numpy(npState[1].copy()), npState[2], npState[3], npState[4]],
            "python": random.getstate(),
        }

    def save_checkpoint(self) -> None:
        """One dict with everything to resume; written atomically; old ones pruned (main process)."""
        try:
            if self.isMain:
                self._save_checkpoint()
        finally:
            if not self.stopRequested:
                self.barrier()

    def _save_checkpoint(self) -> None:
        ckpt = {
            "format": CKPT_FORMAT,
            "epoch": self.epoch,
            "stepInEpoch": self.stepInEpoch,
            "globalStep": self.globalStep,
            "model": self.model.state_dict(),
            "modelArgs": {"inChNo": self.model.inChNo, "latentChNo": self.model.latentChNo,
                          "outChNo": self.model.outChNo, **self.model.hparams()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler": self.scaler.state_dict(),
            "config": to_plain(self.cfg),
            "rng": self.rng_state(),
        }
        path = self.saveDir / checkpoint_name(self.epoch, self.stepInEpoch)
        atomic_save(ckpt, path)
        export_encoder(self.model.encoder, self.saveDir)
        for old in list_checkpoints(self.saveDir)[:-KEEP_CHECKPOINTS]:
            old.unlink(missing_ok=True)
        log.info("checkpoint: %s (encoder: %s)", path, self.saveDir / "encoder.pt")

    def load_checkpoint(self, path: Path) -> None:
        """Restore model, optimizer, scheduler, scaler, counters and RNG states."""
        ckpt = self._resumeCkpt if self._resumeCkpt is not None else load_checkpoint(path, self.device)
        self._resumeCkpt = None
        try:
            self.model.load_state_dict(ckpt["model"])
        except RuntimeError as err:
            raise ValueError(f"checkpoint {path} does not match model.kwargs of this config: "
                             f"{str(err).splitlines()[0]}") from None
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler is not None and ckpt.get("scheduler") is not None:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch, self.globalStep = int(ckpt["epoch"]), int(ckpt["globalStep"])
        self.stepInEpoch = int(ckpt.get("stepInEpoch", 0))
        if self.stepInEpoch >= self.stepsPerEpoch:
            raise ValueError(f"checkpoint {path} stopped at step {self.stepInEpoch} of an epoch, but this "
                             f"config has {self.stepsPerEpoch} steps per epoch; resume with the same "
                             "train.trainBatch and data")
        self.sync_schedule()
        rng = ckpt.get("rng", {})
        if "torch" in rng:
            torch.set_rng_state(rng["torch"].cpu())
            npState = rng["numpy"]
            np.random.set_state((npState[0], npState[1].numpy(), npState[2], npState[3], npState[4]))
            version, state, gauss = rng["python"]
            random.setstate((version, tuple(state), gauss))
        log.info("resumed from %s at epoch %d%s (step %d)", path, self.epoch,
                 f" + {self.stepInEpoch} steps" if self.stepInEpoch else "", self.globalStep)

    def sync_schedule(self) -> None:
        """After loading a scheduler state, let the current config's length win (resume with more epochs)."""
        if self.scheduler is None or not self.schedPerStep:
            return
        for factor in self.scheduler.lr_lambdas:
            factor.warmupSteps = self.cfg.optimizer.warmupEpochs * self.stepsPerEpoch
            factor.totalSteps = self.epochs * self.stepsPerEpoch
        for group, base, factor in zip(self.optimizer.param_groups, self.scheduler.base_lrs,
                                       self.scheduler.lr_lambdas):
            group["lr"] = base * factor(self.scheduler.last_epoch)

    def close(self) -> None:
        """Flush TensorBoard and detach the log file."""
        if getattr(self, "writer", None) is not None:
            self.writer.close()
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()
        if getattr(self, "_fileHandler", None) is not None:
            log.removeHandler(self._fileHandler)
            self._fileHandler.close()
