"""A training checkpoint's state: what it holds (``TrainState``), writing it, and restoring it.

``save_state`` writes one dict with the model, optimizer, scheduler and scaler states, the
counters, the resolved config and every random generator's state (``core.nn.utils.randomness``),
exports the encoder beside it and keeps the newest ``KEEP_CHECKPOINTS``; ``restore_state``
checks a checkpoint against this config and loads it; ``follow_schedule`` lets the config's
length win on a resume with more epochs. The run folders themselves are ``train/run_folder.py``'s.
"""
from __future__ import annotations

import errno
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
import yaml

from core.errors import CheckpointError
from core.nn.networks.export import export_encoder
from core.nn.optim import WarmupCosine
from core.files import atomic_write_text
from core.nn.utils.checkpoint import CKPT_FORMAT, RUN_CONFIG, atomic_save, checkpoint_name, \
    list_checkpoints, model_difference
from core.nn.utils.randomness import capture_rng, restore_rng

log = logging.getLogger("simclr")
KEEP_CHECKPOINTS = 3


class DiskFullError(RuntimeError):
    """No space left while writing a checkpoint; the previous one is intact."""


@dataclass
class TrainState:
    """Everything a checkpoint saves and restores.

    Attributes:
        cfg: the run's frozen config (stored with the checkpoint; ``train.epochs``, ``optimizer``).
        model: the ``SimCLR`` module (not its DDP/compile wrapper).
        optimizer, scheduler, scaler: their states are saved; ``scheduler`` may be None.
        stepsPerEpoch: optimizer steps in one epoch of this config.
        epoch: completed epochs. globalStep: optimizer steps so far. stepInEpoch: steps done in
            the current epoch (a checkpoint taken by Ctrl-C mid-epoch).
    """

    cfg: Any
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Optional[Any]
    scaler: Any
    stepsPerEpoch: int
    epoch: int = 0
    globalStep: int = 0
    stepInEpoch: int = 0
    saidNotTorchvision: bool = False

    @property
    def epochs(self) -> int:
        return self.cfg.train.epochs


def save_state(state: TrainState, saveDir: Path) -> Path:
    """Write ``state`` as a checkpoint atomically, export its encoder, keep the newest ``KEEP_CHECKPOINTS``.

    Beside the checkpoints: ``encoder.pt`` + ``encoder.json`` and the run's resolved ``config.yaml``,
    so that the folder alone is enough for evaluation.
    """
    from train.config import to_plain

    model = state.model
    ckpt = {
        "format": CKPT_FORMAT,
        "epoch": state.epoch,
        "stepInEpoch": state.stepInEpoch,
        "globalStep": state.globalStep,
        "model": model.state_dict(),
        "modelArgs": {"inChNo": model.inChNo, "latentChNo": model.latentChNo, "outChNo": model.outChNo,
                      **model.hparams()},
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict() if state.scheduler is not None else None,
        "scaler": state.scaler.state_dict(),
        "config": to_plain(state.cfg),
        "rng": capture_rng(),
    }
    path = saveDir / checkpoint_name(state.epoch, state.stepInEpoch)
    previous = list_checkpoints(saveDir)
    try:
        atomic_save(ckpt, path)
        notTorchvision = export_encoder(model.encoder, saveDir)
        if notTorchvision and not state.saidNotTorchvision:
            state.saidNotTorchvision = True
            log.info("no torchvision export: %s; this encoder loads with core.nn.networks.export.load_encoder",
                     notTorchvision)
        atomic_write_text(yaml.safe_dump(ckpt["config"], sort_keys=False), saveDir / RUN_CONFIG)
    except (OSError, RuntimeError) as err:
        if not disk_full(err):
            raise
        kept = f"the previous checkpoint {previous[-1].name} is intact" if previous else "no checkpoint was written"
        raise DiskFullError(f"no space left on the device of {saveDir} while writing {path.name}; {kept}; free "
                            "space, then resume with --resume auto") from err
    for old in list_checkpoints(saveDir)[:-KEEP_CHECKPOINTS]:
        old.unlink(missing_ok=True)
    return path


def disk_full(err: BaseException) -> bool:
    """Whether a write failed for lack of space (``torch.save`` reports it as a RuntimeError of its writer)."""
    if isinstance(err, OSError):
        return err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    cause = err.__cause__ or err.__context__
    return (cause is not None and disk_full(cause)) or "file write failed" in str(err)


def restore_state(state: TrainState, ckpt: dict, path: Path, sameRun: bool) -> None:
    """Check ``ckpt`` against ``state``'s config, then load every state and the counters into ``state``.

    Args:
        sameRun: the checkpoint continues this run's own folder (then the batch size must not change:
            the next checkpoints would replace this run's with ones of another recipe).

    Raises:
        CheckpointError: the checkpoint does not fit this config (model, optimizer, batch size,
            optimizer state shapes, random generator states); nothing is changed then but the model.
    """
    cfg = state.cfg
    difference = model_difference(state.model.state_dict(), ckpt["model"])
    if difference:
        raise CheckpointError(f"checkpoint {path} does not match the model of this config: {difference}; resume "
                              "with the run's model.latentChNo, model.outChNo and model.kwargs (its config.yaml)")
    try:
        state.model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {path} does not match model.kwargs of this config: "
                              f"{str(err).splitlines()[0]}") from err
    stored = ckpt["config"]
    saved = stored.get("optimizer", {}).get("name")
    if saved != cfg.optimizer.name:
        raise CheckpointError(f"checkpoint {path} was trained with optimizer.name={saved!r}; this config asks for "
                              f"{cfg.optimizer.name!r}: resume with the same optimizer")
    batch = stored.get("train", {}).get("trainBatch")
    if sameRun and batch != cfg.train.trainBatch:
        raise CheckpointError(f"checkpoint {path} was trained with train.trainBatch={batch}; this run continues "
                              f"it with {cfg.train.trainBatch}, which would replace its checkpoints with ones of "
                              "another batch size: resume with the same train.trainBatch, or into a new "
                              "general.name")
    if ckpt["stepInEpoch"] > state.stepsPerEpoch:
        raise CheckpointError(f"checkpoint {path} stopped at step {ckpt['stepInEpoch']} of an epoch, but this "
                              f"config has {state.stepsPerEpoch} steps per epoch; resume with the same "
                              "train.trainBatch and data")
    try:
        state.optimizer.load_state_dict(ckpt["optimizer"])
        check_optimizer_shapes(state.optimizer)
        if state.scheduler is not None and ckpt["scheduler"] is not None:
            check_scheduler_state(state.scheduler, ckpt["scheduler"])
            state.scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt["scaler"]:
            state.scaler.load_state_dict(ckpt["scaler"])
        restore_rng(ckpt["rng"])
    except (KeyError, ValueError, TypeError, RuntimeError) as err:
        raise CheckpointError(f"checkpoint {path}: its optimizer/scheduler/random state does not fit this config "
                              f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from err
    state.epoch, state.globalStep, state.stepInEpoch = ckpt["epoch"], ckpt["globalStep"], ckpt["stepInEpoch"]
    follow_schedule(state, stored)


def check_scheduler_state(scheduler: Any, saved: Any) -> None:
    """Refuse a saved scheduler state that is not one of this scheduler's (a scheduler loads any dict silently).

    Raises:
        ValueError: naming the fields that are missing or unknown, or a counter that is not a whole number.
    """
    if not isinstance(saved, dict):
        raise ValueError(f"the scheduler state is a {type(saved).__name__}, not a dict")
    expected = set(scheduler.state_dict())
    missing, unknown = sorted(expected - set(saved)), sorted(set(saved) - expected)
    if missing or unknown:
        raise ValueError(f"the scheduler state is not {type(scheduler).__name__}'s (missing {missing}, "
                         f"unknown {unknown})")
    for key in ("last_epoch", "_step_count", "step"):
        if key in saved and (isinstance(saved[key], bool) or not isinstance(saved[key], int) or saved[key] < -1):
            raise ValueError(f"the scheduler's {key} is {saved[key]!r}, not a step count")


def check_optimizer_shapes(optimizer: torch.optim.Optimizer) -> None:
    """Each per-parameter buffer (momentum, Adam moments) has its parameter's shape.

    Raises:
        ValueError: naming the first buffer that does not (a checkpoint of another model).
    """
    for group in optimizer.param_groups:
        for param in group["params"]:
            for name, value in optimizer.state.get(param, {}).items():
                if torch.is_tensor(value) and value.dim() > 0 and value.shape != param.shape:
                    raise ValueError(f"optimizer buffer {name!r} has shape {list(value.shape)} for a parameter of "
                                     f"shape {list(param.shape)}")


def follow_schedule(state: TrainState, stored: dict) -> None:
    """Let the current config's length win after loading a scheduler (resume with more epochs).

    ``WarmupCosine`` is resized; a ``torch.optim.lr_scheduler`` class counts epochs in its own
    ``schedKwargs`` (``T_max``, ``milestones``...), so it does not follow ``train.epochs``: say so.

    Args:
        stored: the config saved with the checkpoint (a plain dict).
    """
    scheduler: Optional[Any] = state.scheduler
    o = state.cfg.optimizer
    if isinstance(scheduler, WarmupCosine):
        scheduler.resize(o.warmupEpochs * state.stepsPerEpoch, state.epochs * state.stepsPerEpoch)
        return
    before = stored.get("train", {}).get("epochs")
    if scheduler is not None and before is not None and before != state.epochs:
        log.warning("train.epochs changed from %s to %d: optimizer.scheduler %s counts epochs in "
                    "optimizer.schedKwargs, which did not change; adjust them if the schedule should stretch",
                    before, state.epochs, o.scheduler)
