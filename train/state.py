"""A run's checkpoint state: what is saved, how it is restored, which files are kept.

The trainer calls ``save_state`` and ``restore_state``; the evaluation CLIs read
the same files through ``core.nn.utils.checkpoint.read_checkpoint``.
"""
from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np
import torch
import yaml

from core.errors import CheckpointError, UserInputError
from core.nn.networks.export import export_encoder
from core.nn.optim import WarmupCosine
from core.nn.utils.checkpoint import (CKPT_FORMAT, RUN_CONFIG, atomic_save, checkpoint_name, latest_checkpoint,
                                      list_checkpoints, load_checkpoint)

log = logging.getLogger("simclr")
KEEP_CHECKPOINTS = 3


class RunExistsError(UserInputError):
    """The run folders already hold a run and no resume was asked for."""


def run_exists(logDir: Path, saveDir: Path) -> bool:
    """Whether the log or checkpoint folder already holds a run's files."""
    return any(logDir.glob("events.out.tfevents.*")) or bool(list_checkpoints(saveDir))


def find_resume(resume: Optional[str], logDir: Path, saveDir: Path, device) -> Tuple[Optional[Path], Optional[dict]]:
    """``(checkpoint path or None, its dict when already loaded)`` for ``--resume PATH|auto`` or none.

    A given path is loaded here, so that a bad file fails before anything is written.

    Raises:
        RunExistsError: no resume asked for, but the run folders hold a run (or ``auto`` finds a run
            without a checkpoint).
        CheckpointError: the given path is not a training checkpoint.
    """
    if resume == "auto":
        found = latest_checkpoint(saveDir)
        if found is None and run_exists(logDir, saveDir):
            raise RunExistsError(f"--resume auto: {logDir} holds a run but {saveDir} has no checkpoint to "
                                 "resume from; start a new run with --opts general.name NEW")
        return found, None
    if resume:
        return Path(resume), load_checkpoint(resume, map_location=device)
    if run_exists(logDir, saveDir):
        raise RunExistsError(f"run folder {logDir} (or {saveDir}) already holds a run; continue it with "
                             "--resume auto, or start a new one with --opts general.name NEW_NAME")
    return None, None


def capture_rng() -> Dict[str, Any]:
    """Python, numpy, torch and (when present) every CUDA generator's state."""
    npState = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [npState[0], torch.from_numpy(npState[1].copy()), npState[2], npState[3], npState[4]],
        "python": random.getstate(),
    }


def restore_rng(rng: Dict[str, Any]) -> None:
    """Undo ``capture_rng``; CUDA states are restored when this machine has as many devices."""
    if "torch" not in rng:
        return
    torch.set_rng_state(rng["torch"].cpu())
    npState = rng["numpy"]
    np.random.set_state((npState[0], npState[1].numpy(), npState[2], npState[3], npState[4]))
    version, state, gauss = rng["python"]
    random.setstate((version, tuple(state), gauss))
    cuda = rng.get("cuda") or []
    if cuda and torch.cuda.is_available():
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
        else:
            log.warning("checkpoint has %d CUDA generator states, this machine %d devices: CUDA draws not "
                        "restored", len(cuda), torch.cuda.device_count())


def save_state(trainer, saveDir: Path) -> Path:
    """Write the trainer's checkpoint atomically, export its encoder, keep the newest ``KEEP_CHECKPOINTS``.

    Beside the checkpoints: ``encoder.pt`` + ``encoder.json`` and the run's resolved ``config.yaml``,
    so that the folder alone is enough for evaluation.
    """
    from train.config import to_plain

    model = trainer.model
    ckpt = {
        "format": CKPT_FORMAT,
        "epoch": trainer.epoch,
        "stepInEpoch": trainer.stepInEpoch,
        "globalStep": trainer.globalStep,
        "model": model.state_dict(),
        "modelArgs": {"inChNo": model.inChNo, "latentChNo": model.latentChNo, "outChNo": model.outChNo,
                      **model.hparams()},
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict() if trainer.scheduler is not None else None,
        "scaler": trainer.scaler.state_dict(),
        "config": to_plain(trainer.cfg),
        "rng": capture_rng(),
    }
    path = saveDir / checkpoint_name(trainer.epoch, trainer.stepInEpoch)
    atomic_save(ckpt, path)
    export_encoder(model.encoder, saveDir)
    (saveDir / RUN_CONFIG).write_text(yaml.safe_dump(ckpt["config"], sort_keys=False))
    for old in list_checkpoints(saveDir)[:-KEEP_CHECKPOINTS]:
        old.unlink(missing_ok=True)
    return path


def restore_state(trainer, ckpt: dict, path: Path) -> Tuple[int, int, int]:
    """Load model, optimizer, scheduler, scaler and RNG states into ``trainer``; returns the counters.

    Returns:
        ``(epoch, globalStep, stepInEpoch)``.

    Raises:
        CheckpointError: the checkpoint does not fit this config (model, optimizer, batch size).
    """
    try:
        trainer.model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {path} does not match model.kwargs of this config: "
                              f"{str(err).splitlines()[0]}") from err
    try:
        trainer.optimizer.load_state_dict(ckpt["optimizer"])
        if trainer.scheduler is not None and ckpt.get("scheduler") is not None:
            trainer.scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt.get("scaler"):
            trainer.scaler.load_state_dict(ckpt["scaler"])
    except (KeyError, ValueError, TypeError) as err:
        raise CheckpointError(f"checkpoint {path}: its optimizer/scheduler state does not fit this config "
                              f"({type(err).__name__}: {err})") from err
    epoch, globalStep = int(ckpt["epoch"]), int(ckpt["globalStep"])
    stepInEpoch = int(ckpt.get("stepInEpoch", 0))
    if stepInEpoch >= trainer.stepsPerEpoch:
        raise CheckpointError(f"checkpoint {path} stopped at step {stepInEpoch} of an epoch, but this config has "
                              f"{trainer.stepsPerEpoch} steps per epoch; resume with the same train.trainBatch "
                              "and data")
    follow_schedule(trainer, ckpt)
    restore_rng(ckpt.get("rng", {}))
    return epoch, globalStep, stepInEpoch


def follow_schedule(trainer, ckpt: dict) -> None:
    """Let the current config's length win after loading a scheduler (resume with more epochs).

    ``WarmupCosine`` is resized; a ``torch.optim.lr_scheduler`` class counts epochs in its own
    ``schedKwargs`` (``T_max``, ``milestones``...), so it does not follow ``train.epochs``: say so.
    """
    scheduler: Optional[Any] = trainer.scheduler
    o = trainer.cfg.optimizer
    if isinstance(scheduler, WarmupCosine):
        scheduler.resize(o.warmupEpochs * trainer.stepsPerEpoch, trainer.epochs * trainer.stepsPerEpoch)
        return
    before = ckpt.get("config", {}).get("train", {}).get("epochs")
    if scheduler is not None and before is not None and before != trainer.epochs:
        log.warning("train.epochs changed from %s to %d: optimizer.scheduler %s counts epochs in "
                    "optimizer.schedKwargs, which did not change; adjust them if the schedule should stretch",
                    before, trainer.epochs, o.scheduler)
