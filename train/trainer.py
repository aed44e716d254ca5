"""``SimCLRTrainer``: the config turned into data, model, loss and optimizer, and the training loop.

The structure follows the original tutorial: ``init_train_data``, ``init_networks``,
``init_losses``, ``init_optimizers`` build everything, ``optimize_parameters`` runs one
step, ``evaluate`` measures the representation, and ``train`` is the epoch loop. The pieces
live in their own modules and are shared with the evaluation tools and the benchmarks:
``train/data_setup.py`` (datasets, sampler, loader), ``train/builders.py`` (model, loaders),
``train/step.py`` (one optimization step), ``train/evaluation.py`` (kNN, projector, t-SNE, view
pairs), ``train/run_log.py`` (train.log and TensorBoard's scalars), ``train/run_folder.py`` (the
run's folders and lock) and ``train/state.py`` (what a checkpoint holds). Modules in ``core/`` take
keyword arguments (``SimCLR`` also takes the ``model`` section as one node); the config is read only
in ``train/``: here, and in the modules the trainer hands a section to.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional

import torch
import torch.distributed as dist
import yaml
from tqdm import tqdm

from core.nn.blocks.sync_batchnorm import convert_sync_batchnorm
from core.nn.loss import NTXent
from core.nn.loss.nt_xent_distributed import DistributedNTXent
from core.nn.utils.device import enter_device, precision_for, process_group_backend
from core.nn.utils.randomness import epoch_seeds, seed_everything
from core.nn.utils.threads import apply_threads
from train.builders import build_model, check_one_image, config_value
from train.stops import stop_signals
from train.config import to_plain
from train.data_setup import build_train_data
from train.evaluation import RunEvaluator, log_view_pairs
from train.optimizer_setup import build_optimizer, build_scheduler
from train.run_folder import (RunExistsError, find_resume, keep_config, open_run, run_exists, run_folders,
                              same_folder, tidy_run)
from train.run_log import RunLog
from train.state import TrainState, restore_state, save_state
from train.step import NonFiniteLossError, TrainStep

log = logging.getLogger("simclr")
__all__ = ["SimCLRTrainer", "RunExistsError", "NonFiniteLossError"]


def counter(name: str) -> property:
    """A trainer attribute that is ``self.state``'s counter of the same name (what checkpoints save)."""
    return property(lambda self: getattr(self.state, name), lambda self, value: setattr(self.state, name, value),
                    doc=f"``self.state.{name}``")


class SimCLRTrainer:
    """SimCLR pretraining driven by a frozen yacs config.

    Args:
        cfg: the merged config (``train.config.load_config``).
        resume: a checkpoint path, ``'auto'`` (newest in the run's checkpoint
            folder, or a fresh start if there is none) or None.

    Raises:
        UserInputError (ConfigError, DatasetError, CheckpointError, RunExistsError): a value that
            cannot be used. Nothing is written to disk before every part has been built.
    """

    def __init__(self, cfg, resume: Optional[str] = None):
        # The order matters: (1) the device and torchrun's process group, which everything below is placed
        # on; (2) folders, seeds, threads, precision; (3) the checkpoint to resume, found before any data
        # is read (a run that cannot start costs no download); (4) data, then networks, losses and
        # optimizers (the schedule needs the steps per epoch, the optimizer the model's parameters);
        # (5) one image through the model, then the checkpoint restored into what (4) built; (6) only
        # then, every process agreed, the main one writes: run folders, log file, TensorBoard;
        # (7) the evaluator, which logs to that writer.
        self.cfg = cfg
        self.init_distributed()
        self.epochs = cfg.train.epochs
        self.evalEvery = cfg.log.evalEpoch    # 0 = only at the end
        self.saveEvery = cfg.log.saveEpoch
        self.stopRequested = False    # set by Ctrl-C / SIGTERM / SIGHUP: finish the step, save, exit
        self.stopSignal = signal.SIGINT
        self.abortNow = False         # set by a second signal: exit without saving
        self.logDir, self.saveDir = run_folders(cfg)
        seed_everything(cfg.general.seed)
        self.threads, self.threadsWhy, self.governor = apply_threads(cfg.general.threads, cfg.data.numWorkers,
                                                                     follow=True)
        self.precision = precision_for(self.device, cfg.general.amp, cfg.general.channelsLast)
        self.scaler = self.precision.scaler(self.device)
        # Refusals that need no data come first (no download or decode for a run that cannot start);
        # everything is read and checked before the first byte is written (refusals leave no trace).
        self.resumePath, ckpt = find_resume(resume, self.logDir, self.saveDir)
        self.restart = resume == "auto" and self.resumePath is None and run_exists(self.logDir, self.saveDir)
        self.setup()
        check_one_image(self.model, self.trainSet, self.batchAugment, self.device, self.cfg.data.imgSize)
        if self.resumePath is not None:
            self.load_checkpoint(self.resumePath, ckpt)
        self.complete = self.epoch >= self.epochs and self.stepInEpoch == 0
        self.barrier()  # every process decided before the main one writes anything
        self.writer, self.lock, self.runLog = None, None, None
        if self.isMain and not self.complete:
            self.init_logging()
        self.evaluator = RunEvaluator(cfg, self.memorySet, self.testSet, self.device, self.precision.channelsLast,
                                      self.writer, self.logDir)

    # ------------------------------------------------------------------ processes
    def init_distributed(self) -> None:
        """Enter this process's device (``core.nn.utils.device``), then join torchrun's process group.

        Under torchrun (WORLD_SIZE > 1) each process takes the GPU of its LOCAL_RANK, and the
        backend follows the device (NCCL between GPUs, Gloo on the CPU).
        """
        self.rank, self.worldSize, self.localRank = 0, 1, 0
        torchrun = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if torchrun:
            self.localRank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = config_value("general.device", lambda: enter_device(
            self.cfg.general.device, self.localRank if torchrun else None))
        if torchrun:
            if not dist.is_initialized():
                dist.init_process_group(backend=process_group_backend(self.device))
            self.rank, self.worldSize = dist.get_rank(), dist.get_world_size()
        self.isMain = self.rank == 0
        if not self.isMain:
            log.setLevel(logging.WARNING)

    @property
    def distributed(self) -> bool:
        return self.worldSize > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    # ------------------------------------------------------------------ setup
    epoch = counter("epoch")              # completed epochs
    globalStep = counter("globalStep")    # optimizer steps so far
    stepInEpoch = counter("stepInEpoch")  # batches already done in the current epoch (resume mid-epoch)

    def setup(self) -> None:
        """Build data, networks, losses and optimizers, in that order (the tutorial's four ``init_*``)."""
        self.init_train_data()
        self.init_networks()
        self.init_losses()
        self.init_optimizers()

    def init_train_data(self) -> None:
        """Training set with two-view augmentation and its loader; memory/test sets for evaluation
        (``train.data_setup``: its fields become this trainer's attributes)."""
        for name, value in build_train_data(self.cfg, self.device, self.rank, self.worldSize)._asdict().items():
            setattr(self, name, value)
        self.stepsPerEpoch = len(self.trainLoader)

    def init_networks(self) -> None:
        """The model of ``cfg.model`` (``train.builders.build_model``), on device, wrapped for DDP/compile."""
        m = self.cfg.model
        self.model = build_model(m)
        if self.distributed and m.syncBN:
            self.model = convert_sync_batchnorm(self.model, self.device)
        self.model.to(self.device)
        if self.precision.channelsLast:
            self.model.to(memory_format=torch.channels_last)
        self.forwardModel = self.model
        if self.distributed:
            from torch.nn.parallel import DistributedDataParallel

            self.forwardModel = DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if self.cfg.general.compile:
            self.forwardModel = torch.compile(self.forwardModel)

    def init_losses(self) -> None:
        """NT-Xent with the configured temperature (negatives from every process under torchrun)."""
        gather = self.distributed and self.cfg.loss.gatherDistributed
        self.lossFn = (DistributedNTXent if gather else NTXent)(self.cfg.loss.temperature)

    def init_optimizers(self) -> None:
        """Optimizer over ``SimCLR.get_params`` groups, the scheduler, and the training step using them."""
        o = self.cfg.optimizer
        self.optimizer = config_value("optimizer", lambda: build_optimizer(
            o.name, self.model.get_params(o.lr), o.lr, o.weightDecay, o.momentum))
        self.scheduler, self.schedPerStep = config_value("optimizer", lambda: build_scheduler(
            o.scheduler, self.optimizer, o.schedPack, dict(o.schedKwargs), o.warmupEpochs, self.epochs,
            self.stepsPerEpoch))
        self.state = TrainState(self.cfg, self.model, self.optimizer, self.scheduler, self.scaler,
                                self.stepsPerEpoch)
        self.step = TrainStep(self.forwardModel, self.lossFn, self.optimizer, self.scaler, self.device,
                              self.batchAugment, self.scheduler if self.schedPerStep else None, self.precision,
                              self.worldSize)

    def init_logging(self) -> None:
        """Take the run folders (``train.run_folder.open_run``: lock, cleanup), then open its ``RunLog``."""
        fresh = self.resumePath is None and not self.restart
        self.lock = open_run(self.logDir, self.saveDir, fresh)
        notes = tidy_run(self.logDir, self.saveDir, self.restart)
        self.runLog = RunLog(self.logDir)
        self.writer = self.runLog.writer
        kept = keep_config(self.logDir, yaml.safe_dump(to_plain(self.cfg), sort_keys=False))
        if kept.name != "config.yaml":
            notes.append(f"resolved config of this launch: {kept} (the first launch's stays in config.yaml)")
        for note in notes + ([self.dataNote] if self.dataNote else []):
            log.info("%s", note)
        log.info("device %s%s, %d CPU thread%s (%s) | train %d images, %d steps/epoch | memory %d, test %d",
                 self.device, self.precision.describe(), self.threads,
                 "s" if self.threads > 1 else "", self.threadsWhy, len(self.trainSet), self.stepsPerEpoch,
                 len(self.memorySet), len(self.testSet))
        if self.distributed:
            log.info("torchrun: %d processes, %d images per process and step, global batch %d%s%s",
                     self.worldSize, self.cfg.train.trainBatch, self.cfg.train.trainBatch * self.worldSize,
                     ", SyncBN" if self.cfg.model.syncBN else "",
                     ", negatives from all processes" if self.cfg.loss.gatherDistributed else "")
        log.info("TensorBoard logs: %s (tensorboard --logdir %s)", self.logDir, self.logDir.parent)
        log.info("checkpoints: %s", self.saveDir)

    # ------------------------------------------------------------------ the loop
    def optimize_parameters(self, batch: Any) -> Dict[str, float]:
        """One SimCLR step (``train.step.TrainStep``): both views, NT-Xent, backward, update."""
        try:
            return self.step(batch)
        except NonFiniteLossError as err:
            raise NonFiniteLossError(
                f"{err} at epoch {self.epoch + 1}, step {self.globalStep + 1}; lower optimizer.lr (now "
                f"{self.cfg.optimizer.lr}) or raise loss.temperature (now {self.cfg.loss.temperature})") from err

    def train_one_epoch(self) -> Dict[str, float]:
        """One pass over the training loader, logging every step.

        Every epoch's data order and augmentations derive from (seed, epoch)
        alone (``epoch_seeds``), so a resumed run replays exactly what an
        uninterrupted one would. After a mid-epoch checkpoint (Ctrl-C) the
        restored RNG state and the sampler's start offset continue the epoch.
        """
        batch = self.cfg.train.trainBatch
        firstStep = self.stepInEpoch          # > 0 when resumed mid-epoch: the means cover the steps run here
        globalSeed, orderSeed = epoch_seeds(self.cfg.general.seed, self.epoch)
        if self.stepInEpoch == 0:
            seed_everything(globalSeed)
        self.loaderGenerator.manual_seed(orderSeed)
        self.sampler.set_epoch(self.epoch, startIndex=self.stepInEpoch * batch)
        self.model.train()
        totals = {"loss": 0.0, "pos_top1": 0.0}
        steps = seen = 0
        start = time.perf_counter()
        bar = tqdm(self.trainLoader, desc=f"epoch {self.epoch + 1}/{self.epochs}", leave=False,
                   disable=not self.isMain or not sys.stderr.isatty(), dynamic_ncols=True)
        if self.epoch == 0 and self.stepInEpoch == 0 and self.isMain:
            log_view_pairs(self.writer, self.trainSet, self.batchAugment, self.cfg.log.imagePairs)
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
            if self.governor is not None and self.governor.update():
                self.threads = self.governor.threads
                if self.isMain:
                    self.runLog.threads(self.globalStep, self.threads)
            if self.isMain:
                self.runLog.step(self.globalStep, stats, lr)
                bar.set_postfix(loss=f"{stats['loss']:.4f}", lr=f"{lr:.2e}", img_s=f"{imgPerS:.0f}")
            if self.stopRequested:
                bar.close()
                log.info("%s: stopping after step %d of epoch %d, saving a checkpoint (the signal again aborts)",
                         signal.Signals(self.stopSignal).name, self.stepInEpoch, self.epoch + 1)
                raise KeyboardInterrupt
        self.stepInEpoch = 0
        if self.scheduler is not None and not self.schedPerStep:
            self.scheduler.step()
        elapsed = time.perf_counter() - start
        metrics = {key: value / max(1, steps) for key, value in totals.items()}
        metrics["img_per_s"] = seen / max(elapsed, 1e-9)
        if self.isMain:
            self.runLog.epoch(self.globalStep, self.epoch + 1, self.epochs, metrics,
                              self.optimizer.param_groups[0]["lr"], elapsed, firstStep, self.stepsPerEpoch)
        return metrics

    def is_due(self, every: int) -> bool:
        """Whether an every-N-epochs action is due after the epoch just completed (always after the last)."""
        return self.epoch == self.epochs or (every > 0 and self.epoch % every == 0)

    def train(self) -> Dict[str, float]:
        """Train to ``train.epochs``.

        Ctrl-C (SIGINT), SIGTERM (``kill``, ``timeout``, Kubernetes, SLURM ``--signal``) and SIGHUP
        (a closed terminal) finish the current step, save a checkpoint and re-raise as
        ``KeyboardInterrupt``; ``self.stopSignal`` says which. A second signal aborts without saving.
        A signal this process ignores stays ignored (``nohup``: the run outlives its terminal).
        """
        def request_stop(signum, frame):
            if self.stopRequested:  # a second signal: stop now, without saving a half-done step
                self.abortNow = True
                raise KeyboardInterrupt
            # Flags only: a handler that wrote to the console could interrupt a write already under way
            # there ("reentrant call inside BufferedWriter"); the loop says what it does at the step's end.
            self.stopRequested, self.stopSignal = True, signum

        previous = {sig: signal.signal(sig, request_stop) for sig in stop_signals()}
        try:
            if self.globalStep == 0 and self.cfg.log.evalAtStart:  # the untrained baseline (not on resume)
                self.evaluate()
            metrics: Dict[str, float] = {}
            while self.epoch < self.epochs:
                metrics = dict(self.train_one_epoch())
                self.epoch += 1
                if self.is_due(self.evalEvery):
                    metrics.update(self.evaluate())
                if self.is_due(self.saveEvery):
                    self.save_checkpoint()
            return metrics
        except KeyboardInterrupt:
            if self.stopRequested and not self.abortNow and self.isMain:
                self.save_checkpoint()
            raise
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def evaluate(self) -> Dict[str, float]:
        """kNN top-1 of ``h``, the embedding projector and the t-SNE figure (main process only)."""
        try:
            if not self.isMain:
                return {}
            return self.evaluator.evaluate(self.model.encoder, self.epoch, self.labeled, self.globalStep)
        finally:
            self.barrier()

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self) -> None:
        """One dict with everything to resume (``train.state.save_state``); main process only."""
        try:
            if self.isMain:
                path = save_state(self.state, self.saveDir)
                log.info("checkpoint: %s (encoder: %s)", path, self.saveDir / "encoder.pt")
        finally:
            if not self.stopRequested:
                self.barrier()

    def load_checkpoint(self, path: Path, ckpt: dict) -> None:
        """Restore model, optimizer, scheduler, scaler, counters and RNG states (``train.state``).

        A checkpoint saved by a stop after the last step of an epoch (``_stepS`` with S = steps per
        epoch) resumes as the end of that epoch.
        """
        restore_state(self.state, ckpt, path, sameRun=same_folder(path.parent, self.saveDir))
        if self.stepInEpoch == self.stepsPerEpoch:
            self.stepInEpoch = 0
            self.epoch += 1
            if self.scheduler is not None and not self.schedPerStep:
                self.scheduler.step()
        log.info("resumed from %s at epoch %d%s (step %d)", path, self.epoch,
                 f" + {self.stepInEpoch} steps" if self.stepInEpoch else "", self.globalStep)

    def close(self) -> None:
        """Flush TensorBoard, detach the log file, release the run's lock."""
        if getattr(self, "runLog", None) is not None:
            self.runLog.close()
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()
        if getattr(self, "lock", None) is not None:
            self.lock.release()
